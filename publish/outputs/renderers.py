"""The HTML renderers of an essay's tokens: web HTML (pages and feeds) and email HTML.

Each output renders the tokens with its own `RenderContext` (where links point, how notes
look), made by `web_context`, `feed_context` or `email_context`. Renderers never change a
token: where a token needs different attributes they render a copy. A body that keeps its
renderings (`KeptRenderings`, the model's interface of the build cache's kept bodies) gives
back the body rendered when the essay was parsed; the renderers know nothing of the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from publish.content.images import email_dimensions
from publish.content.markdown import build_parser
from publish.i18n.words import ENGLISH_BODY, BodyWords
from publish.model import Essay, ImageSize, KeptRenderings
from publish.outputs.images import email_image, image_size, picture_html, screen_formats
from publish.outputs.notes import (
    NoteBody,
    has_many_refs,
    in_margin,
    in_place_ref,
    kept_note_html,
    margin_paragraphs,
    note_bodies,
    note_ids,
    popover_html,
    popover_id,
    term_html,
    without_anchors,
)
from publish.outputs.tokenhtml import FastRendering, html_escape, render_pair, tag_html
from publish.outputs.urls import resolve_url
from publish.outputs.webonly import web_only_html

Render = Callable[[Sequence[Token], Any], str]


def rendered(tokens: Sequence[Token], render: Render, context: Any) -> str:
    """`render(tokens, context)`, or the body's kept rendering when it keeps its renderings."""
    if isinstance(tokens, KeptRenderings):
        return tokens.rendered(render, context)
    return render(tokens, context)


class RenderContext(msgspec.Struct, frozen=True):
    """Where one rendering's links point.

    `base` prefixes site-relative URLs: a relative prefix such as "../" on web pages,
    the absolute site URL in feeds and email.
    """

    slug: str
    base: str
    glossary_url: str
    links: tuple[tuple[str, str], ...] = ()  # links to other essays: as written, address
    page_url: str = ""  # the essay's web page (what the email links to in a dropped embed)
    images: tuple[ImageSize, ...] = ()  # local images' sizes
    formats: tuple[str, ...] = ()  # the variant formats a web page offers (AVIF, WebP)
    words: BodyWords = ENGLISH_BODY  # the notes heading and the like, in the essay's language

    def address(self, url: str) -> str:
        """Where a link points: another essay's address if it names one, resolved."""
        target = next((address for written, address in self.links if written == url), url)
        return resolve_url(target, self.base)


class WebRenderer(RendererHTML):
    """HTML for web pages: slug-prefixed note ids, back-links, glossary links, and each note
    in place too (publish.outputs.notes): in the margin, and a glossary note as a popover.
    A rendering's `RenderContext` is its `env["render"]`."""

    notes_in_place = True

    def prepared_env(self, tokens: Sequence[Token], env: Any) -> Any:
        """`env` with, on a web page, every note's content at hand for its citations."""
        if self.notes_in_place:
            return {**env, "notes": note_bodies(tokens), "table_depth": 0}
        return env

    def render(self, tokens: Sequence[Token], options: Any, env: Any) -> str:
        """Render the tokens, every note's content at hand for the citations in place."""
        return super().render(tokens, options, self.prepared_env(tokens, env))

    def link_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A link, with site-relative targets resolved against the context's base (out of
        the tab order in a margin copy, whose endnote holds the same link)."""
        token = tokens[idx].copy()
        token.attrs = self._link_attrs(token, env)
        return self.renderToken([token], 0, options, env)

    def _link_attrs(self, token: Token, env: Any) -> dict[str, Any]:
        """A link's attributes, its target resolved (and out of the tab order in the margin)."""
        return {
            **token.attrs,
            "href": env["render"].address(str(token.attrs.get("href", ""))),
            **({"tabindex": "-1"} if in_margin(env) else {}),
        }

    def table_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A table (a note cited inside one stays an endnote only)."""
        env["table_depth"] = env.get("table_depth", 0) + 1
        return self.renderToken(tokens, idx, options, env)

    def table_close(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """Close a table."""
        env["table_depth"] = env.get("table_depth", 1) - 1
        return self.renderToken(tokens, idx, options, env)

    def image(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """An image, its source resolved, lazily loaded; a local raster image of known size
        gets its `width` and `height` and a `<picture>` of its smaller and newer variants."""
        context = env["render"]
        written = str(tokens[idx].attrs.get("src", ""))
        size = image_size(context.images, written) if context.formats else None
        if size is None:
            return self.plain_image(tokens, idx, options, env)
        token = tokens[idx].copy()
        token.attrs = {
            **token.attrs,
            "src": resolve_url(written, context.base),
            "width": str(size.width),
            "height": str(size.height),
            "loading": "lazy",
            "decoding": "async",
        }
        copied = [*tokens[:idx], token, *tokens[idx + 1 :]]
        img = super().image(copied, idx, options, env)
        return picture_html(img, size, context.base, context.formats)

    def plain_image(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """An image, its source resolved, lazily loaded."""
        token = tokens[idx].copy()
        src = resolve_url(str(token.attrs.get("src", "")), env["render"].base)
        token.attrs = {**token.attrs, "src": src, "loading": "lazy"}
        copied = [*tokens[:idx], token, *tokens[idx + 1 :]]
        return RendererHTML.image(self, copied, idx, options, env)

    def footnote_ref(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A superscript number linking to its note; on a web page the note in place too."""
        token = tokens[idx]
        number, note_id, ref_id = note_ids(env["render"].slug, token)
        if in_margin(env):  # a note citing another, copied into the margin: no second id
            return f'<sup class="footnote-ref">{number}</sup>'
        note = env.get("notes", {}).get(token.meta["id"]) if self.notes_in_place else None
        if note is None:
            return (
                f'<sup class="footnote-ref"><a href="#{note_id}" id="{ref_id}" '
                f'role="doc-noteref">{number}</a></sup>'
            )
        first = token.meta.get("subId", 0) == 0
        shown = first and note.fits_margin and not env.get("table_depth")
        margin = self._kept_note("margin", note, options, env) if shown else None
        slug = env["render"].slug
        pop_id = popover_id(slug, number) if note.glossary_key else None
        return in_place_ref(number, note_id, ref_id, pop_id, margin)

    def _kept_note(self, kind: str, note: NoteBody, options: Any, env: Any) -> str:
        """A note's margin copy or (`kind` "popover") popover body, a glossary note's kept
        for the next essay citing it where it can be (`kept_note_html`)."""
        glossary_url, margin = env["render"].glossary_url, in_margin(env)
        key = type(self), kind, glossary_url, options["xhtmlOut"], options["breaks"], margin
        return kept_note_html(note, key, self._note_html, kind, note, options, env)

    def _note_html(self, kind: str, note: NoteBody, options: Any, env: Any) -> str:
        """A note's margin copy or popover body, written."""
        if kind == "margin":
            return self._margin_copy(margin_paragraphs(note), options, env)
        return super().render(without_anchors(note.tokens), options, env)

    def _margin_copy(self, paragraphs: Sequence[Token], options: Any, env: Any) -> str:
        """A note's paragraphs as phrasing content for its margin copy."""
        env["margin_copy"] = True
        try:
            parts = [self.renderInline(p.children or [], options, env) for p in paragraphs]
        finally:
            env["margin_copy"] = False
        return '<span class="margin-note-break"></span>'.join(parts)

    def footnote_block_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """The notes section and its heading."""
        slug = env["render"].slug
        return (
            f'<section class="footnotes" role="doc-endnotes" aria-labelledby="notes-{slug}">\n'
            f'<h2 id="notes-{slug}">{html_escape(env["render"].words.notes)}</h2>\n'
            '<ol class="footnotes-list">\n'
        )

    def footnote_block_close(
        self, tokens: Sequence[Token], idx: int, options: Any, env: Any
    ) -> str:
        """Close the notes section; on a web page, each glossary note's popover follows."""
        notes = env.get("notes", {}) if self.notes_in_place else {}
        slug = env["render"].slug
        popovers = [
            popover_html(
                popover_id(slug, note_id + 1),
                note_id + 1,
                self._kept_note("popover", note, options, env),
            )
            for note_id, note in sorted(notes.items())
            if note.glossary_key
        ]
        return "</ol>\n</section>\n" + "".join(popovers)

    def footnote_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """One note, its id prefixed by the essay's slug."""
        _, note_id, _ = note_ids(env["render"].slug, tokens[idx])
        return f'<li id="{note_id}" class="footnote-item">'

    def footnote_close(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """Close one note."""
        return "</li>\n"

    def footnote_anchor(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A back-link to one reference of the note; later references are lettered."""
        token = tokens[idx]
        number, _, ref_id = note_ids(env["render"].slug, token)
        sub = token.meta.get("subId", 0)
        letter = f"<sup>{chr(ord('a') + sub)}</sup>" if has_many_refs(tokens, idx) else ""
        # a lettered back-link's label holds its visible letter (WCAG 2.5.3, label in name)
        words = env["render"].words
        label = html_escape(
            words.back_to_citation % {"letter": chr(ord("a") + sub), "note": number}
            if letter
            else words.back_to_reference % {"ref": number}
        )
        return (
            f' <a href="#{ref_id}" class="footnote-backref" '
            f'aria-label="{label}">\u21a9\ufe0e{letter}</a>'
        )

    def glossary_term(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """The cited term in bold, linked to its glossary entry, then its source."""
        meta = tokens[idx].meta
        glossary_url = env["render"].glossary_url
        return term_html(meta["term"], meta["key"], meta["source"], glossary_url, in_margin(env))


class FastWebRenderer(WebRenderer, FastRendering):
    """`WebRenderer`, rendered the faster way (publish.outputs.tokenhtml)."""

    def link_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """`WebRenderer.link_open`, without copying the token."""
        attrs = self._link_attrs(tokens[idx], env)
        return tag_html(tokens[idx : idx + 1], 0, bool(options["xhtmlOut"]), attrs)


WEB_RENDERER = FastWebRenderer()


def render_web(tokens: Sequence[Token], context: RenderContext) -> str:
    """Render an essay's tokens as HTML for a web page or a feed."""
    return rendered(tokens, web_body, context)


def web_body(tokens: Sequence[Token], context: RenderContext) -> str:
    """`render_web`, always rendering."""
    return WEB_RENDERER.render(tokens, build_parser().options, {"render": context})


class FeedRenderer(WebRenderer):
    """HTML for feed entries: as on the web, but endnotes only, and without the notes'
    back-links, which text-mode readers (newsboat, say) show as a stray arrow and a link
    number after every note."""

    notes_in_place = False

    def footnote_anchor(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """No back-link."""
        return ""

    def image(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """The image as written (feed readers fetch one source)."""
        return self.plain_image(tokens, idx, options, env)


class FastFeedRenderer(FeedRenderer, FastWebRenderer):
    """`FeedRenderer`, rendered the faster way."""


FEED_RENDERER = FastFeedRenderer()


def render_feed(tokens: Sequence[Token], context: RenderContext) -> str:
    """Render an essay's tokens as HTML for a feed entry (`context.base` the site's URL)."""
    return rendered(tokens, feed_body, context)


def feed_body(tokens: Sequence[Token], context: RenderContext) -> str:
    """`render_feed`, always rendering."""
    return FEED_RENDERER.render(tokens, build_parser().options, {"render": context})


def web_and_feed_bodies(
    tokens: Sequence[Token], web: RenderContext, feed: RenderContext
) -> tuple[str, str]:
    """`web_body(tokens, web)` and `feed_body(tokens, feed)`, written in one pass."""
    envs = ({"render": web}, {"render": feed})
    options = build_parser().options
    return render_pair(WEB_RENDERER, FEED_RENDERER, tokens, options, envs)


class EmailRenderer(WebRenderer):
    """HTML for email: absolute URLs and endnotes that read well where anchors do not jump.

    Each note starts with its number in brackets (a glossary note then names its term and
    source), so a reader can match it to the superscript by eye; there are no back-links.
    """

    notes_in_place = False

    def image(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """An image with an absolute source and, when the file's size is known, `width` and
        `height` at most the column's width, its source the copy at twice that width when the
        image is wider (or WebP); no lazy loading (mail clients ignore it)."""
        token = tokens[idx].copy()
        written = str(token.attrs.get("src", ""))
        src = resolve_url(email_image(env["render"].images, written) or written, env["render"].base)
        token.attrs = {
            **token.attrs,
            "src": src,
            **email_dimensions(env["render"].images, written),
        }
        copied = [*tokens[:idx], token, *tokens[idx + 1 :]]
        return RendererHTML.image(self, copied, idx, options, env)

    def html_block(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """Raw HTML, what mail clients drop replaced by a link to the web page."""
        context = env["render"]
        return web_only_html(
            tokens[idx].content, context.page_url, block=True, notice=context.words.on_the_web
        )

    def html_inline(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """Inline raw HTML, the same way."""
        context = env["render"]
        return web_only_html(
            tokens[idx].content, context.page_url, block=False, notice=context.words.on_the_web
        )

    def footnote_block_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """The notes section: a heading, then one block per note."""
        heading = html_escape(env["render"].words.notes)
        return f'<div class="footnotes">\n<h2 class="notes-heading">{heading}</h2>\n'

    def footnote_block_close(
        self, tokens: Sequence[Token], idx: int, options: Any, env: Any
    ) -> str:
        """Close the notes section."""
        return "</div>\n"

    def footnote_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """One note; its number is written at the start of its first paragraph."""
        number, note_id, _ = note_ids(env["render"].slug, tokens[idx])
        env["email_note_number"] = number
        return f'<div id="{note_id}" class="footnote-item">\n'

    def footnote_close(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """Close one note (writing its number if no paragraph did)."""
        number = env.pop("email_note_number", None)
        return f"{_note_number_html(number)}</div>\n" if number else "</div>\n"

    def paragraph_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A paragraph; the first one of a note begins with the note's number."""
        number = env.pop("email_note_number", None)
        opening = self.renderToken(tokens, idx, options, env)
        return f"{opening}{_note_number_html(number)}" if number else opening

    def footnote_anchor(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """No back-link: in many mail clients it could not jump anywhere."""
        return ""


def _note_number_html(number: int) -> str:
    """The bracketed number that starts a note in an email."""
    return f'<span class="note-number">[{number}]</span> '


class FastEmailRenderer(EmailRenderer, FastWebRenderer):
    """`EmailRenderer`, rendered the faster way."""


EMAIL_RENDERER = FastEmailRenderer()


def render_email(tokens: Sequence[Token], context: RenderContext) -> str:
    """Render an essay's tokens as HTML for an email (`context.base` is the absolute site URL)."""
    return rendered(tokens, email_body, context)


def email_body(tokens: Sequence[Token], context: RenderContext) -> str:
    """`render_email`, always rendering."""
    return EMAIL_RENDERER.render(tokens, build_parser().options, {"render": context})


def render_essay_body(essay: Essay, base: str, words: BodyWords = ENGLISH_BODY) -> str:
    """An essay's body HTML with site-relative links resolved against `base`."""
    return render_web(essay.tokens, web_context(essay, base, words))


def web_context(essay: Essay, base: str, words: BodyWords = ENGLISH_BODY) -> RenderContext:
    """Where the links of an essay's web page point (`base` leads back to the site's root)."""
    return RenderContext(
        slug=essay.slug,
        base=base,
        glossary_url=f"{base}glossary/",
        links=essay.link_targets,
        images=essay.image_sizes,
        formats=screen_formats() if essay.image_sizes else (),  # Pillow asked only then
        words=words,
    )


def feed_context(essay: Essay, site_url: str, words: BodyWords = ENGLISH_BODY) -> RenderContext:
    """Where the links of an essay's feed entry point: absolute, under the site's URL."""
    return web_context(essay, site_url, words)


def email_context(essay: Essay, site_url: str, words: BodyWords = ENGLISH_BODY) -> RenderContext:
    """Where the links of an essay's email point: absolute, with its web page for what mail
    clients drop, and its images' sizes (the HTML and the plain text share it)."""
    return RenderContext(
        slug=essay.slug,
        base=site_url,
        glossary_url=f"{site_url}glossary/",
        links=essay.link_targets,
        page_url=f"{site_url}{essay.slug}/",
        images=essay.image_sizes,
        words=words,
    )

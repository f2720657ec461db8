"""The one Markdown parser, and the HTML renderer every HTML output shares.

Parsing and rendering are separate: an essay is parsed once into tokens, and each output
renders those tokens with its own `RenderContext` (where links point, how notes look).
Renderers never change a token: where a token needs different attributes they render a copy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin

from publish.glossary import glossary_plugin

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@lru_cache(maxsize=1)
def build_parser() -> MarkdownIt:
    """The parser: CommonMark, tables, strikethrough, heading ids, footnotes and the glossary."""
    md = MarkdownIt("commonmark", {"html": True})
    md.enable(["table", "strikethrough"])
    md.use(footnote_plugin, inline=False, always_match_refs=True)
    md.use(glossary_plugin)
    md.use(anchors_plugin, min_level=2, max_level=4, slug_func=heading_slug)
    return md


def heading_slug(text: str) -> str:
    """An id for a heading: lowercase words joined by hyphens."""
    words = re.findall(r"[\w]+", text.lower())
    return "-".join(words) or "section"


@dataclass(frozen=True)
class RenderContext:
    """Where one rendering's links point.

    `base` prefixes site-relative URLs: a relative prefix such as "../" on web pages,
    the absolute site URL in feeds and email.
    """

    slug: str
    base: str
    glossary_url: str


def resolve_url(url: str, base: str) -> str:
    """Make a site-relative URL (`images/a.png`, `/about/`) relative to `base`; others unchanged."""
    if not url or url.startswith(("#", "//", "?")) or SCHEME.match(url):
        return url
    return base + url.lstrip("/")


def note_ids(slug: str, token: Token) -> tuple[int, str, str]:
    """Number, note id and reference id of a footnote token (ids carry the essay's slug)."""
    number = token.meta["id"] + 1
    sub = token.meta.get("subId", 0)
    suffix = f"-{sub + 1}" if sub > 0 else ""
    return number, f"fn-{slug}-{number}", f"fnref-{slug}-{number}{suffix}"


class WebRenderer(RendererHTML):
    """HTML for web pages and feeds: slug-prefixed note ids, back-links, glossary links."""

    def _context(self, env: dict[str, Any]) -> RenderContext:
        return env["render"]

    def link_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A link, with site-relative targets resolved against the context's base."""
        token = tokens[idx].copy()
        token.attrs = {**token.attrs, "href": resolve_url(str(token.attrs.get("href", "")),
                                                          self._context(env).base)}
        return self.renderToken([token], 0, options, env)

    def image(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """An image, its source resolved, lazily loaded."""
        token = tokens[idx].copy()
        src = resolve_url(str(token.attrs.get("src", "")), self._context(env).base)
        token.attrs = {**token.attrs, "src": src, "loading": "lazy"}
        copied = [*tokens[:idx], token, *tokens[idx + 1:]]
        return super().image(copied, idx, options, env)

    def footnote_ref(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A superscript number linking to its note."""
        number, note_id, ref_id = note_ids(self._context(env).slug, tokens[idx])
        return (f'<sup class="footnote-ref"><a href="#{note_id}" id="{ref_id}" '
                f'role="doc-noteref">{number}</a></sup>')

    def footnote_block_open(self, tokens: Sequence[Token], idx: int, options: Any,
                            env: Any) -> str:
        """The notes section and its heading."""
        slug = self._context(env).slug
        return (f'<section class="footnotes" role="doc-endnotes" aria-labelledby="notes-{slug}">\n'
                f'<h2 id="notes-{slug}">Notes</h2>\n<ol class="footnotes-list">\n')

    def footnote_block_close(self, tokens: Sequence[Token], idx: int, options: Any,
                             env: Any) -> str:
        """Close the notes section."""
        return "</ol>\n</section>\n"

    def footnote_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """One note, its id prefixed by the essay's slug."""
        _, note_id, _ = note_ids(self._context(env).slug, tokens[idx])
        return f'<li id="{note_id}" class="footnote-item">'

    def footnote_close(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """Close one note."""
        return "</li>\n"

    def footnote_anchor(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A back-link to one reference of the note; later references are lettered."""
        token = tokens[idx]
        number, _, ref_id = note_ids(self._context(env).slug, token)
        sub = token.meta.get("subId", 0)
        letter = f"<sup>{chr(ord('a') + sub)}</sup>" if _has_many_refs(tokens, idx) else ""
        label = f"Back to reference {number}{chr(ord('a') + sub) if letter else ''}"
        return (f' <a href="#{ref_id}" class="footnote-backref" '
                f'aria-label="{label}">\u21a9\ufe0e{letter}</a>')

    def glossary_term(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """The cited term in bold, linked to its glossary entry, then its source."""
        meta = tokens[idx].meta
        context = self._context(env)
        term = escape(meta["term"])
        href = f'{context.glossary_url}#{escape(meta["key"])}'
        source = f' ({escape(meta["source"])})' if meta["source"] else ""
        return f'<strong class="note-term"><a href="{href}">{term}</a></strong>{source}: '


def _has_many_refs(tokens: Sequence[Token], idx: int) -> bool:
    """True when the note at idx has more than one back-link."""
    neighbours = [tokens[i] for i in (idx - 1, idx + 1) if 0 <= i < len(tokens)]
    return tokens[idx].meta.get("subId", 0) > 0 or any(
        t.type == "footnote_anchor" for t in neighbours)


WEB_RENDERER = WebRenderer()


def render_web(tokens: Sequence[Token], context: RenderContext) -> str:
    """Render an essay's tokens as HTML for a web page or a feed."""
    return WEB_RENDERER.render(tokens, build_parser().options, {"render": context})


def inline_text(tokens: Sequence[Token]) -> str:
    """The plain text of inline tokens, footnote references left out."""
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif token.children:
            parts.append(inline_text(token.children))
    return "".join(parts)


def first_paragraph_text(tokens: Sequence[Token]) -> str:
    """The plain text of the first top-level paragraph, or an empty string."""
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and token.level == 0:
            inline = tokens[index + 1]
            return " ".join(inline_text(inline.children or []).split())
    return ""


def word_count(tokens: Sequence[Token]) -> int:
    """Words in the body's text, for reading time."""
    count = 0
    for token in tokens:
        if token.type == "inline":
            count += len(inline_text(token.children or []).split())
    return count

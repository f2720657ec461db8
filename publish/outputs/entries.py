"""An essay as every syndicated copy carries it (the feeds, the fediverse's Article): its id,
and its full HTML with the lead image and the notes, every URL absolute."""

from __future__ import annotations

import re
from html import escape

from publish.i18n.words import Words, essay_words
from publish.model import Essay, Site
from publish.outputs.renderers import feed_context, render_feed
from publish.outputs.templates import image_credit
from publish.outputs.urls import essay_url, resolve_url

# A link to an essay's own notes stays a fragment, so that it jumps within the entry.
_OTHER_FRAGMENT = re.compile(r'href="#(?!fn-|fnref-)')


def entry_id(site: Site, essay: Essay) -> str:
    """An essay's feed id: the URL it was released at, even after its page moved."""
    released = next((old for old, new in site.redirects if new == essay.slug), essay.slug)
    return f"{site.settings.site.url}{released}/"


def feed_content(site: Site, essay: Essay) -> str:
    """An essay's full HTML for feeds: image, body and notes, every URL absolute except the
    links between a note and its reference (the ids carry the slug: they stay unique when a
    reader shows many entries on one page)."""
    words = essay_words(essay, site.settings, site.root)
    body = render_feed(essay.tokens, feed_context(essay, site.settings.site.url, words.body))
    body = absolute_fragments(body, essay_url(site, essay))
    content = _image_html(site, essay, words) + body
    if essay.language and essay.language != site.settings.site.language:
        shown = f'lang="{escape(words.language)}" dir="{words.direction}"'
        return f"<div {shown}>\n{content}</div>\n"  # an entry in a language of its own
    return content


def absolute_fragments(body: str, url: str) -> str:
    """`body` with each link to a fragment of the page made absolute (at `url`) but those
    between a note and its reference: what `_OTHER_FRAGMENT.sub` gives, found by one split
    at each `href="#` (a fast search, not the pattern tried at every `h`); the pattern's own
    way where `url` holds a backslash (a replacement template would read it as an escape)."""
    absolute = f'href="{url}#'
    if "\\" in url:
        return _OTHER_FRAGMENT.sub(absolute, body)
    first, *rest = body.split('href="#')
    pieces = [first]
    for piece in rest:
        pieces.append('href="#' if piece.startswith(("fn-", "fnref-")) else absolute)
        pieces.append(piece)
    return "".join(pieces)


def _image_html(site: Site, essay: Essay, words: Words) -> str:
    """The essay's lead image as a figure, or nothing."""
    if not essay.image:
        return ""
    src = escape(resolve_url(essay.image, site.settings.site.url))
    credit = image_credit(essay.image_credit, words)
    credit = f"<figcaption>{escape(credit)}</figcaption>" if credit else ""
    return f'<figure><img src="{src}" alt="{escape(essay.image_alt)}">{credit}</figure>\n'

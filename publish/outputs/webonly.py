"""What mail clients drop from an email (`<iframe>`, `<video>`, `<embed>`, `<object>`,
`<script>`), replaced by a link to the essay's web page, where those parts still work."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from publish.content.preflight import DROPPED_BY_MAIL

NOTICE = "This part of the essay is on the web:"
_NAMES = "|".join(DROPPED_BY_MAIL)
# A whole element, an opening tag whose end lies in another block, or a stray closing tag.
_ELEMENT = re.compile(rf"<({_NAMES})\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_OPENING = re.compile(rf"<({_NAMES})\b[^>]*>", re.IGNORECASE)
_CLOSING = re.compile(rf"</({_NAMES})\s*>", re.IGNORECASE)


def web_only_html(html: str, page_url: str, block: bool, notice: str = NOTICE) -> str:
    """Raw HTML with each dropped element replaced by the notice and a link to `page_url`
    (a paragraph in a block, a bare link inside a paragraph); other HTML unchanged."""
    if not page_url or not _OPENING.search(html):
        return html
    link = f'{escape(notice)} <a href="{escape(page_url)}">{escape(page_url)}</a>'
    return _replace(html, f'<p class="web-only">{link}</p>' if block else link)


def web_only_text(
    html: str, page_url: str, strip: Callable[[str], str], notice: str = NOTICE
) -> str:
    """Raw HTML as plain text (`strip` takes the tags out), each dropped element given as
    `This part of the essay is on the web: <url>`."""
    if not page_url or not _OPENING.search(html):
        return strip(html)
    marker = "\x01"  # stands for the notice while the tags are stripped
    text = strip(_replace(html.replace(marker, ""), marker))
    return text.replace(marker, f"{notice} <{page_url}>")


def _replace(html: str, notice: str) -> str:
    """Every dropped element, whole or cut across blocks, replaced by `notice` (once)."""
    html = _ELEMENT.sub(lambda _: notice, html)
    html = _OPENING.sub(lambda _: notice, html)
    return _CLOSING.sub("", html)

"""One subscriber's copy of the built email: their greeting and unsubscribe link swapped in
for the preview's (see `publish.outputs.mail`)."""

from __future__ import annotations

import re
from html import escape

from publish.i18n.words import ENGLISH, Words
from publish.model import Settings
from publish.outputs.mail import GREETING_END, GREETING_START, preview_greeting
from publish.outputs.urls import preview_unsubscribe_url
from publish.support.safetext import fold_controls

_GREETING_HTML = re.compile(re.escape(GREETING_START) + ".*?" + re.escape(GREETING_END), re.S)


def greeting_for(name: str, words: Words = ENGLISH) -> str:
    """The greeting line for a subscriber, in the email's language: `Hello Ada,`, or
    `Hello,` without a name."""
    name = fold_controls(name)
    if not name:
        return preview_greeting(words)
    return words.gettext("Hello %(name)s,") % {"name": name}


def personalise_html(
    html: str, settings: Settings, name: str, unsubscribe: str, words: Words = ENGLISH
) -> str:
    """The built HTML with one subscriber's greeting and unsubscribe link."""
    greeting = f"{GREETING_START}{escape(greeting_for(name, words))}{GREETING_END}"
    html = _GREETING_HTML.sub(lambda _: greeting, html, count=1)
    return html.replace(escape(preview_unsubscribe_url(settings)), escape(unsubscribe))


def personalise_text(
    text: str, settings: Settings, name: str, unsubscribe: str, words: Words = ENGLISH
) -> str:
    """The built text with one subscriber's greeting and unsubscribe link."""
    preview_line = f"\n{preview_greeting(words)}\n"
    text = text.replace(preview_line, f"\n{greeting_for(name, words)}\n", 1)
    return text.replace(preview_unsubscribe_url(settings), unsubscribe)

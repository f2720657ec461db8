"""Notes in place on a web page: a copy of each note in the margin beside the line that cites
it, and each glossary note as a native popover opened from its citation. CSS and HTML only.

The endnotes stay the one copy assistive technology reads: the margin copy is
`aria-hidden` (its links out of the tab order), and a popover is hidden until opened.

The margin rule (also in the style sheet and docs/guide/the-essay-page.md): margin copies
float to the end side of the text and clear each other, so they stack in citing order and
never overlap; a note that is more than paragraphs (a list, a quote, code) or longer than
`MARGIN_NOTE_LIMIT` characters of text, or that is cited inside a table or another note,
stays an endnote only.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import msgspec
from markdown_it.token import Token

MARGIN_NOTE_LIMIT = 600  # characters of text a margin note may hold
INLINE_TYPES = frozenset({"paragraph_open", "inline", "paragraph_close", "footnote_anchor"})


class NoteBody(msgspec.Struct, frozen=True):
    """One note's content tokens (between `footnote_open` and `footnote_close`), with what a
    citation in place asks of them, found once as the note is gathered (`note_bodies`)."""

    tokens: tuple[Token, ...]
    glossary_key: str  # of a glossary note; an empty string for the essay's own
    fits_margin: bool  # whether it may stand in the margin: paragraphs only, short enough


def note_body(tokens: tuple[Token, ...]) -> NoteBody:
    """A note's body from its content tokens."""
    return NoteBody(tokens, _glossary_key(tokens), _fits_margin(tokens))


def _glossary_key(tokens: tuple[Token, ...]) -> str:
    """The glossary key of a glossary note, or an empty string for the essay's own."""
    for token in tokens:
        if token.type == "glossary_term":
            return str(token.meta["key"])
        for child in token.children or ():
            if child.type == "glossary_term":
                return str(child.meta["key"])
    return ""


def _fits_margin(tokens: tuple[Token, ...]) -> bool:
    """Whether a note may stand in the margin: paragraphs only, short enough."""
    if any(t.type not in INLINE_TYPES for t in tokens):
        return False
    return sum(len(t.content) for t in tokens if t.type == "inline") <= MARGIN_NOTE_LIMIT


def note_bodies(tokens: Sequence[Token]) -> dict[int, NoteBody]:
    """Every note of a token list by its footnote id."""
    notes: dict[int, NoteBody] = {}
    current: int | None = None
    start = 0
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "footnote_open":
            current, start = token.meta["id"], index + 1
        elif kind == "footnote_close" and current is not None:
            notes[current] = note_body(tuple(tokens[start:index]))
            current = None
    return notes


def popover_id(slug: str, number: int) -> str:
    """The id of a glossary note's popover."""
    return f"pop-{slug}-{number}"


def in_place_ref(
    number: int, note_id: str, ref_id: str, pop_id: str | None, margin: str | None
) -> str:
    """A citation: the number linking to its endnote, for a glossary note also a button that
    opens its popover (the style sheet shows the button only where popovers work), then
    the margin copy when there is one."""
    link = f'<a href="#{note_id}" class="note-link" role="doc-noteref">{number}</a>'
    button = (
        f'<button type="button" class="note-button" popovertarget="{pop_id}" '
        f'aria-label="{number}">{number}</button>'
        if pop_id
        else ""
    )
    side = (
        f'<span class="margin-note" aria-hidden="true">'
        f'<span class="margin-note-number">{number}</span> {margin}</span>'
        if margin is not None
        else ""
    )
    return f'<sup class="footnote-ref" id="{ref_id}">{link}{button}</sup>{side}'


def popover_html(pop_id: str, number: int, body: str) -> str:
    """A glossary note's popover: its number and its rendered definition."""
    return (
        f'<div popover id="{escape(pop_id)}" class="note-popover">'
        f'<p class="note-popover-number">{number}</p>\n{body}</div>\n'
    )


def without_anchors(tokens: Sequence[Token]) -> list[Token]:
    """A note's tokens without its back-links (a popover or margin copy needs none)."""
    return [t for t in tokens if t.type != "footnote_anchor"]


def margin_paragraphs(note: NoteBody) -> list[Token]:
    """The inline tokens of a margin-sized note, one per paragraph."""
    return [t for t in note.tokens if t.type == "inline"]


def in_margin(env: dict[str, Any]) -> bool:
    """Whether the renderer is writing a margin copy (its links leave the tab order, a
    citation inside it stays a plain number)."""
    return bool(env.get("margin_copy"))

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

from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache, partial
from html import escape
from typing import Any

import msgspec
from markdown_it.token import Token

from publish.content.markdown import notes_start
from publish.support.identity import MadeOnce

MARGIN_NOTE_LIMIT = 600  # characters of text a margin note may hold
INLINE_TYPES = frozenset({"paragraph_open", "inline", "paragraph_close", "footnote_anchor"})


class NoteBody(msgspec.Struct, frozen=True):
    """One note's content tokens (between `footnote_open` and `footnote_close`), with what a
    citation in place asks of them, found once as the note is gathered (`note_bodies`)."""

    tokens: tuple[Token, ...]
    glossary_key: str  # of a glossary note; an empty string for the essay's own
    fits_margin: bool  # whether it may stand in the margin: paragraphs only, short enough
    term: Token | None = None  # a glossary note's term marker


def note_body(tokens: tuple[Token, ...]) -> NoteBody:
    """A note's body from its content tokens (what a glossary note's are found once for
    every essay citing its entry, see `_glossary_note`)."""
    term = _term(tokens)
    if term is None:
        return NoteBody(tokens, "", _fits_margin(tokens))
    return NoteBody(tokens, str(term.meta["key"]), _glossary_note(term, tokens).fits_margin, term)


def _term(tokens: tuple[Token, ...]) -> Token | None:
    """The term marker of a glossary note, or None for the essay's own."""
    for token in tokens:
        if token.type == "glossary_term":
            return token
        for child in token.children or ():
            if child.type == "glossary_term":
                return child
    return None


# The tokens whose HTML depends on nothing but the renderer, its options and (a glossary
# note's term) the glossary's address and whether it is a margin copy: never on the essay.
ESSAY_FREE = frozenset(
    ("paragraph_open", "paragraph_close", "inline", "text", "softbreak", "hardbreak")
    + ("em_open", "em_close", "strong_open", "strong_close", "s_open", "s_close")
    + ("code_inline", "glossary_term", "footnote_anchor")
)


class _KeptNote:
    """What is found once of a glossary note for every essay citing its entry (whose notes
    hold the same term marker, then the same tokens but the back-links: see
    `publish.content.glossarynotes.entry_note`)."""

    __slots__ = ("fits_margin", "essay_free", "html")

    def __init__(self, tokens: tuple[Token, ...]):
        self.fits_margin = _fits_margin(tokens)
        # whether its HTML cannot depend on the essay: every token ESSAY_FREE
        self.essay_free = all(_essay_free(token) for token in tokens)
        self.html: dict[Hashable, str] = {}  # what renderers wrote of it, by all it depends on


# Each glossary note's `_KeptNote`, by its term marker's identity.
_KEPT: MadeOnce[_KeptNote] = MadeOnce()


def _glossary_note(term: Token, tokens: tuple[Token, ...]) -> _KeptNote:
    """The `_KeptNote` of the glossary note of these tokens, whose term marker is `term`."""
    return _KEPT.get(term, partial(_KeptNote, tokens))


def kept_note_html(note: NoteBody, key: Hashable, render: Callable[..., str], *args: Any) -> str:
    """`render(*args)`, kept for the next essay citing the same glossary entry when the note's
    HTML cannot depend on the essay (every token ESSAY_FREE) and `key` names all it does
    depend on (the renderer, the options, the glossary's address, the margin)."""
    if note.term is None:
        return render(*args)
    kept = _glossary_note(note.term, note.tokens)
    if not kept.essay_free:
        return render(*args)
    html = kept.html.get(key)
    if html is None:
        html = kept.html[key] = render(*args)
    return html


def _essay_free(token: Token) -> bool:
    """Whether a token and its children are all ESSAY_FREE."""
    if token.type not in ESSAY_FREE:
        return False
    return all(_essay_free(child) for child in token.children or ())


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
    for index in range(notes_start(tokens), len(tokens)):
        token = tokens[index]
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


def note_ids(slug: str, token: Token) -> tuple[int, str, str]:
    """Number, note id and reference id of a footnote token (ids carry the essay's slug)."""
    number = token.meta["id"] + 1
    sub = token.meta.get("subId", 0)
    suffix = f"-{sub + 1}" if sub > 0 else ""
    return number, f"fn-{slug}-{number}", f"fnref-{slug}-{number}{suffix}"


def has_many_refs(tokens: Sequence[Token], idx: int) -> bool:
    """True when the note at idx has more than one back-link."""
    neighbours = [tokens[i] for i in (idx - 1, idx + 1) if 0 <= i < len(tokens)]
    return tokens[idx].meta.get("subId", 0) > 0 or any(
        t.type == "footnote_anchor" for t in neighbours
    )


@lru_cache(maxsize=4096)  # a glossary note's term is written alike in every essay citing it
def term_html(term: str, key: str, source: str, glossary_url: str, margin: bool) -> str:
    """A glossary note's opening: its term in bold, linked to its entry on the glossary page
    at `glossary_url` (out of the tab order in a margin copy), then its source."""
    skip = ' tabindex="-1"' if margin else ""
    link = f'<a href="{glossary_url}#{escape(key)}"{skip}>{escape(term)}</a>'
    return f'<strong class="note-term">{link}</strong>{f" ({escape(source)})" if source else ""}: '

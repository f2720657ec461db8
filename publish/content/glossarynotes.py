"""The markdown-it plugin that cites the shared glossary: a `[^key]` the essay does not
define itself becomes the glossary entry's note. It keeps all its state under
`env["publish"]`."""

from __future__ import annotations

from functools import partial
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from publish.content.fasttree import made_token
from publish.model import Glossary, GlossaryEntry
from publish.support.identity import MadeOnce


def glossary_plugin(md: MarkdownIt) -> None:
    """Register the rules that turn `[^key]` citations into glossary notes.

    Needs the footnote plugin (with `always_match_refs=True`) and
    `env["publish"] = {"glossary": Glossary}` at parse time.
    """
    md.core.ruler.before("footnote_tail", "glossary_local_labels", _collect_local_labels)
    md.core.ruler.after("footnote_tail", "glossary_notes", _attach_glossary_notes)


def _publish_env(env: dict[str, Any]) -> dict[str, Any]:
    """The plugin's own part of the parse environment."""
    return env.setdefault("publish", {})


def _collect_local_labels(state: StateCore) -> None:
    """Remember which labels the essay defines itself, before the footnote tail hides them."""
    labels = {t.meta["label"] for t in state.tokens if t.type == "footnote_reference_open"}
    _publish_env(state.env)["local_labels"] = labels


def _attach_glossary_notes(state: StateCore) -> None:
    """Fill each note the essay does not define with its glossary entry; record unknown labels."""
    env = _publish_env(state.env)
    glossary: Glossary | None = env.get("glossary")
    local = env.get("local_labels", set())
    unknown: list[str] = []
    out: list[Token] = []
    tokens = state.tokens
    index = 0
    while index < len(tokens):
        token = tokens[index]
        out.append(token)
        index += 1
        label = token.meta.get("label") if token.type == "footnote_open" else None
        if label is None or label in local:
            continue
        entry = glossary.lookup(label) if glossary else None
        if entry is None:
            unknown.append(label)
            continue
        anchors = []
        while tokens[index].type == "footnote_anchor":
            anchors.append(tokens[index])
            index += 1
        out += glossary_note_tokens(entry, anchors)
    state.tokens = out
    env["unknown_labels"] = unknown


def glossary_note_tokens(entry: GlossaryEntry, anchors: list[Token]) -> list[Token]:
    """The term marker, the definition's blocks and the back-links, in reading order (all
    but the back-links the same objects in every note of `entry`: see `entry_note`)."""
    body = entry_note(entry)
    if body[-1].type == "paragraph_close":
        return [*body[:-1], *anchors, body[-1]]
    return [*body, *anchors]


# Each entry's note without its back-links, made once a process, by the entry's identity.
_ENTRY_NOTES: MadeOnce[tuple[Token, ...]] = MadeOnce()


def entry_note(entry: GlossaryEntry) -> tuple[Token, ...]:
    """An entry's note without its back-links: the term marker (in its first paragraph, when
    it opens with one), then the definition's blocks; the same tokens every time it is asked
    for, so that every essay citing the entry holds the same term marker (a renderer may
    keep what it wrote of the note by it, see `publish.outputs.notes.kept_note_html`)."""
    return _ENTRY_NOTES.get(entry, partial(_entry_note, entry))


def _entry_note(entry: GlossaryEntry) -> tuple[Token, ...]:
    """An entry's note without its back-links, made (see `entry_note`)."""
    meta = {"key": entry.key, "term": entry.term, "source": entry.source}
    term = made_token("glossary_term", "", 0, {}, None, 0, None, "", "", "", meta, False, False)
    body = list(entry.tokens)
    if len(body) > 1 and body[0].type == "paragraph_open" and body[1].type == "inline":
        body[1] = _with_children(body[1], [term, *(body[1].children or [])])
    else:
        body = [term, *body]
    return tuple(body)


def _with_children(token: Token, children: list[Token]) -> Token:
    """`token.copy(children=children)`, made directly (`copy` goes through `dataclasses`, and
    `made_token` skips `Token.__post_init__`: the attributes are a dict already)."""
    t = token
    return made_token(
        t.type, t.tag, t.nesting, t.attrs, t.map, t.level, children, t.content,
        t.markup, t.info, t.meta, t.block, t.hidden,
    )  # fmt: skip

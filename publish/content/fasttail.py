"""The end of the compiled parse (`fastparse`): what markdown-it-py's core rules after the
inline parse make of the converted tokens, in one pass over the notes.

Those rules are, in order, our `glossary_local_labels`, the footnote plugin's
`footnote_tail` (the essay's own definitions moved to a notes section at the end, each
note followed by its back-links), our `glossary_notes` (a note the essay does not define
filled with its glossary entry), `text_join` and the heading `anchor`s. On converted tokens
`text_join` changes nothing (they hold no `text_special`, and adjacent texts are joined as
they are made), and the builder keeps the essay's own definitions aside instead of among the
tokens, so here the notes section is written once, in its final form; only the anchors are
left to their rule, shown only the headings. `tail` returns the same tokens and leaves the
same `env` as the rules.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from publish.content.fasttree import made_token
from publish.content.glossarynotes import glossary_note_tokens

# The core rules after the inline parse that `tail` stands for, then the one it runs.
TAIL_RULES = ("glossary_local_labels", "footnote_tail", "glossary_notes", "text_join")
LAST_RULE = "anchor"


def known_tail(md: MarkdownIt) -> bool:
    """Whether the parser's core rules after the inline parse are the ones `tail` stands for
    (with another parser the compiled parse declines)."""
    names = [rule.name for rule in md.core.ruler.__rules__ if rule.enabled]
    return names[names.index("inline") + 1 :] == [*TAIL_RULES, LAST_RULE]


def tail(
    md: MarkdownIt,
    src: str,
    env: dict[str, Any],
    tokens: list[Token],
    definitions: dict[str, list[Token]],
    headings: list[Token],
) -> list[Token]:
    """The tokens and `env` the core rules after the inline parse leave, from the converted
    `tokens`, the essay's own footnote `definitions` (each label's paragraph tokens, kept
    out of `tokens`, in source order) and its `headings` (each opening token and its inline
    token, in order)."""
    publish = env.setdefault("publish", {})
    local = set(definitions)
    publish["local_labels"] = local
    unknown: list[str] = []
    footnotes = env.get("footnotes")
    if footnotes is not None and footnotes["list"]:
        glossary = publish.get("glossary")
        tokens.append(_bare("footnote_block_open", 1, None))
        for note_id, note in footnotes["list"].items():
            label = note.get("label")
            tokens.append(_bare("footnote_open", 1, {"id": note_id, "label": label}))
            count = note["count"] if note.get("count", 0) > 0 else 1
            anchors = [
                _bare("footnote_anchor", 0, {"id": note_id, "subId": sub, "label": label})
                for sub in range(count)
            ]
            if label is None or label in local:
                tokens += _own_note(definitions.get(label, []) if label else [], anchors)
                tokens.append(_bare("footnote_close", -1, None))
                continue
            entry = glossary.lookup(label) if glossary else None
            if entry is None:
                unknown.append(label)
                tokens += anchors
            else:
                added = glossary_note_tokens(entry, anchors)
                headings += _headings(added)
                tokens += added
            tokens.append(_bare("footnote_close", -1, None))
        tokens.append(_bare("footnote_block_close", -1, None))
    publish["unknown_labels"] = unknown
    # The heading anchors (`known_tail` checked they come last). Their rule reads only the
    # headings' opening tokens, each with the token after it: it is given just those (and
    # not run at all where there are none, such as most glossary definitions).
    if headings:
        md.core.ruler.getRules("")[-1](StateCore(src, md, env, headings))
    return tokens


def _headings(tokens: list[Token]) -> list[Token]:
    """Each heading's opening token among `tokens`, with the inline token after it."""
    return [
        token
        for index, opener in enumerate(tokens)
        if opener.type == "heading_open"
        for token in (opener, tokens[index + 1])
    ]


def _own_note(body: list[Token], anchors: list[Token]) -> list[Token]:
    """A note the essay defines: its blocks, the back-links inside its last paragraph."""
    if body and body[-1].type == "paragraph_close":
        return [*body[:-1], *anchors, body[-1]]
    return [*body, *anchors]


def _bare(kind: str, nesting: int, meta: dict[str, Any] | None) -> Token:
    """A token of the notes section as the footnote plugin makes it (no tag, not a block)."""
    return made_token(kind, "", nesting, {}, None, 0, None, "", "", "", meta or {}, False, False)

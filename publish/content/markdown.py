"""The one Markdown parser, and the plain-text readings of its tokens (summary, word count).

Parsing and rendering are separate: an essay is parsed once into tokens here, and each
output renders those tokens with its own renderer (publish.outputs.renderers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin

from publish.content.fastparse import fast_parse
from publish.content.glossarynotes import glossary_plugin

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Each ASCII byte as `count_words` sees it: 0 for what `str.split` takes for a space, else 1.
WORD_MARKS = bytes(0 if chr(c).isspace() else 1 for c in range(256))


@lru_cache(maxsize=1)
def build_parser() -> MarkdownIt:
    """The parser: CommonMark, tables, strikethrough, heading ids, footnotes and the glossary."""
    md = MarkdownIt("commonmark", {"html": True})
    md.enable(["table", "strikethrough"])
    md.use(footnote_plugin, inline=False, always_match_refs=True)
    md.use(glossary_plugin)
    md.use(anchors_plugin, min_level=2, max_level=4, slug_func=heading_slug)
    return md


def parse_markdown(src: str, env: dict[str, Any]) -> list[Token]:
    """The one parse of a body: markdown-it-py's tokens (and `env`), made by the compiled
    engine where `fastparse` proves them identical, else by markdown-it-py itself."""
    parser = build_parser()
    tokens = fast_parse(parser, src, env)
    return parser.parse(src, env) if tokens is None else tokens


def heading_slug(text: str) -> str:
    """An id for a heading: lowercase words joined by hyphens."""
    words = re.findall(r"[\w]+", text.lower())
    return "-".join(words) or "section"


def inline_text(tokens: Sequence[Token]) -> str:
    """The plain text of inline tokens, footnote references left out."""
    parts: list[str] = []
    _text_parts(tokens, parts)
    return "".join(parts)


def _text_parts(tokens: Sequence[Token], parts: list[str]) -> None:
    """Append the pieces of `inline_text(tokens)` to `parts`."""
    for token in tokens:
        kind = token.type
        if kind == "text" or kind == "code_inline":
            parts.append(token.content)
        elif kind == "softbreak" or kind == "hardbreak":
            parts.append(" ")
        elif token.children:
            _text_parts(token.children, parts)


def notes_start(tokens: Sequence[Token]) -> int:
    """Where a parse's notes section begins (its `footnote_block_open`), or its end when it has
    none. The footnote plugin appends the section last, so no note's token stands before it:
    a reader of the notes alone starts here, without walking the body."""
    if not tokens or tokens[-1].type != "footnote_block_close":
        return len(tokens)
    for index in range(len(tokens) - 1, -1, -1):
        if tokens[index].type == "footnote_block_open":
            return index
    return 0  # a closing without its opening: not the plugin's, so walk it all


def first_paragraph_text(tokens: Sequence[Token]) -> str:
    """The plain text of the first top-level paragraph, or an empty string."""
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and token.level == 0:
            inline = tokens[index + 1]
            return " ".join(inline_text(inline.children or []).split())
    return ""


def word_count(tokens: Sequence[Token]) -> int:
    """Words in the body's text, for reading time."""
    parts: list[str] = []
    append = parts.append
    for token in tokens:
        if token.type == "inline" and token.children:
            for child in token.children:  # `_text_parts`, its first level written out
                kind = child.type
                if kind == "text" or kind == "code_inline":
                    append(child.content)
                elif kind == "softbreak" or kind == "hardbreak":
                    append(" ")
                elif child.children:
                    _text_parts(child.children, parts)
            append(" ")  # a block's words never run on into the next block's
    return count_words("".join(parts))


def count_words(text: str) -> int:
    """`len(text.split())`, without making the words: for ASCII text, each byte marked 0 for a
    space (as `split` knows spaces) or 1, the marks read as one integer, and the words counted
    by their edges: each word starts and ends where a mark differs from the one before it
    (the integer shifted by a byte, zeros beyond both ends), so two edges a word."""
    if not text.isascii():
        return len(text.split())
    marks = int.from_bytes(text.encode("ascii").translate(WORD_MARKS), "big")
    return (marks ^ (marks << 8)).bit_count() // 2

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
from publish.content.glossary import glossary_plugin

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

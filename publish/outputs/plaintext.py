"""The plain-text rendering of an essay's tokens: the text part of the email.

Paragraphs wrapped at 72 columns, `> ` quotes, underlined headings, links as `text <url>` and
notes as `[n]`, listed at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup

from publish.content.markdown import build_parser, inline_text
from publish.outputs.renderers import RenderContext, rendered
from publish.outputs.urls import resolve_url
from publish.outputs.webonly import web_only_text


class TextRenderer:
    """Plain text for people who read plain text: wrapped paragraphs, `-` and `1.` lists,
    `> ` quotes, underlined headings, `text <url>` links and `[1]` notes listed at the end.
    """

    width = 72

    def render(self, tokens: Sequence[Token], options: Any, env: dict[str, Any]) -> str:
        """The plain text of an essay's tokens; `env["render"]` gives the URL base."""
        context: RenderContext = env["render"]
        lines = self._blocks(SyntaxTreeNode(tokens).children, context, self.width)
        return "\n".join(lines).strip("\n") + "\n"

    def _blocks(
        self, blocks: list[SyntaxTreeNode], context: RenderContext, width: int
    ) -> list[str]:
        """Render sibling blocks, separated by blank lines unless they sit in a tight list."""
        lines: list[str] = []
        previous_tight = False
        for block in blocks:
            rendered = self._block(block, context, width)
            if not rendered:
                continue
            tight = _opening(block).hidden and _opening(block).type == "paragraph_open"
            if lines and not (tight or previous_tight):
                lines.append("")
            lines += rendered
            previous_tight = tight
        return lines

    def _block(self, block: SyntaxTreeNode, context: RenderContext, width: int) -> list[str]:
        """Render one block as lines."""
        token = _opening(block)
        kind = token.type.removesuffix("_open")
        if kind == "paragraph":
            return _wrap(self._inline_of(block, context), width)
        if kind == "heading":
            return _heading(self._inline_of(block, context), int(token.tag[1:]))
        if kind in ("bullet_list", "ordered_list"):
            return self._list(block, context, width)
        if kind == "blockquote":
            inner = self._blocks(block.children, context, width - 2)
            return [f"> {line}".rstrip() for line in inner]
        if kind in ("fence", "code_block"):
            return ["    " + line for line in token.content.rstrip("\n").split("\n")]
        if kind == "hr":
            return ["* * *"]
        if kind == "html_block":
            text = web_only_text(
                token.content, context.page_url, _strip_tags, context.words.on_the_web
            )
            return _wrap(text, width)
        if kind == "table":
            return self._table(block, context)
        if kind == "footnote_block":
            heading = context.words.notes
            return [heading, "-" * len(heading), "", *self._notes(block, context, width)]
        return self._blocks(block.children, context, width)

    def _inline_of(self, block: SyntaxTreeNode, context: RenderContext) -> str:
        """The text of the inline token inside a paragraph or heading."""
        inline = next((_opening(b) for b in block.children if _opening(b).type == "inline"), None)
        return _inline(inline.children or [], context) if inline else ""

    def _list(self, block: SyntaxTreeNode, context: RenderContext, width: int) -> list[str]:
        """A list: `-` bullets or numbers, continuation lines indented under the text."""
        ordered = _opening(block).type == "ordered_list_open"
        number = int(_opening(block).attrs.get("start", 1) or 1)
        tight = any(_opening(b).hidden for item in block.children for b in item.children)
        lines: list[str] = []
        for item in block.children:
            marker = f"{number}. " if ordered else "- "
            number += 1
            inner = self._blocks(item.children, context, width - len(marker)) or [""]
            if lines and not tight:
                lines.append("")
            lines.append(marker + inner[0])
            lines += [(" " * len(marker) + line) if line else "" for line in inner[1:]]
        return lines

    def _table(self, block: SyntaxTreeNode, context: RenderContext) -> list[str]:
        """A table as ` | `-separated rows, the header row underlined."""
        rows: list[str] = []
        for section in block.children:
            for row in section.children:
                cells = [self._inline_of(cell, context) for cell in row.children]
                rows.append(" | ".join(cells))
                if _opening(section).type == "thead_open":
                    rows.append("-" * min(len(rows[-1]), self.width))
        return rows

    def _notes(self, block: SyntaxTreeNode, context: RenderContext, width: int) -> list[str]:
        """Each note as `[n] text`, later lines indented under the text."""
        lines: list[str] = []
        for note in block.children:
            marker = f"[{_opening(note).meta['id'] + 1}] "
            inner = self._blocks(note.children, context, width - len(marker)) or [""]
            if lines:
                lines.append("")
            lines.append(marker + inner[0])
            lines += [(" " * len(marker) + line) if line else "" for line in inner[1:]]
        return lines


def _opening(node: SyntaxTreeNode) -> Token:
    """A node's own token: the opening one of a pair, else the token itself."""
    return node.token if node.token is not None else node.nester_tokens.opening


def _inline(children: Sequence[Token], context: RenderContext) -> str:
    """The plain text of inline tokens: links as `text <url>`, notes as `[n]`, no tags."""
    parts: list[str] = []
    links: list[str] = []
    for token in children:
        kind = token.type
        if kind in ("text", "code_inline"):
            parts.append(token.content)
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind in ("em_open", "em_close", "strong_open", "strong_close"):
            parts.append("*")
        elif kind == "link_open":
            links.append(context.address(str(token.attrs.get("href", ""))))
            parts.append("\x00")
        elif kind == "link_close":
            parts.append(_link_tail(parts, links.pop() if links else ""))
        elif kind == "image":
            src = resolve_url(str(token.attrs.get("src", "")), context.base)
            parts.append(f"[Image: {inline_text(token.children or []) or token.content}] <{src}>")
        elif kind == "footnote_ref":
            parts.append(f"[{token.meta['id'] + 1}]")
        elif kind == "glossary_term":
            source = f" ({token.meta['source']})" if token.meta["source"] else ""
            parts.append(f"{token.meta['term']}{source}: ")
        elif kind == "html_inline":
            parts.append(
                web_only_text(
                    token.content, context.page_url, _strip_tags, context.words.on_the_web
                )
            )
    return "".join(parts).replace("\x00", "")


def _link_tail(parts: list[str], url: str) -> str:
    """What follows a link's text: ` <url>`, unless the text already is the URL or it is local."""
    start = max(i for i, part in enumerate(parts) if part == "\x00")
    text = "".join(parts[start + 1 :])
    parts[start] = ""
    if not url or url.startswith("#") or text.strip() in (url, url.removeprefix("mailto:")):
        return ""
    return f" <{url}>"


def _strip_tags(html_text: str) -> str:
    """Raw HTML as text, line by line (hard breaks kept for `_wrap`): tags and comments
    dropped, their text kept, entities unescaped (markupsafe's `striptags`)."""
    return "\n".join(Markup(line).striptags() for line in html_text.split("\n"))


def _wrap(text: str, width: int) -> list[str]:
    """Wrap a paragraph to `width` columns, keeping hard line breaks and whole URLs."""
    lines: list[str] = []
    for piece in text.split("\n"):
        words = " ".join(piece.split())
        lines += _fill(words, max(width, 30)) or ([""] if lines else [])
    return lines


def _fill(words: str, width: int) -> list[str]:
    """Words joined by single spaces, broken into lines of at most `width` where possible.

    What `textwrap.wrap(words, width, break_long_words=False, break_on_hyphens=False)`
    returns for such text (a word longer than a line stands alone), without its regex
    chunking, which was the slowest step of rendering an email.
    """
    if not words:
        return []
    lines: list[str] = []
    start, length = 0, -1
    parts = words.split(" ")
    for index, word in enumerate(parts):
        if length >= 0 and length + 1 + len(word) > width:
            lines.append(" ".join(parts[start:index]))
            start, length = index, len(word)
        else:
            length += 1 + len(word)
    lines.append(" ".join(parts[start:]))
    return lines


def _heading(text: str, level: int) -> list[str]:
    """A heading: underlined with `=` or `-` at levels 1 and 2, in capitals below."""
    text = " ".join(text.split())
    if level == 1:
        return [text, "=" * len(text)]
    if level == 2:
        return [text, "-" * len(text)]
    return [text.upper()]


TEXT_RENDERER = TextRenderer()


def render_text(tokens: Sequence[Token], context: RenderContext) -> str:
    """Render an essay's tokens as plain text for the text part of an email."""
    return rendered(tokens, text_body, context)


def text_body(tokens: Sequence[Token], context: RenderContext) -> str:
    """`render_text`, always rendering."""
    return TEXT_RENDERER.render(tokens, build_parser().options, {"render": context})

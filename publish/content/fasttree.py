"""Pieces of the compiled parse (`fastparse`): source lines as markdown-it-py's block state
sees them, and a tree's inline nodes turned into markdown-it-py's inline tokens."""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from itertools import accumulate
from typing import Any, Protocol

from markdown_it import MarkdownIt
from markdown_it.rules_inline.autolink import EMAIL_RE
from markdown_it.token import Token

QUOTE_PREFIX = re.compile(r" {0,3}> ?")
# markdown-it-py's footnote_ref rule (which makes `env["footnotes"]`) is tried at these
# characters, when two more follow: one in a text token with two after it proves it was.
TRIED = re.compile(r"[!#$%:<=>@\[\]^{}+-]..", re.DOTALL)
CITATION = re.compile(r"\[\^([A-Za-z0-9-]+)\]")
NOTE_INDENT = 4
NESTING_LIMIT = 10  # half markdown-it-py's maxNesting (20): deeper blocks or spans decline
IMAGE_LABEL = re.compile(r"!\[([^\[\]`<]*)\]\(")


# Token's fields, in order, as `made_token` sets them.
TOKEN_FIELDS = ("type", "tag", "nesting", "attrs", "map", "level", "children", "content")
TOKEN_FIELDS += ("markup", "info", "meta", "block", "hidden")


def _made(
    kind: str,
    tag: str,
    nesting: int,
    attrs: dict[str, Any],
    span: list[int] | None,
    level: int,
    children: list[Token] | None,
    content: str,
    markup: str,
    info: str,
    meta: dict[str, Any],
    block: bool,
    hidden: bool,
) -> Token:
    """`Token(...)` of these fields, without `Token.__post_init__`, whose one job (turning a
    list of attribute pairs into a dict) these tokens never need: `attrs` is a dict of the
    token's own. About twice as quick, and the conversion makes every token of an essay (one
    statement a field: a quarter quicker again than assigning them in tuples)."""
    token = _new_token(Token)
    token.type = kind
    token.tag = tag
    token.nesting = nesting
    token.attrs = attrs
    token.map = span
    token.level = level
    token.children = children
    token.content = content
    token.markup = markup
    token.info = info
    token.meta = meta
    token.block = block
    token.hidden = hidden
    return token


def _pushed(
    tokens: list[Token], kind: str, tag: str, nesting: int, level: int, span: list[int] | None
) -> Token:
    """A block token as markdown-it-py's block rules make it, appended to `tokens`: `_made`
    of a block's fields, written out (the conversion makes about a hundred an essay)."""
    token = _new_token(Token)
    token.type = kind
    token.tag = tag
    token.nesting = nesting
    token.attrs = {}
    token.map = span
    token.level = level
    token.children = None
    token.content = ""
    token.markup = ""
    token.info = ""
    token.meta = {}
    token.block = True
    token.hidden = False
    tokens.append(token)
    return token


def _pushed_by_constructor(
    tokens: list[Token], kind: str, tag: str, nesting: int, level: int, span: list[int] | None
) -> Token:  # pragma: no cover (a markdown-it-py whose tokens changed shape)
    """`_pushed` through Token's constructor."""
    token = Token(kind, tag, nesting, map=span, level=level, block=True)
    tokens.append(token)
    return token


_new_token = object.__new__
# Made directly only while Token has exactly these fields (else through its constructor).
DIRECT = tuple(f.name for f in dataclasses.fields(Token)) == TOKEN_FIELDS
made_token = _made if DIRECT else Token
pushed = _pushed if DIRECT else _pushed_by_constructor


def after_quote(text: str) -> str | None:
    """A line's text after its quote marker (up to three spaces, `>` and one space), or None
    when it has none."""
    found = QUOTE_PREFIX.match(text)
    return None if found is None else text[found.end() :]


def indent_width(prefix: int | str) -> int:
    """How far a list item's (its width) or a note's (`"note"`) content is indented."""
    return NOTE_INDENT if prefix == "note" else int(prefix)


class Decline(Exception):
    """The input uses a form the conversion does not vouch for: parse it the slow way."""


class Citer(Protocol):
    """The converting builder: its parser (for links), its lines, and the footnote state."""

    md: MarkdownIt
    lines: Lines
    touched: bool

    def cite(self, label: str) -> dict[str, Any]:
        """The meta of the next `footnote_ref` token for `label`."""
        ...


class Lines:
    """The source by lines, with the compiled tree's byte offsets mapped to lines."""

    def __init__(self, src: str) -> None:
        self.data = src.encode()
        self.text = src.split("\n")
        widths = (
            map(len, self.text[:-1]) if src.isascii() else (len(t.encode()) for t in self.text[:-1])
        )
        self.starts = list(accumulate(map((1).__add__, widths), initial=0))  # each + its "\n"
        # the lines markdown-it-py counts: a last line only if something follows the last "\n"
        self.count = len(self.text) - (1 if src.endswith("\n") else 0)

    def line_of(self, offset: int) -> int:
        """The 0-based line holding byte `offset`."""
        return bisect_right(self.starts, offset) - 1

    def span(self, node: Any) -> tuple[int, int]:
        """A node's first line and the line after its last (a token map)."""
        srcmap = node.srcmap
        if srcmap is None:
            raise Decline
        start, end = srcmap
        starts = self.starts
        return bisect_right(starts, start) - 1, bisect_right(starts, max(end - 1, start))

    def rest_of_line(self, offset: int) -> str:
        """The source from byte `offset` to the end of its line."""
        line = self.line_of(offset)
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.data)
        return self.data[offset:end].decode()

    def block_text(self, offset: int, stop: int, strip: list[Any], first: int = -1) -> str:
        """A block's text as markdown-it-py's `getLines` gives it: from byte `offset` (on
        line `first`, when known) to the end of line `stop - 1`, each further line stripped
        of its containers' prefixes."""
        if first < 0:
            first = self.line_of(offset)
        if not strip or stop == first + 1:  # no prefixes to take off: one slice of the source
            end = self.starts[stop] - 1 if stop < len(self.starts) else len(self.data)
            return self.data[offset:end].decode()
        parts = [self.rest_of_line(offset)]
        parts += [self.stripped(line, strip) for line in range(first + 1, stop)]
        return "\n".join(parts)

    def stripped(self, line: int, strip: list[Any]) -> str:
        """A line without its containers' prefixes: quote markers (which must be there: a
        lazy line is not proven) and list or note indents (up to their width)."""
        text = self.text[line]
        for prefix in strip:
            if prefix == ">":
                quoted = after_quote(text)
                if quoted is None:
                    raise Decline
                text = quoted
            else:
                text = text[min(indent_width(prefix), len(text) - len(text.lstrip(" "))) :]
        return text

    def at_content_start(self, offset: int, strip: list[Any]) -> bool:
        """Whether byte `offset` is where its containers' content starts on its line: only
        their quote markers and list markers or indents come before it."""
        line = self.line_of(offset)
        before = self.data[self.starts[line] : offset].decode()
        for prefix in strip:
            if prefix == ">":
                quoted = after_quote(before)
                if quoted is None:
                    return False
                before = quoted
            else:
                before = before[indent_width(prefix) :]
        return not before

    def blank(self, line: int, strip: list[Any]) -> bool:
        """Whether a line is empty inside its containers (its quote markers removed)."""
        try:
            return not self.stripped(line, [p for p in strip if p == ">"]).strip(" ")
        except Decline:
            return False

    def skip_blank(self, line: int, end: int, strip: list[Any]) -> int:
        """The first line from `line` (before `end`) that is not blank in its containers."""
        while line < end and self.blank(line, strip):
            line += 1
        return line


def _add_text(out: list[Token], level: int, content: str) -> None:
    """Append a text token, or join it to the text token before it: adjacent text tokens
    are merged, as markdown-it-py's fragments join leaves them."""
    if out and out[-1].type == "text":
        out[-1].content += content
    else:
        out.append(_leaf("text", "", level, content))


def _leaf(kind: str, tag: str, level: int, content: str = "", markup: str = "") -> Token:
    """One inline token without children (positional: markedly faster than keywords)."""
    return made_token(kind, tag, 0, {}, None, level, None, content, markup, "", {}, False, False)


def convert_inline(nodes: Any, level: int, out: list[Token], citer: Citer, inside: str) -> None:
    """Append the tokens of inline nodes at `level`; `inside` names an enclosing link,
    image or note, where citations are not proven and so declined."""
    for node in nodes:
        name = node.name
        if name == "text":
            content = node.meta["content"]
            if citer.touched and "[^" not in content:  # the common case, kept short
                if out and out[-1].type == "text":  # `_add_text`, written out
                    out[-1].content += content
                else:
                    out.append(
                        made_token(
                            "text", "", 0, {}, None, level, None, content, "", "", {}, False, False
                        )
                    )
            else:
                _text(content, level, out, citer, inside)
        elif name in ("softbreak", "hardbreak"):
            out.append(_leaf(name, "br", level))
        elif level >= NESTING_LIMIT:
            raise Decline(name, level)  # markdown-it-py stops nesting spans at maxNesting
        elif name in WRAPPERS:
            tag, width = WRAPPERS[name]
            markup = node.meta.get("marker", "~") * width
            if tag == "strong":  # markdown-it-py leaves the delimiters' other halves, empty
                _add_text(out, level, "")
            out.append(
                made_token(
                    f"{tag}_open", tag, 1, {}, None, level, None, "", markup, "", {}, False, False
                )
            )
            convert_inline(node.children, level + 1, out, citer, inside)
            out.append(
                made_token(
                    f"{tag}_close", tag, -1, {}, None, level, None, "", markup, "", {}, False, False
                )
            )
            if tag == "strong":
                _add_text(out, level, "")
        elif name == "code_inline":
            content = "".join(child.meta["content"] for child in node.children)
            markup = node.meta["marker"] * node.meta["marker_len"]
            out.append(_leaf("code_inline", "code", level, content, markup))
        elif name == "footnote_ref_anchor" and inside == "note":
            continue  # the compiled parser's back-link; markdown-it-py's tail makes its own
        elif name == "html_inline":
            citer.touched = True
            out.append(_leaf("html_inline", "", level, node.meta["content"]))
        elif name == "footnote_ref" and not inside:
            out.append(_leaf("footnote_ref", "", level))
            out[-1].meta = citer.cite(node.meta["label"])
        elif name == "link":
            _link(node, level, out, citer)
        elif name == "autolink":
            _autolink(node, level, out, citer)
        elif name == "image":
            _image(node, level, out, citer)
        else:
            raise Decline(name, inside)


WRAPPERS = {"em": ("em", 1), "strong": ("strong", 2), "strikethrough": ("s", 2)}


def _text(content: str, level: int, out: list[Token], citer: Citer, inside: str) -> None:
    """A text node; a `[^label]` the tree left as text (a glossary citation: the compiled
    parser knows only the essay's own notes) becomes a footnote reference."""
    if not citer.touched and TRIED.search(content):
        citer.touched = True
    if "[^" not in content:
        _add_text(out, level, content)
        return
    if inside:
        raise Decline
    pieces = CITATION.split(content)
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(_leaf("footnote_ref", "", level))
            out[-1].meta = citer.cite(piece)
        elif "[^" in piece:
            raise Decline
        elif piece:
            _add_text(out, level, piece)


def _href(url: str, parser: MarkdownIt) -> str:
    """markdown-it-py's href for a destination the tree gives (declined where the tree's
    own escaping could differ, or where markdown-it-py would refuse the link)."""
    if "%" in url:
        raise Decline
    href = parser.normalizeLink(url)
    if not parser.validateLink(href):
        raise Decline
    return href


def _link(node: Any, level: int, out: list[Token], citer: Citer) -> None:
    attrs = {"href": _href(node.meta["url"], citer.md)}
    if node.meta.get("title"):
        attrs["title"] = node.meta["title"]
    out.append(
        made_token("link_open", "a", 1, attrs, None, level, None, "", "", "", {}, False, False)
    )
    convert_inline(node.children, level + 1, out, citer, "link")
    out.append(
        made_token("link_close", "a", -1, {}, None, level, None, "", "", "", {}, False, False)
    )


def _autolink(node: Any, level: int, out: list[Token], citer: Citer) -> None:
    parser = citer.md
    if len(node.children) != 1 or node.children[0].name != "text_special":
        raise Decline
    raw = node.children[0].meta["content"]
    citer.touched = True
    href = parser.normalizeLink(f"mailto:{raw}" if EMAIL_RE.match(raw) else raw)
    if not parser.validateLink(href):
        raise Decline
    out.append(
        Token(
            "link_open", "a", 1, level=level, attrs={"href": href}, markup="autolink", info="auto"
        )
    )
    _add_text(out, level + 1, parser.normalizeLinkText(raw))
    out.append(Token("link_close", "a", -1, level=level, markup="autolink", info="auto"))


def _image(node: Any, level: int, out: list[Token], citer: Citer) -> None:
    start, end = node.srcmap
    raw = citer.lines.data[start:end].decode()
    found = IMAGE_LABEL.match(raw)
    if found is None:
        raise Decline
    attrs = {"src": _href(node.meta["url"], citer.md), "alt": ""}
    if node.meta.get("title"):
        attrs["title"] = node.meta["title"]
    token = _leaf("image", "img", level, found[1])
    token.attrs = attrs
    token.children = []
    convert_inline(node.children, 0, token.children, citer, "image")
    token.children = token.children or None  # markdown-it-py: None for an empty alt
    out.append(token)

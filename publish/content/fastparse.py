"""The compiled parse: markdown-it-pyrs's syntax tree turned into markdown-it-py's tokens.

`fast_parse` returns exactly the token list (and the same `env`) that markdown-it-py's
`parse` would, or None where it cannot vouch for that: the input uses a form it does not
handle (raw HTML blocks, entities, backslash escapes, tabs, reference definitions, lazy
quote lines, unusual footnotes ...), and the caller parses it with markdown-it-py. The tree
gives the block and inline structure; source line ranges, inline contents and the footnote
numbering are worked out here as markdown-it-py does; what the core rules after the inline
parse (footnote tail, glossary, heading anchors) make of the result is then made in one
pass by `fasttail`, as they make it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from publish.content.fasttail import known_tail, tail
from publish.content.fasttree import NESTING_LIMIT, Decline, Lines, convert_inline, pushed

try:  # the compiled engine has wheels for the common platforms; elsewhere all is markdown-it-py
    import markdown_it_pyrs
except ImportError:  # pragma: no cover (every platform CI runs has a wheel)
    markdown_it_pyrs = None
# The conversion is proven against this version's trees; any other is not used.
PROVEN_VERSION = "0.4.0"

# Forms whose handling is not proven identical, so the essay is parsed by markdown-it-py:
# escapes, entities, whitespace other than space and newline, HTML comments and processing
# instructions (each tested on its own: one alternation is several times slower).
DECLINED_CHARACTERS = ("\\", "&", "\x00", "<!", "<?", "\t", "\r")
ASCII_ODD_SPACE = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")
# The first character of each form of both lists (`<` stands for `<!` and `<?`, told apart
# after); `_declined` deletes every other ASCII byte (ASCII_PLAIN) and looks at what is left.
ASCII_DECLINED = "".join(form[0] for form in DECLINED_CHARACTERS + ASCII_ODD_SPACE)
ASCII_PLAIN = bytes(c for c in range(128) if chr(c) not in ASCII_DECLINED)
ODD_SPACE = re.compile(
    r"[\t\r\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
# A delimiter run next to a Unicode symbol (S*): markdown-it-py counts symbols
# as punctuation when it decides what may open or close emphasis, the compiled parser not.
NON_ASCII_AFTER_DELIMITER = re.compile(r"[*_~]([^\x00-\x7f])")
NON_ASCII_BEFORE_DELIMITER = re.compile(r"([^\x00-\x7f])[*_~]")
DEFINITION_LINE = re.compile(r"\[\^([A-Za-z0-9-]+)\]: +\S")
LIST_MARKER = re.compile(r" *(?:[*+-]|(\d{1,9})[.)])(?: +|$)")
# Where markdown-it-py may or may not have tried its footnote_ref rule (see fasttree.TRIED).
MAYBE_TRIED = re.compile(r"[!#$%&:<=>@\[\]^{}+~-]")
ATX = re.compile(r" {0,3}(#{1,6})(.*)$")


@lru_cache(maxsize=1)
def compiled_parser() -> Any:
    """markdown-it-pyrs set up as our markdown-it-py parser is (None if not installed)."""
    if markdown_it_pyrs is None or markdown_it_pyrs.__version__ != PROVEN_VERSION:
        return None
    return markdown_it_pyrs.MarkdownIt("commonmark").enable_many(
        ["table", "strikethrough", "footnote"]
    )


def fast_parse(md: MarkdownIt, src: str, env: dict[str, Any]) -> list[Token] | None:
    """markdown-it-py's `md.parse(src, env)`, made from the compiled tree; None (and `env`
    untouched) where the input is not one this conversion is proven to handle."""
    engine = compiled_parser()
    if engine is None or not src.strip() or not known_tail(md) or _declined(src):
        return None
    try:
        definitions = _definitions(src)
        builder = _Builder(md, src, definitions)
        tree = engine.tree(src)
        builder.blocks(tree.children, 0, [], builder.lines.count)
        builder.check_definitions()
        if not builder.touched and any(
            MAYBE_TRIED.search(c, 0, len(c) - 2) for c in builder.contents
        ):
            raise Decline("env")
    except Decline:
        return None
    if builder.touched:
        env["footnotes"] = builder.footnotes()
    return tail(md, src, env, builder.tokens, builder.notes_defined, builder.headings)


def _declined(src: str) -> bool:
    """Whether the source holds a form the conversion does not handle."""
    if src.isascii():  # one pass over the bytes, far quicker than a regular expression
        found = src.encode("ascii").translate(None, ASCII_PLAIN)
        if found.strip(b"<"):
            return True  # a declined character other than `<`
        return bool(found) and _html_forms(src)
    if any(form in src for form in DECLINED_CHARACTERS):
        return True
    if ODD_SPACE.search(src) is not None:
        return True
    return any(
        unicodedata.category(found[1])[0] == "S"
        for pattern in (NON_ASCII_AFTER_DELIMITER, NON_ASCII_BEFORE_DELIMITER)
        for found in pattern.finditer(src)
    )


def _html_forms(src: str) -> bool:
    """Whether the source holds an HTML comment or processing instruction (`<!`, `<?`)."""
    return "<!" in src or "<?" in src


def _definitions(src: str) -> list[str]:
    """The labels of the essay's own footnote definitions, in order; Decline unless each
    starts a line after a blank one (or the start), has a plain label and is defined once,
    and every `]:` of the source closes one (else it is a reference definition, or text
    like one). Each `]` is looked at (found by `memchr`: rare in prose), not the whole
    source matched against a pattern."""
    labels: list[str] = []
    end = src.find("]")
    while end >= 0:
        if src.startswith(":", end + 1):
            start = src.rfind("\n", 0, end) + 1
            found = DEFINITION_LINE.match(src, start)
            if found is None or found.end(1) != end:
                raise Decline  # not a footnote definition opening its line
            previous = src[src.rfind("\n", 0, max(start - 1, 0)) + 1 : max(start - 1, 0)]
            if start and previous.strip(" "):
                raise Decline
            labels.append(found[1])
        end = src.find("]", end + 1)
    if len(set(labels)) != len(labels):
        raise Decline  # a label twice
    return labels


class _Builder:
    """Walks the compiled tree's blocks, appending markdown-it-py's block tokens."""

    def __init__(self, md: MarkdownIt, src: str, definitions: list[str]) -> None:
        self.md = md
        self.lines = Lines(src)
        self.tokens: list[Token] = []
        self.definitions = definitions
        self.defined: list[str] = []
        # the essay's own definitions, each label's paragraph tokens, kept out of `tokens`
        self.notes_defined: dict[str, list[Token]] = {}
        self.refs: dict[str, int] = {f":{label}": -1 for label in definitions}
        self.notes: dict[int, dict[str, Any]] = {}
        self.touched = bool(definitions)  # whether markdown-it-py made `env["footnotes"]`
        self.contents: list[str] = []
        self.headings: list[Token] = []  # each heading's opening token and its inline token

    def footnotes(self) -> dict[str, Any]:
        """What markdown-it-py's footnote plugin leaves under `env["footnotes"]`."""
        return {"refs": self.refs, "list": self.notes}

    def check_definitions(self) -> None:
        """Decline unless the tree found exactly the definitions the source has."""
        if self.defined != self.definitions:
            raise Decline

    def cite(self, label: str) -> dict[str, Any]:
        """Number one citation as markdown-it-py's footnote_ref rule does; its token meta."""
        self.touched = True
        key = f":{label}"
        if self.refs.get(key, -1) < 0:
            note_id = len(self.notes)
            self.notes[note_id] = {"label": label, "count": 0}
            self.refs[key] = note_id
        note_id = self.refs[key]
        sub_id = self.notes[note_id]["count"]
        self.notes[note_id]["count"] += 1
        return {"id": note_id, "subId": sub_id, "label": label}

    def inline(
        self, nodes: Any, content: str, level: int, span: list[int], in_note: bool = False
    ) -> None:
        """Append an inline token: `content` and the tree's inline nodes as children."""
        token = pushed(self.tokens, "inline", "", 0, level, span)
        token.content = content
        self.contents.append(content)
        token.children = []
        convert_inline(nodes, 0, token.children, self, "note" if in_note else "")

    def blocks(self, nodes: Any, level: int, strip: list[Any], end: int) -> None:
        """Append the tokens of a run of block nodes (in a container ending at line `end`)."""
        if level >= NESTING_LIMIT:
            raise Decline  # markdown-it-py stops nesting at its maxNesting; essays never near
        for node in nodes:
            method = BLOCK_METHODS.get(node.name)
            if method is None:
                raise Decline
            method(self, node, level, strip, end)

    def _paragraph(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        first, last = self.lines.span(node)
        pushed(self.tokens, "paragraph_open", "p", 1, level, [first, last])
        text = self.lines.block_text(node.srcmap[0], last, strip, first)
        in_note = bool(strip) and strip[0] == "note"
        self.inline(node.children, text.strip(), level + 1, [first, last], in_note)
        pushed(self.tokens, "paragraph_close", "p", -1, level, None)

    def _heading(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        first, last = self.lines.span(node)
        if last != first + 1:
            raise Decline
        found = ATX.match(self.lines.rest_of_line(node.srcmap[0]))
        if found is None:
            raise Decline
        rest = found[2].rstrip(" ")
        trimmed = rest.rstrip("#")
        if trimmed != rest and trimmed.endswith(" "):
            rest = trimmed
        self._heading_tokens(node, level, found[1], rest.strip(), [first, last])

    def _lheading(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        first, last = self.lines.span(node)
        text = self.lines.block_text(node.srcmap[0], last - 1, strip)
        markup = node.meta["marker"]
        self._heading_tokens(node, level, markup, text.strip(), [first, last], [first, last - 1])

    def _heading_tokens(
        self,
        node: Any,
        level: int,
        markup: str,
        content: str,
        span: list[int],
        text_span: list[int] | None = None,
    ) -> None:
        tag = f"h{node.meta['level']}"
        pushed(self.tokens, "heading_open", tag, 1, level, span).markup = markup
        self.inline(node.children, content, level + 1, text_span or list(span))
        self.headings += self.tokens[-2:]
        pushed(self.tokens, "heading_close", tag, -1, level, None).markup = markup

    def _hr(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        token = pushed(self.tokens, "hr", "hr", 0, level, list(self.lines.span(node)))
        # markdown-it-py's hr rule counts one marker more than there are
        token.markup = node.meta["marker"] * (node.meta["marker_len"] + 1)

    def _code_block(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        token = pushed(self.tokens, "code_block", "code", 0, level, list(self.lines.span(node)))
        token.content = node.meta["content"]

    def _fence(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        token = pushed(self.tokens, "fence", "code", 0, level, list(self.lines.span(node)))
        token.content = node.meta["content"]
        token.info = node.meta.get("info", "")
        token.markup = node.meta["marker"] * node.meta["marker_len"]

    def _blockquote(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        first, last = self.lines.span(node)
        if not node.children or last < end and not self.lines.blank(last, strip):
            raise Decline  # an empty quote, or one going on past what the tree says
        pushed(self.tokens, "blockquote_open", "blockquote", 1, level, [first, last]).markup = ">"
        self.blocks(node.children, level + 1, [*strip, ">"], last)
        pushed(self.tokens, "blockquote_close", "blockquote", -1, level, None).markup = ">"

    def _bullet_list(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        self._list(node, level, strip, end, "bullet_list", "ul")

    def _ordered_list(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        self._list(node, level, strip, end, "ordered_list", "ol")

    def _list(self, node: Any, level: int, strip: list[Any], end: int, kind: str, tag: str) -> None:
        marker = node.meta["marker"]
        opener = pushed(self.tokens, f"{kind}_open", tag, 1, level, None)
        opener.markup = marker
        start = node.meta.get("start")
        if start is not None and start != 1:
            opener.attrs = {"start": start}
        last = opener.map = [self.lines.span(node)[0], 0]
        for item in node.children:
            last[1] = self._item(item, level + 1, strip, end, marker, kind == "ordered_list")
        pushed(self.tokens, f"{kind}_close", tag, -1, level, None).markup = marker

    def _item(
        self, item: Any, level: int, strip: list[Any], end: int, marker: str, ordered: bool
    ) -> int:
        """Append one list item's tokens; return the line its map ends at."""
        children = item.children
        if item.name != "list_item" or not children:
            raise Decline
        first, last = self.lines.span(item)
        offset = item.srcmap[0]
        line = self.lines.rest_of_line(offset)
        found = LIST_MARKER.match(line)
        if found is None or found.end() == len(line) or found[0].endswith("     "):
            raise Decline  # an item opening with a blank line or with indented code
        if not self.lines.at_content_start(offset, strip):
            raise Decline  # a marker indented within its container: not proven
        width = len(found[0])
        stop = self.lines.skip_blank(last, end, strip)
        opener = pushed(self.tokens, "list_item_open", "li", 1, level, [first, stop])
        opener.markup = marker
        opener.info = (found[1] or "") if ordered else ""
        inner = [*strip, width]
        if children[0].name not in BLOCK_NAMES:  # a tight list's item: no paragraph node
            self._tight(children, offset + width, level + 1, inner, stop, first, last)
        else:
            self.blocks(children, level + 1, inner, stop)
        pushed(self.tokens, "list_item_close", "li", -1, level, None).markup = marker
        return stop

    def _tight(
        self,
        children: list[Any],
        start: int,
        level: int,
        strip: list[Any],
        end: int,
        first: int,
        last: int,
    ) -> None:
        """A tight item (its `children`, its text from byte `start`, after its marker): its
        leading inline nodes are a hidden paragraph, then blocks."""
        split = next((i for i, c in enumerate(children) if c.name in BLOCK_NAMES), len(children))
        inline_nodes, rest = children[:split], children[split:]
        if any(child.name == "paragraph" for child in rest):
            raise Decline
        stop = self.lines.span(rest[0])[0] if rest else last
        while stop > first + 1 and self.lines.blank(stop - 1, strip):
            stop -= 1  # the tree's item may end with blank lines; the paragraph does not
        pushed(self.tokens, "paragraph_open", "p", 1, level, [first, stop]).hidden = True
        text = self.lines.block_text(start, stop, strip, first)
        self.inline(inline_nodes, text.strip(), level + 1, [first, stop])
        pushed(self.tokens, "paragraph_close", "p", -1, level, None).hidden = True
        self.blocks(rest, level, strip, end)

    def _table(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        first, last = self.lines.span(node)
        if last < end and not self.lines.blank(last, strip):
            raise Decline  # the table goes on past what the tree says: not proven
        aligns = node.meta["alignments"]
        pushed(self.tokens, "table_open", "table", 1, level, [first, last])
        for part in node.children:
            if part.name not in ("thead", "tbody"):
                raise Decline
            part_first = self.lines.span(part)[0]
            pushed(self.tokens, f"{part.name}_open", part.name, 1, level + 1, [part_first, last])
            if part.name == "thead":
                self.tokens[-1].map = [part_first, part_first + 1]
            for row in part.children:
                self._row(row, level + 2, aligns, "th" if part.name == "thead" else "td")
            pushed(self.tokens, f"{part.name}_close", part.name, -1, level + 1, None)
        pushed(self.tokens, "table_close", "table", -1, level, None)

    def _row(self, row: Any, level: int, aligns: list[str], tag: str) -> None:
        """One table row: a cell for each column (the tree's cells must all be there)."""
        line = self.lines.span(row)[0]
        if len(row.children) != len(aligns) or row.name != "trow":
            raise Decline
        pushed(self.tokens, "tr_open", "tr", 1, level, [line, line + 1])
        for cell, align in zip(row.children, aligns, strict=True):
            opener = pushed(self.tokens, f"{tag}_open", tag, 1, level + 1, None)
            if align != "none":
                opener.attrs = {"style": f"text-align:{align}"}
            if cell.srcmap is None:
                raise Decline
            content = self.lines.data[cell.srcmap[0] : cell.srcmap[1]].decode().strip()
            self.inline(cell.children, content, level + 2, [line, line + 1])
            pushed(self.tokens, f"{tag}_close", tag, -1, level + 1, None)
        pushed(self.tokens, "tr_close", "tr", -1, level, None)

    def _footnote_container(self, node: Any, level: int, strip: list[Any], end: int) -> None:
        if level or strip:
            raise Decline
        for child in node.children:
            if child.name == "footnote_def":
                self._footnote_def(child)
            elif child.name != "footnote_ref_anchor":
                raise Decline

    def _footnote_def(self, node: Any) -> None:
        label = node.meta["label"]
        if len(node.children) != 1 or node.children[0].name != "paragraph":
            raise Decline
        self.lines.span(node)  # declines a definition without a place in the source
        self.defined.append(label)
        # its paragraph, kept aside: the notes section (`fasttail`) takes it in
        body, self.tokens = self.tokens, []
        self._paragraph(node.children[0], 1, ["note"], self.lines.count)
        self.notes_defined[label], self.tokens = self.tokens, body


# The tree's block nodes (each has a `_name` method above); any other node is inline.
BLOCK_NAMES = frozenset(
    (
        "paragraph",
        "heading",
        "lheading",
        "hr",
        "code_block",
        "fence",
        "blockquote",
        "bullet_list",
        "ordered_list",
        "table",
        "footnote_container",
        "html_block",
        "footnote_def",
        "list_item",
    )
)

# The method that converts each block node the conversion handles, by the node's name.
BLOCK_METHODS = {
    name: method
    for name in BLOCK_NAMES
    if (method := getattr(_Builder, f"_{name}", None)) is not None
}

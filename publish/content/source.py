"""Reads a Markdown file with YAML front matter, keeping the line numbers of both parts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from publish.content.flatyaml import flat_front_matter
from publish.content.positions import front_matter_key_line
from publish.errors import CONTROL_CHARACTERS, Problem, error, shown
from publish.layout import ESSAYS_DIR as ESSAYS_DIR  # build.py still imports it from here

if TYPE_CHECKING:
    import yaml

# The line that opens and the one that closes the front matter (python-frontmatter's, whose
# YAML handler, which loads YAML, is not needed to find them).
FRONT_MATTER_BOUNDARY = re.compile(r"^-{3,}\s*$", re.MULTILINE)
# The ASCII characters CONTROL_CHARACTERS does not match (tab, newline and the printable).
PLAIN_ASCII = b"\t\n" + bytes(range(0x20, 0x7F))
MAX_CONTROL_PROBLEMS = 10
MAX_HTML_DEPTH = 100  # raw HTML in an essay never nests this deep; browsers stop at 512
KIND_NAMES = {
    "bool": "a boolean",
    "int": "a number",
    "float": "a number",
    "null": "null",
    "timestamp": "a date",
    "merge": "a merge of another mapping",
}


# Markdown nested deeper than this (quotes, lists) is refused: the parser would drop it.
MAX_BLOCK_LEVEL = 16


class FrontMatterDocument(msgspec.Struct, frozen=True):
    """A file split into its front matter (parsed) and its Markdown body."""

    path: str
    metadata: dict[str, Any]
    front_matter: str
    body: str
    body_line: int
    raw: bytes = b""  # the file's bytes (left out of repr)

    def __repr__(self) -> str:
        fields = (name for name in self.__struct_fields__ if name != "raw")
        shown = (f"{name}={getattr(self, name)!r}" for name in fields)
        return f"FrontMatterDocument({', '.join(shown)})"

    def key_line(self, key: str) -> int:
        """The 1-based file line where front matter `key:` is set, or 1."""
        return front_matter_key_line(self.front_matter, key)


def read_document(
    path: Path, root: Path, raw: bytes | None = None
) -> tuple[FrontMatterDocument | None, list[Problem]]:
    """Read and split one file (or its bytes `raw`, when already read); return the document,
    or None and the problems that stop it."""
    shown = path.relative_to(root).as_posix()
    raw = path.read_bytes() if raw is None else raw
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line, col = _position_of_byte(raw, exc.start)
        return None, [
            error(
                shown,
                line,
                col,
                f"file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            )
        ]
    if "\r" in text:  # (most files have none: the two scans of the replacing are spared)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = _control_problems(shown, text)
    if controls:
        return None, controls
    if not FRONT_MATTER_BOUNDARY.match(text):
        return FrontMatterDocument(shown, {}, "", text, 0, raw), []
    try:
        _, front_matter, body = FRONT_MATTER_BOUNDARY.split(text, 2)
    except ValueError:
        return None, [error(shown, 1, 1, "front matter is not closed with a '---' line")]
    metadata, problems = _load_front_matter(shown, front_matter)
    if metadata is None:
        return None, problems
    body_line = text[: len(text) - len(body)].count("\n")
    return FrontMatterDocument(shown, metadata, front_matter, body, body_line, raw), []


def _load_front_matter(
    shown_path: str, front_matter: str
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse the front matter strictly; the mapping, or None and the problems that stop it
    (the plainest kind read without a YAML loader, as the loader would read it)."""
    metadata = flat_front_matter(front_matter)
    if metadata is None:
        return _yaml_front_matter(shown_path, front_matter)
    problems = _control_value_problems(shown_path, front_matter, metadata)
    return (None if problems else metadata), problems


def _yaml_front_matter(
    shown_path: str, front_matter: str
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """`_load_front_matter` by a YAML loader (libyaml's where the text allows it)."""
    from publish.content import yamlfront  # YAML, loaded only for front matter flatyaml leaves

    loader: yamlfront.FrontMatterLoader | yamlfront.FastFrontMatterLoader | None = None
    metadata: Any = None
    if yamlfront.plain_enough(front_matter) and yamlfront.HAS_LIBYAML:
        loader = yamlfront.FastFrontMatterLoader(front_matter)
        try:
            metadata = loader.get_single_data() or {}
        except yamlfront.YAMLError:
            loader = None  # parsed again below, for the pure-Python loader's exact message
    if loader is None:
        loader = yamlfront.FrontMatterLoader(front_matter)
        try:
            metadata = loader.get_single_data() or {}
        except yamlfront.YAMLError as exc:
            return None, [_yaml_problem(shown_path, exc)]
        finally:
            loader.dispose()
    if not isinstance(metadata, dict):
        return None, [error(shown_path, 2, 1, "front matter must be a mapping of keys to values")]
    problems = [
        error(
            shown_path,
            mark.line + 1,
            mark.column + 1,
            f"front matter key '{shown(written)}' is not text: YAML reads it as "
            f"{KIND_NAMES.get(kind, kind)}; quote it, as in '\"{shown(written)}\":', "
            "if you mean the word",
        )
        for mark, written, kind in loader.key_problems
    ]
    problems += _control_value_problems(shown_path, front_matter, metadata)
    return (None if problems else metadata), problems


def _control_problems(shown_path: str, text: str) -> list[Problem]:
    """An error at each control character in the file (the first few): they are refused
    wherever they stand, since none may reach a page, a feed or an email."""
    if text.isascii() and not text.encode("ascii").translate(None, PLAIN_ASCII):
        return []  # the common case, told far sooner than by the regular expression
    problems = []
    for match in CONTROL_CHARACTERS.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        problems.append(
            error(
                shown_path,
                line,
                col,
                f"control character {_codepoint(match[0])} is not allowed; delete it",
            )
        )
        if len(problems) == MAX_CONTROL_PROBLEMS:
            break
    return problems


def _control_value_problems(
    shown_path: str, front_matter: str, metadata: dict[str, Any]
) -> list[Problem]:
    """An error for each front matter key whose value holds a control character written as
    a YAML escape (`"\\a"`, `"\\x07"`, `"\\e"`)."""
    problems = []
    for key, value in metadata.items():
        found = next(
            (m for text in _strings(value) for m in [CONTROL_CHARACTERS.search(text)] if m), None
        ) or CONTROL_CHARACTERS.search(key)
        if found:
            line = front_matter_key_line(front_matter, key)
            problems.append(
                error(
                    shown_path,
                    line,
                    1,
                    _control_value_message(key, found[0]),
                )
            )
    return problems


def _control_value_message(key: str, character: str) -> str:
    """What to say of a front matter value holding a character it may not hold."""
    if "\ud800" <= character <= "\udfff":
        return (
            f"'{shown(key)}' holds half of a character ({_codepoint(character)}, a lone "
            "surrogate, as a '\\u' escape with no partner writes it); write the character "
            'itself, or both of its escapes ("\\ud83d\\ude00")'
        )
    return (
        f"'{shown(key)}' holds control character {_codepoint(character)}, which is not "
        "allowed; delete it"
    )


def _strings(value: Any) -> list[str]:
    """Every string inside a front matter value (lists and mappings walked, depth-bounded)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def referenced_controls(
    shown_path: str, tokens: Sequence[Any], body: str, body_line: int
) -> list[Problem]:
    """An error at each parsed block whose text holds a control character written as a
    character reference (`&#12;`): the file itself has none (`read_document` sees to that),
    and no page, feed or email may either. `tokens` are markdown-it tokens of `body`,
    whose first line is file line `body_line` + 1."""
    if "&" not in body:  # only a character reference puts a control character in a token
        return []
    lines = body.split("\n")
    problems = []
    for token in tokens:
        children = token.children or []
        texts = [
            token.content,
            *(child.content for child in children),
            *(str(value) for child in children for value in child.attrs.values()),
        ]
        if (
            not token.map
            or token.type in ("fence", "code_block")
            or not any(CONTROL_CHARACTERS.search(text) for text in texts)
        ):
            continue
        line, col = next(
            (
                (n, lines[n].find("&#") + 1)
                for n in range(*token.map)
                if n < len(lines) and "&#" in lines[n]
            ),
            (token.map[0], 1),
        )
        problems.append(
            error(
                shown_path,
                body_line + line + 1,
                col,
                "a character reference here names a control character, "
                "which is not allowed; delete it",
            )
        )
    return problems


def deep_html(shown_path: str, tokens: Sequence[Any], body_line: int) -> list[Problem]:
    """An error where the raw HTML of a parsed body nests more than MAX_HTML_DEPTH elements
    deep: the email's CSS inliner (native code) would crash on thousands of levels."""
    counter = None
    for token in tokens:
        pieces = (
            [token]
            if token.type == "html_block"
            else [child for child in token.children or [] if child.type == "html_inline"]
        )
        for piece in pieces:
            if counter is None:
                # An essay without raw HTML (most) never loads html.parser.
                from publish.content.htmldepth import DepthCounter

                counter = DepthCounter()
            counter.feed(piece.content)
            if counter.deepest > MAX_HTML_DEPTH:
                line = body_line + (token.map[0] if token.map else 0) + 1
                return [
                    error(
                        shown_path,
                        line,
                        1,
                        f"raw HTML nests more than {MAX_HTML_DEPTH} "
                        "elements deep here; close its tags",
                    )
                ]
    return []


def _codepoint(character: str) -> str:
    """A character as U+XXXX."""
    return f"U+{ord(character):04X}"


def _yaml_problem(shown: str, exc: yaml.YAMLError) -> Problem:
    """Locate a YAML error in the file (the front matter starts on line 2)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return error(shown, 1, 1, f"invalid YAML front matter: {problem}")
    return error(shown, mark.line + 1, mark.column + 1, f"invalid YAML front matter: {problem}")


def _position_of_byte(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, col

"""Reads a Markdown file with YAML front matter, keeping the line numbers of both parts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from publish.errors import Problem, error

YAML_HANDLER = YAMLHandler()


class FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader, except that an impossible date stays text for the caller to report."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        """A date or datetime, or the raw text when it names no real day (2026-13-01)."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp",
                                  FrontMatterLoader.construct_yaml_timestamp)


@dataclass(frozen=True)
class FrontMatterDocument:
    """A file split into its front matter (parsed) and its Markdown body."""

    path: str
    metadata: dict[str, Any]
    front_matter: str
    body: str
    body_line: int
    raw: bytes = field(repr=False, default=b"")

    def key_line(self, key: str) -> int:
        """The 1-based file line where front matter `key:` is set, or 1."""
        pattern = re.compile(rf"^{re.escape(key)}\s*:")
        for number, line in enumerate(self.front_matter.split("\n")):
            if pattern.match(line):
                return number + 1
        return 1


def read_document(path: Path, root: Path) -> tuple[FrontMatterDocument | None, list[Problem]]:
    """Read and split one file; return the document, or None and the problems that stop it."""
    shown = path.relative_to(root).as_posix()
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line, col = _position_of_byte(raw, exc.start)
        return None, [error(shown, line, col, "file is not UTF-8 "
                                              f"(byte 0x{raw[exc.start]:02x}); save it as UTF-8")]
    text = text.replace("\r\n", "\n")
    if not YAML_HANDLER.detect(text):
        return FrontMatterDocument(shown, {}, "", text, 0, raw), []
    try:
        front_matter, body = YAML_HANDLER.split(text)
    except ValueError:
        return None, [error(shown, 1, 1, "front matter is not closed with a '---' line")]
    try:
        metadata = YAML_HANDLER.load(front_matter, Loader=FrontMatterLoader) or {}
    except yaml.YAMLError as exc:
        return None, [_yaml_problem(shown, exc)]
    if not isinstance(metadata, dict):
        return None, [error(shown, 2, 1, "front matter must be a mapping of keys to values")]
    body_line = text[: len(text) - len(body)].count("\n")
    return FrontMatterDocument(shown, metadata, front_matter, body, body_line, raw), []


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

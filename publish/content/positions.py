"""Where a setting is written: the one way to find the line and column of a key in a TOML
file (`publish.toml`, `releases.toml`) or in an essay's YAML front matter.

The files are parsed by tomllib and PyYAML, which keep no positions; these find a key's
line by its text instead: TOML keys within their `[table]` (a top-level key before any
table, else the `[key]` table itself), front matter keys at the start of a line. A key not
found is placed on its table's line, else on line 1.
"""

from __future__ import annotations

import re
from functools import cache


@cache
def toml_header() -> re.Pattern[str]:
    """A `[table]` header line of a TOML file (compiled on first use: only a problem is placed)."""
    return re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")


def toml_key_line(text: str, key: str, table: str | None = None) -> int:
    """The line where `key` is set inside `[table]` (at the top level when None; a dotted
    `key.x =` counts), else the line of `[table]` (of a `[key]` table at the top level),
    else 1."""
    current = None
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=.]")
    for number, line in enumerate(text.splitlines(), start=1):
        header = toml_header().match(line)
        if header:
            current = header[1]
        elif current == table and pattern.match(line):
            return number
    return toml_table_line(text, table if table is not None else key)


def toml_table_line(text: str, table: str) -> int:
    """The line of the `[table]` (or `[[table]]`, or `[table.sub]`) header, or 1."""
    pattern = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*[\].]")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def front_matter_key_line(front_matter: str, key: str) -> int:
    """The 1-based file line of a top-level front matter key, or 1 (the front matter text
    starts with the line of its opening `---`, so its line numbers are the file's)."""
    pattern = re.compile(rf"^[\"']?{re.escape(key)}[\"']?\s*:")
    for number, line in enumerate(front_matter.split("\n"), start=1):
        if pattern.match(line):
            return number
    return 1


def line_text(text: str, line: int) -> str:
    """One line of `text` by its 1-based number ('' when out of range)."""
    lines = text.split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else ""


def value_col(text: str, line: int, separator: str = "=") -> int:
    """The 1-based column where the value of `key = value` (`key: value` with separator
    ":") on a line of `text` starts, or 1."""
    match = re.match(rf"[^{separator}]*{separator}\s*", line_text(text, line))
    return len(match.group(0)) + 1 if match else 1


def line_of(text: str, pattern: re.Pattern[str], start: int = 0, end: int | None = None) -> int:
    """The line of the first match of `pattern` in `text[start:end]`, or of `start`."""
    match = pattern.search(text, start, len(text) if end is None else end)
    return text[: match.start() if match else start].count("\n") + 1

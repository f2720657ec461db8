"""Problems found in a site, carried as values up to the command line, which prints them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

SHOWN_LIMIT = 60  # the most characters of a value a message repeats
# C0 and C1 control characters (tab and newline excepted), surrogates and the two
# noncharacters XML refuses: none of them may reach a page, a feed or a header.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class Problem(msgspec.Struct, frozen=True):
    """One error or warning, located in a file by line and column (both 1-based)."""

    path: str
    line: int
    col: int
    message: str
    severity: str = "error"

    def format(self) -> str:
        """Return the problem as `path:line:col: severity: message`."""
        return f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}"

    @property
    def is_error(self) -> bool:
        """True for an error, False for a warning."""
        return self.severity == "error"


def error(path: str, line: int, col: int, message: str) -> Problem:
    """Build an error problem."""
    return Problem(path, line, col, message, "error")


def warning(path: str, line: int, col: int, message: str) -> Problem:
    """Build a warning problem."""
    return Problem(path, line, col, message, "warning")


def hint(path: str, line: int, col: int, message: str) -> Problem:
    """Build a hint: worth fixing, never a failure (not even with --strict)."""
    return Problem(path, line, col, message, "hint")


class PublishError(Exception):
    """Raised with every problem found; the CLI shows them and exits non-zero."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.col))
        super().__init__("\n".join(p.format() for p in self.problems))

    @classmethod
    def single(cls, path: str, line: int, col: int, message: str) -> PublishError:
        """Raise-ready error holding one problem."""
        return cls([error(path, line, col, message)])


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ` (did you mean 'x'?)` for the closest choice, or an empty string."""
    import difflib  # only when a name is wrong: start-up stays light

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def refuse_problems(problems: Sequence[Problem], strict: bool) -> None:
    """Stop the build before anything is committed when a problem is an error, or (strict
    mode) when there is any: every warning then becomes an error."""
    if any(p.is_error for p in problems):
        raise PublishError(list(problems))
    if strict:
        refuse_warnings(problems)


def refuse_warnings(problems: Sequence[Problem]) -> None:
    """Strict mode: every warning becomes an error, and the build stops before writing."""
    if problems:
        raise PublishError([msgspec.structs.replace(p, severity="error") for p in problems])


def shown(value: Any, limit: int = SHOWN_LIMIT) -> str:
    """A value as a message may repeat it: its text cut to `limit` characters with '…'."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return (
        text.encode("unicode_escape").decode("ascii") if CONTROL_CHARACTERS.search(text) else text
    )

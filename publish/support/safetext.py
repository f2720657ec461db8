"""Text that is safe to print, store and put in a header: control characters folded away."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache


@cache
def _controls() -> re.Pattern[str]:
    """Control characters (C0, DEL, C1) and the Unicode line and paragraph separators
    (compiled on first use: a build folds none)."""
    return re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")


def fold_controls(text: str) -> str:
    """Replace CR, LF, other control characters and U+2028/U+2029 with single spaces."""
    return _controls().sub(" ", text).strip()


def has_controls(text: str) -> bool:
    """Whether text holds CR, LF, another control character or a Unicode line separator."""
    return _controls().search(text) is not None


def now_text() -> str:
    """The current UTC time as ISO 8601 text, the format of every timestamp in the state."""
    return datetime.now(UTC).isoformat(timespec="seconds")

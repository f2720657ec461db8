"""Python function calls counted while a piece of the parse runs: what a cost test of the
parse phase asserts on (a count of calls, unlike a time, is the same on every machine)."""

from __future__ import annotations

import gc
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any


def python_calls(action: Callable[[], Any]) -> Counter[str]:
    """The Python functions `action()` calls, each with how many times (calls into C, and
    `action` itself, are not counted; the collector is held off meanwhile, so that no
    callback of its, such as Hypothesis's, is counted)."""
    calls: Counter[str] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            calls[frame.f_code.co_qualname] += 1

    collecting = gc.isenabled()
    gc.disable()
    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
        if collecting:
            gc.enable()
    calls[action.__code__.co_qualname] -= 1  # type: ignore[attr-defined]
    return +calls


def calls_per(action: Callable[[int], Any], small: int = 20, large: int = 40) -> float:
    """The Python calls `action(n)` makes for each unit of `n` (a paragraph, say): its calls
    at `large` less those at `small`, over the difference, so that what is made once (or
    found once a process: `action(small)` runs first, uncounted) does not count."""
    action(small)
    more = python_calls(lambda: action(large))
    fewer = python_calls(lambda: action(small))
    return (more.total() - fewer.total()) / (large - small)

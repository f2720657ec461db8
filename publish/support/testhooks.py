"""The test hooks: one variable that stops or holds a process at a named point, so a test
can kill it at exactly that moment or see which processes reached it.

    PUBLISH_TEST_HOOK=ACTION:POINT[:NUMBER]

- `crash:POINT[:N]` kills the process (SIGKILL, as `kill -9` or a power cut would) once
  POINT has been passed N times (once without N);
- `hold:POINT[:SECONDS]` says "holding at POINT in process PID" on stderr and waits there
  60 seconds (or SECONDS).

The points: `build` and `record` (`publish run`, right after that step), `claimed` (a
send's claims just committed, before their messages go out) and `accepted` (a message the
server just accepted, before its outcome is recorded), `fedi-claimed` and `fedi-accepted`
(the same two for a fediverse delivery), `worker` (a forked worker starting),
`staged`, `journal`, `half-committed` and `committed` (the writer's commit),
`import-staged` (`publish import`, its files staged, nothing yet in place), `pack-append`
(half of an essay record appended to its pack) and `pack-compacted` (the build cache's live
records copied into a new pack, the old packs not yet removed). Unset, nothing
happens. Never set it in production.
"""

from __future__ import annotations

import os
import signal
import threading
import time

HOOK_ENV = "PUBLISH_TEST_HOOK"
CRASH, HOLD = "crash", "hold"
HOLD_SECONDS = 60.0  # how long a hold lasts when the hook gives no number

_passes: dict[str, int] = {}
_passes_lock = threading.Lock()


def hook_value(action: str, point: str, number: float | None = None) -> str:
    """The value of PUBLISH_TEST_HOOK that asks for `action` at `point` (for the tests)."""
    return f"{action}:{point}" if number is None else f"{action}:{point}:{number:g}"


def _asked(action: str, point: str) -> tuple[bool, str]:
    """Whether the hook asks for `action` at `point`, and its number ('' when none)."""
    asked_action, _, rest = os.environ.get(HOOK_ENV, "").partition(":")
    asked_point, _, number = rest.partition(":")
    return asked_action == action and asked_point == point, number


def crash_at(point: str, passes: int = 1) -> None:
    """Count `passes` more passes of `point`; kill this process once the hook's number is
    reached, when the hook asks for a crash there. Safe from several threads."""
    asked, number = _asked(CRASH, point)
    if not asked:
        return
    with _passes_lock:
        _passes[point] = _passes.get(point, 0) + passes
        if _passes[point] >= int(number or 1):
            os.kill(os.getpid(), signal.SIGKILL)


def hold_at(point: str) -> None:
    """Say so on stderr and wait, when the hook asks for a hold at `point`."""
    asked, seconds = _asked(HOLD, point)
    if asked:
        os.write(2, f"holding at {point} in process {os.getpid()}\n".encode())
        time.sleep(float(seconds or HOLD_SECONDS))

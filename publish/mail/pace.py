"""The pace of a send, shared by all its connections: a rate, an hourly cap, and slowing down.

`[email] rate` is messages per second over every connection together; `[email] hourly_limit`
counts messages in any rolling hour, those of earlier sends included (the caller passes
their times). When a relay pushes back (421, 451, 452) the send slows down and then speeds
up again, as TCP does (additive increase, multiplicative decrease): the pace is halved, at
most once per SLOWDOWN_GAP seconds however many connections hear it and never below
SLOWEST, and each message that gets through adds a fixed step (the target pace over
CLIMB_MESSAGES), until the pace is back at the target: the configured rate, or, with no
rate set, the fastest pace the send was measured at before any pushback. The target never
falls: a relay that pushes back often keeps the pace low only while it pushes back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import msgspec

from publish.model import Settings
from publish.state import ledger

HOUR = 3600.0
SLOWDOWN_GAP = 2.0  # seconds: pushback heard on several connections at once halves once
SLOWEST = 0.5  # messages per second: slowing down never goes below this
DECREASE = 0.5  # pushback multiplies the pace by this
CLIMB_MESSAGES = 16  # messages that get through: from no pace at all back to the target
MEASURE_SPAN = 2.0  # seconds of recent sends that tell an unlimited send's actual pace


class Clock(msgspec.Struct, frozen=True):
    """The clocks a pace reads and sleeps by (a test passes its own)."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


class Pace:
    """When each message may go: at most `rate` a second (0: no limit) over all connections,
    and at most `hourly_limit` (0: no limit) in any rolling hour.

    Thread-safe: every connection's worker calls `wait` before a message. `on_hold` is told,
    once per pause, the wall-clock time the hourly limit lets the send go on.
    """

    def __init__(
        self,
        rate: float,
        hourly_limit: int = 0,
        earlier: Iterable[float] = (),
        on_hold: Callable[[float], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock or Clock()
        self.configured = rate
        self.rate = rate  # the pace now: lower than configured after pushback
        self.next_at = 0.0
        self.hourly_limit = hourly_limit
        self.window: deque[float] = deque(sorted(earlier)[-hourly_limit:] if hourly_limit else ())
        self.on_hold = on_hold or (lambda until: None)
        self.recent: deque[float] = deque()
        self.fastest = 0.0  # the fastest pace measured while no rate held the send back
        self.slowed_at = -SLOWDOWN_GAP
        self.target = 0.0  # the pace to climb back to after pushback (0: not slowed)
        self.holds = 0

    def wait(self) -> None:
        """Sleep until the next message is allowed, and count it as sent from then on."""
        with self.lock:
            self._hold_for_hour()
            now = self.clock.monotonic()
            slot = max(now, self.next_at) if self.rate else now
            self.next_at = slot + (1.0 / self.rate if self.rate else 0.0)
            self._remember(slot)
        if slot > now:
            self.clock.sleep(slot - now)

    def _hold_for_hour(self) -> None:
        """With the hourly limit reached, sleep (holding the lock: every worker waits) until
        the oldest message of the window is an hour old."""
        if not self.hourly_limit:
            return
        while True:
            now = self.clock.wall()
            while self.window and self.window[0] <= now - HOUR:
                self.window.popleft()
            if len(self.window) < self.hourly_limit:
                self.window.append(now)
                return
            until = self.window[0] + HOUR
            self.holds += 1
            self.on_hold(until)
            self.clock.sleep(max(0.0, until - now))

    def _remember(self, slot: float) -> None:
        """Keep the last MEASURE_SPAN seconds of sends, to know an unlimited send's pace."""
        self.recent.append(slot)
        while self.recent and self.recent[0] < slot - MEASURE_SPAN:
            self.recent.popleft()
        if not self.rate:
            self.fastest = max(self.fastest, len(self.recent) / MEASURE_SPAN)

    def slow_down(self) -> bool:
        """The relay pushed back: halve the pace (once per SLOWDOWN_GAP); True if it did."""
        with self.lock:
            now = self.clock.monotonic()
            if now - self.slowed_at < SLOWDOWN_GAP:
                return False
            self.slowed_at = now
            self.target = self.configured or max(SLOWEST, self.fastest)
            current = self.rate or self.target
            self.rate = max(SLOWEST, current * DECREASE)
            return True

    def got_through(self) -> None:
        """A message was accepted: add one step towards the target pace (additive increase)."""
        with self.lock:
            if not self.target:
                return
            self.rate += self.target / CLIMB_MESSAGES
            if self.rate >= self.target:
                self.rate, self.target = self.configured, 0.0

    @property
    def shown_rate(self) -> str:
        """The pace now, in words."""
        return f"{self.rate:.1f} messages a second" if self.rate else "as fast as the server takes"


def make_pace(
    conn: sqlite3.Connection,
    settings: Settings,
    outbox: bool,
    on_hold: Callable[[float], None],
) -> Pace:
    """The send's shared pace; the hourly limit counts the messages of the past hour."""
    if outbox:
        return Pace(0.0)  # writing files: no relay to spare
    limit = settings.email.hourly_limit
    earlier: list[float] = []
    if limit:
        since = (datetime.now(UTC) - timedelta(seconds=HOUR)).isoformat(timespec="seconds")
        earlier = [datetime.fromisoformat(t).timestamp() for t in ledger.sent_since(conn, since)]
    return Pace(settings.email.rate, limit, earlier, on_hold)

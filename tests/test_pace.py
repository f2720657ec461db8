"""The shared pace of a send (`publish.mail.pace`): slowing down on pushback and climbing
back (additive increase, multiplicative decrease), and the hourly limit's count. Every test
runs on a clock of its own, so nothing here depends on how fast the machine is."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publish.mail.pace import CLIMB_MESSAGES, SLOWDOWN_GAP, SLOWEST, Clock, Pace, make_pace
from publish.model import EmailSettings, Settings, SiteSettings
from publish.state import db


class FakeClock:
    """A clock that moves only when told to, or when a pace sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept = 0.0

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """A pace waits: the time passes at once."""
        self.slept += seconds
        self.now += seconds

    def clock(self) -> Clock:
        """This clock as a pace reads it (monotonic and wall clock alike)."""
        return Clock(monotonic=lambda: self.now, wall=lambda: self.now, sleep=self.sleep)


def send(pace: Pace, clock: FakeClock, messages: int, each: float) -> None:
    """`messages` messages that get through, the relay taking `each` seconds for one."""
    for _ in range(messages):
        pace.wait()
        clock.advance(each)
        pace.got_through()


def push_back(pace: Pace, clock: FakeClock) -> bool:
    """The relay pushes back, later than the last slowing by more than the gap."""
    clock.advance(SLOWDOWN_GAP + 0.1)
    return pace.slow_down()


def test_pushback_halves_the_pace_down_to_the_floor_and_successes_add_it_back_step_by_step() -> (
    None
):
    clock = FakeClock()
    pace = Pace(10.0, clock=clock.clock())
    rates = []
    for _ in range(6):
        assert push_back(pace, clock)
        rates.append(pace.rate)
    assert rates == [5.0, 2.5, 1.25, 0.625, SLOWEST, SLOWEST]
    assert not pace.slow_down(), "pushback heard again within the gap halves nothing"
    climbed = []
    for _ in range(CLIMB_MESSAGES):
        send(pace, clock, 1, 0.0)
        climbed.append(pace.rate)
    step = 10.0 / CLIMB_MESSAGES
    rising = [rate for rate in climbed if rate != 10.0]
    assert rising == pytest.approx([SLOWEST + step * n for n in range(1, len(rising) + 1)])
    assert climbed[-1] == 10.0, "the pace is back at the configured rate, no higher"
    send(pace, clock, 5, 0.0)
    assert pace.rate == 10.0


def test_an_unlimited_pace_climbs_back_to_its_measured_speed_however_often_it_is_pushed() -> None:
    clock = FakeClock()
    pace = Pace(0.0, clock=clock.clock())  # no rate: as fast as the relay takes them
    send(pace, clock, 60, 0.05)  # 20 messages a second
    assert push_back(pace, clock) and pace.rate == pytest.approx(10.0)
    send(pace, clock, CLIMB_MESSAGES, 0.0)
    assert pace.rate == 0.0, "back to no limit once the measured speed is reached"
    for _ in range(5):
        # The relay pushes back again after a slow spell (reconnects, a busy moment): the
        # pace halves from the speed the send had before, not from the slow spell's pace,
        # and climbs all the way back once messages get through.
        send(pace, clock, 3, 1.0)
        assert push_back(pace, clock) and pace.rate == pytest.approx(10.0)
        send(pace, clock, CLIMB_MESSAGES, 0.0)
        assert pace.rate == 0.0


def test_a_relay_that_pushes_back_on_one_message_in_seven_never_pins_the_pace_to_the_floor() -> (
    None
):
    clock = FakeClock()
    pace = Pace(0.0, clock=clock.clock())  # no rate set, the default
    send(pace, clock, 100, 0.05)  # the relay takes 20 messages a second
    paces = []
    for number in range(1, 401):
        pace.wait()
        clock.advance(0.05)
        if number % 7 == 0:
            pace.slow_down()
            clock.advance(2.0)  # the connection reconnects after the backoff
            continue
        pace.got_through()
        paces.append(pace.rate or 20.0)
    late = paces[len(paces) // 2 :]
    assert min(late) > SLOWEST
    assert sum(late) / len(late) > 10.0, "most of the time at more than half the relay's speed"


# --- The hourly limit ------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, counted",
    [
        ("sent", True),
        ("sending", True),  # claimed: the message may be on its way
        ("unknown", True),  # the relay took it and never said: it may have arrived
        ("failed", False),
        ("pending", False),
        ("skipped", False),
    ],
)
def test_the_hourly_limit_counts_every_message_that_may_have_reached_the_relay(
    tmp_path: Path, status: str, counted: bool
) -> None:
    with closing(db.connect(tmp_path / "publish.db")) as conn:
        conn.execute(
            "INSERT INTO subscribers (email, status, created_at) VALUES ('a@example.org',"
            " 'active', '2026-01-01T00:00:00+00:00')"
        )
        conn.execute("INSERT INTO sends (slug, started_at) VALUES ('older', 'x')")
        conn.execute("INSERT INTO sends (slug, started_at) VALUES ('oldest', 'x')")
        recent = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
        long_ago = (datetime.now(UTC) - timedelta(minutes=61)).isoformat(timespec="seconds")
        conn.executemany(
            "INSERT INTO deliveries (slug, subscriber_id, email, status, updated_at)"
            " VALUES (?, 1, 'a@example.org', ?, ?)",
            [("older", status, recent), ("oldest", status, long_ago)],
        )
        site = SiteSettings("Letters", "https://letters.example.org/", "Ada")
        settings = Settings(site=site, email=EmailSettings(hourly_limit=1))
        holds: list[float] = []
        pace = make_pace(conn, settings, outbox=False, on_hold=holds.append)
    assert len(pace.window) == int(counted), "only the message of the last hour counts"
    clock = FakeClock()
    clock.now = datetime.now(UTC).timestamp()
    pace.clock = clock.clock()
    pace.wait()
    assert (pace.holds, bool(holds)) == ((1, True) if counted else (0, False))

"""A schedule's RFC 5545 rule: read, checked, and expanded within fixed bounds.

A rule is one RRULE, optionally after a `DTSTART` line (only its date is used: every slot is
at `[schedule] time`). Whatever it says, its expansion stays bounded:

- at most one slot a day: FREQ must be DAILY or slower, and BYHOUR, BYMINUTE and BYSECOND
  are refused (the time of day is `[schedule] time`);
- no slot after the year LAST_SLOT_YEAR (a weekly rule ends with the week holding its last
  day); a rule that never yields (`FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`) is found out by
  looking at one repeat of its days (400 years, the Gregorian cycle), not the 2.9 million
  days dateutil would search to the year 9999, and then nothing is searched at all;
- counting starts on the DTSTART day, else on ANCHOR_DAY, never on the day a command runs,
  so an INTERVAL rule (every other week, every third month) keeps its days.

python-dateutil is loaded by the first rule expanded: a build whose essays are all dated
expands none (see `publish.schedule.slots.still_to_mail`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import MAXYEAR, date, datetime, time, timedelta
from functools import cache, lru_cache
from math import gcd, lcm
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import msgspec

if TYPE_CHECKING:
    from dateutil.rrule import rrule

ANCHOR_DAY = date(2000, 1, 3)  # a Monday: rules without DTSTART count from here
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2200, 12, 31)  # the days a command may run as
LAST_SLOT_YEAR = 2300  # no slot is sought past this year
FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY")
TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
GREGORIAN_CYCLE = 400  # years after which dates fall on the same weekdays again
CYCLE_DAYS = 146097  # the days of one cycle: a whole number of weeks too
LAST_CALENDAR_DAY = date(MAXYEAR, 12, 31)


@cache
def dtstart_line() -> re.Pattern[str]:
    """A rule's `DTSTART` line (compiled on first use: only a rule the site gives is read)."""
    return re.compile(r"^DTSTART(?:;[^:]*)?:(\d{8})(?:T\d{6}Z?)?$", re.IGNORECASE)


@cache
def until_utc() -> re.Pattern[str]:
    """A rule's `UNTIL` in UTC (compiled on first use, as `dtstart_line`)."""
    return re.compile(r"(UNTIL=)(\d{8}T\d{6})Z", re.IGNORECASE)


class RuleError(ValueError):
    """A rule that cannot be a schedule; its message says why."""


class Expansion(msgspec.Struct, frozen=True):
    """A rule's slots up to `last` (None: the rule never yields one, and nothing is
    searched at all)."""

    rule: rrule | None
    last: datetime

    def xafter(self, moment: datetime, inc: bool = False) -> Iterator[datetime]:
        """Each slot after `moment` (or at it, with `inc`), in order, up to `last`."""
        if self.rule is None:
            return
        for slot in self.rule.xafter(moment, inc=inc):
            if slot > self.last:
                return
            yield slot


def check_rule(rule: str, timezone: str = "UTC") -> str | None:
    """What is wrong with a schedule's rule, or None when it is fine."""
    try:
        expand_rule(rule, time(9), timezone)
    except RuleError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=32)
def expand_rule(rule: str, at: time, timezone: str) -> Expansion:
    """The rule over naive local datetimes at `at`, from its DTSTART day or ANCHOR_DAY, ending
    with LAST_SLOT_YEAR at the latest; a RuleError when it is not a rule a schedule can use."""
    from dateutil import rrule as dateutil_rrule  # loaded by the first rule expanded

    first_day, line = _split_lines(rule)
    parts = _checked_parts(line)
    line = until_utc().sub(lambda m: m[1] + _local_until(m[2], timezone), line)
    try:
        parsed = dateutil_rrule.rrulestr(line, dtstart=datetime.combine(first_day, at), cache=True)
    except (ValueError, TypeError) as exc:
        raise RuleError(str(exc)) from None
    if not isinstance(parsed, dateutil_rrule.rrule):
        raise RuleError("give one RRULE")
    frequency, interval = parts["FREQ"], int(parts.get("INTERVAL") or 1)
    week_start = getattr(dateutil_rrule, parts.get("WKST", "MO")).weekday
    last = _last_moment(frequency, week_start)
    if not _ever_yields(parsed, first_day, frequency, interval):
        return Expansion(None, last)
    return Expansion(parsed, last)


def _checked_parts(line: str) -> dict[str, str]:
    """The parts of an RRULE line, or RuleError for one no schedule may use."""
    parts = _parts(line)
    frequency = parts.get("FREQ", "")
    if frequency not in FREQUENCIES:
        raise RuleError(
            f"FREQ={frequency or '?'} is not a schedule: use one of {', '.join(FREQUENCIES)} "
            "(at most one slot a day)"
        )
    for name in TIME_PARTS:
        if name in parts:
            raise RuleError(
                f"{name} is not allowed: a schedule has at most one slot a day, at [schedule] time"
            )
    if "BYEASTER" in parts:  # dateutil's own: its days repeat only after 5.7 million years
        raise RuleError("BYEASTER is not allowed: it is not part of RFC 5545")
    return parts


def _last_moment(frequency: str, week_start: int) -> datetime:
    """The last moment a slot may fall on: the end of LAST_SLOT_YEAR, or for a weekly rule
    the end of the week (from WKST) that holds that year's last day: a week is yielded
    whole."""
    last_day = date(LAST_SLOT_YEAR, 12, 31)
    if frequency == "WEEKLY":
        last_day += timedelta(days=6 - (last_day.weekday() - week_start) % 7)
    return datetime.combine(last_day, time(23, 59, 59))


def _ever_yields(parsed: rrule, first_day: date, frequency: str, interval: int) -> bool:
    """Whether the rule yields any slot, however late.

    dateutil searches a rule that never yields up to the year 9999. But a rule's slots
    repeat (dates fall on the same weekdays every GREGORIAN_CYCLE years, and the rule's
    periods line up again after INTERVAL of them), so one repeat of them is enough to look
    at: the same rule started as late as leaves one repeat before the calendar's end.
    """
    start = datetime.combine(_probe_start(first_day, frequency, interval), time())
    probe = parsed.replace(dtstart=start, count=None, until=None, cache=False)
    try:
        return next(iter(probe), None) is not None
    except (ValueError, OverflowError):  # a week running past the year 9999: it had a slot
        return True


def _probe_start(first_day: date, frequency: str, interval: int) -> date:
    """The latest day to start the rule from and still see one whole repeat of its slots
    before the calendar's end: the first day moved on by whole periods counted (a daily or
    weekly rule) or whole Gregorian cycles (a monthly or yearly one, whose days hang on
    the first day's month and day)."""
    if frequency in ("DAILY", "WEEKLY"):
        step = interval * (7 if frequency == "WEEKLY" else 1)  # days from period to period
        room = (LAST_CALENDAR_DAY - first_day).days - lcm(CYCLE_DAYS, step)
        return first_day + timedelta(days=max(0, room) // step * step)
    periods = 4800 if frequency == "MONTHLY" else GREGORIAN_CYCLE  # in one cycle
    repeat = GREGORIAN_CYCLE * interval // gcd(interval, periods)  # in years
    cycles = max(0, (MAXYEAR - repeat - first_day.year) // GREGORIAN_CYCLE)
    return first_day.replace(year=first_day.year + cycles * GREGORIAN_CYCLE)


def _split_lines(rule: str) -> tuple[date, str]:
    """The DTSTART day (ANCHOR_DAY without one) and the one RRULE line of a rule."""
    first_day, rules = ANCHOR_DAY, []
    for line in (line.strip() for line in rule.strip().splitlines()):
        start = dtstart_line().match(line)
        if start:
            first_day = _dtstart_day(start[1])
        elif line.upper().startswith("RRULE:"):
            rules.append(line[len("RRULE:") :])
        elif line and ":" not in line:
            rules.append(line)
        elif line:
            raise RuleError(
                f"'{line.partition(':')[0]}' is not allowed: give one RRULE, "
                "optionally after a DTSTART line"
            )
    if len(rules) != 1:
        raise RuleError("give exactly one RRULE, optionally after a DTSTART line")
    return first_day, rules[0]


def _dtstart_day(text: str) -> date:
    """The day a DTSTART line names, which must fall between FIRST_DAY and LAST_DAY."""
    try:
        day = datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise RuleError(f"DTSTART {text} is not a date") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RuleError(f"DTSTART {day} must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def _parts(line: str) -> dict[str, str]:
    """The NAME=value parts of an RRULE line, names upper-cased."""
    parts = {}
    for piece in line.split(";"):
        name, _, value = piece.partition("=")
        if name.strip():
            parts[name.strip().upper()] = value.strip().upper()
    return parts


def _local_until(text: str, timezone: str) -> str:
    """A UTC UNTIL (`20270201T000000`) as the same moment on the site's wall clock."""
    try:
        moment = datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=ZoneInfo("UTC"))
        return f"{moment.astimezone(ZoneInfo(timezone)):%Y%m%dT%H%M%S}"
    except (ValueError, OverflowError):
        raise RuleError(f"UNTIL {text}Z is not a date and time") from None

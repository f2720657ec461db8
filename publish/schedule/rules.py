"""A schedule's RFC 5545 rule: read, checked, and expanded within fixed bounds.

A rule is one RRULE, optionally after a `DTSTART` line (only its date is used: every slot is
at `[schedule] time`). Whatever it says, its expansion stays bounded:

- at most one slot a day: FREQ must be DAILY or slower, and BYHOUR, BYMINUTE and BYSECOND
  are refused (the time of day is `[schedule] time`);
- no slot is sought after the year LAST_SLOT_YEAR: dateutil's own expansion runs on a
  calendar that ends there instead of at the year 9999, so a rule that never yields
  (`FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`) gives up after about 110,000 days, not 2.9 million;
- counting starts on the DTSTART day, else on ANCHOR_DAY, never on the day a command runs,
  so an INTERVAL rule (every other week, every third month) keeps its days.
"""

from __future__ import annotations

import datetime as datetime_module
import re
import types
from collections.abc import Callable
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil import rrule as dateutil_rrule
from dateutil.rrule import rrule, rrulestr

ANCHOR_DAY = date(2000, 1, 3)  # a Monday: rules without DTSTART count from here
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2200, 12, 31)  # the days a command may run as
LAST_SLOT_YEAR = 2300  # no slot is sought past this year
FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY")
TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
DTSTART_LINE = re.compile(r"^DTSTART(?:;[^:]*)?:(\d{8})(?:T\d{6}Z?)?$", re.IGNORECASE)
UNTIL_UTC = re.compile(r"(UNTIL=)(\d{8}T\d{6})Z", re.IGNORECASE)


class RuleError(ValueError):
    """A rule that cannot be a schedule; its message says why."""


def _bounded_expansion() -> Callable:
    """dateutil's rrule expansion, run on a calendar whose last year is LAST_SLOT_YEAR.

    The expansion stops searching when the year passes `datetime.MAXYEAR`; this copy of it
    reads that name from a module whose MAXYEAR is LAST_SLOT_YEAR, and nothing else changes.
    """
    calendar = types.SimpleNamespace(**vars(datetime_module))
    calendar.MAXYEAR = LAST_SLOT_YEAR
    expansion = rrule._iter
    return types.FunctionType(
        expansion.__code__,
        {**vars(dateutil_rrule), "datetime": calendar},
        expansion.__name__,
        expansion.__defaults__,
        expansion.__closure__,
    )


class BoundedRule(rrule):
    """An rrule that yields no slot after LAST_SLOT_YEAR and stops looking there."""

    _iter = _bounded_expansion()


def check_rule(rule: str, timezone: str = "UTC") -> str | None:
    """What is wrong with a schedule's rule, or None when it is fine."""
    try:
        expand_rule(rule, time(9), timezone)
    except RuleError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=32)
def expand_rule(rule: str, at: time, timezone: str) -> rrule:
    """The rule over naive local datetimes at `at`, from its DTSTART day or ANCHOR_DAY, ending
    with LAST_SLOT_YEAR at the latest; a RuleError when it is not a rule a schedule can use."""
    first_day, line = _split_lines(rule)
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
    line = UNTIL_UTC.sub(lambda m: m[1] + _local_until(m[2], timezone), line)
    try:
        parsed = rrulestr(line, dtstart=datetime.combine(first_day, at), cache=True)
    except (ValueError, TypeError) as exc:
        raise RuleError(str(exc)) from None
    if not isinstance(parsed, rrule):
        raise RuleError("give one RRULE")
    original = parsed._original_rule
    return BoundedRule(
        **{
            "freq": parsed._freq,
            "dtstart": parsed._dtstart,
            "interval": parsed._interval,
            "wkst": parsed._wkst,
            "count": parsed._count,
            "until": parsed._until,
            **original,
            "cache": True,
        }
    )


def _split_lines(rule: str) -> tuple[date, str]:
    """The DTSTART day (ANCHOR_DAY without one) and the one RRULE line of a rule."""
    first_day, rules = ANCHOR_DAY, []
    for line in (line.strip() for line in rule.strip().splitlines()):
        start = DTSTART_LINE.match(line)
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

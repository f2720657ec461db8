"""A schedule's rule expanded: the slots are dateutil's own, none after LAST_SLOT_YEAR,
and a rule that never yields stops searching near the calendar's end."""

from __future__ import annotations

from datetime import date, datetime, time
from itertools import islice, takewhile

import pytest
from dateutil import rrule as dateutil_rrule
from dateutil.rrule import rrulestr
from hypothesis import given
from hypothesis import strategies as st

from publish.schedule.rules import LAST_SLOT_YEAR, RuleError, expand_rule

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
NONZERO = lambda low, high: st.integers(low, high).filter(bool)  # noqa: E731


def numbers(values: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """A comma-separated list of a few of these numbers."""
    return st.lists(values, min_size=1, max_size=3, unique=True).map(
        lambda found: ",".join(map(str, found))
    )


def weekdays() -> st.SearchStrategy[str]:
    """BYDAY: weekdays, some with an ordinal (+2TU, -1FR)."""
    day = st.tuples(st.one_of(st.just(0), NONZERO(-5, 5)), st.sampled_from(WEEKDAYS)).map(
        lambda pair: f"{pair[0] or ''}{pair[1]}"
    )
    return st.lists(day, min_size=1, max_size=3, unique=True).map(",".join)


def day_text(day: date) -> str:
    """A date as an RRULE writes it."""
    return f"{day:%Y%m%d}"


@st.composite
def rules(draw: st.DrawFn) -> str:
    """A schedule rule: any frequency a schedule allows and any mix of the BY parts, an
    INTERVAL, COUNT, UNTIL and WKST, often after a DTSTART line."""
    parts = [f"FREQ={draw(st.sampled_from(('YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY')))}"]
    optional = {
        "INTERVAL": st.one_of(st.integers(1, 12), st.integers(13, 3000)).map(str),
        "BYDAY": weekdays(),
        "BYMONTHDAY": numbers(NONZERO(-31, 31)),
        "BYMONTH": numbers(st.integers(1, 12)),
        "BYSETPOS": numbers(NONZERO(-5, 5)),
        "BYYEARDAY": numbers(NONZERO(-366, 366)),
        "BYWEEKNO": numbers(NONZERO(-53, 53)),
        "WKST": st.sampled_from(WEEKDAYS),
        "COUNT": st.integers(0, 40).map(str),
        "UNTIL": st.dates(date(1970, 1, 1), date(2400, 1, 1)).map(
            lambda day: day_text(day) + "T235959"
        ),
    }
    for name, values in optional.items():
        if draw(st.integers(0, 3)) == 0:
            parts.append(f"{name}={draw(values)}")
    if "COUNT" in " ".join(parts) and "UNTIL" in " ".join(parts):
        parts = [part for part in parts if not part.startswith("UNTIL")]
    line = ";".join(parts)
    if draw(st.booleans()):
        start = draw(st.dates(date(1970, 1, 1), date(2200, 12, 31)))
        return f"DTSTART:{day_text(start)}\nRRULE:{line}"
    return line


def plain(rule: str) -> dateutil_rrule.rrule:
    """The rule as dateutil reads it, unbounded, at 09:00 (UNTIL is local: no Z drawn)."""
    lines = rule.splitlines()
    start = date(2000, 1, 3) if len(lines) == 1 else datetime.strptime(lines[0][8:], "%Y%m%d")
    return rrulestr(lines[-1].removeprefix("RRULE:"), dtstart=datetime.combine(start, time(9)))


def schedule_rule(rule: str):
    """The rule as a schedule expands it, or None when no schedule may use it."""
    try:
        return expand_rule(rule, time(9), "UTC")
    except RuleError:
        return None


@given(rules(), st.dates(date(1970, 1, 1), date(2250, 1, 1)))
def test_the_slots_are_dateutils_own_up_to_the_last_slot_year(rule: str, start: date) -> None:
    expansion = schedule_rule(rule)
    if expansion is None:
        return
    moment = datetime.combine(start, time())
    got = list(islice(expansion.xafter(moment, inc=True), 12))
    if got:  # the rule yields: dateutil, unbounded, finds its next slots quickly too
        expected = list(islice(plain(rule).xafter(moment, inc=True), 12))
        assert got == [slot for slot in expected if slot.year <= LAST_SLOT_YEAR + 1][: len(got)]
        assert got == expected[: len(got)]


@pytest.mark.parametrize(
    ("rule", "last"),
    [
        ("FREQ=DAILY", date(2300, 12, 31)),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", date(2300, 12, 31)),
        ("FREQ=YEARLY;BYYEARDAY=-1", date(2300, 12, 31)),
        # a week is yielded whole: the one holding 2300-12-31 (a Monday) ends in 2301
        ("FREQ=WEEKLY;BYDAY=SU", date(2301, 1, 6)),
        ("FREQ=WEEKLY;BYDAY=SA;WKST=SU", date(2301, 1, 5)),
        ("FREQ=WEEKLY;BYDAY=MO,SA;WKST=SA", date(2300, 12, 31)),
    ],
)
def test_the_last_slot_is_at_the_end_of_the_last_slot_year(rule: str, last: date) -> None:
    expansion = expand_rule(rule, time(9), "UTC")
    slots = list(expansion.xafter(datetime(2300, 12, 1)))
    assert slots[-1] == datetime.combine(last, time(9))
    plain_slots = plain(rule).xafter(datetime(2300, 12, 1))
    assert slots == list(takewhile(lambda slot: slot <= slots[-1], plain_slots))


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4,6",
        "FREQ=WEEKLY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=30",
        "DTSTART:22001231\nRRULE:FREQ=YEARLY;BYWEEKNO=1;BYMONTH=6",
    ],
)
def test_a_rule_that_never_yields_gives_no_slot(rule: str) -> None:
    assert list(expand_rule(rule, time(9), "UTC").xafter(datetime(1970, 1, 1))) == []


def test_a_rare_rule_still_yields_every_slot() -> None:
    leap_mondays = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO"
    slots = list(expand_rule(leap_mondays, time(9), "UTC").xafter(datetime(2000, 1, 1)))
    assert [s.year for s in slots[:3]] == [2016, 2044, 2072] and slots[-1].year <= 2300
    every_other = "FREQ=DAILY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=29"
    slots = list(expand_rule(every_other, time(9), "UTC").xafter(datetime(2000, 1, 1)))
    assert slots and all(s.month == 2 and s.day == 29 for s in slots)
    assert all((s - datetime(2000, 1, 3, 9)).days % 2 == 0 for s in slots)


def test_byeaster_is_refused() -> None:
    with pytest.raises(RuleError, match="BYEASTER is not allowed"):
        expand_rule("FREQ=YEARLY;BYEASTER=0", time(9), "UTC")

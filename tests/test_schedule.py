"""Tests for publish.schedule.slots: slots from the RRULE, the queue, time zones and the
schedule view."""

from __future__ import annotations

import calendar
import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from dateutil import rrule as dateutil_rrule
from hypothesis import example, given, settings
from hypothesis import strategies as st

from publish.cli.main import cli
from publish.content.site import load_site
from publish.errors import PublishError
from publish.model import Essay, Release, ScheduleSettings
from publish.schedule.rules import GREGORIAN_CYCLE, LAST_SLOT_YEAR, check_rule
from publish.schedule.slots import (
    DATED,
    DUE,
    MISSED,
    OPEN,
    QUEUED,
    RELEASED,
    SCHEDULED,
    Timetable,
    apply_release_dates,
    days_late,
    due_placements,
    plan_schedule,
    schedule_view,
    still_to_mail,
    unmailed_back_issues,
)
from publish.state.db import database_path
from publish.state.releases import recorded_releases
from tests.sitebuilder import essay_text, make_site

FIRST_TUESDAY = "FREQ=MONTHLY;BYDAY=+1TU"
UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def settings_text(timezone: str = "Europe/London", rule: str = FIRST_TUESDAY) -> str:
    """publish.toml for a small site in `timezone` with `rule` at 09:00 (the fixture site
    tests/sites/schedule/ is in Europe/London on the first Tuesday)."""
    text = (Path(__file__).parent / "sites" / "schedule" / "publish.toml").read_text(
        encoding="utf-8"
    )
    return text.replace('timezone = "Europe/London"', f'timezone = "{timezone}"').replace(
        f'rule = "{FIRST_TUESDAY}"', f'rule = "{rule}"'
    )


def load(tmp_path: Path, essays: dict[str, str], timezone: str = "Europe/London"):
    """Write and load a site; return (site, timetable)."""
    root = make_site(tmp_path, essays, settings=settings_text(timezone))
    site, _ = load_site(root)
    return site, Timetable.from_settings(site.settings)


def first_tuesday(year: int, month: int) -> date:
    """The first Tuesday of a month by calendar arithmetic alone (no dateutil)."""
    first_weekday = calendar.weekday(year, month, 1)
    return date(year, month, 1 + (calendar.TUESDAY - first_weekday) % 7)


def test_first_tuesdays_2024_to_2030_match_calendar_arithmetic() -> None:
    timetable = Timetable(FIRST_TUESDAY, "UTC", time(9, 0))
    slots = timetable.slots_between(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2030, 12, 31, 23, 59, tzinfo=UTC)
    )
    expected = [first_tuesday(y, m) for y in range(2024, 2031) for m in range(1, 13)]
    assert [s.date() for s in slots] == expected
    assert len(slots) == 84
    assert all(s.time() == time(9, 0) and s.weekday() == calendar.TUESDAY for s in slots)


def test_leap_year_february() -> None:
    timetable = Timetable(FIRST_TUESDAY, "Europe/London", time(9, 0))
    start = datetime(2024, 1, 1, tzinfo=LONDON)
    days = [s.date() for s in timetable.slots_between(start, start.replace(year=2029))]
    assert calendar.isleap(2024) and calendar.isleap(2028)
    assert date(2024, 2, 6) in days and date(2028, 2, 1) in days
    month_ends = Timetable("FREQ=MONTHLY;BYMONTHDAY=-1", "Europe/London", time(9, 0))
    februaries = [
        s.date() for s in month_ends.slots_between(start, start.replace(year=2029)) if s.month == 2
    ]
    assert februaries == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_slots_stay_at_nine_local_across_new_york_dst_changes() -> None:
    timetable = Timetable(FIRST_TUESDAY, "America/New_York", time(9, 0))
    slots = timetable.slots_between(
        datetime(2026, 3, 1, tzinfo=NEW_YORK), datetime(2026, 11, 30, tzinfo=NEW_YORK)
    )
    by_month = {s.month: s for s in slots}
    # DST starts on 2026-03-08 and ends on 2026-11-01.
    assert by_month[3].utcoffset() == timedelta(hours=-5)
    assert by_month[4].utcoffset() == timedelta(hours=-4)
    assert by_month[10].utcoffset() == timedelta(hours=-4)
    assert by_month[11].utcoffset() == timedelta(hours=-5)
    assert {s.time() for s in slots} == {time(9, 0)}
    assert by_month[3].astimezone(UTC).hour == 14 and by_month[4].astimezone(UTC).hour == 13
    weekly = Timetable("FREQ=WEEKLY;BYDAY=TU", "America/New_York", time(9, 0))
    around_march = weekly.slots_between(
        datetime(2026, 3, 2, tzinfo=NEW_YORK), datetime(2026, 3, 12, tzinfo=NEW_YORK)
    )
    assert [s.astimezone(UTC).hour for s in around_march] == [14, 13]


@pytest.mark.parametrize(
    ("utc_moment", "is_due"),
    [
        (datetime(2026, 3, 3, 13, 59, tzinfo=UTC), False),  # 08:59 EST
        (datetime(2026, 3, 3, 14, 1, tzinfo=UTC), True),  # 09:01 EST
        (datetime(2026, 11, 3, 13, 59, tzinfo=UTC), False),  # 08:59 EST, after DST ended
        (datetime(2026, 11, 3, 14, 0, tzinfo=UTC), True),  # 09:00 EST exactly
        (datetime(2026, 4, 7, 12, 59, tzinfo=UTC), False),  # 08:59 EDT
        (datetime(2026, 4, 7, 13, 0, tzinfo=UTC), True),  # 09:00 EDT
    ],
)
def test_slot_is_due_only_from_nine_local(
    tmp_path: Path, utc_moment: datetime, is_due: bool
) -> None:
    site, timetable = load(tmp_path, {"a": essay_text("A")}, "America/New_York")
    plan = plan_schedule(timetable, site.essays, {}, utc_moment)
    assert plan.placements[0].slot.date() == utc_moment.date()
    assert bool(due_placements(plan)) is is_due


@pytest.mark.parametrize(
    ("moment", "status"), [("2026-11-03T08:59", SCHEDULED), ("2026-11-03T09:01", DUE)]
)
def test_schedule_command_just_before_and_after_a_slot(
    tmp_path: Path, moment: str, status: str
) -> None:
    root = make_site(
        tmp_path, {"a": essay_text("A", slug="a")}, settings=settings_text("America/New_York")
    )
    result = CliRunner().invoke(
        cli, ["--root", str(root), "schedule", "--months", "2", "--today", moment]
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[1].split()
    assert first[:5] == ["2026-11-03", "09:00", "America/New_York", status, "a"]
    assert ("passed without a release" in result.stderr) is (status == DUE)


def test_an_unreadable_state_database_is_named_in_the_error(tmp_path: Path) -> None:
    root = make_site(tmp_path, {"a": essay_text("A", slug="a")})
    settings = load_site(root)[0].settings
    database = database_path(root, settings)
    database.parent.mkdir(parents=True)
    database.write_text("not a database, only some text long enough for a header\n")
    with pytest.raises(PublishError) as caught:
        recorded_releases(root, settings)
    assert [p.path for p in caught.value.problems] == [str(database)]
    result = CliRunner().invoke(cli, ["--root", str(root), "schedule"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{database}:1:1: error: cannot read the state database")


def test_queue_fills_free_slots_in_file_order_around_dated_essays(tmp_path: Path) -> None:
    site, timetable = load(
        tmp_path,
        {
            "01-b": essay_text("B", slug="b"),
            "02-a": essay_text("A", slug="a"),
            "03-dated": essay_text("Dated", slug="dated", date="2027-02-02"),
            "04-c": essay_text("C", slug="c"),
            "05-draft": essay_text("Draft", slug="draft", draft="true"),
        },
    )
    plan = plan_schedule(timetable, site.essays, {}, datetime(2027, 1, 1, 12, tzinfo=LONDON))
    slots = {p.slug: (p.slot.date(), p.source) for p in plan.placements}
    assert slots == {
        "b": (date(2027, 1, 5), QUEUED),
        "dated": (date(2027, 2, 2), DATED),
        "a": (date(2027, 3, 2), QUEUED),
        "c": (date(2027, 4, 6), QUEUED),
    }


def test_order_key_comes_before_file_order(tmp_path: Path) -> None:
    site, timetable = load(
        tmp_path,
        {
            "01-x": essay_text("X", slug="x"),
            "02-y": essay_text("Y", slug="y", order=2),
            "03-z": essay_text("Z", slug="z", order=1),
        },
    )
    plan = plan_schedule(timetable, site.essays, {}, datetime(2027, 1, 1, tzinfo=LONDON))
    assert [p.slug for p in plan.placements] == ["z", "y", "x"]


def test_released_essay_keeps_its_slot_when_the_queue_changes(tmp_path: Path) -> None:
    site, timetable = load(
        tmp_path, {"02-a": essay_text("A", slug="a"), "03-b": essay_text("B", slug="b")}
    )
    jan = datetime(2027, 1, 5, 9, tzinfo=LONDON)
    releases = {"a": Release("a", jan, jan, "hash")}
    # A new essay jumps the queue: "a" stays in January, the newcomer takes February.
    site2, _ = load(tmp_path, {"01-new": essay_text("New", slug="new")})
    plan = plan_schedule(timetable, site2.essays, releases, datetime(2027, 1, 20, tzinfo=LONDON))
    slots = {p.slug: p.slot.date() for p in plan.placements}
    assert slots == {"a": date(2027, 1, 5), "new": date(2027, 2, 2), "b": date(2027, 3, 2)}
    assert plan.placement("a").source == RELEASED
    dated = apply_release_dates(site2, releases)
    assert dated.essay("a").date == jan and dated.essay("b").date is None


def test_missed_slot_is_caught_up_late(tmp_path: Path) -> None:
    site, timetable = load(
        tmp_path, {"a": essay_text("A", slug="a"), "b": essay_text("B", slug="b")}
    )
    jan = datetime(2027, 1, 5, 9, tzinfo=LONDON)
    releases = {"a": Release("a", jan, jan, "hash")}
    now = datetime(2027, 2, 5, 10, tzinfo=LONDON)  # the machine was off on 2 February
    due = due_placements(plan_schedule(timetable, site.essays, releases, now))
    assert [(p.slug, p.slot.date()) for p in due] == [("b", date(2027, 2, 2))]
    assert days_late(timetable, due[0].slot, now) == 3


def test_old_dated_essays_are_not_due_before_the_first_release(tmp_path: Path) -> None:
    site, timetable = load(tmp_path, {"old": essay_text("Old", slug="old", date="2026-01-06")})
    plan = plan_schedule(timetable, site.essays, {}, datetime(2026, 6, 1, tzinfo=LONDON))
    assert due_placements(plan) == []


def test_view_warns_about_shared_slot_off_cadence_and_empty_next_slot(tmp_path: Path) -> None:
    site, timetable = load(
        tmp_path,
        {
            "a": essay_text("A", slug="a", date="2027-01-05"),
            "b": essay_text("B", slug="b", date="2027-01-05"),
            "c": essay_text("C", slug="c", date="2027-03-10"),
        },
    )
    plan = plan_schedule(timetable, site.essays, {}, datetime(2027, 1, 10, tzinfo=LONDON))
    view = schedule_view(timetable, plan, months=3)
    rows = {row.slot.date(): row for row in view.rows}
    assert rows[date(2027, 2, 2)].status == OPEN and rows[date(2027, 2, 2)].slugs == ()
    assert not rows[date(2027, 3, 10)].on_cadence and rows[date(2027, 3, 10)].slugs == ("c",)
    text = "\n".join(view.warnings)
    assert "share this slot (a, b)" not in text  # before today: outside the view
    assert "c: dated 2027-03-10 09:00 Europe/London" in text and "off-cadence" in text
    assert "the next slot, 2027-02-02 09:00 Europe/London, is empty" in text
    earlier = plan_schedule(timetable, site.essays, {}, datetime(2027, 1, 1, tzinfo=LONDON))
    assert any(
        "2 essays share this slot (a, b)" in w
        for w in schedule_view(timetable, earlier, months=3).warnings
    )


def test_view_warns_when_a_slot_passed_without_a_release(tmp_path: Path) -> None:
    site, timetable = load(tmp_path, {"a": essay_text("A", slug="a")})
    nov = datetime(2026, 11, 3, 9, tzinfo=LONDON)
    releases = {"old": Release("old", nov, nov, "hash")}
    plan = plan_schedule(timetable, site.essays, releases, datetime(2027, 1, 10, tzinfo=LONDON))
    view = schedule_view(timetable, plan, months=1)
    statuses = {row.slot.date(): row.status for row in view.rows}
    assert statuses[date(2026, 12, 1)] == DUE  # "a" waits in the missed December slot
    assert statuses[date(2027, 1, 5)] == MISSED
    assert sum("passed without a release" in w for w in view.warnings) == 2


def test_rule_with_dtstart_counts_from_it_at_the_settings_time() -> None:
    timetable = Timetable(
        "DTSTART:20260105T000000\nRRULE:FREQ=WEEKLY;INTERVAL=2", "Europe/London", time(9, 30)
    )
    slots = timetable.slots_between(
        datetime(2026, 1, 1, tzinfo=LONDON), datetime(2026, 2, 1, tzinfo=LONDON)
    )
    assert [(s.day, s.hour, s.minute) for s in slots] == [(5, 9, 30), (19, 9, 30)]


def test_example_site_schedule_lists_first_tuesdays_with_the_queued_essay(
    example_copy: Path,
) -> None:
    result = CliRunner().invoke(
        cli, ["--root", str(example_copy), "schedule", "--today", "2026-11-23"]
    )
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert len(rows) == 12
    assert [date.fromisoformat(r[0]) for r in rows] == [
        first_tuesday(y, m) for y, m in [(2026, 12)] + [(2027, m) for m in range(1, 12)]
    ]
    assert rows[0][3:5] == ["scheduled", "the-long-now-of-a-notebook"]


def test_before_the_first_release_the_queue_starts_on_the_day_of_the_first_run(
    tmp_path: Path,
) -> None:
    site, timetable = load(
        tmp_path,
        {
            "01-a": essay_text("A", slug="a"),
            "02-old": essay_text("Old", slug="old", date="2026-12-01"),
        },
    )
    later = datetime(2027, 1, 6, 0, 30, tzinfo=LONDON)
    first_run = datetime(2027, 1, 5, 23, 30, tzinfo=LONDON)
    noted = plan_schedule(timetable, site.essays, {}, later, first_run)
    assert [p.slug for p in due_placements(noted)] == ["a"]
    assert noted.placement("a").slot == datetime(2027, 1, 5, 9, tzinfo=LONDON)
    forgotten = plan_schedule(timetable, site.essays, {}, later)
    assert due_placements(forgotten) == []
    assert [p.slug for p in due_placements(noted, back_issues=True)] == ["old", "a"]


# --- no rule can make a command spin ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "fault"),
    [
        ("FREQ=SECONDLY", "FREQ=SECONDLY is not a schedule"),
        ("FREQ=MINUTELY", "FREQ=MINUTELY is not a schedule"),
        ("FREQ=HOURLY;BYDAY=TU", "FREQ=HOURLY is not a schedule"),
        ("FREQ=DAILY;BYHOUR=9,17", "BYHOUR is not allowed"),
        ("FREQ=WEEKLY;BYDAY=TU;BYMINUTE=0,30", "BYMINUTE is not allowed"),
        ("DTSTART:00010101\nRRULE:FREQ=WEEKLY", "DTSTART 0001-01-01 must be between"),
        ("FREQ=WEEKLY\nRDATE:20270105T100000", "'RDATE' is not allowed"),
    ],
)
@pytest.mark.parametrize("command", ["check", "schedule", "run"])
def test_a_rule_with_more_than_one_slot_a_day_is_an_error_at_its_line(
    tmp_path: Path, rule: str, fault: str, command: str
) -> None:
    toml_rule = rule.replace("\n", "\\n")
    root = make_site(tmp_path, {"a": essay_text("A")}, settings=settings_text(rule=toml_rule))
    result = subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(root), command, "--today", "2027-01-05"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PUBLISH_SMTP_URL": "smtp://127.0.0.1:9"},
    )
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("publish.toml:8:1: error: invalid RRULE "), result.stderr
    assert fault in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stderr
    assert not (root / "releases.toml").exists() and not (root / "state").exists()


def test_a_rule_that_never_yields_stops_searching_after_one_gregorian_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rebuilt = []
    rebuild = dateutil_rrule._iterinfo.rebuild

    def counted(self, year: int, month: int) -> None:
        rebuilt.append(year)
        rebuild(self, year, month)

    monkeypatch.setattr(dateutil_rrule._iterinfo, "rebuild", counted)
    never = Timetable("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;WKST=SU", "Europe/London", time(9))
    assert list(never.slots_from(datetime(2027, 1, 1, tzinfo=LONDON))) == []
    # one repeat of its days (400 years), not the 7,973 years to 9999 dateutil would search
    assert rebuilt and len(set(rebuilt)) <= GREGORIAN_CYCLE + 1


def test_every_rule_ends_by_the_last_slot_year() -> None:
    daily = Timetable("FREQ=DAILY", "UTC", time(9))
    slots = list(daily.slots_from(datetime(2200, 12, 31, tzinfo=UTC)))
    assert slots[-1] == datetime(LAST_SLOT_YEAR, 12, 31, 9, tzinfo=UTC)
    assert len(slots) == len({s.date() for s in slots}) <= 366 * (LAST_SLOT_YEAR - 2199)


def test_a_utc_until_ends_the_rule_at_that_moment_on_the_site_clock(tmp_path: Path) -> None:
    root = make_site(
        tmp_path,
        {"a": essay_text("A", slug="a")},
        settings=settings_text("America/New_York", "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270119T140000Z"),
    )
    result = CliRunner().invoke(
        cli, ["--root", str(root), "schedule", "--months", "2", "--today", "2027-01-01"]
    )
    assert result.exit_code == 0, result.output
    days = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert days == ["2027-01-05", "2027-01-12", "2027-01-19"]  # 09:00 New York is 14:00 UTC


# --- which days a rule without DTSTART falls on -----------------------------------------------


@pytest.mark.parametrize(
    ("rule", "first", "step"),
    [
        # counted from Monday 3 January 2000: the first Tuesday is the 4th, then every 14 days
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", date(2000, 1, 4), timedelta(days=14)),
        ("FREQ=WEEKLY;INTERVAL=2", date(2000, 1, 3), timedelta(days=14)),
        ("FREQ=DAILY;INTERVAL=10", date(2000, 1, 3), timedelta(days=10)),
    ],
)
def test_interval_rules_without_dtstart_keep_their_days_whatever_day_it_is(
    tmp_path: Path, rule: str, first: date, step: timedelta
) -> None:
    root = make_site(tmp_path, {"a": essay_text("A", slug="a")}, settings=settings_text(rule=rule))
    for today in ("2026-12-30", "2027-01-05", "2027-01-06", "2027-02-17", "2031-06-01"):
        result = CliRunner().invoke(
            cli, ["--root", str(root), "schedule", "--months", "3", "--today", today]
        )
        assert result.exit_code == 0, result.output
        days = [date.fromisoformat(line.split()[0]) for line in result.stdout.splitlines()[1:]]
        assert len(days) >= 6
        assert all((day - first) % step == timedelta(0) for day in days), (today, days)


def test_a_quarterly_rule_without_dtstart_keeps_its_months_whatever_day_it_is(
    tmp_path: Path,
) -> None:
    root = make_site(
        tmp_path,
        {"a": essay_text("A", slug="a")},
        settings=settings_text(rule="FREQ=MONTHLY;INTERVAL=3"),
    )
    seen = set()
    for today in ("2027-01-01", "2027-02-17", "2027-05-30", "2028-11-11"):
        result = CliRunner().invoke(
            cli, ["--root", str(root), "schedule", "--months", "12", "--today", today]
        )
        assert result.exit_code == 0, result.output
        seen |= {line.split()[0][5:] for line in result.stdout.splitlines()[1:]}
    assert seen == {"01-03", "04-03", "07-03", "10-03"}  # January 2000's 3rd, every 3 months


# --- a rule that runs out of slots --------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        "DTSTART:20270101\\nRRULE:FREQ=MONTHLY;BYDAY=+1TU;COUNT=2",
        "FREQ=MONTHLY;BYDAY=+1TU;UNTIL=20270301T000000Z",
    ],
)
def test_check_schedule_and_status_name_the_queued_essays_a_finite_rule_never_reaches(
    tmp_path: Path, rule: str
) -> None:
    essays = {f"0{n}-{name}": essay_text(name.title(), slug=name) for n, name in enumerate("abc")}
    essays["03-dated"] = essay_text("Dated", slug="dated", date="2027-06-01")
    root = make_site(tmp_path, essays, settings=settings_text(rule=rule))
    never = (
        "the schedule's rule has no slot left for 1 queued essay(s), which will never be "
        "released: essays/02-c.md (c)"
    )
    schedule = CliRunner().invoke(cli, ["--root", str(root), "schedule", "--today", "2027-01-01"])
    assert schedule.exit_code == 0, schedule.output
    assert f"warning: {never}" in schedule.stderr
    assert [line.split()[4] for line in schedule.stdout.splitlines()[1:]] == ["a", "b", "dated"]
    for command in ("check", "status"):
        result = CliRunner().invoke(cli, ["--root", str(root), command, "--today", "2027-01-01"])
        assert f"publish.toml:8:1: warning: {never}" in result.stderr, (command, result.output)
        said = [line for line in result.stderr.splitlines() if ": warning: " in line]
        assert len(said) == len(set(said)), (command, said)  # every warning said once
    (root / "essays" / "02-c.md").write_text(essay_text("C", slug="c", draft=True))
    quiet = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", "2027-01-01"])
    assert quiet.exit_code == 0 and "no slot left" not in quiet.output


@settings(max_examples=30)
@given(
    rule=st.sampled_from(
        [
            "FREQ=WEEKLY;BYDAY=TU",
            "FREQ=MONTHLY;BYDAY=1MO",
            "FREQ=DAILY",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "DTSTART:20260301\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=SU",
        ]
    ),
    zone=st.sampled_from(["Europe/London", "America/New_York", "Pacific/Chatham", "UTC"]),
    at=st.sampled_from([time(0, 0), time(1, 30), time(9, 0), time(23, 59)]),
    moments=st.lists(
        st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2031, 12, 31)),
        min_size=1,
        max_size=12,
    ),
)
def test_slot_days_answer_as_is_slot_day_does(
    rule: str, zone: str, at: time, moments: list[datetime]
) -> None:
    """The rule walked once for a whole plan says of each moment what asking about it alone
    says (the schedule placed 1,000 dated essays by walking the rule 1,000 times)."""
    timetable = Timetable(rule, zone, at)
    aware = [moment.replace(tzinfo=ZoneInfo(zone)) for moment in moments]
    days = timetable.slot_days(aware)
    assert [days.holds(m) for m in aware] == [timetable.is_slot_day(m) for m in aware]


def plain_essay(slug: str, when: datetime | None, draft: bool, order: int | None) -> Essay:
    """An essay with nothing but what the schedule reads."""
    return Essay(
        path=f"essays/{slug}.md",
        slug=slug,
        title=slug,
        subtitle="",
        date=when,
        author="",
        tags=(),
        category="",
        summary="",
        image="",
        image_alt="",
        image_credit="",
        draft=draft,
        order=order,
        body_line=3,
        tokens=(),
        notes=(),
        word_count=1,
        content_hash="hash",
    )


# Moments around the slots of the finite rules below, at, before and after their time of day:
# a queued essay can find the last slots taken (by a dated essay, a release, a release whose
# essay is gone) and go unplaced.
MOMENTS = st.builds(
    datetime.combine,
    st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 1, 16)),
    st.sampled_from([time(0), time(9), time(12)]),
)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[Essay], dict[str, Release]]:
    """Essays dated, queued (some with an `order`) and drafts, and releases of some of them
    and of essays now gone."""
    essays = []
    for index in range(draw(st.integers(0, 8))):
        when = draw(st.none() | MOMENTS.map(lambda m: m.replace(tzinfo=UTC)))
        order = draw(st.none() | st.integers(0, 3))
        essays.append(plain_essay(f"e{index}", when, draw(st.booleans()), order))
    released = draw(st.sets(st.sampled_from([e.slug for e in essays] + ["gone1", "gone2"])))
    releases = {}
    for slug in sorted(released):
        slot = draw(MOMENTS).replace(tzinfo=UTC)
        releases[slug] = Release(slug, slot, slot, "hash")
    return essays, releases


SIX_DAYS = "DTSTART:20260105\nRRULE:FREQ=DAILY;COUNT=6"  # 5 to 10 January 2026, at 09:00
NINTH = datetime(2026, 1, 9, 8, tzinfo=UTC)  # the day of the last slot but one, before it
QUEUE = [plain_essay("q1", None, False, None), plain_essay("q2", None, False, None)]


def last_slots_taken_by(essays: list[Essay], releases: dict[str, Release]) -> dict[str, object]:
    """An example of a queue of two that may find one of the last two slots taken (then one
    of them never goes out)."""
    schedule = ([*essays, *QUEUE], releases)
    return {"rule": SIX_DAYS, "zone": "UTC", "schedule": schedule, "now": NINTH, "first_run": None}


@settings(max_examples=60)
@example(**last_slots_taken_by([plain_essay("d", NINTH + timedelta(days=1), False, None)], {}))
@example(
    **last_slots_taken_by(
        [plain_essay("kept", None, False, None)], {"kept": Release("kept", NINTH, NINTH, "h")}
    )
)
@example(**last_slots_taken_by([], {"gone": Release("gone", NINTH, NINTH, "h")}))
@example(  # a dated essay's release takes no slot (its date does): both of the queue go out
    **last_slots_taken_by(
        [plain_essay("d", NINTH - timedelta(days=8), False, None)],
        {"d": Release("d", NINTH, NINTH, "h")},
    )
)
@given(
    rule=st.sampled_from(
        [
            FIRST_TUESDAY,
            SIX_DAYS,
            "FREQ=WEEKLY;BYDAY=TU,FR;UNTIL=20260114T000000Z",
        ]
    ),
    zone=st.sampled_from(["Europe/London", "Pacific/Chatham", "UTC"]),
    schedule=schedules(),
    now=MOMENTS,
    first_run=st.none() | MOMENTS.map(lambda m: m.replace(tzinfo=UTC)),
)
def test_what_is_still_to_mail_is_what_the_whole_plan_says(
    rule: str,
    zone: str,
    schedule: tuple[list[Essay], dict[str, Release]],
    now: datetime,
    first_run: datetime | None,
) -> None:
    """The essays the schedule will still mail, found without planning every slot since the
    first dated essay (a build of a site without state walked 353 monthly slots for them),
    are those the full plan places unreleased and not as unmailed back issues."""
    essays, releases = schedule
    timetable = Timetable(rule, zone, time(9))
    moment = timetable.local(now)
    plan = plan_schedule(timetable, essays, releases, moment, first_run)
    kept_off = {p.slug for p in unmailed_back_issues(plan)}
    expected = {p.slug for p in plan.placements if not p.released and p.slug not in kept_off}
    assert still_to_mail(timetable, essays, releases, moment, first_run) == expected


def test_the_default_rule_is_a_schedule() -> None:
    """A site without a rule of its own is not checked for one: the default must be fine."""
    assert check_rule(ScheduleSettings().rule) is None

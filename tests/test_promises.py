"""Boundaries of the schedule that no test held until the mutation run (`make mutation`,
bench/mutation.py) changed them unnoticed: a slot at midnight, an essay due at the very
instant of its slot, one dated on the last release's slot, how far `publish schedule`
looks ahead, and the queue order of a negative `order`."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from publish.model import Release
from publish.schedule.slots import Timetable, due_placements, plan_schedule, queue_order
from tests.sitebuilder import essay_text, make_site
from tests.test_schedule import LONDON, UTC, load, settings_text


def test_a_slot_at_midnight_belongs_to_its_own_day_only() -> None:
    tuesdays = Timetable("FREQ=WEEKLY;BYDAY=TU", "UTC", time(0))
    monday, tuesday = datetime(2026, 1, 5, 12, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    assert [tuesdays.is_slot_day(day) for day in (monday, tuesday)] == [False, True]


QUEUED = {"a": essay_text("A", slug="a")}
NONE_QUEUED = {"z": essay_text("Z", slug="z", date="2020-01-07")}


@pytest.mark.parametrize(
    ("moment", "essays", "shown"),
    [
        ("08:59", QUEUED, ["scheduled", "a"]),
        ("09:00", QUEUED, ["due", "a"]),
        ("08:59", NONE_QUEUED, ["open"]),
        ("09:00", NONE_QUEUED, ["missed"]),
    ],
)
def test_a_slot_has_passed_at_its_very_instant(
    tmp_path: Path, moment: str, essays: dict[str, str], shown: list[str]
) -> None:
    """At 09:00 sharp the 09:00 slot is due (or missed, when empty), not still to come; the
    words are those `publish schedule` shows."""
    root = make_site(tmp_path, essays, settings=settings_text("America/New_York"))
    result = CliRunner().invoke(
        cli,
        ["--root", str(root), "schedule", "--months", "1", "--today", f"2026-11-03T{moment}"],
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[1].split()
    assert first[: 3 + len(shown)] == ["2026-11-03", "09:00", "America/New_York", *shown]


def test_an_essay_dated_on_the_last_releases_slot_is_mailed_not_a_back_issue(
    tmp_path: Path,
) -> None:
    site, timetable = load(
        tmp_path,
        {
            "01-a": essay_text("A", slug="a"),
            "02-b": essay_text("B", slug="b", date="2027-01-05"),
        },
    )
    jan = datetime(2027, 1, 5, 9, tzinfo=LONDON)
    plan = plan_schedule(timetable, site.essays, {"a": Release("a", jan, jan, "hash")}, jan)
    assert plan.horizon == jan == plan.placement("b").slot
    assert [p.slug for p in due_placements(plan)] == ["b"]


@pytest.mark.parametrize("at", ["09:00", "00:00"])
def test_the_schedule_shows_the_months_asked_for_and_not_a_day_more(
    tmp_path: Path, at: str
) -> None:
    settings = settings_text("UTC", "FREQ=DAILY").replace('time = "09:00"', f'time = "{at}"')
    assert f'time = "{at}"' in settings
    root = make_site(tmp_path, {"a": essay_text("A", slug="a")}, settings=settings)
    result = CliRunner().invoke(
        cli, ["--root", str(root), "schedule", "--months", "1", "--today", "2026-11-03T10:00"]
    )
    assert result.exit_code == 0, result.output
    days = [date.fromisoformat(line.split()[0]) for line in result.stdout.splitlines()[1:]]
    assert (days[0], days[-1], len(days)) == (date(2026, 11, 3), date(2026, 12, 3), 31)


def test_the_queue_goes_by_order_then_by_file_name(tmp_path: Path) -> None:
    site, _ = load(
        tmp_path,
        {
            "00-one": essay_text("One", slug="one", order=1),
            "01-zero": essay_text("Zero", slug="zero", order=0),
            "02-minus": essay_text("Minus", slug="minus", order=-1),
            "03-none": essay_text("None", slug="none"),
            "04-later": essay_text("Later", slug="later"),
        },
    )
    order = ["minus", "zero", "one", "none", "later"]
    assert [e.slug for e in queue_order(site.essays)] == order


def test_a_slot_reached_at_this_very_instant_is_warned_of_as_passed(tmp_path: Path) -> None:
    """The schedule's warning for a slot that passed without a release holds from the slot's
    own instant on, as its status does (one second earlier it is still to come)."""
    root = make_site(  # a draft only: every slot passes empty
        tmp_path,
        {"a": essay_text("A", slug="a", draft="true")},
        settings=settings_text("UTC", "FREQ=DAILY"),
    )

    def warned(today: str) -> bool:
        result = CliRunner().invoke(cli, ["--root", str(root), "schedule", "--today", today])
        assert result.exit_code == 0, result.output
        return "passed without a release (it was empty)" in result.output

    assert warned("2026-11-03T09:00")
    assert not warned("2026-11-03T08:59")

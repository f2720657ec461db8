"""Tests for `publish run` and `publish cron`: a simulated year, crashes, catch-up, edits.

Every test mails through a real aiosmtpd server on 127.0.0.1 and keeps its state in a real
SQLite file; the simulated year calls the runner in-process, one run per day, to stay fast.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import tomllib
from collections import Counter
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import html as lxml_html

from publish.ops.run import run_publish
from publish.state.db import connect
from publish.state.subscribers import add_subscriber
from publish.support.testhooks import CRASH, HOOK_ENV, hook_value
from tests.sitebuilder import essay_text, invoke, make_site
from tests.test_schedule import first_tuesday
from tests.tools import RecordingSMTPServer

LONDON = ZoneInfo("Europe/London")
SETTINGS = (Path(__file__).parent / "sites" / "run" / "publish.toml").read_text(encoding="utf-8")
SUBSCRIBERS = ["ann@example.org", "bob@example.net", "cy@example.com"]
NAMES = [
    "Alder",
    "Birch",
    "Cedar",
    "Damson",
    "Elm",
    "Fir",
    "Gorse",
    "Hazel",
    "Ivy",
    "Juniper",
    "Kauri",
    "Larch",
    "Maple",
]


def queued_essay(name: str) -> str:
    """A small undated essay called after a tree."""
    return essay_text(
        f"On the {name}", body=f"A short paragraph about the {name.lower()}.\n", slug=name.lower()
    )


@pytest.fixture
def site(tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site with a queue of undated essays, three subscribers, and mail going to the server."""
    essays = {f"{n:02d}-{name.lower()}": queued_essay(name) for n, name in enumerate(NAMES)}
    root = make_site(tmp_path / "site", essays, settings=SETTINGS)
    with closing(connect(root / "state" / "publish.db")) as connection:
        for address in SUBSCRIBERS:
            add_subscriber(connection, address)
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    return root


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A London moment on `day`."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)


def subjects_by_recipient(server: RecordingSMTPServer) -> dict[str, list[str]]:
    """The subjects each address received, in arrival order."""
    received: dict[str, list[str]] = {}
    for _, recipients, message in server.messages:
        assert len(recipients) == 1
        received.setdefault(recipients[0], []).append(str(message["Subject"]))
    return received


def releases(root: Path) -> list[tuple[str, str]]:
    """(slug, slot) of every recorded release, by slot."""
    with closing(sqlite3.connect(root / "state" / "publish.db")) as connection:
        return connection.execute("SELECT slug, slot FROM releases ORDER BY slot").fetchall()


def built(root: Path) -> bool:
    """Whether a build wrote the web site or the emails (a parse cache does not count)."""
    return (root / "build" / "site").exists() or (root / "build" / "email").exists()


@pytest.mark.slow
def test_a_simulated_year_of_daily_runs(site: Path, smtp_server: RecordingSMTPServer) -> None:
    release_days = []
    for offset in range(365):
        now = at(date(2027, 1, 1)) + timedelta(days=offset)
        report = run_publish(site, now)
        assert report.ok, report.log
        if report.released:
            release_days.append(now.date())
            count = len(smtp_server.messages)
            again = run_publish(site, now + timedelta(minutes=30))
            assert (again.released, again.sent, again.built) == ((), (), False)
            assert len(smtp_server.messages) == count
    first_tuesdays = [first_tuesday(2027, month) for month in range(1, 13)]
    assert release_days == first_tuesdays
    assert [slug for slug, _ in releases(site)] == [n.lower() for n in NAMES[:12]]
    expected = [f"On the {name}" for name in NAMES[:12]]
    assert subjects_by_recipient(smtp_server) == {a: expected for a in SUBSCRIBERS}
    feed = feedparser.parse((site / "build" / "site" / "feed.xml").read_bytes())
    published = sorted(date(*entry.published_parsed[:3]) for entry in feed.entries)
    assert published == first_tuesdays
    schedule = invoke(site, "schedule", "--today", "2027-12-31", "--months", "1")
    assert "maple" in schedule.stdout and "2028-01-04" in schedule.stdout


@pytest.mark.slow
@pytest.mark.parametrize("step", ["build", "record"])
def test_a_crash_after_a_step_is_finished_by_the_next_run_and_mails_once(
    site: Path, smtp_server: RecordingSMTPServer, step: str
) -> None:
    command = [
        sys.executable,
        "-m",
        "publish",
        "--root",
        str(site),
        "run",
        "--today",
        "2027-01-05T10:00",
    ]
    crashed = subprocess.run(
        command,
        env={**os.environ, HOOK_ENV: hook_value(CRASH, step)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert (site / "build" / "email" / "alder.eml").is_file()
    assert smtp_server.messages == []
    assert len(releases(site)) == (1 if step == "record" else 0)
    reruns = [
        subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        for _ in range(2)
    ]
    assert [r.returncode for r in reruns] == [0, 0], reruns[0].stderr
    assert ("resuming alder" if step == "record" else "releasing alder") in reruns[0].stdout
    assert "nothing due: next slot 2027-02-02 09:00 Europe/London (birch)" in reruns[1].stdout
    assert subjects_by_recipient(smtp_server) == {a: ["On the Alder"] for a in SUBSCRIBERS}
    assert [slug for slug, _ in releases(site)] == ["alder"]


def test_missed_slot_is_released_late_on_the_next_run(
    site: Path, smtp_server: RecordingSMTPServer
) -> None:
    assert invoke(site, "run", "--today", "2027-01-05T09:30").exit_code == 0
    result = invoke(site, "run", "--today", "2027-02-05T08:00")
    assert result.exit_code == 0, result.output
    assert "releasing birch (slot 2027-02-02 09:00 Europe/London, 3 days late)" in result.stdout
    assert releases(site)[-1] == ("birch", "2027-02-02T09:00:00+00:00")
    assert Counter(
        s for subjects in subjects_by_recipient(smtp_server).values() for s in subjects
    ) == {"On the Alder": 3, "On the Birch": 3}


def test_nothing_due_says_when_the_next_slot_is(
    site: Path, smtp_server: RecordingSMTPServer
) -> None:
    result = invoke(site, "run", "--today", "2027-01-05T08:59")
    assert result.exit_code == 0, result.output
    assert "nothing due: next slot 2027-01-05 09:00 Europe/London (alder)" in result.stdout
    assert smtp_server.messages == [] and not built(site)


def test_empty_queue_sends_nothing_and_schedule_warns(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(
        tmp_path,
        {
            "old": essay_text("Old", slug="old", date="2026-06-02"),
            "draft": essay_text("Draft", slug="draft", draft="true"),
        },
        settings=SETTINGS,
    )
    with closing(connect(root / "state" / "publish.db")) as connection:
        add_subscriber(connection, SUBSCRIBERS[0])
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    for day in ("2027-01-04", "2027-01-05", "2027-01-06"):
        result = invoke(root, "run", "--today", day)
        assert result.exit_code == 0, result.output
        assert "nothing due" in result.stdout
    assert "next slot 2027-02-02 09:00 Europe/London (empty)" in result.stdout
    assert smtp_server.messages == []
    schedule = invoke(root, "schedule", "--today", "2027-01-06")
    assert schedule.exit_code == 0
    assert "the next slot, 2027-02-02 09:00 Europe/London, is empty" in schedule.stderr


def test_editing_a_released_essay_updates_the_web_and_never_resends(
    site: Path, smtp_server: RecordingSMTPServer
) -> None:
    assert invoke(site, "run", "--today", "2027-01-05T10:00").exit_code == 0
    essay = site / "essays" / "00-alder.md"
    essay.write_text(essay.read_text().replace("A short paragraph", "A corrected paragraph"))
    edited = invoke(site, "run", "--today", "2027-01-06T10:00")
    assert edited.exit_code == 0 and "alder was edited after its release" in edited.stdout
    assert invoke(site, "build", "--today", "2027-01-06").exit_code == 0
    page = lxml_html.parse(str(site / "build" / "site" / "alder" / "index.html"))
    assert "A corrected paragraph" in page.getroot().text_content()
    assert invoke(site, "run", "--today", "2027-02-02T10:00").exit_code == 0
    assert subjects_by_recipient(smtp_server) == {
        a: ["On the Alder", "On the Birch"] for a in SUBSCRIBERS
    }


def test_a_released_undated_essay_keeps_its_date_when_the_queue_changes(
    site: Path, smtp_server: RecordingSMTPServer
) -> None:
    assert invoke(site, "run", "--today", "2027-01-05T10:00").exit_code == 0
    (site / "essays" / "00-aaa-newcomer.md").write_text(queued_essay("Acacia"))
    assert invoke(site, "build", "--today", "2027-01-20").exit_code == 0
    feed = feedparser.parse((site / "build" / "site" / "feed.xml").read_bytes())
    assert [(e.title, e.published_parsed[:4]) for e in feed.entries] == [
        ("On the Alder", (2027, 1, 5, 9))
    ]
    assert invoke(site, "run", "--today", "2027-02-02T10:00").exit_code == 0
    assert releases(site) == [
        ("alder", "2027-01-05T09:00:00+00:00"),
        ("acacia", "2027-02-02T09:00:00+00:00"),
    ]


def test_dry_run_writes_and_sends_nothing(site: Path, smtp_server: RecordingSMTPServer) -> None:
    before = (site / "state" / "publish.db").stat().st_mtime_ns
    result = invoke(site, "run", "--dry-run", "--today", "2027-01-05T10:00")
    assert result.exit_code == 0, result.output
    assert (
        "dry run: releasing alder (slot 2027-01-05 09:00 Europe/London, on time)" in result.stdout
    )
    assert not built(site) and smtp_server.messages == []
    assert (site / "state" / "publish.db").stat().st_mtime_ns == before
    assert not (site / "releases.toml").exists()


def test_a_broken_site_aborts_before_anything_is_written_or_sent(
    site: Path, smtp_server: RecordingSMTPServer
) -> None:
    (site / "essays" / "99-broken.md").write_text(essay_text("Broken", body="See [^nope].\n"))
    result = invoke(site, "run", "--today", "2027-01-05T10:00")
    assert result.exit_code == 1
    assert re.search(r"essays/99-broken\.md:\d+:\d+: error: unknown footnote 'nope'", result.stderr)
    assert not built(site) and smtp_server.messages == []
    assert releases(site) == []


def test_cron_prints_an_hourly_crontab_line_and_a_systemd_timer(tmp_path: Path) -> None:
    root = make_site(tmp_path, {"a": essay_text("A")}, settings=SETTINGS)
    result = invoke(root, "cron")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    crontab = [line for line in lines if re.match(r"^\d+ \* \* \* \* ", line)]
    assert len(crontab) == 1
    assert f"cd {root}" in crontab[0] and crontab[0].endswith("run >> state/run.log 2>&1")
    assert "[Timer]" in lines and "Persistent=true" in lines
    assert any(line.startswith("OnCalendar=") for line in lines)
    assert any(line.startswith("ExecStart=") and line.endswith(" run") for line in lines)
    assert "EITHER" in result.stdout


# --- the days a command may run as ------------------------------------------------------------


def site_files(root: Path) -> set[str]:
    """Every file under the site folder, relative to it."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize(
    "today", ["0001-01-01", "1969-12-31", "2201-01-01", "9999-12-31", "9999-12-31T12:00+00:00"]
)
@pytest.mark.parametrize(
    "command",
    [["run"], ["run", "--dry-run"], ["schedule"], ["status"], ["check"], ["build"], ["serve"]]
    + [["deploy"]],
)
def test_a_today_outside_1970_to_2200_is_refused_before_anything_is_written(
    site: Path, smtp_server: RecordingSMTPServer, command: list[str], today: str
) -> None:
    before = site_files(site)
    result = invoke(site, *command, "--today", today)
    assert result.exit_code == 2, result.output
    assert "is outside the days publish can run as, 1970-01-01 to 2200-12-31" in result.stderr
    assert site_files(site) == before and smtp_server.messages == []


@pytest.mark.parametrize(
    ("first", "mailed"), [("1970-01-01", 0), (first_tuesday(2200, 12).isoformat(), 1)]
)
def test_a_run_on_the_first_or_last_days_writes_a_file_every_command_reads(
    site: Path, smtp_server: RecordingSMTPServer, first: str, mailed: int
) -> None:
    result = invoke(site, "run", "--today", first)
    assert result.exit_code == 0, result.output
    first_run = tomllib.loads((site / "releases.toml").read_text())["first_run"]
    assert first_run.date().isoformat() == first
    for command in (["schedule"], ["status"], ["check"], ["build"], ["run"]):
        again = invoke(site, *command, "--today", first)
        assert "releases.toml" not in again.stderr, (command, again.output)
        assert "Traceback" not in again.output
    assert Counter(recipient for _, [recipient], _ in smtp_server.messages) == Counter(
        {address: mailed for address in SUBSCRIBERS if mailed}
    )
    if not mailed:  # a rule without DTSTART counts from 3 January 2000: no slot before
        assert "nothing due: next slot 2000-01-04 09:00 Europe/London (alder)" in result.stdout


def test_a_first_run_in_the_year_9999_left_by_an_older_publish_is_an_error_at_its_line(
    site: Path, smtp_server: RecordingSMTPServer
) -> None:
    (site / "releases.toml").write_text(
        "# noted by an older publish\nfirst_run = 9999-12-31T23:59:59Z\n"
    )
    result = invoke(site, "run", "--today", "2027-01-05T10:00")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "releases.toml:2:1: error: 'first_run' must be a date and time from 1970-01-01 to "
        "2200-12-31"
    ), result.stderr
    assert smtp_server.messages == []

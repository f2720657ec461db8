"""Tests for what a released essay is: its identity across edits, its record in releases.toml,
the guard against mailing back issues, and a crash right after the site's first build.

Every test drives `publish run` (in-process, or as a subprocess for a crash) against a real
aiosmtpd server on 127.0.0.1, with its state in a real SQLite file under tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from publish.cli.common import parse_today, site_moment
from publish.content.essays import SLUG_PATTERN
from publish.content.releasefile import (
    UTC_ZONE,
    ReleasesFile,
    parse_releases,
    read_releases_file,
    write_releases_file,
)
from publish.content.site import load_site
from publish.errors import PublishError
from publish.schedule.slots import Release, Timetable, due_placements, plan_schedule
from publish.state.db import connect
from publish.state.releases import bind_releases
from publish.state.subscribers import add_subscriber
from publish.support.testhooks import CRASH, HOOK_ENV, hook_value
from tests.sitebuilder import essay_text, make_site
from tests.test_run import SETTINGS, SUBSCRIBERS, invoke, subjects_by_recipient
from tests.tools import RecordingSMTPServer, validate_html

TREES = ["Alder", "Birch", "Cedar"]


def tree_essay(name: str, title: str | None = None, **front_matter: object) -> str:
    """An undated essay about a tree; its slug comes from its title unless one is given."""
    return essay_text(
        title or f"On the {name}", body=f"A paragraph about the {name.lower()}.\n", **front_matter
    )


def add_subscribers(root: Path) -> None:
    """Subscribe every test address (a fresh state database if there is none)."""
    with closing(connect(root / "state" / "publish.db")) as connection:
        for address in SUBSCRIBERS:
            add_subscriber(connection, address)


@pytest.fixture
def new_site(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict[str, str]], Path]:
    """Make a site from essays, with three subscribers and mail going to the test server."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")

    def make(essays: dict[str, str]) -> Path:
        root = make_site(tmp_path / "site", essays, settings=SETTINGS)
        add_subscribers(root)
        return root

    return make


@pytest.fixture
def trees(new_site: Callable[[dict[str, str]], Path]) -> Path:
    """A queue of three undated essays whose slugs come from their titles."""
    return new_site({f"{n:02d}-{name.lower()}": tree_essay(name) for n, name in enumerate(TREES)})


def run(root: Path, moment: str, *more: str) -> str:
    """`publish run --today moment`, which must succeed; its standard output."""
    result = invoke(root, "run", "--today", moment, *more)
    assert result.exit_code == 0, result.output
    return result.stdout


def page(root: Path, slug: str) -> lxml_html.HtmlElement:
    """The parsed web page of `slug`."""
    return lxml_html.parse(str(root / "build" / "site" / slug / "index.html")).getroot()


def releases_file(root: Path) -> dict:
    """releases.toml, parsed."""
    return tomllib.loads((root / "releases.toml").read_text(encoding="utf-8"))


def schedule_rows(root: Path, today: str) -> dict[str, str]:
    """`publish schedule`'s rows as {slugs: status}."""
    result = invoke(root, "schedule", "--today", today, "--months", "2")
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        rows[fields[4]] = fields[3]
    return rows


# --- 1. a released essay keeps its identity and its address --------------------------------


def test_a_retitled_released_essay_keeps_its_address_and_is_never_mailed_again(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    run(trees, "2027-01-05T10:00")
    essay = trees / "essays" / "00-alder.md"
    essay.write_text(tree_essay("Alder", title="On the Old Alder"))
    note = run(trees, "2027-01-06T10:00")
    assert (
        "its title changed after its release; it keeps its released address on-the-alder/" in note
    )
    assert schedule_rows(trees, "2027-01-06")["on-the-alder"] == "released"
    run(trees, "2027-02-02T10:00")
    assert subjects_by_recipient(smtp_server) == {
        address: ["On the Alder", "On the Birch"] for address in SUBSCRIBERS
    }
    assert page(trees, "on-the-alder").findtext(".//h1") == "On the Old Alder"
    assert not (trees / "build" / "site" / "on-the-old-alder").exists()
    assert invoke(trees, "build", "--today", "2027-02-03").exit_code == 0
    assert page(trees, "on-the-alder").findtext(".//h1") == "On the Old Alder"


def test_a_retitled_released_essay_is_parsed_once_then_served_from_the_cache(
    trees: Path, parsed: list[str]
) -> None:
    run(trees, "2027-01-05T10:00")
    essay = trees / "essays" / "00-alder.md"
    essay.write_text(tree_essay("Alder", title="On the Old Alder"))
    parsed.clear()
    assert invoke(trees, "build", "--today", "2027-01-06").exit_code == 0
    assert parsed == ["00-alder.md"]
    parsed.clear()
    for day in ("2027-01-07", "2027-01-08"):  # every page and feed made again, from the cache
        shutil.rmtree(trees / "build" / "site")
        assert invoke(trees, "build", "--today", day).exit_code == 0
    assert parsed == [], "the retitled essay was parsed again for its released address"
    assert page(trees, "on-the-alder").findtext(".//h1") == "On the Old Alder"


def test_a_renamed_file_is_still_the_released_essay_even_when_retitled_later(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    run(trees, "2027-01-05T10:00")
    (trees / "essays" / "00-alder.md").rename(trees / "essays" / "20-alder-again.md")
    assert "essays/00-alder.md was renamed to essays/20-alder-again.md" in run(
        trees, "2027-01-06T10:00"
    )
    assert [(r["slug"], r["source"]) for r in releases_file(trees)["release"]] == [
        ("on-the-alder", "essays/20-alder-again.md")
    ]
    (trees / "essays" / "20-alder-again.md").write_text(tree_essay("Alder", "Alder, Revisited"))
    run(trees, "2027-02-02T10:00")
    assert subjects_by_recipient(smtp_server) == {
        address: ["On the Alder", "On the Birch"] for address in SUBSCRIBERS
    }
    assert page(trees, "on-the-alder").findtext(".//h1") == "Alder, Revisited"


@pytest.mark.slow
def test_an_explicit_slug_change_moves_the_page_and_the_old_address_redirects(
    new_site: Callable[[dict[str, str]], Path], smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    root = new_site(
        {
            "00-alder": tree_essay("Alder", slug="alder"),
            "01-birch": tree_essay("Birch", slug="birch"),
        }
    )
    run(root, "2027-01-05T10:00")
    (root / "essays" / "00-alder.md").write_text(tree_essay("Alder", slug="the-alder"))
    assert schedule_rows(root, "2027-01-05T12:00")["the-alder"] == "released"
    log = run(root, "2027-02-02T10:00")
    assert "its page moved from alder/ to the-alder/" in log
    assert subjects_by_recipient(smtp_server) == {
        address: ["On the Alder", "On the Birch"] for address in SUBSCRIBERS
    }
    assert page(root, "the-alder").findtext(".//h1") == "On the Alder"
    old = page(root, "alder")
    refresh = old.xpath("//meta[@http-equiv='refresh']/@content")
    assert refresh == ["0; url=../the-alder/"]
    assert old.xpath("//link[@rel='canonical']/@href") == ["https://example.org/letters/the-alder/"]
    assert old.xpath("//body//a/@href") == ["../the-alder/"]
    checked = tmp_path / "redirect"
    checked.mkdir()
    shutil.copy(root / "build" / "site" / "alder" / "index.html", checked / "index.html")
    assert validate_html(checked) == []
    sitemap = (root / "build" / "site" / "sitemap.xml").read_text()
    assert "/letters/alder/" not in sitemap and "/letters/the-alder/" in sitemap
    feed = feedparser.parse((root / "build" / "site" / "feed.xml").read_bytes())
    assert {(e.id, e.link) for e in feed.entries if e.title == "On the Alder"} == {
        ("https://example.org/letters/alder/", "https://example.org/letters/the-alder/")
    }


def test_a_slug_change_waits_while_the_release_is_still_being_sent(
    new_site: Callable[[dict[str, str]], Path], smtp_server: RecordingSMTPServer
) -> None:
    root = new_site({"00-alder": tree_essay("Alder", slug="alder")})
    command = [sys.executable, "-m", "publish", "--root", str(root), "run", "--today"]
    crashed = subprocess.run(
        [*command, "2027-01-05T10:00"],
        env={**os.environ, HOOK_ENV: hook_value(CRASH, "record")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    (root / "essays" / "00-alder.md").write_text(tree_essay("Alder", slug="the-alder"))
    resumed = run(root, "2027-01-05T11:00")
    assert "the new slug 'the-alder' waits until the send of 'alder' has finished" in resumed
    assert "resuming alder" in resumed
    assert subjects_by_recipient(smtp_server) == {a: ["On the Alder"] for a in SUBSCRIBERS}
    assert "its page moved from alder/ to the-alder/" in run(root, "2027-01-05T12:00")
    assert invoke(root, "build", "--today", "2027-01-06").exit_code == 0
    assert page(root, "the-alder").findtext(".//h1") == "On the Alder"
    assert page(root, "alder").xpath("//meta[@http-equiv='refresh']/@content") == [
        "0; url=../the-alder/"
    ]
    assert len(smtp_server.messages) == len(SUBSCRIBERS)


def test_a_new_essay_cannot_take_a_released_slug(
    new_site: Callable[[dict[str, str]], Path], smtp_server: RecordingSMTPServer
) -> None:
    root = new_site({"00-alder": tree_essay("Alder", slug="alder")})
    run(root, "2027-01-05T10:00")
    (root / "essays" / "00-alder.md").write_text(tree_essay("Alder", slug="the-alder"))
    (root / "essays" / "01-impostor.md").write_text(tree_essay("Impostor", slug="alder"))
    result = invoke(root, "run", "--today", "2027-02-02T10:00")
    assert result.exit_code == 1
    assert (
        "essays/01-impostor.md:1:1: error: slug 'alder' was released for "
        "essays/00-alder.md" in result.stderr
    )
    checked = invoke(root, "check")
    assert checked.exit_code == 1 and checked.stderr == result.stderr
    assert len(smtp_server.messages) == len(SUBSCRIBERS)


def test_a_released_essay_cannot_move_to_the_slug_of_a_deleted_released_one(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    """The slug of a deleted essay stays its release's: the error names the file its
    release records, though that file is gone."""
    run(trees, "2027-01-05T10:00")
    run(trees, "2027-02-02T10:00")
    (trees / "essays" / "00-alder.md").unlink()
    (trees / "essays" / "01-birch.md").write_text(tree_essay("Birch", slug="on-the-alder"))
    result = invoke(trees, "run", "--today", "2027-03-02T10:00")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "essays/01-birch.md:1:1: error: slug 'on-the-alder' was released for "
        "essays/00-alder.md (releases.toml records it); give this essay another slug"
    ), result.stderr
    assert len(smtp_server.messages) == 2 * len(SUBSCRIBERS)


# --- 2. the record of what was released survives the loss of state/ ----------------------


def test_losing_the_state_folder_never_mails_a_released_essay_again(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    run(trees, "2027-01-05T10:00")
    shutil.rmtree(trees / "state")
    add_subscribers(trees)
    assert "nothing due: next slot 2027-02-02 09:00 Europe/London (on-the-birch)" in run(
        trees, "2027-01-06T10:00"
    )
    assert schedule_rows(trees, "2027-01-06")["on-the-alder"] == "released"
    run(trees, "2027-02-02T10:00")
    assert subjects_by_recipient(smtp_server) == {
        address: ["On the Alder", "On the Birch"] for address in SUBSCRIBERS
    }
    record = releases_file(trees)
    assert [(r["slug"], r["source"], r["slot"]) for r in record["release"]] == [
        ("on-the-alder", "essays/00-alder.md", datetime.fromisoformat("2027-01-05T09:00Z")),
        ("on-the-birch", "essays/01-birch.md", datetime.fromisoformat("2027-02-02T09:00Z")),
    ]


def test_a_site_released_before_releases_toml_gets_the_file_from_its_database(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    run(trees, "2027-01-05T10:00")
    (trees / "releases.toml").unlink()
    with closing(sqlite3.connect(trees / "state" / "publish.db")) as connection, connection:
        connection.execute("UPDATE releases SET source = ''")  # as the migration leaves it
    assert "updated releases.toml" in run(trees, "2027-01-06T10:00")
    (trees / "essays" / "00-alder.md").write_text(tree_essay("Alder", title="Alder Again"))
    assert [(r["slug"], r["source"]) for r in releases_file(trees)["release"]] == [
        ("on-the-alder", "essays/00-alder.md")
    ]
    with closing(sqlite3.connect(trees / "state" / "publish.db")) as connection:
        assert connection.execute("SELECT source FROM releases").fetchall() == [
            ("essays/00-alder.md",)
        ]
    run(trees, "2027-02-02T10:00")
    assert subjects_by_recipient(smtp_server) == {
        address: ["On the Alder", "On the Birch"] for address in SUBSCRIBERS
    }


def test_a_first_run_mails_no_back_issue_until_told_to(
    new_site: Callable[[dict[str, str]], Path], smtp_server: RecordingSMTPServer
) -> None:
    root = new_site(
        {
            "00-november": essay_text("November", date="2026-11-03"),
            "01-december": essay_text("December", date="2026-12-01"),
            "02-alder": tree_essay("Alder"),
        }
    )
    log = run(root, "2027-01-05T10:00")
    assert (
        "not mailing 2 back issue(s) dated before this site's first run (2027-01-05): "
        "november, december; they are on the web site only. `publish run "
        "--mail-back-issues`" in log
    )
    assert subjects_by_recipient(smtp_server) == {a: ["On the Alder"] for a in SUBSCRIBERS}
    assert page(root, "november").findtext(".//h1") == "November"
    told = run(root, "2027-01-06T10:00", "--mail-back-issues")
    assert "releasing november (slot 2026-11-03 09:00 Europe/London, 64 days late)" in told
    assert subjects_by_recipient(smtp_server) == {
        a: ["On the Alder", "November", "December"] for a in SUBSCRIBERS
    }
    assert "nothing due" in run(root, "2027-01-07T10:00", "--mail-back-issues")
    assert len(smtp_server.messages) == 3 * len(SUBSCRIBERS)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ('slug = "On The Alder"', "releases.toml:8:1: error: release 1: 'slug' must be"),
        ('slug = "on-the-alder', "releases.toml:8:21: error: not valid TOML: Illegal character"),
    ],
)
def test_a_damaged_releases_file_stops_the_run_with_its_position(
    trees: Path, smtp_server: RecordingSMTPServer, damage: str, message: str
) -> None:
    run(trees, "2027-01-05T10:00")
    path = trees / "releases.toml"
    path.write_text(path.read_text().replace('slug = "on-the-alder"', damage))
    result = invoke(trees, "run", "--today", "2027-02-02T10:00")
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.output
    assert len(smtp_server.messages) == len(SUBSCRIBERS)


def released_entry(slug: str, source: str, slot: str = "2027-01-05T09:00:00Z") -> str:
    """One [[release]] table as `publish run` writes it."""
    return (
        f'[[release]]\nslug = "{slug}"\nsource = "{source}"\nslot = {slot}\n'
        f'released_at = 2027-01-05T10:00:00Z\ncontent_hash = ""\n'
    )


def test_two_queued_essays_in_one_slot_after_a_bad_merge_are_an_error_naming_both(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    run(trees, "2027-01-05T10:00")
    path = trees / "releases.toml"
    merged = path.read_text() + "\n" + released_entry("on-the-birch", "essays/01-birch.md")
    path.write_text(merged)  # the other branch released Birch in the same slot
    line = merged.splitlines().index('slug = "on-the-birch"')  # its [[release]] line
    for command in ("run", "schedule", "build", "check", "status"):
        result = invoke(trees, command, "--today", "2027-02-02T10:00")
        assert result.exit_code == 1, (command, result.output)
        assert (
            f"releases.toml:{line}:1: error: 'on-the-birch' (essays/01-birch.md) and "
            "'on-the-alder' (essays/00-alder.md) are recorded as released in the same slot, "
            "2027-01-05 09:00" in result.stderr
        ), (command, result.stderr)
    assert len(smtp_server.messages) == len(SUBSCRIBERS)


def test_two_dated_essays_on_one_day_may_share_their_slot(
    new_site: Callable[[dict[str, str]], Path], smtp_server: RecordingSMTPServer
) -> None:
    root = new_site(
        {
            "00-alder": tree_essay("Alder", date="2027-01-05"),
            "01-birch": tree_essay("Birch", date="2027-01-05"),
        }
    )
    run(root, "2027-01-04T10:00")
    run(root, "2027-01-05T10:00")
    assert [r["slot"] for r in releases_file(root)["release"]] == [
        datetime(2027, 1, 5, 9, tzinfo=UTC)
    ] * 2
    assert "nothing due" in run(root, "2027-01-06T10:00")
    assert len(smtp_server.messages) == 2 * len(SUBSCRIBERS)


def test_a_merge_conflict_in_the_releases_file_is_an_error_naming_both_sides(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    run(trees, "2027-01-05T10:00")
    path = trees / "releases.toml"
    text = path.read_text()
    conflicted = (
        text
        + "<<<<<<< HEAD\n"
        + released_entry("on-the-birch", "essays/01-birch.md", "2027-02-02T09:00:00Z")
        + "=======\n"
        + released_entry("on-the-cedar", "essays/02-cedar.md", "2027-02-02T09:00:00Z")
        + ">>>>>>> laptop\n"
    )
    path.write_text(conflicted)
    start = len(text.splitlines()) + 1
    end = len(conflicted.splitlines())
    for command in ("run", "schedule", "build"):
        result = invoke(trees, command, "--today", "2027-03-02T10:00")
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr.startswith(
            f"releases.toml:{start}:1: error: an unresolved merge conflict (lines {start} to "
            f"{end}) between 'on-the-birch' and 'on-the-cedar'"
        ), (command, result.stderr)
    assert len(smtp_server.messages) == len(SUBSCRIBERS)


HEAD = "# written by publish run\nfirst_run = 2027-01-05T10:00:00Z\n"


def reading_errors(text: str) -> list[str]:
    """The errors a `releases.toml` holding `text` is, as `path:line:col: error: message`."""
    with pytest.raises(PublishError) as raised:
        parse_releases(text, UTC_ZONE)
    return [problem.format() for problem in raised.value.problems]


def test_a_diff3_conflict_names_both_sides_and_not_their_common_ancestor() -> None:
    ours, base, theirs = (
        released_entry(slug, f"essays/{slug}.md") for slug in ("birch", "alder", "cedar")
    )
    text = f"<<<<<<< HEAD\n{ours}||||||| base\n{base}=======\n{theirs}>>>>>>> laptop\n"
    [message] = reading_errors(text)
    assert message.startswith(
        "releases.toml:1:1: error: an unresolved merge conflict (lines 1 to 22) between "
        "'birch' and 'cedar': "
    ), message


def test_an_error_in_one_of_several_release_tables_is_at_its_own_line() -> None:
    first = released_entry("alder", "essays/alder.md").replace(
        "slot = 2027-01-05T09:00:00Z", 'slot = "the first Tuesday"'
    )
    text = HEAD + first + released_entry("birch", "essays/birch.md", "2027-01-05T08:00:00Z")
    [message] = reading_errors(text)
    assert message.startswith("releases.toml:6:1: error: release 1: 'slot' must be"), message


def test_a_key_missing_from_a_release_table_is_at_that_table_not_at_a_later_one() -> None:
    def entry(slug: str, slot: bool) -> str:
        text = released_entry(slug, f"essays/{slug}.md")
        return text if slot else text.replace("slot = 2027-01-05T09:00:00Z\n", "")

    tables = [entry("alder", False), entry("birch", True), entry("cedar", False)]
    assert reading_errors(HEAD + "".join(tables) + entry("elm", True)) == [
        "releases.toml:3:1: error: release 1: 'slot' must be a date and time from the year "
        "1000 up to its 'released_at', such as 2027-01-05T09:00:00Z",
        "releases.toml:14:1: error: release 3: 'slot' must be a date and time from the year "
        "1000 up to its 'released_at', such as 2027-01-05T09:00:00Z",
    ]


def test_the_releases_file_keeps_each_moments_offset_unless_it_is_not_whole_minutes() -> None:
    """A release reads as the site's local time; a local mean time (London's was 1 minute 15
    seconds behind UTC) has no TOML form, so it is written in UTC."""
    local_mean = datetime(1800, 1, 7, 9, tzinfo=LONDON_ZONE)
    summer = datetime(2027, 7, 6, 9, tzinfo=ZoneInfo("Europe/Paris"))
    record = ReleasesFile({"a": Release("a", local_mean, summer, "", "essays/a.md")})
    with tempfile.TemporaryDirectory() as folder:
        write_releases_file(Path(folder), record)
        text = (Path(folder) / "releases.toml").read_text()
        assert "slot = 1800-01-07 09:01:15+00:00\n" in text
        assert "released_at = 2027-07-06 09:00:00+02:00\n" in text
        assert read_releases_file(Path(folder), "Europe/London") == record


@pytest.mark.parametrize(
    ("first_run", "readable"),
    [
        ("1969-12-31T00:00:00Z", True),  # 1970-01-01 somewhere east of UTC
        ("1969-12-30T23:59:59Z", False),
        ("2201-01-01T23:59:59Z", True),  # 2200-12-31 somewhere west of UTC
        ("2201-01-02T00:00:00Z", False),
    ],
)
def test_a_first_run_is_a_moment_within_a_day_of_the_days_a_command_may_run_as(
    first_run: str, readable: bool
) -> None:
    text = f"first_run = {first_run}\n"
    if readable:
        assert parse_releases(text, UTC_ZONE).first_run == datetime.fromisoformat(first_run)
    else:
        assert reading_errors(text) == [
            "releases.toml:1:1: error: 'first_run' must be a date and time from 1970-01-01 to "
            "2200-12-31, the moment of the site's first `publish run`"
        ]


def test_a_conflict_that_never_ends_and_a_side_without_releases_are_named_at_their_lines() -> None:
    entry = released_entry("on-the-birch", "essays/01-birch.md")
    text = f"<<<<<<< HEAD\n{entry}<<<<<<< HEAD\n{entry}=======\n>>>>>>> laptop\n"
    assert reading_errors(text) == [
        "releases.toml:1:1: error: an unresolved merge conflict (lines 1 to 7) between "
        "'on-the-birch' and no release: keep the record of every essay that was mailed, "
        "one release a slot, and delete the <<<<<<<, ======= and >>>>>>> lines",
        "releases.toml:8:1: error: an unresolved merge conflict (lines 8 to 16) between "
        "'on-the-birch' and no release: keep the record of every essay that was mailed, "
        "one release a slot, and delete the <<<<<<<, ======= and >>>>>>> lines",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + 'release = "none"\n', "releases.toml:3:1: error: 'release' must be a list of"),
        (HEAD + "release = []\n", None),
        (
            HEAD + '[release]\nslug = "on-the-alder"\n',
            "releases.toml:3:1: error: 'release' must be a list of [[release]] tables",
        ),
        (HEAD + "release = [1, 2]\n", "releases.toml:3:1: error: release 1: must be a [[release]]"),
        (
            HEAD
            + released_entry("on-the-alder", "essays/00-alder.md").replace(
                "slot = 2027-01-05T09:00:00Z", 'slot = "the first Tuesday"'
            ),
            "releases.toml:6:1: error: release 1: 'slot' must be a date and time",
        ),
        (
            HEAD
            + released_entry("on-the-alder", "essays/00-alder.md").replace(
                "slot = 2027-01-05T09:00:00Z", "slot = 2027-01-05"
            ),
            "releases.toml:6:1: error: release 1: 'slot' must be a date and time",
        ),
        (
            HEAD + released_entry("on-the-alder", "essays/00-alder.md", "0001-01-01T00:00:00"),
            "releases.toml:6:1: error: release 1: 'slot' must be a date and time from the year",
        ),
        (
            HEAD + released_entry("on-the-alder", "essays/00-alder.md", "9999-12-31T09:00:00Z"),
            "releases.toml:6:1: error: release 1: 'slot' must be a date and time from the year",
        ),
        (
            HEAD + released_entry("on-the-alder", "essays/00-alder.md") + "[release.extra]\n",
            "releases.toml:9:1: error: release 1: unknown key 'extra'",
        ),
        (
            HEAD + released_entry("on-the-alder", "essays/00-alder.md").replace("slot", "slott"),
            "releases.toml:6:1: error: release 1: unknown key 'slott' (did you mean 'slot'?)",
        ),
        (
            HEAD
            + released_entry("on-the-alder", "essays/00-alder.md").replace(
                'source = "essays/00-alder.md"', "source = 5"
            ),
            "releases.toml:5:1: error: release 1: 'source' must be the essay's file",
        ),
        (
            HEAD + released_entry("on-the-alder", "essays/00-alder.md").replace('""', "5"),
            "releases.toml:8:1: error: release 1: 'content_hash' must be text",
        ),
    ],
)
def test_a_releases_file_that_cannot_be_read_is_an_error_at_its_line_and_mails_nobody(
    trees: Path, smtp_server: RecordingSMTPServer, text: str, expected: str | None
) -> None:
    (trees / "releases.toml").write_text(text)
    result = invoke(trees, "run", "--today", "2027-01-05T10:00")
    assert "Traceback" not in result.output
    if expected is None:  # an empty list is no release yet
        assert result.exit_code == 0, result.output
        assert len(smtp_server.messages) == len(SUBSCRIBERS)
        return
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(expected), result.stderr
    assert smtp_server.messages == []
    assert (trees / "releases.toml").read_text() == text


# --- the release records in the state database on their own -----------------------------------


@pytest.mark.parametrize("loss", ["deleted", "emptied", "first run only", "out of date"])
def test_a_missing_or_stale_releases_file_never_mails_anyone_twice(
    trees: Path, smtp_server: RecordingSMTPServer, loss: str
) -> None:
    run(trees, "2027-01-05T10:00")
    run(trees, "2027-02-02T10:00")
    path = trees / "releases.toml"
    written = releases_file(trees)
    if loss == "deleted":
        path.unlink()
    elif loss == "emptied":
        path.write_text("")
    elif loss == "first run only":
        path.write_text(f"first_run = {written['first_run'].isoformat()}\n")
    else:  # the file from before the second release
        path.write_text(
            f"first_run = {written['first_run'].isoformat()}\n"
            + released_entry("on-the-alder", "essays/00-alder.md")
        )
    assert invoke(trees, "build", "--today", "2027-02-03").exit_code == 0
    assert page(trees, "on-the-birch").findtext(".//h1") == "On the Birch"
    rows = schedule_rows(trees, "2027-02-03")
    assert rows["on-the-birch"] == "released" and rows["on-the-cedar"] == "scheduled"
    assert "nothing due: next slot 2027-03-02 09:00 Europe/London (on-the-cedar)" in run(
        trees, "2027-02-03T10:00"
    )
    run(trees, "2027-03-02T10:00")
    assert subjects_by_recipient(smtp_server) == {
        address: ["On the Alder", "On the Birch", "On the Cedar"] for address in SUBSCRIBERS
    }
    assert [r["slug"] for r in releases_file(trees)["release"]] == [
        "on-the-alder",
        "on-the-birch",
        "on-the-cedar",
    ]


def test_without_releases_toml_the_database_alone_keeps_each_record_and_a_retitled_essay(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    """The database holds each release's source file and content hash on its own: with
    releases.toml lost, the file is written back as it was (an unedited essay is not taken
    for edited), and a retitled released essay is found by its file, never mailed as new."""
    run(trees, "2027-01-05T10:00")
    written = releases_file(trees)["release"]
    (trees / "releases.toml").unlink()
    assert "edited after its release" not in run(trees, "2027-01-06T10:00")
    assert releases_file(trees)["release"] == written
    (trees / "releases.toml").unlink()
    (trees / "essays" / "00-alder.md").write_text(tree_essay("Alder", title="On the Old Alder"))
    run(trees, "2027-02-02T10:00")
    assert subjects_by_recipient(smtp_server) == {
        address: ["On the Alder", "On the Birch"] for address in SUBSCRIBERS
    }


def test_recording_a_renamed_essay_changes_only_its_own_release(
    trees: Path, smtp_server: RecordingSMTPServer
) -> None:
    run(trees, "2027-01-05T10:00")
    run(trees, "2027-02-02T10:00")
    database = trees / "state" / "publish.db"
    with closing(sqlite3.connect(database)) as connection:
        before = connection.execute("SELECT * FROM releases ORDER BY slug").fetchall()
    (trees / "essays" / "01-birch.md").rename(trees / "essays" / "01-the-birch.md")
    assert "essays/01-birch.md was renamed to essays/01-the-birch.md" in run(
        trees, "2027-02-03T10:00"
    )
    with closing(sqlite3.connect(database)) as connection:
        after = connection.execute("SELECT * FROM releases ORDER BY slug").fetchall()
    assert after[0] == before[0]  # on-the-alder, untouched
    columns = [row[1] for row in sqlite3.connect(database).execute("PRAGMA table_info(releases)")]
    changed = {
        columns[i]
        for i, (old, new) in enumerate(zip(before[1], after[1], strict=True))
        if old != new
    }
    assert after[1][0] == "on-the-birch" and changed == {"source"}
    assert after[1][columns.index("source")] == "essays/01-the-birch.md"
    assert [(r["slug"], r["source"]) for r in releases_file(trees)["release"]] == [
        ("on-the-alder", "essays/00-alder.md"),
        ("on-the-birch", "essays/01-the-birch.md"),
    ]


# --- 3. a crash right after the first-ever build --------------------------------------------


@pytest.mark.parametrize("dated", [False, True])
def test_a_crash_after_the_first_build_is_mailed_by_the_next_run_on_a_later_day(
    new_site: Callable[[dict[str, str]], Path], smtp_server: RecordingSMTPServer, dated: bool
) -> None:
    essays = {"00-alder": tree_essay("Alder"), "01-birch": tree_essay("Birch")}
    if dated:
        essays = {"00-alder": tree_essay("Alder", date="2027-01-05")}
    root = new_site(essays)
    command = [sys.executable, "-m", "publish", "--root", str(root), "run", "--today"]
    crashed = subprocess.run(
        [*command, "2027-01-05T23:30"],
        env={**os.environ, HOOK_ENV: hook_value(CRASH, "build")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert page(root, "on-the-alder").findtext(".//h1") == "On the Alder"
    assert smtp_server.messages == []
    reruns = [
        subprocess.run([*command, moment], capture_output=True, text=True, timeout=120, check=False)
        for moment in ("2027-01-06T00:30", "2027-01-06T01:30")
    ]
    assert [r.returncode for r in reruns] == [0, 0], reruns[0].stderr
    assert (
        "releasing on-the-alder (slot 2027-01-05 09:00 Europe/London, 1 day late)"
        in reruns[0].stdout
    )
    assert "nothing due" in reruns[1].stdout
    assert subjects_by_recipient(smtp_server) == {a: ["On the Alder"] for a in SUBSCRIBERS}


# --- releases.toml keeps whatever it is given -------------------------------------------------

LONDON_ZONE = ZoneInfo("Europe/London")
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0).astimezone(LONDON_ZONE))
any_moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
zones = st.sampled_from(sorted(available_timezones()))


def release_strategy(times: st.SearchStrategy[datetime]) -> st.SearchStrategy[Release]:
    """Releases whose slot and release time are drawn from `times`."""
    return st.builds(
        Release,
        slug=st.from_regex(SLUG_PATTERN, fullmatch=True),
        slot=times,
        released_at=times,
        content_hash=st.text(max_size=64),
        source=st.text(max_size=80),
    )


def released_no_earlier_than_its_slot(release: Release) -> Release:
    """The release as a run records it: it goes out at or after its slot."""
    if release.released_at >= release.slot:
        return release
    return Release(release.slug, release.released_at, release.slot, "", release.source)


releases_strategy = st.lists(
    release_strategy(moments).map(released_no_earlier_than_its_slot),
    max_size=6,
    unique_by=lambda r: r.slug,
)


@settings(max_examples=40, deadline=None)
@given(releases=releases_strategy, first_run=st.none() | moments)
def test_the_releases_file_reads_back_what_was_written(
    releases: list[Release], first_run: datetime | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        record = ReleasesFile({r.slug: r for r in releases}, first_run)
        write_releases_file(Path(folder), record)
        assert read_releases_file(Path(folder), "Europe/London") == record
        assert [p.name for p in Path(folder).iterdir()] == ["releases.toml"]


@settings(max_examples=60, deadline=None)
@given(
    releases=st.lists(release_strategy(any_moments), max_size=3, unique_by=lambda r: r.slug),
    first_run=st.none() | any_moments,
    zone=zones,
)
def test_whatever_is_written_to_the_releases_file_can_be_read_back(
    releases: list[Release], first_run: datetime | None, zone: str
) -> None:
    """No command writes a file another cannot read: the writer refuses, and writes nothing."""
    local = ZoneInfo(zone)
    record = ReleasesFile(
        {
            r.slug: Release(
                r.slug, r.slot.astimezone(local), r.released_at.astimezone(local), "", r.source
            )
            for r in releases
        },
        first_run.astimezone(local) if first_run else None,
    )
    with tempfile.TemporaryDirectory() as folder:
        try:
            write_releases_file(Path(folder), record)
        except PublishError:
            assert list(Path(folder).iterdir()) == []
        else:
            assert read_releases_file(Path(folder), zone) == record


@settings(max_examples=30, deadline=None)
@given(
    day=st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 12, 31)),
    zone=zones,
    end_of_day=st.booleans(),
)
def test_any_accepted_today_in_any_zone_is_a_first_run_the_file_can_hold(
    day: date, zone: str, end_of_day: bool
) -> None:
    moment = site_moment(
        parse_today(day.isoformat()), Timetable("FREQ=DAILY", zone, time(9)), end_of_day
    )
    with tempfile.TemporaryDirectory() as folder:
        write_releases_file(Path(folder), ReleasesFile({}, moment))
        assert read_releases_file(Path(folder), zone).first_run == moment


titles = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=60,
).filter(lambda title: title.strip())


@settings(max_examples=25, deadline=None)
@given(title=titles)
def test_any_new_title_keeps_a_released_essay_at_its_released_slug(title: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = make_site(
            Path(folder),
            {"00-alder": tree_essay("Alder"), "01-birch": tree_essay("Birch")},
            settings=SETTINGS,
        )
        slot = datetime(2027, 1, 5, 9, tzinfo=LONDON_ZONE)
        released = Release("on-the-alder", slot, slot, "", "essays/00-alder.md")
        (root / "essays" / "00-alder.md").write_text(
            tree_essay("Alder", title=json.dumps(title, ensure_ascii=False)[1:-1]), encoding="utf-8"
        )
        site, _ = load_site(root)
        binding = bind_releases(site, {"on-the-alder": released})
        essay = binding.site.essay("on-the-alder")
        assert essay is not None and essay.path == "essays/00-alder.md"
        assert essay.title == title.strip()
        assert binding.site.redirects == ()
        plan = plan_schedule(
            Timetable.from_settings(site.settings),
            binding.site.essays,
            binding.releases,
            datetime(2027, 2, 2, 10, tzinfo=LONDON_ZONE),
        )
        assert [p.slug for p in due_placements(plan)] == ["on-the-birch"]

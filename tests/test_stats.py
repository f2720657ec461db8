"""Tests for `publish stats` and its SVG chart: the list per month and each send's outcome,
from two real sends through an SMTP server on 127.0.0.1, an unsubscribe, and a bounce and a
complaint applied through publish.state.standing."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from publish.content.settings import load_settings
from publish.ops.stats import Stats, read_stats, stats_chart_svg
from publish.state.db import MIGRATIONS, connect
from publish.state.standing import COMPLAINT, HARD_BOUNCE, Outcome, apply_outcomes
from publish.state.stats import SendCounts
from tests.mailsite import make_mail_site
from tests.tools import RecordingSMTPServer

SVG = "{http://www.w3.org/2000/svg}"
FIRST, SECOND = "on-margins", "a-second-letter"
OCTOBER = ["ann@example.org", "bob@example.org"]
NOVEMBER = ["cy@example.org", "dee@example.org", "eve@example.org"]


def cli(root: Path, *args: str):
    """The command line in-process."""
    from publish.cli.main import cli as publish

    return CliRunner().invoke(publish, ["--root", str(root), *args])


def stamp(connection: sqlite3.Connection, sql: str, *values: object) -> None:
    """Move recorded moments to fixed days, so no test depends on today's date."""
    connection.execute(sql, values)


@pytest.fixture
def site(tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """October: two readers, the first essay to both, one leaves. November: three more, the
    second essay (one address refused), then a hard bounce and a complaint."""
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    root = make_mail_site(tmp_path / "site")
    database = root / "state" / "publish.db"
    for address in OCTOBER:
        assert cli(root, "subscribers", "add", address).exit_code == 0
    assert cli(root, "send", FIRST).exit_code == 0
    assert cli(root, "subscribers", "remove", OCTOBER[1]).exit_code == 0
    with closing(connect(database)) as connection:
        stamp(
            connection,
            "UPDATE subscribers SET created_at = ?, confirmed_at = ?",
            "2026-10-01T08:00:00+00:00",
            "2026-10-01T08:00:00+00:00",
        )
        stamp(
            connection,
            "UPDATE subscribers SET unsubscribed_at = ? WHERE unsubscribed_at IS NOT NULL",
            "2026-10-20T10:00:00+00:00",
        )
        stamp(connection, "UPDATE sends SET started_at = ?", "2026-10-06T09:00:00+00:00")
    for address in NOVEMBER:
        assert cli(root, "subscribers", "add", address).exit_code == 0
    smtp_server.reject_rcpt.add(NOVEMBER[2])
    assert cli(root, "send", SECOND).exit_code == 1  # one address refused for good
    with closing(connect(database)) as connection:
        apply_outcomes(
            connection,
            [
                Outcome(HARD_BOUNCE, NOVEMBER[1], "maildir", "dsn-1", "5.1.1", SECOND),
                Outcome(COMPLAINT, NOVEMBER[0], "maildir", "arf-1", "abuse", SECOND),
            ],
            soft_limit=3,
        )
        november = "2026-11-02T08:00:00+00:00"
        stamp(
            connection,
            "UPDATE subscribers SET created_at = ?, confirmed_at = ? WHERE created_at > ?",
            november,
            november,
            "2026-11-01",
        )
        stamp(
            connection,
            "UPDATE subscribers SET bounced_at = ? WHERE bounced_at IS NOT NULL",
            "2026-11-04T10:00:00+00:00",
        )
        stamp(
            connection,
            "UPDATE subscribers SET complained_at = ? WHERE complained_at IS NOT NULL",
            "2026-11-05T10:00:00+00:00",
        )
        stamp(
            connection,
            "UPDATE sends SET started_at = ? WHERE slug = ?",
            "2026-11-03T09:00:00+00:00",
            SECOND,
        )
    return root


def table_rows(output: str, heading: str) -> list[list[str]]:
    """The rows (cells split on spaces) of one table of the `publish stats` output."""
    block = output.split(heading + "\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.split() for line in block.splitlines() if line.strip()]
    return lines[1:]  # without the header


def test_stats_table_counts_the_list_per_month_and_each_send(site: Path) -> None:
    result = cli(site, "stats")
    assert result.exit_code == 0, result.output
    assert table_rows(result.output, "Subscribers per month") == [
        ["2026-10", "2", "2", "1", "0", "0"],
        ["2026-11", "3", "3", "0", "1", "1"],
    ]
    assert table_rows(result.output, "Sends") == [
        [FIRST, "2026-10-06", "2", "0", "0", "0", "0", "1"],
        [SECOND, "2026-11-03", "3", "1", "0", "0", "1", "1"],
    ]


def test_stats_counts_deferred_and_unknown_deliveries_apart(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    root = make_mail_site(tmp_path / "site")
    readers = [*OCTOBER, *NOVEMBER]
    for address in readers:
        assert cli(root, "subscribers", "add", address).exit_code == 0
    smtp_server.fail_first_rcpt[readers[0]] = 100  # deferred: refused for now in every round
    smtp_server.hang_up_after_data.add(readers[1])  # unknown: taken, and no answer
    smtp_server.reject_rcpt.add(readers[2])  # failed
    assert cli(root, "send", FIRST).exit_code == 1
    with closing(connect(root / "state" / "publish.db")) as connection:
        stamp(connection, "UPDATE sends SET started_at = ?", "2026-10-06T09:00:00+00:00")
        # as if the send had stopped before the last reader: not tried, so not deferred
        stamp(
            connection,
            "UPDATE deliveries SET status = 'pending', attempts = 0 WHERE email = ?",
            readers[4],
        )
    result = cli(root, "stats")
    assert result.exit_code == 0, result.output
    assert table_rows(result.output, "Sends") == [
        [FIRST, "2026-10-06", "1", "1", "1", "1", "0", "0"]
    ]
    [counted] = read_stats(root, load_settings(root)).sends
    assert (counted.pending, counted.skipped) == (1, 0)


def test_stats_on_a_site_without_state(tmp_path: Path) -> None:
    root = make_mail_site(tmp_path / "site")
    result = cli(root, "stats")
    assert result.exit_code == 0
    assert result.output == "No subscribers and no sends yet.\n"
    assert not (root / "state" / "publish.db").exists()


def test_stats_on_a_database_from_before_the_bounce_statuses(tmp_path: Path) -> None:
    root = make_mail_site(tmp_path / "site")
    database = root / "state" / "publish.db"
    database.parent.mkdir()
    with closing(sqlite3.connect(database)) as old:
        old.executescript(MIGRATIONS[0])
        old.execute(
            "INSERT INTO subscribers (email, status, created_at) VALUES (?, 'active', ?)",
            ("ann@example.org", "2026-09-01T08:00:00+00:00"),
        )
        old.execute("PRAGMA user_version = 1")
        old.commit()
    result = cli(root, "stats")
    assert result.exit_code == 0, result.output
    assert table_rows(result.output, "Subscribers per month") == [
        ["2026-09", "1", "0", "0", "0", "0"]
    ]


def bars(svg: str) -> dict[tuple[str, str], etree._Element]:
    """Every bar of the chart by (label, series)."""
    root = etree.fromstring(svg.encode())
    return {
        (rect.get("data-label"), rect.get("data-series")): rect
        for rect in root.iter(f"{SVG}rect")
        if rect.get("data-series")
    }


def test_the_chart_bars_match_the_numbers(site: Path) -> None:
    stats = read_stats(site, load_settings(site))
    svg = stats_chart_svg(stats)
    root = etree.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Subscribers and sends"
    assert root.get("aria-labelledby") == "stats-title stats-desc"
    assert not list(root.iter(f"{SVG}script"))
    found = bars(svg)
    expected = {
        ("2026-10", "new"): 2,
        ("2026-10", "unsubscribed"): 1,
        ("2026-11", "new"): 3,
        ("2026-11", "bounced"): 1,
        ("2026-11", "complained"): 1,
        (FIRST, "delivered"): 2,
        (SECOND, "delivered"): 3,
        (SECOND, "failed"): 1,
        (SECOND, "bounced"): 1,
        (SECOND, "unsubscribed"): 1,
    }
    for key, value in expected.items():
        rect = found[key]
        assert int(rect.get("data-value")) == value
        assert rect.find(f"{SVG}title").text == f"{key[0]}: {value} {key[1]}"
    # heights are proportional to the numbers within each chart, and a zero has no height
    for series in (("new", "confirmed", "unsubscribed"), ("delivered", "failed")):
        chosen = [r for (label, name), r in found.items() if name in series]
        ratios = [
            float(r.get("height")) / int(r.get("data-value"))
            for r in chosen
            if int(r.get("data-value"))
        ]
        assert max(ratios) - min(ratios) < 0.1  # heights are written to 0.1 px
    assert float(found[(FIRST, "failed")].get("height")) == 0
    labels = {t.text for t in root.iter(f"{SVG}text")}
    assert {"2026-10", "2026-11", FIRST, SECOND, "Subscribers per month", "Each send"} <= labels


def test_an_empty_chart_says_so() -> None:
    root = etree.fromstring(stats_chart_svg(Stats()).encode())
    assert [t.text for t in root.iter(f"{SVG}text")].count("Nothing yet") == 2
    assert "Subscribers per month: none" in root.find(f"{SVG}desc").text


def test_a_long_history_shows_the_latest_twelve_with_slanted_labels() -> None:
    sends = tuple(
        SendCounts(
            f"essay-with-a-long-name-{n:02d}", f"2026-{n % 12 + 1:02d}-01", None, delivered=n
        )
        for n in range(1, 15)
    )
    root = etree.fromstring(stats_chart_svg(Stats(sends=sends)).encode())
    found = bars(etree.tostring(root, encoding="unicode"))
    shown = sorted({label for label, series in found if series == "delivered"})
    assert shown == [f"essay-with-a-long-name-{n:02d}" for n in range(3, 15)]
    slanted = [t for t in root.iter(f"{SVG}text") if "rotate(-45" in (t.get("transform") or "")]
    assert len(slanted) == 12 and all(t.text.endswith("…") for t in slanted)

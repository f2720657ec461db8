"""Tests for `publish status`: the next slot and its essay, the reach, the problems, the
settings a run will use (never a secret), the last send, and the exit code."""

from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from publish.state import db
from publish.state.db import connect
from publish.state.subscribers import add_subscriber, set_status
from tests.sitebuilder import essay_text, make_site
from tests.test_run import NAMES, SETTINGS, SUBSCRIBERS, queued_essay
from tests.tools import RecordingSMTPServer

PASSWORD = "s3cret-Pa55word"


def status(root: Path, *args: str):
    """`publish status` in-process; stdout and stderr apart."""
    return CliRunner().invoke(cli, ["--root", str(root), "status", *args])


def fields(output: str) -> dict[str, str]:
    """The `Name: value` lines of the report, by name."""
    found = {}
    for line in output.splitlines():
        name, colon, value = line.partition(":")
        if colon and re.fullmatch(r"[A-Z][A-Za-z -]*", name):
            found[name] = value.strip()
    return found


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run tests' site (a queue of undated essays), three subscribers (one of them gone
    again), mail through a relay whose URL carries a password."""
    essays = {f"{n:02d}-{name.lower()}": queued_essay(name) for n, name in enumerate(NAMES[:3])}
    root = make_site(tmp_path / "site", essays, settings=SETTINGS)
    with closing(connect(root / "state" / "publish.db")) as connection:
        for address in SUBSCRIBERS:
            add_subscriber(connection, address)
        set_status(connection, 3, "unsubscribed")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://letters:{PASSWORD}@127.0.0.1:2525")
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    return root


def test_status_names_the_next_slot_its_essay_the_reach_and_the_settings(site: Path) -> None:
    result = status(site, "--today", "2026-11-20")
    assert result.exit_code == 0, result.output + result.stderr
    shown = fields(result.stdout)
    assert shown["Next slot"].startswith("2026-12-01 09:00")
    assert shown["Essay"] == 'alder ("On the Alder")'
    assert shown["Reach"] == "2 active subscriber(s)"
    assert shown["Mail"] == "smtp://127.0.0.1:2525 as letters"
    assert shown["From"] == "Test Author <letters@example.org>"
    assert shown["Pace"] == "4 connection(s), rate no limit"  # the default of [email] connections
    assert shown["Last send"] == "none yet"
    assert shown["Next release"] == "ready"
    assert PASSWORD not in result.output + result.stderr


def test_status_on_the_slot_day_says_due_now(site: Path) -> None:
    result = status(site, "--today", "2026-12-01T10:00")
    assert result.exit_code == 0, result.output + result.stderr
    assert fields(result.stdout)["Next slot"] == "2026-12-01 09:00 Europe/London (due now)"


def test_status_after_a_run_shows_the_last_send_and_the_following_slot(
    site: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    ran = CliRunner().invoke(cli, ["--root", str(site), "run", "--today", "2026-12-01"])
    assert ran.exit_code == 0, ran.output
    result = status(site, "--today", "2026-12-02")
    assert result.exit_code == 0, result.output + result.stderr
    shown = fields(result.stdout)
    assert shown["Next slot"].startswith("2027-01-05 09:00")
    assert shown["Essay"] == 'birch ("On the Birch")'
    last = shown["Last send"]
    assert last.startswith("alder, started ") and "(finished)" in last
    assert last.endswith("2 delivered, 0 failed, 0 deferred, 0 unknown, 0 still to send")
    # A copy a killed send had claimed but not recorded may have gone: it counts as unknown.
    with closing(db.connect(site / "state" / "publish.db")) as conn:
        conn.execute("UPDATE deliveries SET status = 'sending' WHERE rowid = 1")
    last = fields(status(site, "--today", "2026-12-02").stdout)["Last send"]
    assert last.endswith("1 delivered, 0 failed, 0 deferred, 1 unknown, 1 still to send")


def test_status_counts_a_deferred_reader_apart_from_one_not_tried_yet(
    site: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    smtp_server.fail_first_rcpt[SUBSCRIBERS[0]] = 100  # refused for now, every round
    ran = CliRunner().invoke(cli, ["--root", str(site), "run", "--today", "2026-12-01"])
    assert ran.exit_code == 1, ran.output
    last = fields(status(site, "--today", "2026-12-02").stdout)["Last send"]
    assert "(not finished)" in last
    assert last.endswith("1 delivered, 0 failed, 1 deferred, 0 unknown, 1 still to send")
    # A send stopped before it reached the other reader: not tried, so not deferred.
    with closing(db.connect(site / "state" / "publish.db")) as conn:
        conn.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0 WHERE email = ?",
            (SUBSCRIBERS[1],),
        )
    last = fields(status(site, "--today", "2026-12-02").stdout)["Last send"]
    assert last.endswith("0 delivered, 0 failed, 1 deferred, 0 unknown, 2 still to send")


def test_status_fails_without_a_server_unless_the_outbox_is_asked_for(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBLISH_SMTP_URL")
    result = status(site, "--today", "2026-11-20")
    assert result.exit_code == 1
    assert "PUBLISH_SMTP_URL:1:1: error: is not set" in result.stderr
    assert fields(result.stdout)["Mail"] == "no server to mail through"
    outbox = status(site, "--today", "2026-11-20", "--outbox")
    assert outbox.exit_code == 0, outbox.output + outbox.stderr
    assert fields(outbox.stdout)["Mail"] == "the outbox state/outbox/"


def test_a_bad_smtp_url_fails_without_showing_the_password(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://letters:{PASSWORD}@127.0.0.1:2525/extra")
    result = status(site, "--today", "2026-11-20")
    assert result.exit_code == 1
    assert "PUBLISH_SMTP_URL:1:1: error:" in result.stderr
    assert PASSWORD not in result.output + result.stderr


def test_an_empty_slot_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dated = essay_text("Back Issue", date="2026-10-06")
    root = make_site(tmp_path / "site", {"back-issue": dated}, settings=SETTINGS)
    monkeypatch.setenv("PUBLISH_SMTP_URL", "smtp://127.0.0.1:2525")
    result = status(root, "--today", "2026-11-20")
    assert result.exit_code == 1
    assert fields(result.stdout)["Essay"] == "empty"
    assert "no essay is queued for the next slot" in result.output
    assert not (root / "build").exists() and not (root / "state").exists()  # wrote nothing


def test_check_errors_are_listed_with_their_place_and_fail(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = essay_text("Broken", body="See [^nowhere].\n", slug="broken")
    (site / "essays" / "09-broken.md").write_text(broken, encoding="utf-8")
    result = status(site, "--today", "2026-11-20")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors and errors[0].startswith("essays/09-broken.md:")
    path, line, col, _ = errors[0].split(":", 3)
    assert line.isdigit() and col.isdigit()
    assert "Next release would FAIL" in result.output


def test_a_deploy_target_that_cannot_run_fails(site: Path) -> None:
    settings = site / "publish.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + '\n[deploy]\ntarget = "command:no-such-deploy-program --to live"\n',
        encoding="utf-8",
    )
    result = status(site, "--today", "2026-11-20")
    assert result.exit_code == 1
    assert fields(result.stdout)["Deploy"] == "command:no-such-deploy-program"
    assert "needs the program 'no-such-deploy-program'" in result.stderr


def test_a_dir_deploy_target_is_shown(site: Path, tmp_path: Path) -> None:
    settings = site / "publish.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8") + f'\n[deploy]\ntarget = "dir:{tmp_path}/www"\n',
        encoding="utf-8",
    )
    result = status(site, "--today", "2026-11-20")
    assert result.exit_code == 0, result.output + result.stderr
    assert fields(result.stdout)["Deploy"] == f"dir:{tmp_path}/www"


def test_a_bad_deploy_table_fails_at_its_line(site: Path) -> None:
    settings = site / "publish.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8") + '\n[deploy]\ntarget = "ftp:example.org"\n',
        encoding="utf-8",
    )
    lines = settings.read_text(encoding="utf-8").splitlines()
    result = status(site, "--today", "2026-11-20")
    assert result.exit_code == 1
    assert f"publish.toml:{len(lines)}:1: error: 'deploy.target' must be one of" in result.stderr
    assert "Traceback" not in result.output

"""`publish send SLUG --to ADDRESS` mails a test copy of any essay (queued, dated later or a
draft) as its email will go out, marked only in a header, through a real SMTP relay; the
ledger and the releases never hear of it, and the real send later still mails everyone."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from publish.cli.main import cli
from publish.state.db import connect
from publish.state.subscribers import add_subscriber
from tests.sitebuilder import essay_text, make_site
from tests.tools import RecordingSMTPServer

READERS = ["ann@example.org", "bob@example.net"]
ME = "me@example.com"
SLOT = "2027-01-05T10:00"  # the first slot: alder, the first queued essay, is due
SETTINGS = """\
[site]
title = "Test Letters"
url = "https://letters.example.org/"
author = "Test Author"
timezone = "Europe/London"

[email]
from = "Test Author <letters@example.org>"
service_url = "https://letters.example.org/subscribe/"
postal_address = "1 Test Street, Testville"
"""
ESSAYS = {
    "01-alder": essay_text("On the Alder", "The alder leans over the river.\n", slug="alder"),
    "02-birch": essay_text("On the Birch", "Birch bark peels.\n", slug="birch", draft="true"),
    "03-cedar": essay_text("On the Cedar", "Cedars are slow.\n", slug="cedar", date="2030-03-03"),
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A queued essay (alder), a draft (birch), one dated later (cedar), and two readers."""
    root = make_site(tmp_path / "site", ESSAYS, settings=SETTINGS)
    with closing(connect(root / "state" / "publish.db")) as connection:
        for address in READERS:
            add_subscriber(connection, address)
    return root


def publish(root: Path, *args: str) -> Result:
    """The command line, in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def state(root: Path) -> tuple[list[tuple], list[tuple], list[tuple], bytes | None]:
    """What a test copy must never change: sends, deliveries, releases, releases.toml."""
    with closing(sqlite3.connect(root / "state" / "publish.db")) as connection:
        rows = [
            connection.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
            for table in ("sends", "deliveries", "releases")
        ]
    releases_file = root / "releases.toml"
    return rows[0], rows[1], rows[2], releases_file.read_bytes() if releases_file.exists() else None


def html_text(message: EmailMessage) -> str:
    """The HTML part of a message."""
    part = message.get_body(("html",))
    assert part is not None
    return part.get_content()


@pytest.mark.parametrize(
    ("slug", "title", "words"),
    [
        ("alder", "On the Alder", "The alder leans over the river."),
        ("birch", "On the Birch", "Birch bark peels."),
        ("cedar", "On the Cedar", "Cedars are slow."),
    ],
)
def test_a_test_copy_of_an_essay_not_yet_out_arrives_marked_only_in_a_header(
    site: Path, relay: RecordingSMTPServer, slug: str, title: str, words: str
) -> None:
    before = state(site)
    result = publish(site, "send", slug, "--to", ME)
    assert result.exit_code == 0, result.output
    assert f"Sent a test copy of '{slug}' to {ME}" in result.output
    [(_, recipients, message)] = relay.messages
    assert recipients == [ME]
    assert message["X-Publish-Test"] == "1"
    assert message["Subject"] == title and title not in str(message["X-Publish-Test"])
    body = html_text(message)
    assert words in body and "preview only" not in body and "Draft" not in body
    assert "test" not in str(message["Subject"]).lower()
    assert state(site) == before


def test_after_test_copies_the_real_send_still_mails_everyone_once(
    site: Path, relay: RecordingSMTPServer
) -> None:
    for slug in ("alder", "birch"):
        assert publish(site, "send", slug, "--to", ME).exit_code == 0
    before = state(site)
    assert before[:3] == ([], [], [])
    test_copy = html_text(relay.messages_to(ME)[0][2])
    ran = publish(site, "run", "--today", SLOT)
    assert ran.exit_code == 0, ran.output
    for reader in READERS:
        [(_, _, message)] = relay.messages_to(reader)
        assert message["Subject"] == "On the Alder" and message["X-Publish-Test"] is None
        assert "The alder leans over the river." in html_text(message)
    assert len(relay.messages_to(ME)) == 2
    with closing(sqlite3.connect(site / "state" / "publish.db")) as connection:
        assert connection.execute("SELECT slug FROM releases").fetchall() == [("alder",)]
        sent = connection.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'")
        assert sent.fetchone()[0] == len(READERS)
    assert "The alder leans over the river." in test_copy


def test_a_dry_run_test_copy_of_a_draft_sends_nothing(
    site: Path, relay: RecordingSMTPServer
) -> None:
    result = publish(site, "send", "birch", "--dry-run", "--to", ME)
    assert result.exit_code == 0, result.output
    assert "a test copy of 'birch' would go to me@example.com" in result.output
    assert relay.messages == []


def test_a_test_copy_of_no_essay_is_still_an_error(site: Path, relay: RecordingSMTPServer) -> None:
    result = publish(site, "send", "aldr", "--to", ME)
    assert result.exit_code == 1
    assert "no essay has the slug 'aldr' (did you mean 'alder'?)" in result.output
    assert relay.messages == []

"""A fresh site refuses to mail its list until the subscription service and sender are set."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from publish.content.preflight import NEW_ESSAY_PLACEHOLDER
from publish.state.db import connect
from publish.state.subscribers import add_subscriber
from tests.sitebuilder import invoke
from tests.tools import RecordingSMTPServer

SLUG = "why-i-am-writing-this"
LOCATED = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>\w+): ")


def located(output: str) -> dict[str, tuple[int, int, str]]:
    """Each located problem's first words -> (line, column, severity)."""
    found = {}
    for line in output.splitlines():
        match = LOCATED.match(line)
        if match and match["path"] == "publish.toml":
            words = " ".join(line[match.end() :].split()[:2])
            found[words] = (int(match["line"]), int(match["col"]), match["severity"])
    return found


@pytest.fixture
def fresh(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A site straight from `publish init`, its sample essay built, mail going to the server."""
    root = tmp_path / "letters"
    assert invoke(tmp_path, "init", str(root)).exit_code == 0
    assert invoke(root, "build", "--drafts").exit_code == 0
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    return root


def subscribe(root: Path, address: str = "reader@example.net", status: str = "active") -> None:
    """Put one subscriber in the site's state."""
    with closing(connect(root / "state" / "publish.db")) as conn:
        add_subscriber(conn, address, "Reader", status=status)


def fix_settings(root: Path) -> None:
    """Give the fresh site a service, a sender, a postal address and a URL of its own."""
    path = root / "publish.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("https://example.org/", "https://letters.example.net/")
    text = text.replace("you@example.org", "ada@letters.example.net")
    text = text.replace("1 Example Street, Exampletown", "2 Quay Lane, Harbourtown")
    text = re.sub(r"(?m)^# service_url = .*\n", "", text)
    text = text.replace("[email]\n", '[email]\nservice_url = "https://subs.letters.example.net/"\n')
    path.write_text(text, encoding="utf-8")


def built_files(root: Path) -> dict[Path, bytes]:
    """Every file of the built site and emails, with its bytes (the parse cache left out)."""
    return {
        path.relative_to(root): path.read_bytes()
        for folder in ("site", "email")
        for path in (root / "build" / folder).rglob("*")
        if path.is_file()
    }


def sends_recorded(root: Path) -> int:
    """How many sends the ledger holds."""
    with closing(sqlite3.connect(root / "state" / "publish.db")) as conn:
        return conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]


def test_send_refuses_a_fresh_site_with_subscribers(
    fresh: Path, smtp_server: RecordingSMTPServer
) -> None:
    subscribe(fresh)
    result = invoke(fresh, "send", SLUG)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    problems = located(result.output)
    text = (fresh / "publish.toml").read_text(encoding="utf-8").splitlines()
    email_line = text.index("[email]") + 1
    from_line = next(n for n, line in enumerate(text, 1) if line.startswith("from ="))
    url_line = next(n for n, line in enumerate(text, 1) if line.startswith("url ="))
    assert problems["[email] service_url"] == (email_line, 1, "error")
    assert problems["[email] from"] == (from_line, len("from = ") + 1, "error")
    assert problems["[email] postal_address"][2] == "error"
    assert problems["[site] url"] == (url_line, len("url = ") + 1, "error")
    assert smtp_server.messages == []
    assert sends_recorded(fresh) == 0


def test_the_example_reply_to_is_refused_like_the_example_sender(
    fresh: Path, smtp_server: RecordingSMTPServer
) -> None:
    """A site whose owner set their own sender but kept the scaffold's `reply_to` would send
    every reader's reply to you@example.org: an error at that line once there are readers."""
    fix_settings(fresh)
    path = fresh / "publish.toml"
    text = path.read_text(encoding="utf-8")
    kept = text.replace('reply_to = "ada@letters.example.net"', 'reply_to = "You@Example.org"')
    assert kept != text
    path.write_text(kept, encoding="utf-8")
    line = kept.splitlines().index('reply_to = "You@Example.org"') + 1
    where = (line, len("reply_to = ") + 1)

    quiet = invoke(fresh, "check")
    assert quiet.exit_code == 0, quiet.output
    assert located(quiet.output) == {"[email] reply_to": (*where, "warning")}
    subscribe(fresh)
    loud = invoke(fresh, "check")
    assert loud.exit_code == 1
    assert located(loud.output) == {"[email] reply_to": (*where, "error")}
    assert "Traceback" not in loud.output
    refused = invoke(fresh, "send", SLUG)
    assert refused.exit_code == 1
    assert located(refused.output) == {"[email] reply_to": (*where, "error")}
    assert smtp_server.messages == []
    assert sends_recorded(fresh) == 0


def test_send_works_once_the_setup_is_fixed(fresh: Path, smtp_server: RecordingSMTPServer) -> None:
    subscribe(fresh)
    fix_settings(fresh)
    assert invoke(fresh, "build", "--drafts").exit_code == 0
    result = invoke(fresh, "send", SLUG)
    assert result.exit_code == 0, result.output
    [(_, recipients, message)] = smtp_server.messages
    assert recipients == ["reader@example.net"]
    assert message["List-Unsubscribe"].startswith("<https://subs.letters.example.net/unsubscribe/")


def test_a_test_copy_goes_out_with_a_warning(fresh: Path, smtp_server: RecordingSMTPServer) -> None:
    """`send --to` is for looking at the email before the service is up: it is sent, and
    the warning says its unsubscribe link will not work."""
    subscribe(fresh)
    result = invoke(fresh, "send", SLUG, "--to", "me@example.net")
    assert result.exit_code == 0, result.output
    assert {severity for *_, severity in located(result.output).values()} == {"warning"}
    assert "unsubscribe link will not work" in result.output
    assert len(smtp_server.messages_to("me@example.net")) == 1
    assert sends_recorded(fresh) == 0


def test_run_refuses_before_building_or_recording(
    fresh: Path, smtp_server: RecordingSMTPServer
) -> None:
    subscribe(fresh, status="pending")
    essay = fresh / "essays" / "01-welcome.md"
    essay.write_text(
        essay.read_text(encoding="utf-8").replace("draft: true", "draft: false"), encoding="utf-8"
    )
    before = built_files(fresh)
    day = re.search(r"(?m)^date: (\S+)$", essay.read_text(encoding="utf-8"))[1]
    result = invoke(fresh, "run", "--today", f"{day}T23:00")
    assert result.exit_code == 1
    assert "[email] service_url is not set" in result.output
    assert built_files(fresh) == before
    with closing(sqlite3.connect(fresh / "state" / "publish.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0] == 0
    assert smtp_server.messages == []


def test_check_is_an_error_only_when_there_are_subscribers(fresh: Path) -> None:
    quiet = invoke(fresh, "check")
    assert quiet.exit_code == 0, quiet.output
    assert located(quiet.output)["[email] service_url"][2] == "warning"
    subscribe(fresh, status="pending")
    loud = invoke(fresh, "check")
    assert loud.exit_code == 1
    assert located(loud.output)["[email] service_url"][2] == "error"
    fix_settings(fresh)
    fixed = invoke(fresh, "check")
    assert fixed.exit_code == 0, fixed.output
    assert located(fixed.output) == {}


def test_the_sample_essay_is_a_draft(fresh: Path) -> None:
    """The first cron run on a fresh site with an imported list mails nothing."""
    subscribe(fresh)
    fix_settings(fresh)
    text = (fresh / "essays" / "01-welcome.md").read_text(encoding="utf-8")
    day = re.search(r"(?m)^date: (\S+)$", text)[1]
    result = invoke(fresh, "run", "--today", f"{day}T23:00")
    assert result.exit_code == 0, result.output
    assert "releasing" not in result.output
    with closing(sqlite3.connect(fresh / "state" / "publish.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0] == 0


def test_check_warns_about_the_placeholder_paragraph(fresh: Path) -> None:
    assert invoke(fresh, "new", "Second Letter").exit_code == 0
    result = invoke(fresh, "check")
    assert result.exit_code == 0, result.output
    lines = (fresh / "essays" / "02-second-letter.md").read_text(encoding="utf-8").splitlines()
    number = lines.index(NEW_ESSAY_PLACEHOLDER) + 1
    assert (
        f"essays/02-second-letter.md:{number}:1: warning: this is still the placeholder paragraph"
    ) in result.output

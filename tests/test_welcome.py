"""The welcome email: a newly confirmed reader gets the latest essay once, through the ledger,
over the real service (HTTP) and a real SMTP server (issue 12)."""

from __future__ import annotations

import urllib.parse
from contextlib import closing
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html

from publish.cli.main import cli
from publish.service.app import create_app, mailer_of
from tests.servicesite import (
    add_active,
    build,
    confirm_link,
    http,
    open_state,
    running_service,
    send,
    service_site,
)
from tests.tools import RecordingSMTPServer, free_port

READER = "reader@example.com"
WELCOME_SUBJECT = "Welcome to Test Letters: The Second Letter"


@pytest.fixture
def sent_site(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, int]:
    """The service site, built, with both essays already sent to one regular reader."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    add_active(root, "regular@example.com")
    build(root)
    send(root, "first-letter")
    send(root, "second-letter")
    return root, port


def sign_up_and_confirm(base: str, app: object, smtp: RecordingSMTPServer) -> str:
    """Sign up over HTTP, press the mailed link's button; return the link."""
    form = urllib.parse.urlencode({"email": READER, "name": "Ada", "website": ""}).encode()
    assert http(base + "subscribe", form)[0] == 200
    assert mailer_of(app).drain(30)
    link = confirm_link(confirmations(smtp)[-1])
    assert http(link, b"confirm=yes")[0] == 200
    assert mailer_of(app).drain(30)
    return link


def confirmations(smtp: RecordingSMTPServer) -> list[EmailMessage]:
    """The confirmation emails the reader got."""
    return [m for _, _, m in smtp.messages_to(READER) if m["Subject"].startswith("Confirm")]


def welcomes(smtp: RecordingSMTPServer) -> list[EmailMessage]:
    """The copies of the latest essay the reader got."""
    return [m for _, _, m in smtp.messages_to(READER) if "Second Letter" in m["Subject"]]


def test_a_confirmed_reader_is_welcomed_with_the_latest_essay_once(
    sent_site: tuple[Path, int], smtp_server: RecordingSMTPServer
) -> None:
    root, port = sent_site
    app = create_app(root)
    with running_service(app, port) as base:
        link = sign_up_and_confirm(base, app, smtp_server)
        [welcome] = welcomes(smtp_server)
        assert welcome["Subject"] == WELCOME_SUBJECT
        assert welcome["To"].addresses[0].addr_spec == READER
        text = welcome.get_body(("plain",)).get_content()
        assert "Welcome to Test Letters, and thank you for confirming." in text
        assert text.index("Welcome to Test Letters") < text.index("Hello Ada,")
        assert "A second paragraph about writing." in text
        page = html.fromstring(welcome.get_body(("html",)).get_content())
        [content] = page.find_class("content")
        words = " ".join(content.text_content().split())
        assert words.startswith("Welcome to Test Letters, and thank you for confirming.")
        assert "/unsubscribe/preview" not in str(welcome["List-Unsubscribe"])

        assert http(link, b"confirm=yes")[0] == 410  # the link, clicked again
        form = urllib.parse.urlencode({"email": READER, "website": ""}).encode()
        assert http(base + "subscribe", form)[0] == 200  # and a second confirmation
        assert mailer_of(app).drain(30)
        assert http(confirm_link(confirmations(smtp_server)[-1]), b"confirm=yes")[0] == 200
        assert mailer_of(app).drain(30)
        assert len(welcomes(smtp_server)) == 1

    send(root, "second-letter")  # a later send of the same essay leaves the reader out
    assert len(welcomes(smtp_server)) == 1
    assert [m for _, _, m in smtp_server.messages_to(READER) if "First" in m["Subject"]] == []
    with closing(open_state(root)) as conn:
        rows = conn.execute(
            "SELECT d.status FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE s.email = ? AND d.slug = 'second-letter'",
            (READER,),
        ).fetchall()
    assert [tuple(row) for row in rows] == [("sent",)]


def test_welcome_none_sends_no_welcome(
    sent_site: tuple[Path, int], smtp_server: RecordingSMTPServer
) -> None:
    root, port = sent_site
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("[email]\n", '[email]\nwelcome = "none"\n'), "utf-8")
    app = create_app(root)
    with running_service(app, port) as base:
        sign_up_and_confirm(base, app, smtp_server)
    assert welcomes(smtp_server) == []
    assert len(confirmations(smtp_server)) == 1


def test_nothing_sent_yet_means_no_welcome(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    build(root)
    app = create_app(root)
    with running_service(app, port) as base:
        sign_up_and_confirm(base, app, smtp_server)
    assert [m["Subject"] for _, _, m in smtp_server.messages_to(READER)] == [
        "Confirm your subscription to Test Letters"
    ]


def test_an_unknown_welcome_setting_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    root = service_site(tmp_path / "site", free_port())
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("[email]\n", '[email]\nwelcome = "lastest"\n'), "utf-8")
    result = CliRunner().invoke(cli, ["--root", str(root), "check"])
    assert result.exit_code != 0
    assert "publish.toml:8:" in result.output
    assert "'email.welcome'" in result.output and "did you mean 'latest'?" in result.output
    assert "Traceback" not in result.output


def test_a_sites_own_template_writes_the_welcome_line(
    sent_site: tuple[Path, int], smtp_server: RecordingSMTPServer
) -> None:
    root, port = sent_site
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "email_welcome.txt").write_text(
        "Hello from {{ site.title }} & friends.\n", encoding="utf-8"
    )
    app = create_app(root)
    with running_service(app, port) as base:
        sign_up_and_confirm(base, app, smtp_server)
    [welcome] = welcomes(smtp_server)
    assert "Hello from Test Letters & friends." in welcome.get_body(("plain",)).get_content()
    page = html.fromstring(welcome.get_body(("html",)).get_content())
    words = " ".join(page.find_class("content")[0].text_content().split())
    assert words.startswith("Hello from Test Letters & friends. Hello Ada,")


def test_a_welcome_the_relay_refuses_is_recorded_failed_never_sent(
    sent_site: tuple[Path, int], smtp_server: RecordingSMTPServer
) -> None:
    root, port = sent_site
    app = create_app(root)
    with running_service(app, port) as base:
        form = urllib.parse.urlencode({"email": READER, "name": "Ada", "website": ""}).encode()
        assert http(base + "subscribe", form)[0] == 200
        assert mailer_of(app).drain(30)
        link = confirm_link(confirmations(smtp_server)[-1])
        smtp_server.reject_rcpt = {READER}  # the relay turns the welcome copy away
        assert http(link, b"confirm=yes")[0] == 200
        assert mailer_of(app).drain(30)
    assert welcomes(smtp_server) == []
    with closing(open_state(root)) as conn:
        [row] = conn.execute(
            "SELECT d.status, d.last_error FROM deliveries d"
            " JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE s.email = ? AND d.slug = 'second-letter'",
            (READER,),
        ).fetchall()
    assert row["status"] == "failed" and "550" in row["last_error"]

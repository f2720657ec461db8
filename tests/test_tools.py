"""Tests of the test helpers themselves, against the real tools."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.tools import RecordingSMTPServer, newsboat_items, validate_html

SENDER = "editor@example.org"
VALID_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Valid</title></head>
<body><p>Fine.</p></body></html>
"""
BROKEN_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><p>Stray end tag.</span></p></body></html>
"""
RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>Letters</title><link>https://example.org/</link><description>Essays</description>
<item><title>First essay</title><link>https://example.org/first/</link>
<guid>https://example.org/first/</guid><pubDate>Mon, 01 Jan 2024 09:00:00 +0000</pubDate></item>
</channel></rss>
"""


def make_message(*recipients: str) -> EmailMessage:
    """Build a small message with a non-ASCII subject."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ", ".join(recipients)
    message["Subject"] = "Lettre de janvier — naïve café"
    message.set_content("Hello, readers.\n")
    return message


def send(server: RecordingSMTPServer, *recipients: str) -> dict[str, tuple[int, bytes]]:
    """Send one message to the server over SMTP; return smtplib's refused dict."""
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        return client.send_message(make_message(*recipients))


def test_smtp_server_records_and_parses(smtp_server: RecordingSMTPServer) -> None:
    """A message sent with smtplib arrives parsed, with its envelope."""
    assert send(smtp_server, "reader@example.com") == {}
    [(mail_from, rcpt_tos, message)] = smtp_server.messages
    assert (mail_from, rcpt_tos) == (SENDER, ["reader@example.com"])
    assert message["Subject"] == "Lettre de janvier — naïve café"
    assert message.get_content() == "Hello, readers.\n"
    assert smtp_server.messages_to("READER@example.com") == smtp_server.messages
    assert smtp_server.messages_to("other@example.com") == []


def test_smtp_tempfail_then_accept(smtp_server: RecordingSMTPServer) -> None:
    """451 on the first RCPT refuses the only recipient; the retry is accepted."""
    smtp_server.fail_first_rcpt["slow@example.com"] = 1
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(smtp_server, "slow@example.com")
    assert refused.value.recipients == {"slow@example.com": (451, b"4.3.0 try again")}
    assert smtp_server.messages == []

    assert send(smtp_server, "slow@example.com") == {}
    assert len(smtp_server.messages_to("slow@example.com")) == 1
    assert smtp_server.rcpt_attempts["slow@example.com"] == 2


def test_smtp_reject_one_of_two(smtp_server: RecordingSMTPServer) -> None:
    """550 for one recipient comes back in the refused dict; the other gets the mail."""
    smtp_server.reject_rcpt.add("gone@example.com")
    refused = send(smtp_server, "gone@example.com", "here@example.com")
    assert refused == {"gone@example.com": (550, b"5.1.1 no such user")}
    [(_, rcpt_tos, _)] = smtp_server.messages
    assert rcpt_tos == ["here@example.com"]
    assert smtp_server.messages_to("gone@example.com") == []


def test_smtp_reject_only_recipient(smtp_server: RecordingSMTPServer) -> None:
    """550 for the only recipient raises SMTPRecipientsRefused; nothing is delivered."""
    smtp_server.reject_rcpt.add("gone@example.com")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(smtp_server, "gone@example.com")
    assert refused.value.recipients == {"gone@example.com": (550, b"5.1.1 no such user")}
    assert smtp_server.messages == []


def test_validate_html_reports_only_broken_page(tmp_path: Path) -> None:
    """One vnu run over a folder flags the broken page and passes the valid one."""
    (tmp_path / "valid.html").write_text(VALID_HTML, encoding="utf-8")
    (tmp_path / "broken.html").write_text(BROKEN_HTML, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not html <span>", encoding="utf-8")
    errors = validate_html(tmp_path)
    assert errors, "vnu found no error in broken.html"
    assert {Path(error["url"]).name for error in errors} == {"broken.html"}
    assert any("span" in error["message"] for error in errors)
    assert all("lastLine" in error for error in errors)


def test_validate_html_clean_folder(tmp_path: Path) -> None:
    """A folder of valid pages gives no errors."""
    (tmp_path / "index.html").write_text(VALID_HTML, encoding="utf-8")
    assert validate_html(tmp_path) == []


def test_chromium_reads_title(chromium_available: str, page: Page, tmp_path: Path) -> None:
    """Headless Chromium opens a file:// page and reads its title."""
    html = tmp_path / "index.html"
    html.write_text(VALID_HTML, encoding="utf-8")
    page.goto(html.as_uri())
    assert page.title() == "Valid"
    assert page.locator("p").inner_text() == "Fine."


def test_newsboat_reads_feed(tmp_path: Path) -> None:
    """newsboat parses a file:// RSS feed into its cache."""
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    items = newsboat_items(feed.as_uri(), tmp_path)
    assert items == [("First essay", "https://example.org/first/", 1704099600)]

"""How mail clients show the newsletter: the Date of a sent copy, the Outlook wrapper, and a
footer that says in words why the reader gets it (issue 12)."""

from __future__ import annotations

import email
import email.policy
import re
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree, html

from publish.cli.main import cli
from publish.content.settings import load_settings
from publish.state import db
from publish.state.subscribers import add_subscriber
from tests.mailsite import SLUG, copy_site, make_mail_site
from tests.tools import RecordingSMTPServer

SECRET = "test-secret-0123456789"
ESSAY_DATE = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # the fixture essay's date
MSO_OPEN = re.compile(r"<!--\[if mso\]>(.*?)<!\[endif\]-->", re.S)
LAYOUT_RULES = re.compile(
    r"(?<![\w-])(display\s*:\s*(flex|grid|inline-flex)|position\s*:|float\s*:)"
)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The email fixture site, built once for the module."""
    return make_mail_site(tmp_path_factory.mktemp("email-polish") / "built")


@pytest.fixture
def site(built_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the built site with one active reader."""
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    monkeypatch.delenv("PUBLISH_SMTP_URL", raising=False)
    root = copy_site(built_site, tmp_path / "site")
    with closing(db.connect(db.database_path(root, load_settings(root)))) as conn:
        add_subscriber(conn, "reader@example.net", "Ada")
    return root


def run(root: Path, *args: str) -> None:
    """Run `publish --root ROOT ARGS…` and check that it succeeded."""
    result = CliRunner().invoke(cli, ["--root", str(root), *args])
    assert result.exit_code == 0, result.output


def assert_dated_now(message: EmailMessage, before: datetime) -> None:
    """The message's Date is the moment it was made, with a time zone, not the essay's."""
    sent = message["Date"].datetime
    assert sent.tzinfo is not None
    assert before - timedelta(seconds=1) <= sent <= datetime.now(UTC) + timedelta(seconds=1)
    assert sent.date() != ESSAY_DATE.date()


def test_sent_and_test_copies_are_dated_when_sent(
    site: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    built = email.message_from_bytes(
        (site / "build" / "email" / f"{SLUG}.eml").read_bytes(), policy=email.policy.default
    )
    assert built["Date"].datetime == ESSAY_DATE  # the preview copy keeps the essay's date
    before = datetime.now(UTC).replace(microsecond=0)
    run(site, "send", SLUG, "--to", "tester@example.com")
    run(site, "send", SLUG)
    [(_, _, test_copy)] = smtp_server.messages_to("tester@example.com")
    [(_, _, reader_copy)] = smtp_server.messages_to("reader@example.net")
    assert_dated_now(test_copy, before)
    assert_dated_now(reader_copy, before)


def test_outbox_copies_are_dated_when_written(site: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    run(site, "send", SLUG, "--outbox")
    [written] = (site / "state" / "outbox" / SLUG).glob("*.eml")
    assert_dated_now(
        email.message_from_bytes(written.read_bytes(), policy=email.policy.default), before
    )


def email_html(built_site: Path) -> str:
    """The built email HTML of the fixture essay."""
    return (built_site / "build" / "email" / f"{SLUG}.html").read_text(encoding="utf-8")


def test_outlook_gets_a_600_pixel_table_around_the_letter(built_site: Path) -> None:
    source = email_html(built_site)
    opened = [m.group(1) for m in MSO_OPEN.finditer(source)]
    assert len(opened) == 2, opened  # one opening, one closing conditional comment
    wrapper = etree.fromstring(opened[0] + "</td></tr></table>", etree.HTMLParser())
    table = wrapper.find(".//table")
    assert table.get("width") == "600" and table.get("role") == "presentation"
    assert re.sub(r"\s", "", opened[1]) == "</td></tr></table>"
    assert source.index(opened[0]) < source.index('class="letter"') < source.rindex(opened[1])
    document = html.fromstring(source)
    [letter] = document.find_class("letter")
    assert letter.tag == "table" and letter.get("width") == "600"
    # The conditional comments are balanced: what they open inside the outer cell they close.
    cell = letter.getparent()
    comments = [c.text for c in cell if isinstance(c, html.HtmlComment)]
    assert [c.startswith("[if mso]") for c in comments] == [True, True]


def test_no_layout_rests_on_rules_mail_clients_strip(built_site: Path) -> None:
    document = html.fromstring(email_html(built_site))
    styles = [element.get("style") for element in document.iter() if element.get("style")]
    assert styles  # css-inline moved the rules onto the elements
    assert [s for s in styles if LAYOUT_RULES.search(s)] == []
    for style in document.iter("style"):  # only @media rules stay in a <style>
        text = re.sub(r"/\*.*?\*/", "", style.text or "", flags=re.S)
        assert not LAYOUT_RULES.search(text)
        outside = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", text)
        assert outside.strip() == "", outside
    # Outlook ignores max-width: each layout table and the lead image also carry a width.
    layout = [*document.iter("table"), *document.xpath("//td[@class='image-cell']/img")]
    assert all(e.get("width") for e in layout if "max-width" in (e.get("style") or ""))


def test_the_footer_says_why_in_words(built_site: Path) -> None:
    document = html.fromstring(email_html(built_site))
    [footer] = document.find_class("footer")
    words = " ".join(footer.text_content().split())
    assert "because you subscribed to Test Letters." in words
    assert "To stop these emails, unsubscribe with one click" in words
    [leave] = [a for a in footer.iter("a") if a.text == "unsubscribe"]
    assert leave.get("href").startswith("https://subs.example.org/unsubscribe/")
    assert "example.org/letters/subscribe" not in words  # not the signup form's address
    text = (built_site / "build" / "email" / f"{SLUG}.txt").read_text(encoding="utf-8")
    footer_text = " ".join(text.split("\n-- \n", 1)[1].split())
    assert "because you subscribed to Test Letters." in footer_text
    assert "/subscribe" not in footer_text
    assert "To stop these emails, unsubscribe with one click: https://subs.example.org/" in (
        footer_text
    )

"""`publish bounces`: DSN, non-standard bounces, ARF abuse reports and mailto unsubscribe
requests, read from a Maildir and from a real Dovecot IMAP server, with VERP return paths
signed per delivery; and `publish run` applying them before it sends."""

from __future__ import annotations

import email
import email.policy
import imaplib
import mailbox
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from publish.bounces import reports
from publish.cli.main import cli
from publish.content.settings import load_settings
from publish.mail.built import envelope_sender
from publish.state import db, standing
from publish.state.subscribers import add_subscriber
from publish.support.addresses import tagged_address
from tests.imapserver import ImapServer, dovecot
from tests.mailsite import SETTINGS, SLUG, copy_site, make_mail_site
from tests.sitebuilder import essay_text, make_site
from tests.tools import RecordingSMTPServer

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"
SECRET = "bounce-test-secret-5f2a"
BOUNCE_SETTINGS = SETTINGS.replace("[email]\n", '[email]\nbounce_address = "bounces@example.org"\n')
VERP = re.compile(r"bounces\+b(\d+)-[0-9a-f]{8}-[0-9a-f]{20}@example\.org")


def run_cli(root: Path, *args: str) -> Any:
    """`publish --root ROOT ARGS…`, in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def connect(root: Path) -> sqlite3.Connection:
    """The site's state database."""
    return db.connect(db.database_path(root, load_settings(root)))


def statuses(root: Path) -> dict[str, str]:
    """Every subscriber's status, by address."""
    with closing(connect(root)) as conn:
        return dict(conn.execute("SELECT email, status FROM subscribers").fetchall())


def subscribe(root: Path, *addresses: str) -> None:
    """Add active subscribers."""
    with closing(connect(root)) as conn:
        for address in addresses:
            add_subscriber(conn, address)


def fixture(name: str) -> bytes:
    """A fixture message's bytes."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A known signing secret, and no bounce URL from the real environment."""
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    monkeypatch.delenv("PUBLISH_BOUNCE_URL", raising=False)
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")


@pytest.fixture(scope="module")
def imap() -> Iterator[ImapServer]:
    """One Dovecot for the module; each test empties the mailbox first."""
    with dovecot() as server:
        yield server


@pytest.fixture
def mailbox_server(imap: ImapServer) -> ImapServer:
    """The Dovecot with an empty INBOX."""
    with imaplib.IMAP4(imap.host, imap.port, timeout=10) as client:
        client.login(imap.user, imap.password)
        _, count = client.select("INBOX")
        if int(count[0]):
            client.store("1:*", "+FLAGS", r"(\Deleted)")
            client.expunge()
        client.logout()
    return imap


# --- Every kind of report, from a Maildir ------------------------------------------------

READERS = [
    "gone@example.net",
    "full@example.com",
    "left@example.edu",
    "moved@example.co.uk",
    "closed@example.org",
    "angry@example.com",
    "leaving@example.com",
    "friend@example.com",
    "away@example.com",
]


def maildir_with(path: Path, *names: str) -> mailbox.Maildir:
    """A Maildir holding these fixtures."""
    box = mailbox.Maildir(path, create=True)
    for name in names:
        box.add(fixture(name))
    return box


def test_every_kind_of_report_from_a_maildir_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    subscribe(root, *READERS)
    names = sorted(p.name for p in FIXTURES.glob("*.eml"))
    box = maildir_with(tmp_path / "Maildir", *names)
    result = run_cli(root, "bounces", "--maildir", str(tmp_path / "Maildir"))
    assert result.exit_code == 0, result.output
    assert (
        "4 hard bounce(s), 1 soft bounce(s), 1 complaint(s), 1 unsubscribe request(s), "
        "1 not understood; 6 reader(s) taken off the list"
    ) in result.stdout
    assert "2 other message(s) left alone" in result.stdout
    assert statuses(root) == {
        "gone@example.net": "bounced",  # RFC 3464, 5.1.1
        "full@example.com": "active",  # a delay: one soft bounce
        "left@example.edu": "bounced",  # qmail
        "moved@example.co.uk": "bounced",  # Exim
        "closed@example.org": "bounced",  # Postfix without a DSN
        "angry@example.com": "complained",  # ARF abuse
        "leaving@example.com": "unsubscribed",  # mailto request
        "friend@example.com": "active",  # a reply that mentions unsubscribing
        "away@example.com": "active",  # an automatic reply
    }
    with closing(connect(root)) as conn:
        row = conn.execute(
            "SELECT kind, detail FROM reports WHERE address = 'gone@example.net'"
        ).fetchone()
        assert row["kind"] == "hard_bounce" and row["detail"].startswith("5.1.1 smtp; 550")
        soft = conn.execute("SELECT soft_bounces FROM subscribers WHERE email = 'full@example.com'")
        assert soft.fetchone()[0] == 1
    processed = box.get_folder("Processed")
    assert len(processed) == 7 and len(box) == 3
    assert all("S" in processed.get_message(key).get_flags() for key in processed.iterkeys())
    left = {email.message_from_bytes(box.get_bytes(k))["Message-ID"] for k in box.iterkeys()}
    assert left == {
        "<arf-auth-1@feedback.example.com>",
        "<reply-1@example.com>",
        "<vacation-1@example.com>",
    }
    again = run_cli(root, "bounces", "--maildir", str(tmp_path / "Maildir"))
    assert again.exit_code == 0, again.output
    assert "0 hard bounce(s), 0 soft bounce(s), 0 complaint(s), 0 unsubscribe request(s)" in (
        again.stdout
    )
    assert "0 reader(s) taken off the list" in again.stdout
    assert len(processed) == 7 and len(box) == 3


def test_a_report_met_twice_is_applied_once(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    subscribe(root, "full@example.com")
    maildir_with(tmp_path / "Maildir", "dsn-delayed.eml", "dsn-delayed.eml")
    result = run_cli(root, "bounces", "--maildir", str(tmp_path / "Maildir"))
    assert "1 soft bounce(s)" in result.stdout and "1 report(s) already applied" in result.stdout


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such Maildir"),
        (lambda p: p.mkdir(), "not a Maildir (it needs the folders cur/, new/ and tmp/)"),
    ],
)
def test_a_missing_maildir_is_a_clear_error(tmp_path: Path, make: Any, message: str) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    make(tmp_path / "box")
    result = run_cli(root, "bounces", "--maildir", str(tmp_path / "box"))
    assert (
        result.exit_code == 1
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    assert f"{tmp_path / 'box'}:1:1: error: {message}" in result.stderr


def test_without_a_mailbox_the_command_says_how_to_name_one(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    result = run_cli(root, "bounces")
    assert result.exit_code == 1
    assert "$PUBLISH_BOUNCE_URL:1:1: error: no bounce mailbox" in result.stderr
    assert "--maildir" in result.stderr


def test_a_forged_return_path_is_ignored(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=BOUNCE_SETTINGS, site="mail")
    subscribe(root, "gone@example.net")
    forged = fixture("dsn-hard.eml").replace(
        b"bounces@example.org", b"bounces+b1-0123abcd-00000000000000000000@example.org"
    )
    box = maildir_with(tmp_path / "Maildir")
    box.add(forged)
    result = run_cli(root, "bounces", "--maildir", str(tmp_path / "Maildir"))
    assert result.exit_code == 0, result.output
    assert "0 hard bounce(s)" in result.stdout and "1 not understood" in result.stdout
    assert statuses(root) == {"gone@example.net": "active"}
    assert len(box) == 1


# --- IMAP -----------------------------------------------------------------------------


def imap_flags(server: ImapServer) -> dict[str, str]:
    """Each INBOX message's flags, by Message-ID (read without marking anything seen)."""
    found = {}
    with imaplib.IMAP4(server.host, server.port, timeout=10) as client:
        client.login(server.user, server.password)
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        for number in data[0].split():
            _, fetched = client.fetch(number, "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            flags = fetched[0][0].decode()
            message_id = email.message_from_bytes(fetched[0][1])["Message-ID"]
            found[message_id] = flags
        client.logout()
    return found


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:p@127.0.0.1/INBOX", "the URL must start imaps:// or imap://, not 'http'"),
        ("imap://127.0.0.1/INBOX", "the URL needs a user, a password and a host"),
        ("imap://u:p@127.0.0.1:99999/INBOX", "not a usable IMAP URL"),
    ],
)
def test_a_bad_bounce_url_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", url)
    result = run_cli(root, "bounces")
    assert result.exit_code == 1 and f"$PUBLISH_BOUNCE_URL:1:1: error: {message}" in result.stderr


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Se/cret-2207", "not a usable IMAP URL"),
        ("Se#cret-2207", "not a usable IMAP URL"),
        ("Se?cret-2207", "not a usable IMAP URL"),
        ("Se cret-2207", "the URL contains a space or a control character"),
    ],
)
def test_a_password_with_unencoded_characters_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str, message: str
) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", f"imaps://bounces:{password}@mail.example.org/INBOX")
    result = run_cli(root, "bounces")
    assert result.exit_code == 1 and f"$PUBLISH_BOUNCE_URL:1:1: error: {message}" in result.stderr
    for piece in ("Se", "cret-2207"):
        assert piece not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_query_or_a_bad_host_in_the_bounce_url_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    for url in (
        "imaps://bounces:Secret-2207@mail.example.org/INBOX?x=1",
        "imaps://bounces:Secret-2207@mail_example..org/INBOX",
    ):
        monkeypatch.setenv("PUBLISH_BOUNCE_URL", url)
        result = run_cli(root, "bounces")
        assert result.exit_code == 1
        assert "the URL has a host name no host can have, or a '?' or '#'" in result.stderr
        assert "Secret-2207" not in result.stderr


def test_a_refused_login_and_a_closed_port_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox_server: ImapServer
) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url(password="wrong-Secret-991"))
    refused = run_cli(root, "bounces")
    assert refused.exit_code == 1
    assert "the IMAP server refused the login of 'bounces'" in refused.stderr
    assert "wrong-Secret-991" not in refused.output
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url(folder="Nowhere"))
    missing = run_cli(root, "bounces")
    assert missing.exit_code == 1 and "has no folder 'Nowhere'" in missing.stderr
    assert mailbox_server.password not in missing.output
    closed = RecordingSMTPServer().port  # a free port nothing listens on
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", f"imap://bounces:pw@127.0.0.1:{closed}/INBOX")
    unreachable = run_cli(root, "bounces")
    assert unreachable.exit_code == 1
    assert f"cannot reach the IMAP server 127.0.0.1:{closed}" in unreachable.stderr


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The email fixture site with a bounce address, built once."""
    return make_mail_site(tmp_path_factory.mktemp("bounces") / "built", settings=BOUNCE_SETTINGS)


def bounce_for(recorded: tuple[str, list[str], EmailMessage], reported: str) -> bytes:
    """A DSN as the reader's server would send it back to the message's return path, naming
    `reported` (a forwarding address, say) instead of the subscriber."""
    return_path = recorded[0]
    text = fixture("dsn-hard.eml").replace(b"bounces@example.org", return_path.encode())
    return text.replace(b"gone@example.net", reported.encode()).replace(
        b"4Q1@mx", f"{return_path[8:20]}@mx".encode()
    )


def complaint_for(recorded: tuple[str, list[str], EmailMessage]) -> bytes:
    """An ARF report quoting our message whole, with the recipient redacted (as big
    mailbox providers do)."""
    report = EmailMessage(policy=email.policy.SMTP)
    report["From"] = "fbl@feedback.example.com"
    report["To"] = "bounces@example.org"
    report["Subject"] = "Abuse report"
    report["Message-ID"] = "<arf-e2e@feedback.example.com>"
    report.set_content("An abuse report.\n")
    original = recorded[2]
    del original["To"]
    original["To"] = "redacted@feedback.example.com"
    report.make_mixed()
    feedback = EmailMessage()
    feedback["Content-Type"] = "message/feedback-report"
    feedback.set_payload("Feedback-Type: abuse\nUser-Agent: FBL/1\nVersion: 1\n")
    report.attach(feedback)
    report.attach(_as_attachment(original))
    report.replace_header("Content-Type", "multipart/report; report-type=feedback-report")
    report.set_boundary("arf-e2e-boundary")
    return report.as_bytes()


def _as_attachment(message: EmailMessage) -> EmailMessage:
    """A message/rfc822 part holding `message`."""
    part = EmailMessage()
    part.set_content(message)
    return part


def unsubscribe_request(recorded: tuple[str, list[str], EmailMessage]) -> bytes:
    """The mail a mail client's unsubscribe button sends to the List-Unsubscribe mailto,
    From an address that is not the subscriber's (a forwarded copy)."""
    header = str(recorded[2]["List-Unsubscribe"])
    target = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", header)
    assert target is not None
    request = EmailMessage()
    request["From"] = "someone-else@example.com"
    request["To"] = target[1]
    request["Subject"] = "unsubscribe"
    request["Message-ID"] = "<unsub-e2e@example.com>"
    request.set_content("unsubscribe\n")
    return request.as_bytes()


def test_bounced_complained_and_unsubscribed_readers_are_never_mailed_again(
    tmp_path: Path,
    built_site: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox_server: ImapServer,
    smtp_server: RecordingSMTPServer,
) -> None:
    root = copy_site(built_site, tmp_path / "site")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    readers = ["bounced@example.net", "angry@example.com", "leaving@example.com"]
    readers += ["forged@example.org", "stays@example.org"]
    subscribe(root, *readers)
    sent = run_cli(root, "send", SLUG)
    assert sent.exit_code == 0, sent.output
    by_reader = {m[1][0]: m for m in smtp_server.messages}
    return_paths = {reader: by_reader[reader][0] for reader in readers}
    with closing(connect(root)) as conn:
        ids = dict(conn.execute("SELECT email, id FROM subscribers").fetchall())
    for reader, path in return_paths.items():
        found = VERP.fullmatch(path)
        assert found and int(found[1]) == ids[reader] and len(path.partition("@")[0]) <= 64
    assert len(set(return_paths.values())) == len(readers)
    forged = VERP.sub(
        lambda m: m[0][:-32] + "0" * 20 + "@example.org", return_paths["forged@example.org"]
    )
    mailbox_server.deliver(bounce_for(by_reader["bounced@example.net"], "old@forward.example"))
    mailbox_server.deliver(complaint_for(by_reader["angry@example.com"]))
    mailbox_server.deliver(unsubscribe_request(by_reader["leaving@example.com"]))
    mailbox_server.deliver(bounce_for((forged, [], EmailMessage()), "forged@example.org"))
    mailbox_server.deliver(fixture("reply.eml"))
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url())
    result = run_cli(root, "bounces")
    assert result.exit_code == 0, result.output
    assert (
        "1 hard bounce(s), 0 soft bounce(s), 1 complaint(s), 1 unsubscribe request(s), "
        "1 not understood; 3 reader(s) taken off the list"
    ) in result.stdout
    assert mailbox_server.password not in result.output
    assert statuses(root) == {
        "bounced@example.net": "bounced",
        "angry@example.com": "complained",
        "leaving@example.com": "unsubscribed",
        "forged@example.org": "active",
        "stays@example.org": "active",
    }
    with closing(connect(root)) as conn:
        slugs = dict(conn.execute("SELECT kind, slug FROM reports").fetchall())
        addresses = dict(conn.execute("SELECT kind, address FROM reports").fetchall())
    assert slugs == {"hard_bounce": SLUG, "complaint": SLUG, "unsubscribe": ""}
    assert addresses == {
        "hard_bounce": "old@forward.example",  # as the DSN names it
        "complaint": "redacted@feedback.example.com",  # the provider hid the reader
        "unsubscribe": "leaving@example.com",
    }
    flags = imap_flags(mailbox_server)
    processed = [m for m, f in flags.items() if "$PublishProcessed" in f and "\\Seen" in f]
    assert len(processed) == 3
    assert "$PublishProcessed" not in flags["<reply-1@example.com>"]
    assert "\\Seen" not in flags["<reply-1@example.com>"]
    again = run_cli(root, "bounces")
    assert "1 hard bounce(s)" not in again.stdout and "0 reader(s) taken off" in again.stdout
    assert imap_flags(mailbox_server) == flags
    smtp_server.messages.clear()
    second = run_cli(root, "send", "a-second-letter")
    assert second.exit_code == 0, second.output
    assert sorted(m[1][0] for m in smtp_server.messages) == [
        "forged@example.org",
        "stays@example.org",
    ]


def test_publish_run_applies_the_bounces_before_it_sends(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox_server: ImapServer,
    smtp_server: RecordingSMTPServer,
) -> None:
    essays = {"01-alder": essay_text("On the Alder", slug="alder")}
    root = make_site(tmp_path / "site", essays, settings=SETTINGS, site="mail")
    subscribe(root, "ann@example.org", "gone@example.net")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    mailbox_server.deliver(fixture("dsn-hard.eml"))
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url())
    result = run_cli(root, "run", "--today", "2027-01-05T10:00")
    assert result.exit_code == 0, result.output
    assert "bounces: 1 hard bounce(s)" in result.stdout
    assert [m[1][0] for m in smtp_server.messages] == ["ann@example.org"]
    assert parseaddr(str(smtp_server.messages[0][2]["From"]))[1] == "letters@example.org"


# --- Return paths and mailto addresses ---------------------------------------------------


def test_a_return_path_names_the_delivery_and_fits_a_local_part(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=BOUNCE_SETTINGS, site="mail")
    settings = load_settings(root)
    long_slug = "a-very-long-essay-title-" * 8
    sender = envelope_sender(settings, secret=b"k1", subscriber_id=123456, slug=long_slug)
    found = VERP.fullmatch(sender)
    assert found and len(sender.partition("@")[0].encode()) <= 64
    tag = standing.read_tag(b"k1", sender.partition("+")[2].partition("@")[0].upper())
    assert tag == standing.Tag("return_path", 123456, standing.slug_digest(long_slug))
    assert standing.read_tag(b"another-secret", sender.partition("+")[2].partition("@")[0]) is None
    assert envelope_sender(settings) == "bounces@example.org"  # no delivery: the bare address
    plain = load_settings(make_site(tmp_path / "plain", settings=SETTINGS, site="mail"))
    assert envelope_sender(plain, secret=b"k1", subscriber_id=1, slug="s") == "letters@example.org"
    assert tagged_address("a" * 40 + "@example.org", "b1-0-0" * 5) == "a" * 40 + "@example.org"


def test_an_abuse_report_quoting_only_our_return_path_finds_the_reader(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=BOUNCE_SETTINGS, site="mail")
    settings = load_settings(root)
    subscribe(root, "redacted-reader@example.com")
    with closing(connect(root)) as conn:
        reader = conn.execute("SELECT id FROM subscribers").fetchone()[0]
    sender = envelope_sender(settings, secret=SECRET.encode(), subscriber_id=reader, slug=SLUG)
    text = fixture("arf-abuse.eml").replace(
        b"Original-Mail-From: <bounces@example.org>", f"Original-Mail-From: <{sender}>".encode()
    )
    text = text.replace(b"angry@example.com", b"redacted@feedback.example.com")
    box = maildir_with(tmp_path / "Maildir")
    box.add(text)
    result = run_cli(root, "bounces", "--maildir", str(tmp_path / "Maildir"))
    assert "1 complaint(s)" in result.stdout, result.output
    assert statuses(root) == {"redacted-reader@example.com": "complained"}


def test_publish_run_stops_before_sending_when_the_mailbox_cannot_be_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox_server: ImapServer,
    smtp_server: RecordingSMTPServer,
) -> None:
    essays = {"01-alder": essay_text("On the Alder", slug="alder")}
    root = make_site(tmp_path / "site", essays, settings=SETTINGS, site="mail")
    subscribe(root, "ann@example.org")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url(password="not-it-4417"))
    result = run_cli(root, "run", "--today", "2027-01-05T10:00")
    assert result.exit_code == 1 and "refused the login" in result.stderr
    assert "not-it-4417" not in result.output and smtp_server.messages == []
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url())
    assert run_cli(root, "run", "--today", "2027-01-05T11:00").exit_code == 0
    assert [m[1][0] for m in smtp_server.messages] == ["ann@example.org"]


def test_imaps_verifies_the_server_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox_server: ImapServer
) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    subscribe(root, "gone@example.net")
    mailbox_server.deliver(fixture("dsn-hard.eml"))
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url(tls=True))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    untrusted = run_cli(root, "bounces")
    assert untrusted.exit_code == 1
    assert f"server 127.0.0.1:{mailbox_server.tls_port} failed the TLS check" in untrusted.stderr
    assert "self-signed certificate" in untrusted.stderr
    assert statuses(root) == {"gone@example.net": "active"}
    monkeypatch.setenv("SSL_CERT_FILE", str(mailbox_server.certificate))
    trusted = run_cli(root, "bounces")
    assert trusted.exit_code == 0, trusted.output
    assert f"Read imaps://bounces@127.0.0.1:{mailbox_server.tls_port}/INBOX: 1 hard" in (
        trusted.stdout
    )
    assert statuses(root) == {"gone@example.net": "bounced"}


# --- Messages that cannot be read ------------------------------------------------------------


def nested_message(depth: int) -> bytes:
    """A message of `depth` multipart parts each holding the next (the parser recurses)."""
    head = b"From: x@example.net\r\nTo: bounces@example.org\r\nSubject: deep\r\n"
    parts = [head + b"Message-ID: <deep@example.net>\r\nMIME-Version: 1.0\r\n"]
    parts += [
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth)
    ]
    parts.append(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    parts += [b"--b%d--\r\n" % n for n in reversed(range(depth))]
    return b"".join(parts)


def oversized_bounce() -> bytes:
    """A genuine-looking bounce for gone@example.net, padded past the size limit."""
    padding = b"X-Padding: " + b"p" * 998 + b"\r\n"
    return padding * (11 * 1024) + fixture("dsn-hard.eml").replace(b"gone@", b"big@")


def hostile_warnings(stderr: str) -> list[str]:
    """The warning lines naming a message set aside."""
    return [line for line in stderr.splitlines() if "cannot be read was set aside" in line]


def test_unreadable_messages_in_a_maildir_are_set_aside_and_the_rest_applied(
    tmp_path: Path,
) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    subscribe(root, "gone@example.net", "full@example.com", "big@example.net")
    maildir = tmp_path / "Maildir"
    box = maildir_with(maildir, "dsn-hard.eml", "dsn-delayed.eml", "reply.eml")
    # named so that the order they were added in is not their names' order: the warnings
    # come in the order of the names (mailbox.Maildir's own keys do not sort by time)
    deep, big = "1700000002.deep", "1700000001.big"
    (maildir / "new" / deep).write_bytes(nested_message(3000))
    (maildir / "new" / big).write_bytes(oversized_bounce())
    files = {key: maildir / "new" / key for key in (deep, big)}
    result = run_cli(root, "bounces", "--maildir", str(maildir))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.stderr and result.exception is None
    assert "1 hard bounce(s), 1 soft bounce(s)" in result.stdout
    assert "2 unreadable message(s) set aside" in result.stdout
    assert statuses(root) == {
        "gone@example.net": "bounced",
        "full@example.com": "active",
        "big@example.net": "active",  # too large to read: not believed, not applied
    }
    warned = hostile_warnings(result.stderr)
    assert len(warned) == 2
    aside = maildir / ".Unreadable"
    assert f"{files[big]}:1:1: warning:" in warned[0]
    assert "it is 10.9 MB, more than the 10.0 MB a report may be" in warned[0]
    assert f"{files[deep]}:1:1: warning: a message that cannot be read was set aside" in warned[1]
    assert f"(moved to {aside}): it has 3000 MIME parts holding others" in warned[1]
    unreadable = box.get_folder("Unreadable")
    assert sorted(unreadable.keys()) == sorted([deep, big])
    assert (aside / "cur" / f"{deep}:2,").read_bytes() == nested_message(3000)
    assert len(box.get_folder("Processed")) == 2 and list(box.keys()) != []
    again = run_cli(root, "bounces", "--maildir", str(maildir))
    assert again.exit_code == 0 and hostile_warnings(again.stderr) == []
    assert "set aside" not in again.stdout and len(unreadable) == 2


def imap_message_flags(server: ImapServer) -> list[str]:
    """Each INBOX message's flags, in order."""
    with imaplib.IMAP4(server.host, server.port, timeout=10) as client:
        client.login(server.user, server.password)
        client.select("INBOX", readonly=True)
        _, data = client.fetch("1:*", "(FLAGS)")
        client.logout()
    return [item.decode() for item in data if isinstance(item, bytes)]


def test_unreadable_messages_over_imap_are_marked_and_the_rest_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox_server: ImapServer
) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS, site="mail")
    subscribe(root, "gone@example.net", "big@example.net")
    mailbox_server.deliver(nested_message(3000))
    mailbox_server.deliver(fixture("dsn-hard.eml"))
    mailbox_server.deliver(oversized_bounce())
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url())
    result = run_cli(root, "bounces")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.stderr and result.exception is None
    assert statuses(root) == {"gone@example.net": "bounced", "big@example.net": "active"}
    warned = hostile_warnings(result.stderr)
    shown = f"imap://bounces@127.0.0.1:{mailbox_server.port}/INBOX"
    assert len(warned) == 2 and all(line.startswith(f"{shown} UID ") for line in warned)
    assert "(marked $PublishUnreadable): it has 3000 MIME parts" in warned[0]
    assert "more than the 10.0 MB a report may be" in warned[1]
    flags = imap_message_flags(mailbox_server)
    assert "$PublishUnreadable" in flags[0] and "\\Seen" not in flags[0]
    assert "$PublishProcessed" in flags[1] and "\\Seen" in flags[1]
    assert "$PublishUnreadable" in flags[2] and "\\Seen" not in flags[2]
    assert mailbox_server.password not in result.output
    again = run_cli(root, "bounces")
    assert again.exit_code == 0 and hostile_warnings(again.stderr) == []
    assert imap_message_flags(mailbox_server) == flags


def test_publish_run_mails_although_the_mailbox_holds_an_unreadable_message(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox_server: ImapServer,
    smtp_server: RecordingSMTPServer,
) -> None:
    essays = {"01-alder": essay_text("On the Alder", slug="alder")}
    root = make_site(tmp_path / "site", essays, settings=SETTINGS, site="mail")
    subscribe(root, "ann@example.org", "gone@example.net")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    mailbox_server.deliver(nested_message(3000))
    mailbox_server.deliver(fixture("dsn-hard.eml"))
    monkeypatch.setenv("PUBLISH_BOUNCE_URL", mailbox_server.url())
    result = run_cli(root, "run", "--today", "2027-01-05T10:00")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.stderr and len(hostile_warnings(result.stderr)) == 1
    assert "bounces: 1 hard bounce(s)" in result.stdout
    assert [m[1][0] for m in smtp_server.messages] == ["ann@example.org"]


def spliced(name: str, at: int, inserted: bytes) -> bytes:
    """A fixture message with some bytes put in at one place."""
    raw = fixture(name)
    return raw[:at] + inserted + raw[at:]


@given(
    st.one_of(
        st.binary(max_size=2000),
        st.integers(1, 3000).map(nested_message),
        st.builds(
            spliced,
            st.sampled_from(sorted(p.name for p in FIXTURES.glob("*.eml"))),
            st.integers(0, 3000),
            st.binary(max_size=60),
        ),
    )
)
def test_reading_any_bytes_gives_a_verdict_and_never_raises(raw: bytes) -> None:
    context = reports.Context(
        secret=b"s",
        bounce_address="bounces@example.org",
        mailto_address="letters@example.org",
        source="maildir",
        slug_for_digest=lambda digest: "",
        reader_for_address=lambda address: 1,
    )
    reading = reports.read_report(raw, context)
    assert reading.verdict in (
        reports.REPORT,
        reports.NOT_A_REPORT,
        reports.NOT_UNDERSTOOD,
        reports.UNREADABLE,
    )
    assert all(outcome.subscriber_id is not None for outcome in reading.outcomes)


# --- Reports that prove nothing ------------------------------------------------------------


def dsn_naming(addresses: list[str], quoted_message_id: str) -> bytes:
    """A DSN to the bare bounce address naming every address as failed, quoting headers
    with this Message-ID."""
    blocks = "".join(
        f"\nFinal-Recipient: rfc822; {a}\nAction: failed\nStatus: 5.1.1\n" for a in addresses
    )
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: bounces@example.org\n"
        "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <forged-1@mx.example.net>\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="f1"\n\n--f1\nContent-Type: text/plain\n\nNot delivered.\n\n'
        f"--f1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n"
        f"{blocks}\n--f1\nContent-Type: text/rfc822-headers\n\nFrom: letters@example.org\n"
        f"Subject: On margins\nMessage-ID: {quoted_message_id}\n\n--f1--\n"
    ).encode()


def test_a_report_that_proves_nothing_changes_no_reader(
    tmp_path: Path,
    built_site: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: RecordingSMTPServer,
) -> None:
    root = copy_site(built_site, tmp_path / "site")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    readers = [f"reader{n:02d}@example.net" for n in range(20)]
    subscribe(root, *readers)
    assert run_cli(root, "send", SLUG).exit_code == 0
    sent_ids = {m[1][0]: str(m[2]["Message-ID"]) for m in smtp_server.messages}
    box = maildir_with(tmp_path / "Maildir")
    box.add(dsn_naming(readers, f"<{SLUG}.0123456789abcdef@example.org>"))
    result = run_cli(root, "bounces", "--maildir", str(tmp_path / "Maildir"))
    assert result.exit_code == 0, result.output
    assert "0 hard bounce(s)" in result.stdout and "0 reader(s) taken off" in result.stdout
    assert "20 report(s) unverified" in result.stdout
    assert set(statuses(root).values()) == {"active"}
    with closing(connect(root)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 0
    # Our Message-ID for reader 3 proves the report about reader 3, and only about them.
    box.add(dsn_naming([readers[3], readers[4]], sent_ids[readers[3]]))
    proven = run_cli(root, "bounces", "--maildir", str(tmp_path / "Maildir"))
    assert "1 hard bounce(s)" in proven.stdout and "1 report(s) unverified" in proven.stdout
    changed = {a: s for a, s in statuses(root).items() if s != "active"}
    assert changed == {readers[3]: "bounced"}

"""Sending through a real SMTP server (aiosmtpd on 127.0.0.1): ledger, faults, crash, secrets."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import given, settings
from hypothesis import strategies as st

from publish.content.settings import load_settings
from publish.errors import PublishError
from publish.mail.destination import parse_smtp_url
from publish.mail.progress import ProgressEvent
from publish.mail.send import send_essay
from publish.mail.transport import SMTPTransport
from publish.outputs.urls import unsubscribe_url
from publish.state import db
from publish.state.subscribers import add_subscriber, unsubscribe_token
from publish.support.testhooks import CRASH, HOOK_ENV, hook_value
from tests.mailsite import (
    ESSAYS,
    PASSWORD,
    SECRET,
    SLUG,
    Server,
    address,
    assert_clean_exit,
    connect,
    copy_site,
    ledger,
    make_mail_site,
    run_cli,
    subscribe,
    use_server,
)
from tests.sitebuilder import essay_text
from tests.tools import RecordingSMTPServer


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The email fixture site, built once for the module."""
    return make_mail_site(tmp_path_factory.mktemp("delivery") / "built")


@pytest.fixture
def site(built_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the built site with its own state, and fast retries."""
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0.001")
    monkeypatch.delenv("PUBLISH_SMTP_URL", raising=False)
    return copy_site(built_site, tmp_path / "site")


@pytest.fixture
def server() -> Iterator[Server]:
    """A started Server."""
    with Server() as running:
        yield running


def publish_process(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `python -m publish --root ROOT ARGS…` as a separate process."""
    return subprocess.Popen(
        [sys.executable, "-m", "publish", "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


@pytest.mark.slow
def test_a_thousand_messages_arrive_personalised_over_the_default_four_connections(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 1000)
    settings = load_settings(site)
    events: list[ProgressEvent] = []
    summary = send_essay(site, settings, SLUG, on_progress=events.append)
    assert (summary.sent, summary.failed, summary.already_sent) == (1000, [], 0)
    assert server.count() == 1000 and len(server.peers) == 4
    assert events[0].kind == "start" and events[-1].done == 1000
    ids = [subscriber_ids(site)[address(n)] for n in range(1, 1001)]
    message_ids = set()
    arrived = sorted(server.messages, key=lambda recorded: recorded[1])
    for (sender, rcpts, message), number, sid in zip(arrived, range(1, 1001), ids, strict=True):
        assert sender == "letters@example.org" and rcpts == [address(number)]
        assert message["To"].addresses[0].addr_spec == address(number)
        assert message["Subject"] == "On Margins"
        assert message.get_content_type() == "multipart/alternative"
        plain, html = message.iter_parts()
        assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        link = unsubscribe_url(settings, unsubscribe_token(SECRET.encode(), sid))
        assert f"<{link}>" in str(message["List-Unsubscribe"])
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html_text, plain_text = html.get_content(), plain.get_content()
        assert f'href="{link}"' in html_text and link in plain_text
        assert "unsubscribe/preview" not in html_text + plain_text
        greeting = f"Hello Reader {number},"
        assert greeting in html_text
        assert f"\n{greeting}\n" in plain_text.replace("\r\n", "\n")
        message_ids.add(message["Message-ID"])
    assert len(message_ids) == 1000
    again = send_essay(site, settings, SLUG)
    assert (again.sent, again.already_sent) == (0, 1000)
    assert "Nothing to send" in again.message
    assert server.count() == 1000


def subscriber_ids(root: Path) -> dict[str, int]:
    """Subscriber ids by address."""
    with closing(connect(root)) as conn:
        return {email: sid for sid, email in conn.execute("SELECT id, email FROM subscribers")}


@pytest.mark.slow
def test_killed_send_resumes_without_skipping_or_repeating(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 2000)
    process = publish_process(site, "send", SLUG)
    deadline = time.monotonic() + 120
    while server.count() < 300 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    killed_at = server.count()
    assert 300 <= killed_at < 2000
    assert ledger(site)["pending"] > 0
    rerun = publish_process(site, "send", SLUG)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    received = server.recipients()
    assert sorted(received) == sorted(everyone)
    twice = [a for a, n in received.items() if n > 1]
    assert len(twice) <= 4 and all(received[a] == 2 for a in twice)  # one per connection
    assert ledger(site) == Counter(sent=2000)


def test_temporary_errors_are_retried_and_permanent_ones_recorded(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 30)
    flaky, rejected = everyone[:5], everyone[10:13]
    server.fail_first_rcpt.update({a: 2 for a in flaky})
    server.reject_rcpt.update(rejected)
    summary = send_essay(site, load_settings(site), SLUG)
    assert summary.sent == 27
    assert sorted(a for a, _ in summary.failed) == rejected
    assert all(reason.startswith("550") for _, reason in summary.failed)
    received = server.recipients()
    assert all(received[a] == 1 for a in everyone if a not in rejected)
    assert all(a not in received for a in rejected)
    assert all(server.rcpt_attempts[a] == 3 for a in flaky)
    assert all(server.rcpt_attempts[a] == 1 for a in rejected)
    assert ledger(site) == Counter(sent=27, failed=3)
    again = send_essay(site, load_settings(site), SLUG)
    assert again.sent == 0 and server.count() == 27
    assert all(server.rcpt_attempts[a] == 1 for a in rejected)


def test_a_lasting_temporary_error_leaves_the_address_for_a_rerun(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 4)
    server.fail_first_rcpt[everyone[1]] = 4  # max_retries = 3: four attempts, all refused
    summary = send_essay(site, load_settings(site), SLUG)
    assert summary.sent == 3 and summary.pending == 1 and summary.failed == []
    assert summary.deferred[0][0] == everyone[1] and summary.deferred[0][1].startswith("451")
    assert not summary.ok
    assert "again later" in summary.message
    assert ledger(site) == Counter(sent=3, pending=1)
    again = send_essay(site, load_settings(site), SLUG)
    assert again.sent == 1 and again.already_sent == 3
    assert server.recipients() == Counter({a: 1 for a in everyone})


def test_a_dropped_connection_is_reopened(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Server(drop_after=5) as server:
        use_server(monkeypatch, server)
        everyone = subscribe(site, 12)
        events: list[ProgressEvent] = []
        summary = send_essay(site, load_settings(site), SLUG, on_progress=events.append)
        assert summary.sent == 12
        assert server.recipients() == Counter({a: 1 for a in everyone})
        assert server.connections == 4 + 1  # the four connections, one of them reopened
        assert any(e.kind == "reconnect" for e in events)


def test_a_server_that_stays_down_stops_the_send_and_a_rerun_resumes(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server()  # not listening yet
    use_server(monkeypatch, server)
    everyone = subscribe(site, 5)
    with pytest.raises(PublishError) as caught:
        send_essay(site, load_settings(site), SLUG)
    message = str(caught.value)
    assert f"cannot reach the SMTP server at smtp://127.0.0.1:{server.port}" in message
    assert f"publish send {SLUG}' again to resume" in message
    assert ledger(site) == Counter(pending=5)
    with server:
        summary = send_essay(site, load_settings(site), SLUG)
        assert summary.sent == 5
        assert server.recipients() == Counter({a: 1 for a in everyone})


def test_two_sends_at_once_the_second_exits_having_sent_nothing(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 6)
    server.gate.clear()  # the first send stalls inside its first DATA, holding the lock
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(send_essay(site, load_settings(site), SLUG))
    )
    first.start()
    try:
        deadline = time.monotonic() + 30
        while not server.rcpt_attempts and time.monotonic() < deadline:
            time.sleep(0.01)
        second = publish_process(site, "send", SLUG)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "another send is running" in err.decode()
        assert server.count() == 0
    finally:
        server.gate.set()
        first.join(timeout=60)
    assert results[0].sent == 6
    assert server.recipients() == Counter({a: 1 for a in everyone})


def test_to_sends_one_test_copy_and_leaves_the_ledger_alone(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 3)
    result = run_cli(site, "send", SLUG, "--to", "Editor@Example.org")
    assert result.exit_code == 0, result.output
    assert "ledger is unchanged" in result.output
    assert list(server.recipients()) == ["editor@example.org"]
    with closing(connect(site)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sends").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0


def test_dry_run_sends_nothing(site: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 3)
    result = run_cli(site, "send", SLUG, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would be sent to 3 active subscriber(s)" in result.output
    both = run_cli(site, "send", SLUG, "--dry-run", "--to", "editor@example.org")
    assert both.exit_code == 0 and "nothing was sent" in both.output
    assert server.count() == 0
    with closing(connect(site)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sends").fetchone()[0] == 0


def test_plain_progress_lines_and_summary_off_a_terminal(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 3)
    result = run_cli(site, "send", SLUG)
    assert result.exit_code == 0, result.output
    assert "[1/3] sent reader0001@example.net" in result.output
    assert "3 sent, 0 failed, 0 deferred, 0 unknown, 0 already sent, 0 skipped" in result.output
    again = run_cli(site, "send", SLUG)
    assert "Nothing to send" in again.output and server.count() == 3


def test_subscribers_added_during_a_send_are_not_included(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 3)
    server.fail_first_rcpt[address(2)] = 10  # leaves the send unfinished
    send_essay(site, load_settings(site), SLUG)
    late = subscribe(site, 2, first=100)
    server.fail_first_rcpt.clear()
    send_essay(site, load_settings(site), SLUG)
    assert all(a not in server.recipients() for a in late)
    assert ledger(site) == Counter(sent=3)


def test_outbox_writes_files_and_leaves_the_real_ledger_alone(site: Path) -> None:
    subscribe(site, 2)
    result = run_cli(site, "send", SLUG, "--outbox")
    assert result.exit_code == 0, result.output
    files = sorted((site / "state" / "outbox" / SLUG).glob("*.eml"))
    assert [f.name.split("-", 1)[1] for f in files] == [f"{address(1)}.eml", f"{address(2)}.eml"]
    assert ledger(site) == Counter()


def test_a_send_finishes_a_build_commit_a_crash_interrupted(site: Path) -> None:
    subscribe(site, 1)
    build = site / "build"
    staging = build / ".email-new-crash"
    staging.mkdir()
    text = (build / "email" / f"{SLUG}.txt").read_text(encoding="utf-8")
    (staging / "0").write_text(text.replace("Hello,", "Hello, from the newer build,"))
    journal = {
        "changes": [
            {
                "kind": "update",
                "folder": "email",
                "staging": staging.name,
                "moves": [f"{SLUG}.txt"],
                "removes": [],
            }
        ]
    }
    (build / ".commit.json").write_text(json.dumps(journal), encoding="utf-8")
    result = run_cli(site, "send", SLUG, "--outbox")
    assert result.exit_code == 0, result.output
    [sent] = (site / "state" / "outbox" / SLUG).glob("*.eml")
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert "from the newer build" in message.get_body(("plain",)).get_content()
    assert not (build / ".commit.json").exists() and not staging.exists()


def test_a_missing_build_is_a_clear_error(site: Path) -> None:
    result = run_cli(site, "send", "on-margin")
    assert result.exit_code == 1
    assert "build/email/on-margin.html:1:1: error: no built email for 'on-margin'" in result.output
    assert "did you mean 'on-margins'" in result.output
    assert "Traceback" not in result.output


def test_secrets_never_reach_output_or_state(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subscribe(site, 3)
    with Server(authenticate=True) as server:
        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://editor:{PASSWORD}@127.0.0.1:{server.port}")
        good = run_cli(site, "send", SLUG)
        assert good.exit_code == 0, good.output
        assert server.count() == 3
        monkeypatch.setenv(
            "PUBLISH_SMTP_URL", f"smtp://editor:wrong-{PASSWORD}@127.0.0.1:{server.port}"
        )
        bad = run_cli(site, "send", SLUG, "--to", "x@example.org")
        assert bad.exit_code == 1 and "refused the login" in bad.output
    for output in (good.output, bad.output):
        assert PASSWORD not in output and SECRET not in output
    stored = b"".join(p.read_bytes() for p in (site / "state").glob("publish.db*"))
    assert PASSWORD.encode() not in stored and SECRET.encode() not in stored
    for path in (site / "build").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


@pytest.mark.parametrize("title", ["x\\nBcc: a@b", "=?UTF-8?Q?=0A?=Bcc:a@b", "y\\u2028Bcc: c@d"])
def test_titles_cannot_inject_headers_or_recipients(
    title: str, tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    use_server(monkeypatch, server)
    essays = {**ESSAYS, "03-evil": essay_text(title, "Body.\n", date="2026-12-20", slug="evil")}
    root = make_mail_site(tmp_path / "site", essays=essays)
    subscribe(root, 1)
    with closing(connect(root)) as conn:
        conn.execute("UPDATE subscribers SET name = ?", ("Eve =?UTF-8?Q?=0D=0A?=Bcc: e@f",))
    summary = send_essay(root, load_settings(root), "evil")
    assert summary.sent == 1
    [(_, rcpts, message)] = server.messages
    assert rcpts == [address(1)]
    assert message["Bcc"] is None
    assert set(message.keys()) <= {
        "Subject",
        "From",
        "To",
        "Reply-To",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "MIME-Version",
        "Content-Type",
    }
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    assert "Bcc" in str(message["Subject"])  # the text stays, harmlessly, in the subject
    assert len(message["To"].addresses) == 1


# --- Issue 10: a send says what it did ---------------------------------------------------


def count_rows(root: Path, table: str) -> int:
    """How many rows a table of the real state database holds."""
    with closing(connect(root)) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def queue_essay(root: Path) -> str:
    """Add an undated essay, due at the first slot of 2027 (5 January, 09:00 London)."""
    (root / "essays" / "03-queued.md").write_text(
        essay_text("A Queued Letter", "Due in January.\n", slug="queued"), encoding="utf-8"
    )
    return "queued"


def test_without_smtp_url_send_and_run_stop_naming_the_variable(site: Path) -> None:
    subscribe(site, 3)
    queue_essay(site)
    for args in (
        ("send", SLUG),
        ("send", SLUG, "--to", "editor@example.org"),
        ("run", "--today", "2027-01-05T10:00"),
    ):
        result = run_cli(site, *args)
        assert_clean_exit(result, 1)
        assert result.stderr.startswith("PUBLISH_SMTP_URL:1:1: error: is not set")
        assert "--outbox" in result.stderr and "Sent" not in result.output
    assert count_rows(site, "sends") == 0 and count_rows(site, "deliveries") == 0
    assert count_rows(site, "releases") == 0
    assert not (site / "state" / "outbox").exists()


def test_an_outbox_send_names_its_folder_and_a_real_send_still_reaches_everyone(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = subscribe(site, 3)
    folder = f"state/outbox/{SLUG}/"
    first = run_cli(site, "send", SLUG, "--outbox")
    assert_clean_exit(first, 0)
    lines = first.stdout.splitlines()
    assert len(lines) == 5 and all(folder in line for line in lines), lines
    assert not any(line.startswith("Sent") for line in lines)
    assert "nothing was mailed" in lines[-1]
    again = run_cli(site, "send", SLUG, "--outbox")
    assert_clean_exit(again, 0)
    assert again.stdout.startswith("Nothing to write") and folder in again.stdout
    assert count_rows(site, "sends") == 0 and count_rows(site, "deliveries") == 0
    use_server(monkeypatch, server)
    real = run_cli(site, "send", SLUG)
    assert_clean_exit(real, 0)
    assert server.recipients() == Counter({a: 1 for a in everyone})
    assert ledger(site) == Counter(sent=3)


def test_run_with_the_outbox_writes_files_and_a_real_run_then_mails(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = subscribe(site, 2)
    queue_essay(site)
    result = run_cli(site, "run", "--outbox", "--today", "2027-01-05T10:00")
    assert_clean_exit(result, 0)
    mail_lines = [line for line in result.stdout.splitlines() if "mail:" in line]
    assert mail_lines and all("state/outbox/" in line for line in mail_lines)
    assert list((site / "state" / "outbox").glob("*/*.eml"))
    assert count_rows(site, "deliveries") == 0 and server.count() == 0
    use_server(monkeypatch, server)
    real = run_cli(site, "run", "--today", "2027-01-05T11:00")
    assert_clean_exit(real, 0)
    assert set(server.recipients()) == set(everyone)


def test_a_relay_that_denies_everyone_stops_the_send_and_leaves_it_pending(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 50)
    server.refuse_every_rcpt = "550 5.7.1 Relaying denied"
    started = time.monotonic()
    result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert time.monotonic() - started < 10
    assert "550 5.7.1 Relaying denied" in result.stderr
    assert "nobody was marked failed" in result.stderr
    assert sum(server.rcpt_attempts.values()) <= 5
    assert ledger(site) == Counter(pending=50)
    server.refuse_every_rcpt = None  # the operator fixes the relay
    rerun = run_cli(site, "send", SLUG)
    assert_clean_exit(rerun, 0)
    assert server.recipients() == Counter({a: 1 for a in everyone})
    assert ledger(site) == Counter(sent=50)


class SenderRefusingServer(Server):
    """A server that refuses the envelope sender (a relay that does not know this From)."""

    refuse_sender = True

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Refuse MAIL FROM while `refuse_sender` is set."""
        if self.refuse_sender:
            return "553 5.7.1 Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


def test_a_refused_sender_stops_at_once_and_a_rerun_after_the_fix_delivers(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = subscribe(site, 20)
    with SenderRefusingServer() as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG)
        assert_clean_exit(result, 1)
        assert "553 5.7.1 Sender address rejected" in result.stderr
        assert "letters@example.org" in result.stderr
        assert ledger(site) == Counter(pending=20) and server.rcpt_attempts == {}
        server.refuse_sender = False
        assert_clean_exit(run_cli(site, "send", SLUG), 0)
        assert server.recipients() == Counter({a: 1 for a in everyone})


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_that_wants_a_login_stops_the_send_with_its_words(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(site, 10)
    server = Server()
    server._controller = Controller(
        server, hostname=server.host, port=server.port, auth_required=True, auth_require_tls=False
    )
    with server:
        use_server(monkeypatch, server)  # no user name in the URL, so no login
        result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert "the server wants a login first: 530 5.7.0 Authentication required" in result.stderr
    assert ledger(site) == Counter(pending=10) and server.count() == 0


class ContentRefusingServer(Server):
    """A server that refuses every message after DATA, as a filter does with the content."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Refuse the message itself."""
        return "554 5.7.1 Message rejected: content policy"


def test_a_message_refused_after_data_for_everyone_stops_the_send(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(site, 12)
    with ContentRefusingServer() as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert "5 recipients in a row with the same reply: 554 5.7.1 Message rejected" in result.stderr
    assert ledger(site) == Counter(pending=12) and len(server.rcpt_attempts) == 5


def test_a_few_policy_refusals_among_good_addresses_are_failures_of_those_addresses(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 10)
    blocked = everyone[2:5]  # three in a row, fewer than a broken setup's streak
    server.reject_rcpt.update(blocked)
    server.REJECT = "550 5.7.1 recipient blocked by policy"
    result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert ledger(site) == Counter(sent=7, failed=3)
    assert (
        sorted(
            line.split(": ")[1] for line in result.stderr.splitlines() if line.startswith("failed:")
        )
        == blocked
    )


def test_an_unknown_outcome_is_retried_once_per_send_and_twice_in_all(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 8)
    silent = everyone[2]
    server.hang_up_after_data.add(silent)
    first = run_cli(site, "send", SLUG)
    assert_clean_exit(first, 1)
    assert f"unknown: {silent}:" in first.stderr
    received = server.recipients()
    assert received[silent] == 2
    assert all(received[a] == 1 for a in everyone if a != silent)
    assert ledger(site) == Counter(sent=7, unknown=1)
    second = run_cli(site, "send", SLUG)
    assert_clean_exit(second, 1)
    assert server.recipients()[silent] == 3
    third = run_cli(site, "send", SLUG)
    assert_clean_exit(third, 0)
    assert third.stdout.startswith("Nothing to send")
    assert server.recipients()[silent] == 3 and server.count() == 7 + 3
    with closing(connect(site)) as conn:
        row = conn.execute(
            "SELECT status, unknown_attempts FROM deliveries WHERE email = ?", (silent,)
        ).fetchone()
        finished = conn.execute("SELECT finished_at FROM sends").fetchone()[0]
    assert tuple(row) == ("unknown", 3) and finished


def test_the_ledger_migration_keeps_old_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        for number, script in enumerate(db.MIGRATIONS[:2], start=1):
            old.executescript(script)
            old.execute(f"PRAGMA user_version = {number}")
        old.execute(
            "INSERT INTO subscribers (email, status, created_at) "
            "VALUES ('a@example.org', 'active', 'x')"
        )
        old.execute("INSERT INTO sends (slug, started_at) VALUES ('s', 'x')")
        old.execute(
            "INSERT INTO deliveries (slug, subscriber_id, email, status, attempts) "
            "VALUES ('s', 1, 'a@example.org', 'sent', 2)"
        )
    with closing(db.connect(path)) as conn:
        rows = conn.execute("SELECT status, attempts, unknown_attempts FROM deliveries").fetchall()
        assert [tuple(r) for r in rows] == [("sent", 2, 0)]
        conn.execute("UPDATE deliveries SET status = 'unknown'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE deliveries SET status = 'lost'")


@pytest.mark.parametrize(
    "limit_reply",
    ["452 4.5.3 too many messages in this connection", "421 4.7.0 too many messages, closing"],
)
def test_a_relay_that_limits_each_connection_gets_everyone_without_per_address_waits(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch, limit_reply: str
) -> None:
    use_server(monkeypatch, server)
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0.2")
    everyone = subscribe(site, 40)
    server.per_connection_limit = 5
    server.limit_reply = limit_reply
    started = time.monotonic()
    result = run_cli(site, "send", SLUG)
    elapsed = time.monotonic() - started
    assert_clean_exit(result, 0)
    assert server.recipients() == Counter({a: 1 for a in everyone})
    assert 8 <= server.connections <= 8 + 4  # each of the 4 may end on a connection not full
    assert elapsed < 8  # seven reconnects of 0.2 s; a wait per address would take minutes
    assert "40 sent, 0 failed, 0 deferred" in result.stdout


def test_temporary_refusals_of_many_readers_cost_one_wait_not_one_each(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0.3")
    everyone = subscribe(site, 30)
    server.fail_first_rcpt.update({a: 1 for a in everyone})  # a relay that says "later" once
    started = time.monotonic()
    result = run_cli(site, "send", SLUG)
    elapsed = time.monotonic() - started
    assert_clean_exit(result, 0)
    assert server.recipients() == Counter({a: 1 for a in everyone})
    assert elapsed < 4  # one wait of 0.3 s for the round; one per reader would be 9 s


def test_deferred_is_counted_apart_from_failed_and_both_fail_the_exit_status(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 4)
    server.fail_first_rcpt[everyone[0]] = 100
    result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert "3 sent, 0 failed, 1 deferred" in result.stdout
    assert f"deferred: {everyone[0]}: 451 4.3.0 try again" in result.stderr
    assert ledger(site) == Counter(sent=3, pending=1)
    queue_essay(site)
    run = run_cli(site, "run", "--today", "2027-01-05T10:00")
    assert_clean_exit(run, 1)  # the reader is deferred again, in the run's send as well
    assert ledger(site, "queued") == Counter(sent=3, pending=1)
    server.fail_first_rcpt.clear()
    server.reject_rcpt.add(everyone[0])
    failed = run_cli(site, "send", SLUG)
    assert_clean_exit(failed, 1)
    assert "0 sent, 1 failed, 0 deferred" in failed.stdout
    assert ledger(site) == Counter(sent=3, failed=1)


IDN_READER = "anna@bücher.example"
UTF8_READER = "jörg@example.org"


def test_an_idn_domain_goes_as_punycode_without_smtputf8(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 2)
    with closing(connect(site)) as conn:
        add_subscriber(conn, IDN_READER, name="Anna")
    result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 0)
    test_copy = run_cli(site, "send", SLUG, "--to", IDN_READER)
    assert_clean_exit(test_copy, 0)
    idn = [
        (rcpts, options)
        for (_, rcpts, _), options in zip(server.messages, server.mail_options, strict=True)
        if "xn--bcher-kva.example" in rcpts[0]
    ]
    assert idn == [(["anna@xn--bcher-kva.example"], [])] * 2
    assert ledger(site) == Counter(sent=3)


def test_a_non_ascii_local_part_fails_alone_where_smtputf8_is_not_offered(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    everyone = subscribe(site, 3)
    with closing(connect(site)) as conn:
        add_subscriber(conn, UTF8_READER)
    result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert f"failed: {UTF8_READER}: " in result.stderr and "SMTPUTF8" in result.stderr
    assert server.recipients() == Counter({a: 1 for a in everyone})
    test_copy = run_cli(site, "send", SLUG, "--to", UTF8_READER)
    assert_clean_exit(test_copy, 1)
    assert test_copy.stderr.startswith(f"--to:1:1: error: the test copy for {UTF8_READER}")
    assert "does not offer it" in test_copy.stderr


def test_a_non_ascii_local_part_uses_smtputf8_where_offered(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RecordingSMTPServer(smtputf8=True) as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG, "--to", UTF8_READER)
        assert (
            "Traceback" not in result.output
            and result.exception is None
            or isinstance(result.exception, SystemExit)
        )
        assert result.exit_code == 0, result.output
        assert server.rcpt_attempts == {UTF8_READER: 1}
        [(_, rcpts, message)] = server.messages
        assert rcpts == [UTF8_READER] and server.mail_options == [["SMTPUTF8"]]
        assert message["To"].addresses[0].addr_spec == UTF8_READER
        transport = SMTPTransport(parse_smtp_url(f"smtp://127.0.0.1:{server.port}"), 0, 0)
        message = EmailMessage(policy=email.policy.SMTPUTF8)
        message["From"], message["To"], message["Subject"] = "a@example.org", UTF8_READER, "Hi"
        message.set_content("Grüße\n")
        try:
            transport.check(UTF8_READER)
            transport.send("a@example.org", UTF8_READER, message.as_bytes(), "x")
        finally:
            transport.close()
        assert server.messages[-1][1] == [UTF8_READER]
        assert server.mail_options[-1] == ["SMTPUTF8"]


@pytest.mark.parametrize(
    "url",
    [
        f"smtq://editor:{PASSWORD}@mail.example.org:587",
        f"smtp://editor:{PASSWORD}@:587",
        f"smtp://editor:{PASSWORD}@mail.example.org:99999",
        f"smtp://editor:{PASSWORD}@mail.example.org:5x7",
        f"smtp://editor:{PASSWORD}@[::1:587",
        f"smtp://editor:{PASSWORD}@mail.example.org:587/extra",
        f"smtp://editor:{PASSWORD}@mail example.org:587",
        f"smtp://editor:{PASSWORD}@mail.exam!ple.org:587",
        f"smtp://editor:{PASSWORD}@mail.example.org:587?x=1",
        f"smtp://editor:{PASSWORD}@mail.example.org:587\x07",
    ],
)
def test_a_malformed_smtp_url_is_a_clear_error_without_the_password(
    site: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    subscribe(site, 2)
    queue_essay(site)
    monkeypatch.setenv("PUBLISH_SMTP_URL", url)
    for args in (("send", SLUG), ("run", "--today", "2027-01-05T10:00")):
        result = run_cli(site, *args)
        assert_clean_exit(result, 1)
        assert result.stderr.startswith("PUBLISH_SMTP_URL:1:1: error: ")
        assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
        assert "editor" not in result.stderr
    assert count_rows(site, "deliveries") == 0 and count_rows(site, "releases") == 0


@settings(max_examples=100, deadline=None)
@given(
    scheme=st.sampled_from(["smtp", "smtps", "smtq", "SMTP", "", "smtp:"]),
    password=st.from_regex(r"Zq[0-9]{6}[A-Za-z0-9]{0,8}", fullmatch=True),
    host=st.one_of(st.text(max_size=20), st.sampled_from(["mail.example.org", "[::1", "a]b"])),
    port=st.sampled_from(["", ":587", ":", ":99999", ":5x7", ":-1", ":0"]),
    tail=st.text(max_size=10),
)
def test_any_smtp_url_either_parses_or_fails_clearly_without_its_password(
    scheme: str, password: str, host: str, port: str, tail: str
) -> None:
    url = f"{scheme}://editor:{password}@{host}{port}{tail}"
    try:
        endpoint = parse_smtp_url(url)
    except PublishError as exc:
        assert password not in str(exc) and str(exc).startswith("PUBLISH_SMTP_URL:1:1: error:")
        return
    assert endpoint.host and 0 < endpoint.port < 65536
    assert password not in endpoint.label


# --- Issue 19 §8: the ledger's limits, pinned ---------------------------------------------


def last_send_line(root: Path) -> str:
    """The `Last send:` line of `publish status`."""
    result = run_cli(root, "status")
    [line] = [line for line in result.stdout.splitlines() if line.startswith("Last send:")]
    return line


@pytest.mark.slow
def test_a_send_that_keeps_dying_at_one_reader_mails_them_at_most_three_times(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run hands the one reader's message to the relay and dies (kill -9) before the
    answer is recorded: the claim left behind counts towards the reader's retry limit, so
    the reruns stop re-mailing them, and until then the claim is still to do."""
    use_server(monkeypatch, server)
    [reader] = subscribe(site, 1)
    monkeypatch.setenv(HOOK_ENV, hook_value(CRASH, "accepted", 1))
    for run in range(1, 4):
        dying = publish_process(site, "send", SLUG)
        dying.communicate(timeout=120)
        assert dying.returncode == -signal.SIGKILL
        assert server.recipients()[reader] == run
        assert ledger(site) == Counter(sending=1)
        to_do = 1 if run < 3 else 0  # the third claim is the last copy the limit allows
        dry = run_cli(site, "send", SLUG, "--dry-run")
        assert_clean_exit(dry, 0)
        assert f"0 already sent, {to_do} would be sent now" in dry.stdout
        assert last_send_line(site).endswith(f"1 unknown, {to_do} still to send")
    monkeypatch.delenv(HOOK_ENV)
    for _ in range(2):
        rerun = run_cli(site, "send", SLUG)
        assert_clean_exit(rerun, 0)
        assert rerun.stdout.startswith("Nothing to send")
        assert "1 of unknown outcome (they may have arrived) are not tried again" in rerun.stdout
    assert server.recipients()[reader] == 3
    with closing(connect(site)) as conn:
        row = conn.execute("SELECT status, unknown_attempts FROM deliveries").fetchone()
    assert tuple(row) == ("unknown", 3)


def test_the_retry_limit_allows_max_retries_more_tries_and_not_one_more(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    limit = load_settings(site).email.max_retries
    last_chance, one_too_many = subscribe(site, 2)
    server.fail_first_rcpt.update({last_chance: limit, one_too_many: limit + 1})
    summary = send_essay(site, load_settings(site), SLUG)
    assert server.rcpt_attempts == {last_chance: limit + 1, one_too_many: limit + 1}
    assert server.recipients() == Counter({last_chance: 1})
    assert [address for address, _ in summary.deferred] == [one_too_many]
    assert ledger(site) == Counter(sent=1, pending=1)


def test_deferrals_do_not_use_up_the_retries_of_a_message_left_in_flight(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only outcomes unknown count towards their retry limit: a reader deferred (4xx) in
    two runs, whose message is in flight when the third run dies, is still to do, and the
    rerun mails them again and says why they may have two copies."""
    use_server(monkeypatch, server)
    [reader] = subscribe(site, 1)
    server.fail_first_rcpt[reader] = 2 * (load_settings(site).email.max_retries + 1)
    for _ in range(2):
        assert send_essay(site, load_settings(site), SLUG).pending == 1
    monkeypatch.setenv(HOOK_ENV, hook_value(CRASH, "accepted", 1))
    dying = publish_process(site, "send", SLUG)
    dying.communicate(timeout=120)
    assert dying.returncode == -signal.SIGKILL
    assert ledger(site) == Counter(sending=1)
    assert last_send_line(site).endswith("1 unknown, 1 still to send")
    monkeypatch.delenv(HOOK_ENV)
    rerun = run_cli(site, "send", SLUG)
    assert_clean_exit(rerun, 0)
    assert "1 message(s) had been handed to the server by a send that stopped" in rerun.stdout
    assert server.recipients()[reader] == 2
    assert ledger(site) == Counter(sent=1)


def test_a_rerun_of_a_finished_send_keeps_the_moment_it_finished(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 2)
    assert_clean_exit(run_cli(site, "send", SLUG), 0)
    finished = "2026-01-05T09:00:00+00:00"
    with closing(connect(site)) as conn:
        conn.execute("UPDATE sends SET finished_at = ?", (finished,))
    rerun = run_cli(site, "send", SLUG)
    assert_clean_exit(rerun, 0)
    assert rerun.stdout.startswith("Nothing to send")
    with closing(connect(site)) as conn:
        assert conn.execute("SELECT finished_at FROM sends").fetchone()[0] == finished
    assert server.count() == 2


@pytest.mark.parametrize("state", ["no database", "damaged database", "damaged ledger"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_outbox_without_a_database_or_with_a_damaged_one_names_the_file_and_writes_nothing(
    site: Path, state: str, dry_run: bool
) -> None:
    database = site / "state" / "publish.db"
    outbox = site / "state" / "outbox"
    if state != "no database":
        subscribe(site, 2)
    if state == "damaged database":
        database.write_bytes(b"this is not an SQLite database\n" * 200)
        for journal in database.parent.glob("publish.db-*"):
            journal.unlink()
    if state == "damaged ledger":
        outbox.mkdir(parents=True)
        (outbox / "ledger.db").write_bytes(b"nor is this\n" * 400)
    result = run_cli(site, "send", SLUG, "--outbox", *(["--dry-run"] if dry_run else []))
    assert_clean_exit(result, 1)
    named = outbox / "ledger.db" if state == "damaged ledger" else database
    assert result.stderr.startswith(f"{named}:1:1: error: ")
    assert {
        "no database": "there is no state database here, so the outbox has nobody to write for",
        "damaged database": "cannot use the state database: it is damaged",
        "damaged ledger": "cannot use the outbox ledger: it is damaged",
    }[state] in result.stderr
    assert not list(site.glob("state/outbox/*/*.eml"))
    if state == "no database":
        assert not (site / "state").exists(), "nothing is created"


def test_a_few_readers_without_an_answer_among_others_do_not_stop_the_send(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three messages met no answer, but other readers got theirs in between: not a relay
    that hangs (that takes three in a row), so the send goes on and tries them again."""
    use_server(monkeypatch, server)
    everyone = subscribe(site, 12)
    silent = everyone[1::4]
    server.hang_up_after_data.update(silent)
    result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert "answered none of them" not in result.stderr
    assert all(f"unknown: {a}:" in result.stderr for a in silent)
    assert ledger(site) == Counter(sent=9, unknown=3)
    assert all(server.recipients()[a] == 2 for a in silent)  # tried again once, as before

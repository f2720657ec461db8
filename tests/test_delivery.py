"""Sending through a real SMTP server (aiosmtpd on 127.0.0.1): ledger, faults, crash, secrets."""

from __future__ import annotations

import asyncio
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
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from click.testing import CliRunner

from publish import state
from publish.cli import cli
from publish.delivery import ProgressEvent, send_essay
from publish.errors import PublishError
from publish.settings import load_settings
from publish.subscribers import import_csv, unsubscribe_token, unsubscribe_url
from tests.mailsite import ESSAYS, SLUG, copy_site, make_mail_site
from tests.sitebuilder import essay_text
from tests.tools import RecordingSMTPServer

SECRET = "test-secret-0123456789"
PASSWORD = "s3cret-Pa55word-xyz"


class Server(RecordingSMTPServer):
    """The recording server, also noting each client connection, able to hold every DATA
    until `gate` is set, and to hang up during the message after the `drop_after`-th."""

    def __init__(self, drop_after: int = 0, authenticate: bool = False) -> None:
        super().__init__()
        self.peers: set[Any] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.drop_after = drop_after
        self.drop_next = False
        if authenticate:
            self._controller = Controller(
                self,
                hostname=self.host,
                port=self.port,
                authenticator=self._authenticate,
                auth_require_tls=False,
                auth_exclude_mechanism=["LOGIN"],
            )

    @staticmethod
    def _authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.peers.add(session.peer)
            count = len(self.messages)
        if self.drop_after and count == self.drop_after:
            self.drop_next = True
        return reply

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Hang up when a drop is due; otherwise answer as the recording server does."""
        if self.drop_next:  # hang up on the message after the `drop_after`-th
            self.drop_next = False
            server.transport.close()
            return "421 4.4.2 closing"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    def count(self) -> int:
        """How many messages arrived so far."""
        with self.lock:
            return len(self.messages)

    def recipients(self) -> Counter[str]:
        """How many copies each envelope recipient received."""
        with self.lock:
            return Counter(r.lower() for _, rcpts, _ in self.messages for r in rcpts)


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


def address(number: int) -> str:
    """The address of fixture subscriber `number`."""
    return f"reader{number:04d}@example.net"


def subscribe(root: Path, count: int, first: int = 1) -> list[str]:
    """Import `count` active subscribers named 'Reader N'; return their addresses."""
    path = root / f"subscribers-{first}.csv"
    rows = [f"{address(n)},Reader {n}" for n in range(first, first + count)]
    path.write_text("email,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with closing(connect(root)) as conn:
        import_csv(conn, path)
    return [address(n) for n in range(first, first + count)]


def connect(root: Path) -> sqlite3.Connection:
    """The site's state database."""
    return state.connect(state.database_path(root, load_settings(root)))


def ledger(root: Path, slug: str = SLUG) -> Counter[str]:
    """How many deliveries of a send have each status."""
    with closing(connect(root)) as conn:
        rows = conn.execute("SELECT status FROM deliveries WHERE slug = ?", (slug,)).fetchall()
    return Counter(row[0] for row in rows)


def use_server(monkeypatch: pytest.MonkeyPatch, smtp: RecordingSMTPServer) -> None:
    """Point PUBLISH_SMTP_URL at a local test server (no TLS, no login)."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")


def run_cli(root: Path, *args: str) -> Any:
    """Run `publish --root ROOT ARGS…` in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def publish_process(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `python -m publish --root ROOT ARGS…` as a separate process."""
    return subprocess.Popen(
        [sys.executable, "-m", "publish", "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


def test_a_thousand_messages_arrive_personalised_over_one_connection(
    site: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(monkeypatch, server)
    subscribe(site, 1000)
    settings = load_settings(site)
    events: list[ProgressEvent] = []
    summary = send_essay(site, settings, SLUG, on_progress=events.append)
    assert (summary.sent, summary.failed, summary.already_sent) == (1000, [], 0)
    assert server.count() == 1000 and len(server.peers) == 1
    assert events[0].kind == "start" and events[-1].done == 1000
    ids = [subscriber_ids(site)[address(n)] for n in range(1, 1001)]
    message_ids = set()
    for (sender, rcpts, message), number, sid in zip(
        server.messages, range(1, 1001), ids, strict=True
    ):
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
    assert len(twice) <= 1 and all(received[a] == 2 for a in twice)
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
    assert summary.sent == 3 and summary.pending == 1
    assert summary.failed[0][0] == everyone[1] and summary.failed[0][1].startswith("451")
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
        assert len(server.peers) == 2
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
    assert "3 sent, 0 failed, 0 already sent, 0 skipped" in result.output
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


def test_without_smtp_url_messages_go_to_the_outbox(site: Path) -> None:
    subscribe(site, 2)
    result = run_cli(site, "send", SLUG)
    assert result.exit_code == 0, result.output
    files = sorted((site / "state" / "outbox" / SLUG).glob("*.eml"))
    assert [f.name.split("-", 1)[1] for f in files] == [f"{address(1)}.eml", f"{address(2)}.eml"]
    assert ledger(site) == Counter(sent=2)


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

"""Parallel sending (issue 14): `[email] connections`, the shared rate and hourly limit,
pushback, the service's own relay, and kill -9 of a real `publish send` at three points."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import given
from hypothesis import strategies as st

from publish.errors import PublishError
from publish.mail.pace import Pace
from publish.mail.smtp_url import SMTPEndpoint
from publish.mail.transport import OutboxTransport, SMTPTransport
from publish.mail.workers import Job, Outcome, Workers
from publish.service.app import create_app, mailer_of
from publish.service.context import ServiceOptions
from publish.state.ledger import Delivery
from publish.support.testhooks import CRASH, HOOK_ENV, hook_value
from tests.mailsite import (
    SECRET,
    SLUG,
    Server,
    assert_clean_exit,
    connect,
    copy_site,
    ledger,
    make_mail_site,
    run_cli,
    subscribe,
    use_server,
)
from tests.servicesite import service_site
from tests.tools import RecordingSMTPServer, free_port


class CountingServer:
    """A real aiosmtpd server on 127.0.0.1 that only counts: copies per recipient, when each
    message was accepted, and the most DATA commands in progress at once. `delay` seconds
    are waited in each DATA (a slow relay)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.copies: Counter[str] = Counter()
        self.accepted_at: list[float] = []
        self.in_data = 0
        self.most_in_data = 0
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> CountingServer:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Count the message (after the delay), by recipient."""
        with self.lock:
            self.in_data += 1
            self.most_in_data = max(self.most_in_data, self.in_data)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.in_data -= 1
            self.copies.update(r.lower() for r in envelope.rcpt_tos)
            self.accepted_at.append(time.monotonic())
        return "250 OK"

    def count(self) -> int:
        """How many messages were accepted so far."""
        with self.lock:
            return sum(self.copies.values())


def configure(root: Path, **settings: object) -> None:
    """Add keys to the site's [email] table (the last table of the fixture's publish.toml)."""
    path = root / "publish.toml"
    lines = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in settings.items())
    path.write_text(path.read_text(encoding="utf-8") + lines, encoding="utf-8")


@pytest.fixture
def site(built_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The delivery tests' site: a fresh copy with its own state, and fast retries."""
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0.001")
    monkeypatch.delenv("PUBLISH_SMTP_URL", raising=False)
    monkeypatch.delenv("PUBLISH_SERVICE_SMTP_URL", raising=False)
    return copy_site(built_site, tmp_path / "site")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The email fixture site, built once for the module."""
    return make_mail_site(tmp_path_factory.mktemp("parallel") / "built")


# --- The settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, message",
    [
        ("connections = 0", "'email.connections' must be a whole number from 1 to 64"),
        ("connections = 65", "'email.connections' must be a whole number from 1 to 64"),
        ("connections = 2.5", "'email.connections' must be an integer"),
        ('connections = "4"', "'email.connections' must be an integer"),
        ("hourly_limit = -1", "'email.hourly_limit' must not be negative"),
    ],
)
def test_bad_connections_and_hourly_limit_are_errors_at_their_value(
    site: Path, line: str, message: str
) -> None:
    path = site / "publish.toml"
    text = path.read_text(encoding="utf-8") + line + "\n"
    path.write_text(text, encoding="utf-8")
    number = text.count("\n")
    result = run_cli(site, "send", SLUG, "--dry-run")
    assert_clean_exit(result, 1)
    column = 1 if "integer" in message else line.index("=") + 3
    assert result.stderr.startswith(f"publish.toml:{number}:{column}: error: {message}")


# --- Parallel, paced, and slowed down ------------------------------------------------------


def test_the_connections_deliver_at_the_same_time(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(site, connections=8)
    everyone = subscribe(site, 48)
    with CountingServer(delay=0.25) as server:
        use_server(monkeypatch, server)
        started = time.monotonic()
        result = run_cli(site, "send", SLUG)
        elapsed = time.monotonic() - started
    assert_clean_exit(result, 0)
    assert server.copies == Counter({a: 1 for a in everyone})
    assert server.most_in_data == 8
    assert elapsed < 48 * 0.25 / 2  # one connection would take 12 s


def test_the_rate_holds_across_all_connections(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(site, connections=4, rate=20)
    everyone = subscribe(site, 41)
    with CountingServer() as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 0)
    assert server.copies == Counter({a: 1 for a in everyone})
    times = sorted(server.accepted_at)
    assert times[-1] - times[0] >= 40 / 20 * 0.8  # 41 messages at 20 a second: 2 s
    busiest = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert busiest <= 30  # about 20 in any second; a rate per connection would allow 80


class PushbackServer(Server):
    """Answers the first MAIL FROM of every fourth connection with `reply`."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list[str]:
        """Number the connection."""
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        with self.lock:
            session.number = self.connections
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Push back once on every fourth connection, at its first message."""
        if session.number % 4 == 0 and not getattr(session, "pushed", False):
            session.pushed = True
            return self.reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"


@pytest.mark.parametrize(
    "reply, slower",
    [
        ("421 4.7.0 Try again later, closing connection", True),
        ("452 4.5.3 too many messages in this connection", False),
    ],
)
def test_pushback_slows_the_send_and_reconnects_without_costing_readers_a_retry(
    site: Path, monkeypatch: pytest.MonkeyPatch, reply: str, slower: bool
) -> None:
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0.05")
    everyone = subscribe(site, 30)
    with PushbackServer(reply) as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 0)
    assert server.recipients() == Counter({a: 1 for a in everyone})
    assert "30 sent, 0 failed, 0 deferred" in result.stdout
    assert ("slower: " in result.stdout) is slower
    assert "reconnect: reader" in result.stdout and reply in result.stdout
    assert ledger(site) == Counter(sent=30)


def test_the_hourly_limit_waits_for_the_oldest_message_of_the_hour(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(site, hourly_limit=5)
    earlier = subscribe(site, 5, first=900)
    everyone = subscribe(site, 3)
    with closing(connect(site)) as conn:  # five messages of another send, 59 min 58 s ago
        moment = (datetime.now(UTC) - timedelta(seconds=3598)).isoformat(timespec="seconds")
        conn.execute("INSERT INTO sends (slug, started_at) VALUES ('older', ?)", (moment,))
        conn.executemany(
            "INSERT INTO deliveries (slug, subscriber_id, email, status, updated_at)"
            " SELECT 'older', id, email, 'sent', ? FROM subscribers WHERE email = ?",
            [(moment, address) for address in earlier],
        )
        conn.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE id <= 5")
    with CountingServer() as server:
        use_server(monkeypatch, server)
        started = time.monotonic()
        result = run_cli(site, "send", SLUG)
        elapsed = time.monotonic() - started
    assert_clean_exit(result, 0)
    assert server.copies == Counter({a: 1 for a in everyone})
    assert "waiting: the hourly limit of 5 messages is reached; waiting until" in result.stdout
    assert "The hourly limit of 5 messages paused the send 1 time(s)." in result.stdout
    assert elapsed >= 1, "the send waited for the oldest message of the hour to age out"
    assert elapsed < 30


class SometimesLaterServer(CountingServer):
    """Answers `451 4.7.1 try again later` to a fixed 15 % of commands: of MAIL FROM (by
    the command's number: pushback), of RCPT and of the message's end (by a hash of the
    address and its attempt: a refusal of that reader for now). Counts what it accepted."""

    SHARE = 15  # per cent
    LATER = "451 4.7.1 try again later"

    def __init__(self) -> None:
        super().__init__()
        self.attempts: Counter[str] = Counter()
        self.refused = Counter[str]()

    def later(self, key: str) -> bool:
        """Whether this attempt at `key` gets 451 (the same answer in every test run)."""
        with self.lock:
            self.attempts[key] += 1
            digest = hashlib.sha256(f"{key}#{self.attempts[key]}".encode()).digest()
            refuse = digest[0] * 100 < self.SHARE * 256
            if refuse:
                self.refused[key.split(":", 1)[0]] += 1
        return refuse

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.later("MAIL:"):
            return self.LATER
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.later(f"RCPT:{address.lower()}"):
            return self.LATER
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.later(f"DATA:{envelope.rcpt_tos[0].lower()}"):
            return self.LATER
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.slow
def test_a_relay_that_says_later_to_one_command_in_seven_gets_everyone_exactly_once(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = site / "publish.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("max_retries = 3", "max_retries = 6"), encoding="utf-8")
    configure(site, connections=4)
    everyone = subscribe(site, 200)
    with SometimesLaterServer() as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 0)
    assert server.copies == Counter({a: 1 for a in everyone})
    assert all(server.refused[stage] > 10 for stage in ("MAIL", "RCPT", "DATA")), server.refused
    assert "slower: " in result.stdout  # the pushback slowed the send, and it still finished
    assert "200 sent, 0 failed, 0 deferred, 0 unknown" in result.stdout
    assert ledger(site) == Counter(sent=200)


class SoonDenyingServer(Server):
    """Accepts `good` messages, then denies relaying to every recipient (a relay whose
    permission was withdrawn in the middle of a send)."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good
        self.refused_after: dict[str, int] = {}

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept, and start denying once `good` messages are in."""
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            if len(self.messages) >= self.good:
                self.refuse_every_rcpt = "550 5.7.1 Relaying denied"
        return reply


def test_a_setup_broken_in_the_middle_stops_every_connection_promptly(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(site, connections=4)
    everyone = subscribe(site, 200)
    with SoonDenyingServer(good=40) as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG)
        tried = sum(server.rcpt_attempts.values())
        delivered = server.count()
    assert_clean_exit(result, 1)
    assert "refused 5 recipients in a row with the same reply: 550 5.7.1" in result.stderr
    assert "nobody was marked failed" in result.stderr
    assert tried - delivered <= 5 + 3  # the streak, and at most one more per other connection
    counts = ledger(site)
    assert counts["failed"] == 0 and counts["sent"] == delivered, counts
    assert counts["pending"] == len(everyone) - delivered and counts["sending"] == 0, counts


class HangingServer(Server):
    """Accepts `good` messages, then hangs in every DATA (after the whole message came in)
    until the test ends: a relay that stops answering. Notes whose message it held."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good
        self.released = threading.Event()
        self.held: Counter[str] = Counter()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Take the message; past the good ones, never answer (until released)."""
        with self.lock:
            hang = len(self.messages) >= self.good
            if hang:
                self.held.update(r.lower() for r in envelope.rcpt_tos)
        while hang and not self.released.is_set():
            await asyncio.sleep(0.02)
        if hang:
            return "451 4.3.0 too late"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.slow
@pytest.mark.parametrize("good", [0, 12])
def test_a_relay_that_takes_messages_and_never_answers_stops_the_send_with_nobody_sent(
    site: Path, monkeypatch: pytest.MonkeyPatch, good: int
) -> None:
    configure(site, connections=4)
    monkeypatch.setenv("PUBLISH_SMTP_TIMEOUT", "3")  # seconds: short, yet no normal reply takes it
    everyone = subscribe(site, 40)
    server = HangingServer(good)
    try:
        with server:
            use_server(monkeypatch, server)
            result = run_cli(site, "send", SLUG)
            server.released.set()
    finally:
        server.released.set()
    assert_clean_exit(result, 1)
    assert "took 3 messages in a row and answered none of them" in result.stderr
    assert "said nothing for 3 seconds" in result.stderr
    assert "the send stopped" in result.stderr and "never as sent" in result.stderr
    held = set(server.held)
    assert 3 <= len(held) <= 4 + 3, held  # the streak, and one more per other connection
    assert all(server.held[a] == 1 for a in held), "no hung reader was tried again"
    delivered = server.recipients()
    assert len(delivered) == good and not held & set(delivered)
    counts = ledger(site)
    assert counts == Counter(sent=good, unknown=len(held), pending=40 - good - len(held)), counts
    with closing(connect(site)) as conn:
        unknown = {
            row[0] for row in conn.execute("SELECT email FROM deliveries WHERE status = 'unknown'")
        }
    assert unknown == held and held <= set(everyone)


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "86400"])
def test_a_bad_smtp_timeout_is_an_error_before_anything_is_sent(
    site: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    subscribe(site, 2)
    monkeypatch.setenv("PUBLISH_SMTP_TIMEOUT", value)
    with Server() as server:
        use_server(monkeypatch, server)
        result = run_cli(site, "send", SLUG)
    assert_clean_exit(result, 1)
    assert result.stderr.startswith("PUBLISH_SMTP_TIMEOUT:1:1: error: must be a number of seconds")
    assert server.count() == 0 and ledger(site) == Counter()


# --- The service's own relay -------------------------------------------------------------


def test_confirmations_go_through_the_service_relay_not_the_bulk_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    with RecordingSMTPServer() as bulk, RecordingSMTPServer() as service:
        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{bulk.port}")
        monkeypatch.setenv("PUBLISH_SERVICE_SMTP_URL", f"smtp://127.0.0.1:{service.port}")
        root = service_site(tmp_path / "site", free_port())
        app = create_app(root, ServiceOptions())
        try:
            response = app.test_client().post(
                "/subscribe", data={"email": "new@example.com", "website": ""}
            )
            assert response.status_code in (200, 303)
            assert mailer_of(app).drain(30)
        finally:
            mailer_of(app).close()
        [(_, recipients, message)] = service.messages
        assert recipients == ["new@example.com"] and "/confirm/" in str(message.get_body())
        assert bulk.messages == [] and bulk.connections == 0


def test_a_bad_service_relay_url_stops_the_service_naming_it_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SERVICE_SMTP_URL", "smtp://editor:Zq123456@mail example.org:587")
    root = service_site(tmp_path / "site", free_port())
    with pytest.raises(PublishError) as caught:
        create_app(root, ServiceOptions())
    message = str(caught.value)
    assert message.startswith("PUBLISH_SERVICE_SMTP_URL:1:1: error: contains a space")
    assert "Zq123456" not in message and "editor" not in message


def test_a_bad_smtp_timeout_stops_the_service_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SMTP_TIMEOUT", "soon")
    root = service_site(tmp_path / "site", free_port())
    with pytest.raises(PublishError) as caught:
        create_app(root, ServiceOptions())
    assert str(caught.value).startswith("PUBLISH_SMTP_TIMEOUT:1:1: error:")


# --- kill -9 at three points ---------------------------------------------------------------

READERS = 2000
CONNECTIONS = 8


def publish_send(root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A real `publish send` in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "publish", "--root", str(root), "send", SLUG],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize("point", ["claimed", "accepted", "anywhere"])
def test_a_send_killed_at_any_point_reaches_everyone_with_at_most_one_copy_too_many_per_connection(
    site: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    configure(site, connections=CONNECTIONS)
    everyone = subscribe(site, READERS)
    with CountingServer() as server:
        use_server(monkeypatch, server)
        env = dict(os.environ)
        after = random.randint(200, READERS - 400)
        if point != "anywhere":
            env[HOOK_ENV] = hook_value(CRASH, point, after)
        first = publish_send(site, env)
        if point == "anywhere":
            deadline = time.monotonic() + 120
            while server.count() < after and time.monotonic() < deadline:
                time.sleep(0.005)
            first.send_signal(signal.SIGKILL)
        first.communicate(timeout=300)
        assert first.returncode == -signal.SIGKILL
        left = ledger(site)
        assert left["pending"] > 0 and left["sending"] <= CONNECTIONS
        if point == "claimed":
            assert left["sending"] >= 1
        env.pop(HOOK_ENV, None)
        rerun = publish_send(site, env)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err.decode()
        copies = Counter(server.copies)
        third = publish_send(site, env)
        third_out, _ = third.communicate(timeout=120)
        assert third.returncode == 0 and third_out.decode().startswith("Nothing to send")
        assert server.copies == copies
    assert set(copies) == set(everyone)
    twice = [a for a, n in copies.items() if n > 1]
    assert len(twice) <= CONNECTIONS and all(copies[a] == 2 for a in twice)
    assert ledger(site) == Counter(sent=READERS)
    if left["sending"]:
        assert "had been handed to the server by a send that stopped" in out.decode()


# --- Stopping the workers -------------------------------------------------------------------


@given(st.floats(min_value=0.001, max_value=3600))
def test_stopping_waits_longer_than_the_answer_in_hand_and_quit_may_take(timeout: float) -> None:
    """Any $PUBLISH_SMTP_TIMEOUT the send allows (up to 3600 s): a stopping worker may wait
    that long for the answer to the message in hand, then as long for QUIT's."""
    workers = Workers(1, lambda on_event: OutboxTransport(Path("unused")), Pace(0.0), timeout)
    assert workers.stop_wait > 2 * timeout


def test_stopping_waits_for_the_answer_a_slow_relay_gives_and_records_it() -> None:
    with CountingServer(delay=1.0) as server:
        endpoint = SMTPEndpoint("127.0.0.1", server.port, False, "", "")
        workers = Workers(
            1, lambda on_event: SMTPTransport(endpoint, 0, 0.0, on_event, 3.0), Pace(0.0), 3.0
        )
        workers.grow(1)
        reader = Delivery(1, "ada@example.org", "Ada", "active")
        message = b"From: list@example.org\r\nTo: ada@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"
        workers.hand(Job(reader, message, "000001", "list@example.org"))
        workers.stop()  # while the relay holds its answer to the message
        assert not any(thread.is_alive() for thread in workers.threads)
        outcomes = []
        while (result := workers.next_result(block=False)) is not None:
            outcomes += [result] if isinstance(result, Outcome) else []
        assert [(o.job.delivery.email, o.error) for o in outcomes] == [("ada@example.org", None)]
        assert server.copies == Counter({"ada@example.org": 1})

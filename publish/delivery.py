"""Delivering a built email: the SMTP and outbox transports, and the send ledger.

The ledger (tables `sends` and `deliveries` in the state database) makes a send resumable:
the recipient list is fixed in one transaction when a send starts, and each delivery is
marked sent in its own committed transaction right after the server accepts the message.
A rerun after a crash sends only to rows still pending, so at most the one message in
flight at the moment of the crash can arrive twice, and nobody is skipped.
"""

from __future__ import annotations

import email
import email.policy
import fcntl
import os
import re
import smtplib
import sqlite3
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from publish import mail, state
from publish.errors import PublishError, did_you_mean
from publish.model import Settings
from publish.subscribers import (
    ACTIVE,
    fold_controls,
    normalise_address,
    now_text,
    unsubscribe_token,
    unsubscribe_url,
)

SMTP_URL_ENV = "PUBLISH_SMTP_URL"
BACKOFF_ENV = "PUBLISH_RETRY_BACKOFF"  # seconds before the first retry; doubles each time
DEFAULT_BACKOFF = 2.0
LOCK_FILE = "send.lock"
OUTBOX_DIR = "outbox"
EMAIL_DIR = Path("build") / "email"
SMTP_TIMEOUT = 60
BUILT_HEADERS = ("Subject", "From", "Reply-To", "Date", "List-Id")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a send, for a progress bar or a log line."""

    kind: str  # "start", "sent", "failed", "deferred", "skipped", "retry", "reconnect"
    done: int
    total: int
    email: str = ""
    detail: str = ""


@dataclass(frozen=True)
class SendSummary:
    """How a send went: counts, failures with reasons, and a sentence saying so."""

    slug: str
    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    already_sent: int = 0
    skipped: int = 0
    pending: int = 0
    message: str = ""


@dataclass(frozen=True)
class BuiltEmail:
    """The three built files of one essay's email: HTML, text, and the headers of the `.eml`."""

    slug: str
    html: str
    text: str
    headers: dict[str, str]


class DeliveryFailure(Exception):
    """The server refused one message: `permanent` for 5xx replies, else temporary."""

    def __init__(self, reason: str, permanent: bool):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class ServerUnavailable(Exception):
    """The server could not be reached, even after reconnecting several times."""


class Transport(Protocol):
    """Something that delivers one message to one address."""

    def send(self, sender: str, recipient: str, message: bytes, name: str) -> None:
        """Deliver, or raise DeliveryFailure / ServerUnavailable."""

    def close(self) -> None:
        """Release the connection, if any."""


# --- Reading the built email ------------------------------------------------------------


def load_built_email(root: Path, slug: str) -> BuiltEmail:
    """The built `.html`, `.txt` and `.eml` of an essay, or PublishError naming what is missing."""
    folder = root / EMAIL_DIR
    paths = {suffix: folder / f"{slug}.{suffix}" for suffix in ("html", "txt", "eml")}
    for path in paths.values():
        if not path.is_file():
            built = sorted({p.stem for p in folder.glob("*.eml")}) if folder.is_dir() else []
            hint = did_you_mean(slug, built) or " (run 'publish build' first)"
            raise PublishError.single(
                str(path.relative_to(root)), 1, 1, f"no built email for '{slug}'{hint}"
            )
    message = email.message_from_bytes(paths["eml"].read_bytes(), policy=email.policy.SMTP)
    headers = {name: str(message.get(name, "")) for name in BUILT_HEADERS}
    return BuiltEmail(
        slug=slug,
        html=paths["html"].read_text(encoding="utf-8"),
        text=paths["txt"].read_text(encoding="utf-8"),
        headers=headers,
    )


def personal_message(
    built: BuiltEmail, settings: Settings, *, to: str, name: str, unsubscribe: str, message_id: str
) -> bytes:
    """One recipient's copy: their greeting, their unsubscribe link, their Message-ID.

    Subject and Date come from the built `.eml`; the addresses and List-Id from the settings,
    as in the build (read back from the `.eml`, a display name split over two encoded words
    would gain a space in Python 3.11's address parser).
    """
    source = built.headers
    headers = mail.MessageHeaders(
        subject=source["Subject"],
        from_address=settings.email.from_address,
        reply_to=settings.email.reply_to,
        date=source["Date"],
        message_id=message_id,
        list_id=mail.list_id(settings),
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=mail.unsubscribe_mailto(settings),
        to=mail.recipient_address(to, name),
    )
    html = mail.personalise_html(built.html, settings, name, unsubscribe)
    text = mail.personalise_text(built.text, settings, name, unsubscribe)
    return mail.compose_message(headers, text, html)


def envelope_sender(settings: Settings) -> str:
    """The MAIL FROM address: the bare address of the From setting."""
    return parseaddr(settings.email.from_address)[1]


# --- Transports ---------------------------------------------------------------------


@dataclass(frozen=True)
class SMTPEndpoint:
    """Where and how to connect, parsed from PUBLISH_SMTP_URL (never printed whole)."""

    host: str
    port: int
    implicit_tls: bool
    username: str
    password: str

    @property
    def label(self) -> str:
        """The endpoint without credentials, safe to show."""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SMTPEndpoint:
    """Parse `smtp://user:pass@host:port` or `smtps://…`; errors never repeat the URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise PublishError.single(
            SMTP_URL_ENV,
            1,
            1,
            "must look like smtp://user:password@host:587 or smtps://user:password@host:465",
        )
    try:
        port = parts.port
    except ValueError:
        raise PublishError.single(SMTP_URL_ENV, 1, 1, "has a port that is not a number") from None
    implicit = parts.scheme == "smtps"
    username = unquote(parts.username or "")
    default_port = 465 if implicit else (587 if username else 25)
    return SMTPEndpoint(
        host=parts.hostname,
        port=port or default_port,
        implicit_tls=implicit,
        username=username,
        password=unquote(parts.password or ""),
    )


class SMTPTransport:
    """One SMTP connection reused for every message, reconnecting when it drops."""

    def __init__(
        self,
        endpoint: SMTPEndpoint,
        max_retries: int,
        backoff: float,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.max_retries = max_retries
        self.backoff = backoff
        self.on_event = on_event or (lambda kind, detail: None)
        self.connection: smtplib.SMTP | None = None

    def send(self, sender: str, recipient: str, message: bytes, name: str) -> None:
        """Deliver one message, retrying 4xx replies and lost connections with backoff."""
        attempt = 0
        while True:
            try:
                self._deliver(sender, recipient, message)
                return
            except DeliveryFailure as failure:
                if failure.permanent or attempt >= self.max_retries:
                    raise
                self.on_event("retry", failure.reason)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self.close()
                if attempt >= self.max_retries:
                    raise ServerUnavailable(self._down_reason(exc)) from None
                self.on_event("reconnect", type(exc).__name__)
            time.sleep(self.backoff * (2**attempt))
            attempt += 1

    def _deliver(self, sender: str, recipient: str, message: bytes) -> None:
        """One attempt over the current (or a new) connection."""
        connection = self._connection()
        options = [] if recipient.isascii() else ["SMTPUTF8"]
        try:
            refused = connection.sendmail(sender, [recipient], message, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except smtplib.SMTPResponseException as exc:
            raise _failure(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPNotSupportedError, UnicodeEncodeError):
            reason = "the server cannot deliver to an address with non-ASCII characters"
            raise DeliveryFailure(reason, permanent=True) from None
        if refused:
            code, reply = next(iter(refused.values()))
            raise _failure(code, reply)

    def _connection(self) -> smtplib.SMTP:
        """The open connection, opening (TLS and login as configured) if needed."""
        if self.connection is not None:
            return self.connection
        endpoint = self.endpoint
        context = ssl.create_default_context()
        if endpoint.implicit_tls:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                endpoint.host, endpoint.port, timeout=SMTP_TIMEOUT, context=context
            )
        else:
            connection = smtplib.SMTP(endpoint.host, endpoint.port, timeout=SMTP_TIMEOUT)
        try:
            connection.ehlo()
            if not endpoint.implicit_tls and connection.has_extn("starttls"):
                connection.starttls(context=context)
                connection.ehlo()
            if endpoint.username:
                connection.login(endpoint.username, endpoint.password)
        except smtplib.SMTPAuthenticationError as exc:
            connection.close()
            raise ServerUnavailable(
                f"{endpoint.label} refused the login: {exc.smtp_code} {_reply_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            connection.close()
            raise ServerUnavailable(
                f"{endpoint.label} does not offer a login (AUTH), but "
                f"{SMTP_URL_ENV} has a user name"
            ) from None
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return connection

    def _down_reason(self, exc: BaseException) -> str:
        """Why the server counts as down, naming it without credentials."""
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return (
            f"cannot reach the SMTP server at {self.endpoint.label} after "
            f"{self.max_retries + 1} attempts ({detail})"
        )

    def close(self) -> None:
        """Say QUIT if the connection still works; close it either way."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


def _failure(code: int, reply: bytes | str) -> DeliveryFailure:
    """A DeliveryFailure from an SMTP reply: 5xx is permanent, anything else temporary."""
    reason = f"{code} {_reply_text(reply)}"
    return DeliveryFailure(reason, permanent=500 <= code < 600)


def _reply_text(reply: bytes | str) -> str:
    """An SMTP reply as one line of text."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return fold_controls(text)


class OutboxTransport:
    """Writes each message to `state/outbox/<slug>/<n>-<address>.eml` instead of sending it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, recipient: str, message: bytes, name: str) -> None:
        """Write the message atomically (a crash never leaves half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)
        target = self.folder / f"{name}-{safe}.eml"
        partial = target.with_suffix(".eml.part")
        with open(partial, "wb") as handle:
            handle.write(message)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)

    def close(self) -> None:
        """Nothing to release."""


def open_transport(
    root: Path, settings: Settings, slug: str, on_event: Callable[[str, str], None] | None = None
) -> Transport:
    """SMTP when PUBLISH_SMTP_URL is set, else the outbox in the state folder."""
    url = os.environ.get(SMTP_URL_ENV, "").strip()
    if not url:
        return OutboxTransport(state_dir(root, settings) / OUTBOX_DIR / slug)
    return SMTPTransport(parse_smtp_url(url), settings.email.max_retries, retry_backoff(), on_event)


def retry_backoff() -> float:
    """Seconds before the first retry ($PUBLISH_RETRY_BACKOFF, default 2); it doubles after."""
    try:
        return max(0.0, float(os.environ.get(BACKOFF_ENV, DEFAULT_BACKOFF)))
    except ValueError:
        raise PublishError.single(BACKOFF_ENV, 1, 1, "must be a number of seconds") from None


def state_dir(root: Path, settings: Settings) -> Path:
    """The folder holding the state database, its secret, the lock and the outbox."""
    return state.database_path(root, settings).parent


# --- The ledger -------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One pending row of the ledger, with the subscriber's current name and status."""

    subscriber_id: int
    email: str
    name: str
    status: str


def start_send(conn: sqlite3.Connection, slug: str) -> bool:
    """Fix the recipient list of a send, once; True if this call started it."""
    with state.transaction(conn):
        if conn.execute("SELECT 1 FROM sends WHERE slug = ?", (slug,)).fetchone():
            return False
        stamp = now_text()
        conn.execute("INSERT INTO sends (slug, started_at) VALUES (?, ?)", (slug, stamp))
        conn.execute(
            "INSERT INTO deliveries (slug, subscriber_id, email, status, updated_at)"
            " SELECT ?, id, email, 'pending', ? FROM subscribers WHERE status = ? ORDER BY id",
            (slug, stamp, ACTIVE),
        )
        return True


def pending_deliveries(conn: sqlite3.Connection, slug: str) -> list[Delivery]:
    """The rows of a send not yet sent, in subscriber order."""
    rows = conn.execute(
        "SELECT d.subscriber_id, d.email, s.name, s.status FROM deliveries d"
        " JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.slug = ? AND d.status = 'pending' ORDER BY d.subscriber_id",
        (slug,),
    )
    return [Delivery(r[0], r[1], r[2], r[3]) for r in rows]


def current_subscriber(conn: sqlite3.Connection, delivery: Delivery) -> Delivery:
    """The row with the subscriber's name and status as they are now (they may have left)."""
    row = conn.execute(
        "SELECT name, status FROM subscribers WHERE id = ?", (delivery.subscriber_id,)
    ).fetchone()
    if row is None:
        return Delivery(delivery.subscriber_id, delivery.email, "", "unsubscribed")
    return Delivery(delivery.subscriber_id, delivery.email, row[0], row[1])


def ledger_counts(conn: sqlite3.Connection, slug: str) -> dict[str, int]:
    """How many rows of a send have each status."""
    rows = conn.execute(
        "SELECT status, COUNT(*) FROM deliveries WHERE slug = ? GROUP BY status", (slug,)
    )
    return {status: count for status, count in rows}


def mark(
    conn: sqlite3.Connection, slug: str, subscriber_id: int, status: str, error_text: str = ""
) -> None:
    """Record the outcome of one delivery in its own committed transaction."""
    conn.execute(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
        " updated_at = ? WHERE slug = ? AND subscriber_id = ?",
        (status, error_text, now_text(), slug, subscriber_id),
    )


def finish_send(conn: sqlite3.Connection, slug: str) -> None:
    """Stamp the send finished once no row is pending."""
    if not ledger_counts(conn, slug).get("pending"):
        conn.execute(
            "UPDATE sends SET finished_at = COALESCE(finished_at, ?) WHERE slug = ?",
            (now_text(), slug),
        )


@contextmanager
def send_lock(folder: Path) -> Iterator[None]:
    """Hold the exclusive send lock, or PublishError if another send holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = "another send is running (it holds this lock); nothing was sent"
            raise PublishError.single(str(path), 1, 1, message) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- Sending ------------------------------------------------------------------------------


def send_essay(
    root: Path,
    settings: Settings,
    slug: str,
    *,
    dry_run: bool = False,
    to: str | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> SendSummary:
    """Deliver an essay's built email to every active subscriber, exactly once each."""
    built = load_built_email(root, slug)
    report = on_progress or (lambda event: None)
    if to is not None and dry_run:
        address = normalise_address(to, "--to")
        message = f"Dry run: a test copy of '{slug}' would go to {address}; nothing was sent."
        return SendSummary(slug=slug, message=message)
    if to is not None:
        return send_test_copy(root, settings, built, to)
    conn = state.connect(state.database_path(root, settings))
    try:
        if dry_run:
            return dry_run_summary(conn, slug)
        with send_lock(state_dir(root, settings)):
            return _run_send(root, settings, built, conn, report)
    finally:
        conn.close()


def send_test_copy(root: Path, settings: Settings, built: BuiltEmail, to: str) -> SendSummary:
    """Send one copy to `to`, leaving the ledger alone."""
    address = normalise_address(to, "--to")
    unsubscribe = mail.preview_unsubscribe_url(settings)
    message_id = make_msgid(domain=mail.site_domain(settings))
    data = personal_message(
        built, settings, to=address, name="", unsubscribe=unsubscribe, message_id=message_id
    )
    transport = open_transport(root, settings, built.slug)
    try:
        transport.send(envelope_sender(settings), address, data, "test")
    except (DeliveryFailure, ServerUnavailable) as exc:
        raise PublishError.single("--to", 1, 1, f"the test copy was not sent: {exc}") from None
    finally:
        transport.close()
    return SendSummary(
        slug=built.slug,
        sent=1,
        message=f"Sent a test copy of '{built.slug}' to {address}; the ledger is unchanged.",
    )


def dry_run_summary(conn: sqlite3.Connection, slug: str) -> SendSummary:
    """Say what a send would do, changing nothing."""
    counts = ledger_counts(conn, slug)
    started = conn.execute("SELECT 1 FROM sends WHERE slug = ?", (slug,)).fetchone()
    if started:
        pending = counts.get("pending", 0)
        message = (
            f"Dry run: '{slug}' was started before; {counts.get('sent', 0)} already sent, "
            f"{pending} would be sent now, {counts.get('failed', 0)} failed earlier."
        )
        return SendSummary(
            slug=slug, already_sent=counts.get("sent", 0), pending=pending, message=message
        )
    active = conn.execute(
        "SELECT COUNT(*) FROM subscribers WHERE status = ?", (ACTIVE,)
    ).fetchone()[0]
    return SendSummary(
        slug=slug,
        pending=active,
        message=f"Dry run: '{slug}' would be sent to {active} active "
        "subscriber(s); nothing was sent.",
    )


def _run_send(
    root: Path,
    settings: Settings,
    built: BuiltEmail,
    conn: sqlite3.Connection,
    report: Callable[[ProgressEvent], None],
) -> SendSummary:
    """Start (or resume) the ledger and deliver every pending row."""
    slug = built.slug
    start_send(conn, slug)
    already_sent = ledger_counts(conn, slug).get("sent", 0)
    pending = pending_deliveries(conn, slug)
    if not pending:
        finish_send(conn, slug)
        return SendSummary(
            slug=slug,
            already_sent=already_sent,
            message=f"Nothing to send: '{slug}' was already sent to {already_sent} subscriber(s).",
        )
    run = _SendRun(root, settings, built, conn, report, len(pending))
    try:
        run.deliver_all(pending)
    except ServerUnavailable as exc:
        left = ledger_counts(conn, slug).get("pending", 0)
        raise PublishError.single(
            SMTP_URL_ENV,
            1,
            1,
            f"{exc}; {run.sent} sent in this run, {left} still to send. "
            f"Run 'publish send {slug}' again to resume.",
        ) from None
    finally:
        run.transport.close()
    finish_send(conn, slug)
    return run.summary(already_sent, ledger_counts(conn, slug).get("pending", 0))


class _SendRun:
    """The state of one run through the pending rows of a send."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        built: BuiltEmail,
        conn: sqlite3.Connection,
        report: Callable[[ProgressEvent], None],
        total: int,
    ) -> None:
        self.settings, self.built, self.conn, self.report = settings, built, conn, report
        self.total = total
        self.secret = state.load_secret(state_dir(root, settings))
        self.sender = envelope_sender(settings)
        self.domain = mail.site_domain(settings)
        self.current = ""
        self.transport = open_transport(root, settings, built.slug, self._transport_event)
        self.sent, self.skipped, self.done = 0, 0, 0
        self.failed: list[tuple[str, str]] = []
        self.pace = _Pace(settings.email.rate)

    def deliver_all(self, pending: list[Delivery]) -> None:
        """Deliver each pending row in order, recording each outcome as it happens."""
        self.report(ProgressEvent("start", 0, self.total))
        for delivery in pending:
            self.current = delivery.email
            kind, detail = self._deliver(delivery)
            self.done += 1
            self.report(ProgressEvent(kind, self.done, self.total, delivery.email, detail))

    def _deliver(self, delivery: Delivery) -> tuple[str, str]:
        """Deliver one row; return the progress kind and detail."""
        slug = self.built.slug
        delivery = current_subscriber(self.conn, delivery)
        if delivery.status != ACTIVE:
            mark(self.conn, slug, delivery.subscriber_id, "skipped", "no longer subscribed")
            self.skipped += 1
            return "skipped", "no longer subscribed"
        data = personal_message(
            self.built,
            self.settings,
            to=delivery.email,
            name=delivery.name,
            unsubscribe=unsubscribe_url(
                self.settings, unsubscribe_token(self.secret, delivery.subscriber_id)
            ),
            message_id=self._message_id(delivery.subscriber_id),
        )
        self.pace.wait()
        try:
            self.transport.send(self.sender, delivery.email, data, f"{delivery.subscriber_id:06d}")
        except DeliveryFailure as failure:
            self.failed.append((delivery.email, failure.reason))
            if failure.permanent:
                mark(self.conn, slug, delivery.subscriber_id, "failed", failure.reason)
                return "failed", failure.reason
            mark(self.conn, slug, delivery.subscriber_id, "pending", failure.reason)
            return "deferred", failure.reason
        mark(self.conn, slug, delivery.subscriber_id, "sent")
        self.sent += 1
        return "sent", ""

    def _message_id(self, subscriber_id: int) -> str:
        """A Message-ID unique to this essay and subscriber, the same on a resend."""
        tag = state.sign(self.secret, "message-id", f"{self.built.slug}:{subscriber_id}")[:16]
        return f"<{self.built.slug}.{tag}@{self.domain}>"

    def _transport_event(self, kind: str, detail: str) -> None:
        """Pass a retry or reconnect on to the progress callback."""
        self.report(ProgressEvent(kind, self.done, self.total, self.current, detail))

    def summary(self, already_sent: int, pending: int) -> SendSummary:
        """The summary of this run."""
        slug = self.built.slug
        parts = [
            f"{self.sent} sent",
            f"{len(self.failed)} failed",
            f"{already_sent} already sent",
            f"{self.skipped} skipped",
        ]
        message = f"Sent '{slug}': " + ", ".join(parts) + "."
        if pending:
            message += (
                f" {pending} deferred after temporary errors: run "
                f"'publish send {slug}' again later."
            )
        return SendSummary(
            slug=slug,
            sent=self.sent,
            failed=list(self.failed),
            already_sent=already_sent,
            skipped=self.skipped,
            pending=pending,
            message=message,
        )


class _Pace:
    """Keeps sends at most `rate` per second (0 means as fast as the server takes them)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = 0.0

    def wait(self) -> None:
        """Sleep until the next send is allowed."""
        if not self.interval:
            return
        now = time.monotonic()
        if now < self.next_at:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval

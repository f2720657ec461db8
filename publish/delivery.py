"""Delivering a built email: the SMTP and outbox transports, and the send ledger.

The ledger (tables `sends` and `deliveries` in the state database) makes a send resumable:
the recipient list is fixed in one transaction when a send starts, and each delivery is
marked sent in its own committed transaction right after the server accepts the message.
A rerun after a crash sends only to rows still pending, so at most the one message in
flight at the moment of the crash can arrive twice, and nobody is skipped.

What a server says is sorted by whom it concerns:

* one address (`550 5.1.1 no such user`, `451` greylisting): that row is failed, or deferred
  and tried again in a later round of the same send, the whole list waiting once per round;
* the connection (`421` closing, `452` too many messages, a dropped line): reconnect after a
  wait that doubles with each failure in a row and resets once a message gets through;
* the setup (the sender refused, `530` authentication required, or SETUP_STREAK recipients in
  a row refused with the same policy, protocol or system reply, 5.7.x / 5.5.x / 5.3.x / 554):
  the send stops, those rows stay pending, and the server's words are shown;
* nobody knows (the server took the whole message and hung up before answering): the row
  is marked `unknown` and tried again at most once in that send, UNKNOWN_RETRIES in all.

With `--outbox` the messages are written to `state/outbox/<slug>/` and recorded in the
outbox's own ledger (`state/outbox/ledger.db`), never in the real one.
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
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from email_validator import EmailNotValidError, validate_email

from publish import state
from publish.environment import environment_file, shown_path
from publish.errors import PublishError, did_you_mean
from publish.model import Settings
from publish.outputs import mail, mime, urls
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
OUTBOX_LEDGER = "ledger.db"
EMAIL_DIR = Path("build") / "email"
SMTP_TIMEOUT = 60
BUILT_HEADERS = ("Subject", "From", "Reply-To", "Date", "List-Id")
SETUP_STREAK = 5  # this many recipients in a row refused alike means the setup is broken
UNKNOWN_RETRIES = 2  # an unknown outcome is tried again at most this often, over all runs
URL_SHAPE = "smtp://user:password@host:587 or smtps://user:password@host:465"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a send, for a progress bar or a log line."""

    kind: str  # "start", "sent", "failed", "deferred", "unknown", "skipped", "retry", "reconnect"
    done: int
    total: int
    email: str = ""
    detail: str = ""
    outbox: str = ""  # the folder the messages are written to, when it is the outbox


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
    deferred: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    outbox: str = ""

    @property
    def ok(self) -> bool:
        """False when this run left anything failed, still deferred, or of unknown outcome."""
        return not (self.failed or self.deferred or self.unknown)


@dataclass(frozen=True)
class BuiltEmail:
    """The three built files of one essay's email: HTML, text, and the headers of the `.eml`."""

    slug: str
    html: str
    text: str
    headers: dict[str, str]


class DeliveryFailure(Exception):
    """The server refused one message: `permanent` for 5xx replies, else temporary.

    `setup` marks a refusal that hits every recipient alike when the sending setup is at
    fault (see `_is_setup_reply`); `key` (code and enhanced status) tells two replies apart.
    """

    def __init__(self, reason: str, permanent: bool, *, setup: bool = False,
                 key: tuple[int, str] = (0, "")) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.setup = setup
        self.key = key


class OutcomeUnknown(DeliveryFailure):
    """The server took the whole message and the connection died before its answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=False)


class ServerUnavailable(Exception):
    """The server could not be reached, even after reconnecting several times."""


class SetupFailure(ServerUnavailable):
    """A refusal no recipient gets past: the sender, the login or the relay is wrong."""


class Transport(Protocol):
    """Something that delivers one message to one address."""

    def check(self, recipient: str) -> None:
        """Raise DeliveryFailure now if this address can never go this way."""

    def send(self, sender: str, recipient: str, message: bytes, name: str) -> None:
        """Deliver, or raise DeliveryFailure / SetupFailure / ServerUnavailable."""

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
    headers = mime.MessageHeaders(
        subject=source["Subject"],
        from_address=settings.email.from_address,
        reply_to=settings.email.reply_to,
        date=source["Date"],
        message_id=message_id,
        list_id=mime.list_id(settings),
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=mime.unsubscribe_mailto(settings),
        to=mime.recipient_address(to, name),
    )
    html = mail.personalise_html(built.html, settings, name, unsubscribe)
    text = mail.personalise_text(built.text, settings, name, unsubscribe)
    return mime.compose_message(headers, text, html)


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
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{host}:{self.port}"


_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")


def _url_error(message: str) -> PublishError:
    """A PUBLISH_SMTP_URL error; it never repeats any part of the URL (it may hold a password)."""
    return PublishError.single(SMTP_URL_ENV, 1, 1, f"{message}; it must look like {URL_SHAPE}")


def parse_smtp_url(url: str) -> SMTPEndpoint:
    """Parse `smtp://user:pass@host:port` or `smtps://…`; errors never repeat the URL."""
    text = url.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise _url_error("contains a space or a control character (percent-encode those in "
                         "the user name or password)")
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise _url_error("cannot be read as a URL (a bad port or bracket)") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise _url_error("does not start with smtp:// or smtps://")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text \
            or "#" in text:
        raise _url_error("has something after the host and port (percent-encode '/', '?', "
                         "'#' and '@' in the user name or password)")
    if not host:
        raise _url_error("has no host name")
    if not _valid_host(host):
        raise _url_error("has a host name with characters no host name can have")
    if port == 0:
        raise _url_error("has port 0")
    implicit = parts.scheme == "smtps"
    username = unquote(parts.username or "")
    default_port = 465 if implicit else (587 if username else 25)
    return SMTPEndpoint(
        host=host,
        port=port or default_port,
        implicit_tls=implicit,
        username=username,
        password=unquote(parts.password or ""),
    )


def _valid_host(host: str) -> bool:
    """Whether `host` is a host name (IDN allowed) or an IP address literal."""
    if ":" in host:  # an IPv6 literal; urlsplit has checked the brackets
        return bool(re.fullmatch(r"[0-9A-Fa-f:.]+", host))
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_HOST_NAME.fullmatch(ascii_host))


@lru_cache(maxsize=4096)
def envelope_address(address: str) -> tuple[str, bool]:
    """The address as SMTP carries it (an IDN domain as punycode); True if it needs SMTPUTF8.

    Only a non-ASCII part before the @ needs SMTPUTF8; an IDN domain never does.
    """
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise DeliveryFailure(f"not an address a server can deliver to: {exc}",
                              permanent=True) from None
    local = checked.local_part
    return f"{local}@{checked.ascii_domain}", not local.isascii()


def header_address(address: str) -> str:
    """The address for the To header: an IDN domain in punycode, so the header stays ASCII,
    unless the part before the @ needs SMTPUTF8 anyway (then the message is UTF-8 too)."""
    ascii_address, needs_utf8 = envelope_address(address)
    return address if needs_utf8 else ascii_address


class _ConnectionTrouble(Exception):
    """The connection cannot carry the message now: it dropped, or the server said 421/452."""

    def __init__(self, reason: str, replied: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.replied = replied  # the server answered (421, 452...), as opposed to silence


class SMTPTransport:
    """One SMTP connection reused for every message, reconnecting when it drops or is full.

    Waits belong to the connection, not to an address: each reconnect waits `backoff`
    seconds, doubling with each failure in a row and starting again once a message gets
    through, so a relay that takes N messages per connection costs one short wait per N.
    """

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
        self.troubles = 0  # connection failures since a message last got an answer

    @property
    def label(self) -> str:
        """Where the messages go, safe to show."""
        return self.endpoint.label

    def check(self, recipient: str) -> None:
        """Refuse at once an address that needs SMTPUTF8 when the server does not offer it."""
        _, needs_utf8 = envelope_address(recipient)
        if needs_utf8:
            self._with_connection(lambda connection: self._utf8_options(connection, True))

    def send(self, sender: str, recipient: str, message: bytes, name: str) -> None:
        """Deliver one message; on 421, 452 or a lost connection reconnect and try again."""
        self._with_connection(
            lambda connection: self._transaction(connection, sender, recipient, message))

    def _with_connection(self, action: Callable[[smtplib.SMTP], object]) -> None:
        """Run `action` on an open connection, reconnecting with backoff on trouble."""
        while True:
            try:
                action(self._connection())
            except _ConnectionTrouble as trouble:
                self.close()
                self.troubles += 1
                if self.troubles > self.max_retries:
                    raise ServerUnavailable(self._down_reason(trouble)) from None
                self.on_event("reconnect", trouble.reason)
                time.sleep(self.backoff * (2 ** (self.troubles - 1)))
                continue
            except DeliveryFailure:
                self.troubles = 0
                raise
            self.troubles = 0
            return

    def _transaction(self, connection: smtplib.SMTP, sender: str, recipient: str,
                     message: bytes) -> None:
        """MAIL, RCPT, DATA for one message, each reply sorted by whom it concerns."""
        rcpt, needs_utf8 = envelope_address(recipient)
        options = self._utf8_options(connection, needs_utf8)
        mail_from = envelope_address(sender)[0] if sender else ""
        code, reply = _ask(lambda: connection.mail(mail_from, options), "MAIL")
        if code != 250:
            self._reset(connection)
            if code < 500:
                raise _ConnectionTrouble(_reply_reason(code, reply), replied=True)
            raise SetupFailure(f"the server refused the sender address {sender}: "
                               f"{_reply_reason(code, reply)}")
        code, reply = _ask(lambda: connection.rcpt(rcpt), "RCPT")
        if code not in (250, 251):
            self._reset(connection)
            raise _refusal(code, reply, "RCPT")
        code, reply = _ask(lambda: connection.docmd("DATA"), "DATA")
        if code != 354:
            self._reset(connection)
            raise _refusal(code, reply, "DATA")
        try:
            connection.send(_dot_stuffed(message))
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # The message never ended with its final dot, so the server cannot have taken it.
            raise _ConnectionTrouble(_error_detail(exc)) from None
        try:
            code, reply = connection.getreply()
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise OutcomeUnknown(
                "the server took the whole message, then the connection ended before it "
                "said whether it accepted it; it may have arrived"
            ) from None
        if code == 421:
            raise _ConnectionTrouble(_reply_reason(code, reply), replied=True)
        if code != 250:
            raise _refusal(code, reply, "END")

    def _utf8_options(self, connection: smtplib.SMTP, needs_utf8: bool) -> list[str]:
        """["SMTPUTF8"] when the address needs it and the server offers it; else refuse it."""
        if not needs_utf8:
            return []
        if connection.has_extn("smtputf8"):
            return ["SMTPUTF8"]
        raise DeliveryFailure(
            "the part before the @ has non-ASCII characters, which needs SMTPUTF8, and "
            f"the server at {self.endpoint.label} does not offer it", permanent=True)

    def _connection(self) -> smtplib.SMTP:
        """The open connection, opening (TLS and login as configured) if needed."""
        if self.connection is not None:
            return self.connection
        endpoint = self.endpoint
        context = ssl.create_default_context()
        try:
            if endpoint.implicit_tls:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    endpoint.host, endpoint.port, timeout=SMTP_TIMEOUT, context=context
                )
            else:
                connection = smtplib.SMTP(endpoint.host, endpoint.port, timeout=SMTP_TIMEOUT)
        except smtplib.SMTPConnectError as exc:
            raise _ConnectionTrouble(_reply_reason(exc.smtp_code, exc.smtp_error), True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _ConnectionTrouble(_error_detail(exc)) from None
        try:
            self._greet(connection)
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return connection

    def _greet(self, connection: smtplib.SMTP) -> None:
        """EHLO, STARTTLS when offered (or required by smtps), and the login if configured."""
        endpoint = self.endpoint
        try:
            connection.ehlo()
            if not endpoint.implicit_tls and connection.has_extn("starttls"):
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            if endpoint.username:
                connection.login(endpoint.username, endpoint.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise ServerUnavailable(
                f"{endpoint.label} refused the login: {exc.smtp_code} {_reply_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise ServerUnavailable(
                f"{endpoint.label} does not offer a login (AUTH), but "
                f"{SMTP_URL_ENV} has a user name"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _ConnectionTrouble(_error_detail(exc)) from None

    def _reset(self, connection: smtplib.SMTP) -> None:
        """RSET after a refusal, so the next message starts clean; close if that fails."""
        try:
            connection.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def _down_reason(self, trouble: _ConnectionTrouble) -> str:
        """Why the server counts as down, naming it without credentials."""
        attempts = self.max_retries + 1
        if trouble.replied:
            return (f"the SMTP server at {self.endpoint.label} turned the connection away "
                    f"{attempts} times in a row ({trouble.reason})")
        return (f"cannot reach the SMTP server at {self.endpoint.label} after "
                f"{attempts} attempts ({trouble.reason})")

    def close(self) -> None:
        """Say QUIT if the connection still works; close it either way."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


def _ask(command: Callable[[], tuple[int, bytes]], stage: str) -> tuple[int, bytes]:
    """Send one command; a lost line, 421, or 452 at MAIL/RCPT is trouble for the connection.

    530 (authentication required) concerns every message, so it is a SetupFailure.
    """
    try:
        code, reply = command()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _ConnectionTrouble(_error_detail(exc)) from None
    if code == 421 or (code == 452 and not _enhanced(reply).startswith("4.2.")):
        raise _ConnectionTrouble(_reply_reason(code, reply), replied=True)
    if code == 530:
        raise SetupFailure(f"the server wants a login first: {_reply_reason(code, reply)}")
    return code, reply


def _refusal(code: int, reply: bytes | str, stage: str) -> DeliveryFailure:
    """A DeliveryFailure from an SMTP reply: 5xx is permanent, anything else temporary."""
    permanent = 500 <= code < 600
    status = _enhanced(reply)
    return DeliveryFailure(_reply_reason(code, reply), permanent=permanent,
                           setup=permanent and _is_setup_reply(code, status, stage),
                           key=(code, status))


def _is_setup_reply(code: int, status: str, stage: str) -> bool:
    """Whether a permanent refusal is of the kind that hits every recipient alike.

    After DATA the refusal is of the message itself, the same for everyone. Before it,
    enhanced status classes 3 (mail system), 5 (protocol) and 7 (security and policy:
    relaying denied, authentication) concern the setup; 1 (address) and 2 (mailbox) concern
    one reader. Without an enhanced status, 530 and 554 are the setup kind.
    """
    if stage in ("DATA", "END"):
        return True
    if status:
        return status.split(".")[1] in ("3", "5", "7")
    return code in (530, 554)


def _enhanced(reply: bytes | str) -> str:
    """The RFC 3463 enhanced status code at the start of a reply (`5.7.1`), or ''."""
    match = re.match(r"\s*([245]\.\d{1,3}\.\d{1,3})\b", _reply_text(reply))
    return match[1] if match else ""


def _reply_reason(code: int, reply: bytes | str) -> str:
    """`code text` of one reply."""
    return f"{code} {_reply_text(reply)}"


def _reply_text(reply: bytes | str) -> str:
    """An SMTP reply as one line of text."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return fold_controls(text)


def _error_detail(exc: BaseException) -> str:
    """A lost connection in a few words."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _dot_stuffed(message: bytes) -> bytes:
    """The DATA payload: leading dots doubled, ending in CRLF and the final dot line."""
    data = re.sub(rb"(?m)^\.", b"..", message)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class OutboxTransport:
    """Writes each message to `state/outbox/<slug>/<n>-<address>.eml` instead of sending it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def check(self, recipient: str) -> None:
        """Every address can be written to a file."""

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


@dataclass(frozen=True)
class Destination:
    """Where a send's messages go: an SMTP server, or a folder of the outbox (never both)."""

    endpoint: SMTPEndpoint | None = None
    outbox: Path | None = None
    shown: str = ""  # the outbox folder as messages show it

    def open(self, settings: Settings, on_event: Callable[[str, str], None] | None = None
             ) -> SMTPTransport | OutboxTransport:
        """The transport for this destination."""
        if self.outbox is not None:
            return OutboxTransport(self.outbox)
        assert self.endpoint is not None
        return SMTPTransport(self.endpoint, settings.email.max_retries, retry_backoff(), on_event)

    @property
    def label(self) -> str:
        """Where the messages go, in words."""
        if self.outbox is not None:
            return f"the outbox {self.shown}/"
        assert self.endpoint is not None
        return self.endpoint.label


def choose_destination(root: Path, settings: Settings, slug: str, *, outbox: bool
                       ) -> Destination:
    """The outbox when asked for, else the server of PUBLISH_SMTP_URL; PublishError if unset.

    Nothing is read from or written to the state before this is decided.
    """
    if outbox:
        folder = outbox_folder(root, settings) / slug if slug else outbox_folder(root, settings)
        return Destination(outbox=folder, shown=shown_path(root, folder))
    url = os.environ.get(SMTP_URL_ENV, "").strip()
    if not url:
        env_file = shown_path(root, environment_file(root, settings))
        folder = shown_path(root, outbox_folder(root, settings))
        raise PublishError.single(
            SMTP_URL_ENV, 1, 1,
            f"is not set, so there is no server to send through; nothing was sent or "
            f"recorded. Set it in the environment or in {env_file} (mode 600), or pass "
            f"--outbox to write the messages to {folder}/ instead",
        )
    return Destination(endpoint=parse_smtp_url(url))


def open_transport(
    root: Path, settings: Settings, slug: str, on_event: Callable[[str, str], None] | None = None
) -> Transport:
    """SMTP when PUBLISH_SMTP_URL is set, else the outbox (the service's confirmation mail).

    `publish send` and `publish run` never fall back to the outbox: see choose_destination.
    """
    outbox = not os.environ.get(SMTP_URL_ENV, "").strip()
    return choose_destination(root, settings, slug, outbox=outbox).open(settings, on_event)


def retry_backoff() -> float:
    """Seconds before the first retry ($PUBLISH_RETRY_BACKOFF, default 2); it doubles after."""
    try:
        return max(0.0, float(os.environ.get(BACKOFF_ENV, DEFAULT_BACKOFF)))
    except ValueError:
        raise PublishError.single(BACKOFF_ENV, 1, 1, "must be a number of seconds") from None


def state_dir(root: Path, settings: Settings) -> Path:
    """The folder holding the state database, its secret, the lock and the outbox."""
    return state.database_path(root, settings).parent


def outbox_folder(root: Path, settings: Settings) -> Path:
    """The outbox: `state/outbox/`, one folder per essay and the outbox's own ledger."""
    return state_dir(root, settings) / OUTBOX_DIR


# --- The ledger -------------------------------------------------------------------------

# The outbox's own ledger: the same two tables, in state/outbox/ledger.db, with the site's
# state database attached for its subscribers (unqualified `subscribers` resolves there).
OUTBOX_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sends (slug TEXT PRIMARY KEY, started_at TEXT NOT NULL,"
    " finished_at TEXT)",
    "CREATE TABLE IF NOT EXISTS deliveries (slug TEXT NOT NULL, subscriber_id INTEGER NOT NULL,"
    " email TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " unknown_attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
    " updated_at TEXT, PRIMARY KEY (slug, subscriber_id))",
)


@dataclass(frozen=True)
class Delivery:
    """One pending row of the ledger, with the subscriber's current name and status."""

    subscriber_id: int
    email: str
    name: str
    status: str
    ledger_status: str = "pending"
    unknown_attempts: int = 0


def connect_outbox_ledger(root: Path, settings: Settings) -> sqlite3.Connection:
    """The outbox's ledger, reading subscribers from the site's state database (untouched)."""
    database = state.database_path(root, settings)
    state.connect(database).close()  # create and migrate it, as a real send would
    folder = outbox_folder(root, settings)
    folder.mkdir(parents=True, exist_ok=True)
    uri = (folder / OUTBOX_LEDGER).resolve().as_uri()
    conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
    try:
        for statement in OUTBOX_SCHEMA:
            conn.execute(statement)
        conn.execute("ATTACH DATABASE ? AS site", (database.resolve().as_uri(),))
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


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
    """The rows of a send still to do: pending, or unknown with a retry left; in order."""
    rows = conn.execute(
        "SELECT d.subscriber_id, d.email, s.name, s.status, d.status, d.unknown_attempts"
        " FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.slug = ? AND (d.status = 'pending'"
        " OR (d.status = 'unknown' AND d.unknown_attempts <= ?)) ORDER BY d.subscriber_id",
        (slug, UNKNOWN_RETRIES),
    )
    return [Delivery(*row) for row in rows]


def current_subscriber(conn: sqlite3.Connection, delivery: Delivery) -> Delivery:
    """The row with the subscriber's name and status as they are now (they may have left)."""
    row = conn.execute(
        "SELECT name, status FROM subscribers WHERE id = ?", (delivery.subscriber_id,)
    ).fetchone()
    name, status = ("", "unsubscribed") if row is None else (row[0], row[1])
    return Delivery(delivery.subscriber_id, delivery.email, name, status,
                    delivery.ledger_status, delivery.unknown_attempts)


def ledger_counts(conn: sqlite3.Connection, slug: str) -> dict[str, int]:
    """How many rows of a send have each status."""
    rows = conn.execute(
        "SELECT status, COUNT(*) FROM deliveries WHERE slug = ? GROUP BY status", (slug,)
    )
    return {status: count for status, count in rows}


def mark(
    conn: sqlite3.Connection, slug: str, subscriber_id: int, status: str, error_text: str = "",
    *, unknown: bool = False,
) -> None:
    """Record the outcome of one delivery in its own committed transaction."""
    conn.execute(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
        " unknown_attempts = unknown_attempts + ?, updated_at = ?"
        " WHERE slug = ? AND subscriber_id = ?",
        (status, error_text, int(unknown), now_text(), slug, subscriber_id),
    )


def finish_send(conn: sqlite3.Connection, slug: str) -> None:
    """Stamp the send finished once no row is left to do."""
    if not pending_deliveries(conn, slug):
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


def require_destination(root: Path, settings: Settings, *, outbox: bool) -> None:
    """PublishError unless mail can go somewhere: a valid PUBLISH_SMTP_URL, or `--outbox`."""
    choose_destination(root, settings, "", outbox=outbox)


def send_essay(
    root: Path,
    settings: Settings,
    slug: str,
    *,
    dry_run: bool = False,
    to: str | None = None,
    outbox: bool = False,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> SendSummary:
    """Deliver an essay's built email to every active subscriber, exactly once each.

    Without `outbox`, PUBLISH_SMTP_URL must be set; with it, the messages go to the outbox
    folder and its own ledger, and the real ledger is left alone.
    """
    built = load_built_email(root, slug)
    report = on_progress or (lambda event: None)
    if to is not None and dry_run:
        address = normalise_address(to, "--to")
        message = f"Dry run: a test copy of '{slug}' would go to {address}; nothing was sent."
        return SendSummary(slug=slug, message=message)
    if dry_run:  # a fresh outbox ledger would say what the real one says: do not create it
        outbox = outbox and (outbox_folder(root, settings) / OUTBOX_LEDGER).exists()
        with _ledger(root, settings, outbox) as conn:
            return dry_run_summary(conn, slug)
    destination = choose_destination(root, settings, slug, outbox=outbox)
    if to is not None:
        return send_test_copy(settings, built, to, destination)
    with _ledger(root, settings, outbox) as conn, send_lock(state_dir(root, settings)):
        return _run_send(root, settings, built, conn, destination, report)


@contextmanager
def _ledger(root: Path, settings: Settings, outbox: bool) -> Iterator[sqlite3.Connection]:
    """The real ledger, or the outbox's own one; closed after the block."""
    if outbox:
        conn = connect_outbox_ledger(root, settings)
    else:
        conn = state.connect(state.database_path(root, settings))
    try:
        yield conn
    finally:
        conn.close()


def send_test_copy(settings: Settings, built: BuiltEmail, to: str,
                   destination: Destination) -> SendSummary:
    """Send one copy to `to`, leaving the ledger alone."""
    address = normalise_address(to, "--to")
    unsubscribe = urls.preview_unsubscribe_url(settings)
    message_id = make_msgid(domain=mime.site_domain(settings))
    transport = destination.open(settings)
    try:
        transport.check(address)
        data = _compose(built, settings, to=header_address(address), name="",
                        unsubscribe=unsubscribe, message_id=message_id)
        transport.send(envelope_sender(settings), address, data, "test")
    except (DeliveryFailure, ServerUnavailable) as exc:
        raise PublishError.single("--to", 1, 1, f"the test copy for {address} was not sent: "
                                                f"{exc}") from None
    finally:
        transport.close()
    if destination.outbox is not None:
        message = (f"Wrote a test copy of '{built.slug}' for {address} to {destination.label}; "
                   "nothing was mailed and the ledger is unchanged.")
    else:
        message = (f"Sent a test copy of '{built.slug}' to {address} through "
                   f"{destination.label}; the ledger is unchanged.")
    return SendSummary(slug=built.slug, sent=1, message=message, outbox=destination.shown)


def _compose(built: BuiltEmail, settings: Settings, *, to: str, name: str, unsubscribe: str,
             message_id: str) -> bytes:
    """One reader's message; one that cannot be built fails for that reader alone."""
    try:
        return personal_message(built, settings, to=to, name=name, unsubscribe=unsubscribe,
                                message_id=message_id)
    except ValueError as exc:  # header defects and encoding errors are ValueErrors
        raise DeliveryFailure(f"the message for this address could not be built ({exc})",
                              permanent=True) from None


def dry_run_summary(conn: sqlite3.Connection, slug: str) -> SendSummary:
    """Say what a send would do, changing nothing."""
    counts = ledger_counts(conn, slug)
    started = conn.execute("SELECT 1 FROM sends WHERE slug = ?", (slug,)).fetchone()
    if started:
        pending = len(pending_deliveries(conn, slug))
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
    destination: Destination,
    report: Callable[[ProgressEvent], None],
) -> SendSummary:
    """Start (or resume) the ledger and deliver every pending row."""
    slug = built.slug
    start_send(conn, slug)
    already_sent = ledger_counts(conn, slug).get("sent", 0)
    pending = pending_deliveries(conn, slug)
    if not pending:
        finish_send(conn, slug)
        if destination.outbox is not None:
            message = (f"Nothing to write: '{slug}' was already written to {destination.label} "
                       f"for {already_sent} subscriber(s); nothing was mailed.")
        else:
            message = f"Nothing to send: '{slug}' was already sent to {already_sent} subscriber(s)."
        return SendSummary(slug=slug, already_sent=already_sent, message=message,
                           outbox=destination.shown)
    run = _SendRun(root, settings, built, conn, destination, report, len(pending))
    try:
        run.deliver_all(pending)
    except SetupFailure as exc:
        raise PublishError.single(
            SMTP_URL_ENV, 1, 1,
            f"{exc}. That is the sending setup (relay permission, login or sender address), "
            f"not the addresses: the send stopped and nobody was marked failed; {run.sent} "
            f"sent in this run, {run.left()} still to send. Fix the setup, then run "
            f"'publish send {slug}' again.",
        ) from None
    except ServerUnavailable as exc:
        raise PublishError.single(
            SMTP_URL_ENV, 1, 1,
            f"{exc}; {run.sent} sent in this run, {run.left()} still to send. "
            f"Run 'publish send {slug}' again to resume.",
        ) from None
    finally:
        run.transport.close()
    finish_send(conn, slug)
    return run.summary(already_sent, ledger_counts(conn, slug).get("pending", 0))


class _SendRun:
    """One run through the rows of a send, in rounds.

    Round 0 tries every row once. A row deferred by a temporary refusal, and a row whose
    outcome became unknown in this run, go into the next round; before a round with deferred
    rows the whole list waits once (the backoff, doubling each round, up to max_retries
    rounds), so a slow or greylisting server costs one wait per round, not one per reader.
    """

    def __init__(
        self,
        root: Path,
        settings: Settings,
        built: BuiltEmail,
        conn: sqlite3.Connection,
        destination: Destination,
        report: Callable[[ProgressEvent], None],
        total: int,
    ) -> None:
        self.settings, self.built, self.conn, self.report = settings, built, conn, report
        self.destination = destination
        self.total = total
        self.secret = state.load_secret(state_dir(root, settings))
        self.sender = envelope_sender(settings)
        self.domain = mime.site_domain(settings)
        self.current = ""
        self.transport = destination.open(settings, self._transport_event)
        self.backoff = retry_backoff()
        self.sent, self.skipped, self.done, self.judged = 0, 0, 0, 0
        self.failed: list[tuple[str, str]] = []
        self.deferred: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self.unknown_counts: dict[int, int] = {}
        self.retried_unknown: set[int] = set()
        self.suspects: list[tuple[Delivery, str]] = []  # setup-kind refusals, still pending
        self.streak_key: tuple[int, str] = (0, "")
        self.pace = _Pace(settings.email.rate)

    def deliver_all(self, pending: list[Delivery]) -> None:
        """Deliver the rows in rounds, recording each outcome as it happens."""
        self.report(ProgressEvent("start", 0, self.total, detail=self.destination.label,
                                  outbox=self.destination.shown))
        queue, round_number = pending, 0
        while queue:
            again = [d for d in queue if self._attempt(d, round_number)]
            if any(d.subscriber_id not in self.retried_unknown for d in again):
                time.sleep(self.backoff * (2**round_number))
            queue, round_number = again, round_number + 1
        self._settle_suspects(at_end=True)

    def left(self) -> int:
        """Rows still to do in the ledger."""
        return len(pending_deliveries(self.conn, self.built.slug))

    def _attempt(self, delivery: Delivery, round_number: int) -> bool:
        """Try one row; True if it goes into the next round."""
        self.current = delivery.email
        delivery = current_subscriber(self.conn, delivery)
        if delivery.status != ACTIVE:
            self._final(delivery, "skipped", "no longer subscribed")
            self.skipped += 1
            return False
        try:
            self.transport.check(delivery.email)
            data = self._message(delivery)
            self.pace.wait()
            self.transport.send(self.sender, delivery.email, data, f"{delivery.subscriber_id:06d}")
        except OutcomeUnknown as unknown:
            return self._unknown(delivery, unknown.reason)
        except DeliveryFailure as failure:
            if failure.permanent:
                self._refused(delivery, failure)
                return False
            return self._temporary(delivery, failure, round_number)
        self._settle_suspects()
        self._final(delivery, "sent")
        self.sent += 1
        return False

    def _message(self, delivery: Delivery) -> bytes:
        """This reader's copy."""
        return _compose(
            self.built,
            self.settings,
            to=header_address(delivery.email),
            name=delivery.name,
            unsubscribe=unsubscribe_url(
                self.settings, unsubscribe_token(self.secret, delivery.subscriber_id)
            ),
            message_id=self._message_id(delivery.subscriber_id),
        )

    def _refused(self, delivery: Delivery, failure: DeliveryFailure) -> None:
        """A permanent refusal: failed at once, or held pending while it may be the setup."""
        if not failure.setup:
            self._settle_suspects()
            self._fail(delivery, failure.reason)
            return
        if self.suspects and failure.key != self.streak_key:
            self._settle_suspects()
        self.streak_key = failure.key
        self.suspects.append((delivery, failure.reason))
        mark(self.conn, self.built.slug, delivery.subscriber_id, "pending", failure.reason)
        if len(self.suspects) >= SETUP_STREAK:
            raise SetupFailure(f"the server refused {len(self.suspects)} recipients in a row "
                               f"with the same reply: {failure.reason}")

    def _settle_suspects(self, at_end: bool = False) -> None:
        """Someone else got an answer of their own: the held refusals were about addresses.

        At the end of a run in which every row met the same setup-kind refusal (two or more),
        that refusal is taken for the setup's after all.
        """
        held, self.suspects = self.suspects, []
        if at_end and len(held) >= 2 and self.judged == 0:
            raise SetupFailure(f"the server refused all {len(held)} recipients with the same "
                               f"reply: {held[-1][1]}")
        for delivery, reason in held:
            self._fail(delivery, reason)

    def _fail(self, delivery: Delivery, reason: str) -> None:
        """Record a permanent failure for one reader."""
        self.failed.append((delivery.email, reason))
        self._final(delivery, "failed", reason)

    def _temporary(self, delivery: Delivery, failure: DeliveryFailure, round_number: int
                   ) -> bool:
        """A temporary refusal: into the next round, or left pending (deferred) after the last."""
        slug = self.built.slug
        if round_number < self.settings.email.max_retries:
            mark(self.conn, slug, delivery.subscriber_id, "pending", failure.reason)
            self.report(ProgressEvent("retry", self.done, self.total, delivery.email,
                                      failure.reason, self.destination.shown))
            return True
        self.deferred.append((delivery.email, failure.reason))
        self._final(delivery, "pending", failure.reason, kind="deferred")
        return False

    def _unknown(self, delivery: Delivery, reason: str) -> bool:
        """Mark the row unknown; True when it gets its one retry of this run."""
        sid = delivery.subscriber_id
        count = self.unknown_counts.get(sid, delivery.unknown_attempts) + 1
        self.unknown_counts[sid] = count
        mark(self.conn, self.built.slug, sid, "unknown", reason, unknown=True)
        first_in_run = delivery.ledger_status != "unknown" and sid not in self.retried_unknown
        if first_in_run and count <= UNKNOWN_RETRIES:
            self.retried_unknown.add(sid)
            self.report(ProgressEvent("retry", self.done, self.total, delivery.email, reason,
                                      self.destination.shown))
            return True
        self.unknown.append((delivery.email, reason))
        self.done += 1
        self.report(ProgressEvent("unknown", self.done, self.total, delivery.email, reason,
                                  self.destination.shown))
        return False

    def _final(self, delivery: Delivery, status: str, detail: str = "", kind: str = "") -> None:
        """Record a row's outcome for this run and report it."""
        mark(self.conn, self.built.slug, delivery.subscriber_id, status, detail)
        if status in ("sent", "failed") and not kind:
            self.judged += 1
        self.done += 1
        self.report(ProgressEvent(kind or status, self.done, self.total, delivery.email, detail,
                                  self.destination.shown))

    def _message_id(self, subscriber_id: int) -> str:
        """A Message-ID unique to this essay and subscriber, the same on a resend."""
        tag = state.sign(self.secret, "message-id", f"{self.built.slug}:{subscriber_id}")[:16]
        return f"<{self.built.slug}.{tag}@{self.domain}>"

    def _transport_event(self, kind: str, detail: str) -> None:
        """Pass a reconnect on to the progress callback."""
        self.report(ProgressEvent(kind, self.done, self.total, self.current, detail,
                                  self.destination.shown))

    def summary(self, already_sent: int, pending: int) -> SendSummary:
        """The summary of this run, saying where the messages went."""
        slug = self.built.slug
        if self.destination.outbox is not None:
            counts = (f"{self.sent} written, {len(self.failed)} failed, {already_sent} already "
                      f"written, {self.skipped} skipped")
            message = (f"Wrote '{slug}' to {self.destination.label}: {counts}; nothing was "
                       "mailed and the send ledger is unchanged.")
        else:
            counts = (f"{self.sent} sent, {len(self.failed)} failed, {len(self.deferred)} "
                      f"deferred, {len(self.unknown)} unknown, {already_sent} already sent, "
                      f"{self.skipped} skipped")
            undone = self.failed or self.deferred or self.unknown
            opening = "Did not reach everyone with" if undone else "Sent"
            message = f"{opening} '{slug}' through {self.destination.label}: {counts}."
        if self.deferred:
            message += (f" {len(self.deferred)} deferred after temporary errors: run "
                        f"'publish send {slug}' again later.")
        if self.unknown:
            message += (f" {len(self.unknown)} unknown: the server took the message but the "
                        "connection ended before it confirmed, so it may have arrived; such a "
                        f"message is tried again at most {UNKNOWN_RETRIES} times in all.")
        return SendSummary(
            slug=slug,
            sent=self.sent,
            failed=list(self.failed),
            already_sent=already_sent,
            skipped=self.skipped,
            pending=pending,
            message=message,
            deferred=list(self.deferred),
            unknown=list(self.unknown),
            outbox=self.destination.shown,
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

"""Transports: one message to one address, over SMTP or into the outbox folder.

What a server says is sorted by whom it concerns:

* one address (`550 5.1.1 no such user`, `451` greylisting): a DeliveryFailure, permanent or
  temporary, for that recipient alone;
* the connection (`421` closing, `452` too many messages, a dropped line): reconnect after a
  wait that doubles with each failure in a row and resets once a message gets through, and
  ServerUnavailable once that fails too often;
* the setup (the sender refused, `530` authentication required, and the policy, protocol or
  system replies 5.7.x / 5.5.x / 5.3.x / 554): a DeliveryFailure marked `setup`, or
  SetupFailure;
* nobody knows (the server took the whole message and hung up, or said nothing for
  `timeout` seconds, before answering): OutcomeUnknown.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from email_validator import EmailNotValidError, validate_email

from publish.mail.smtp_url import SMTP_URL_ENV, SMTPEndpoint
from publish.state.statuses import Progress
from publish.support.atomic import write_atomically
from publish.support.safetext import fold_controls

SMTP_TIMEOUT = 60.0  # seconds to wait for any reply (PUBLISH_SMTP_TIMEOUT changes it)


class DeliveryFailure(Exception):
    """The server refused one message: `permanent` for 5xx replies, else temporary.

    `setup` marks a refusal that hits every recipient alike when the sending setup is at
    fault (see `_is_setup_reply`); `key` (code and enhanced status) tells two replies apart.
    """

    def __init__(
        self, reason: str, permanent: bool, *, setup: bool = False, key: tuple[int, str] = (0, "")
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.setup = setup
        self.key = key


class OutcomeUnknown(DeliveryFailure):
    """The server took the whole message and the connection died before its answer, or the
    server said nothing at all for as long as the transport waits (the reason says which;
    a send counts both alike towards a relay that never answers)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=False)


class ServerUnavailable(Exception):
    """The server could not be reached, even after reconnecting several times."""


class SetupFailure(ServerUnavailable):
    """A refusal no recipient gets past: the sender, the login or the relay is wrong."""


class RelaySilent(ServerUnavailable):
    """The server took several messages in a row and answered none of them."""


class Transport(Protocol):
    """Something that delivers one message to one address."""

    def check(self, recipient: str) -> None:
        """Raise DeliveryFailure now if this address can never go this way."""

    def send(self, sender: str, recipient: str, message: bytes, name: str) -> None:
        """Deliver, or raise DeliveryFailure / SetupFailure / ServerUnavailable."""

    def close(self) -> None:
        """Release the connection, if any."""


@lru_cache(maxsize=4096)
def envelope_address(address: str) -> tuple[str, bool]:
    """The address as SMTP carries it (an IDN domain as punycode); True if it needs SMTPUTF8.

    Only a non-ASCII part before the @ needs SMTPUTF8; an IDN domain never does.
    """
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise DeliveryFailure(
            f"not an address a server can deliver to: {exc}", permanent=True
        ) from None
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
        timeout: float = SMTP_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
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
            lambda connection: self._transaction(connection, sender, recipient, message)
        )

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
                self.on_event(Progress.RECONNECT, trouble.reason)
                time.sleep(self.backoff * (2 ** (self.troubles - 1)))
                continue
            except DeliveryFailure:
                self.troubles = 0
                raise
            self.troubles = 0
            return

    def _transaction(
        self, connection: smtplib.SMTP, sender: str, recipient: str, message: bytes
    ) -> None:
        """MAIL, RCPT, DATA for one message, each reply sorted by whom it concerns."""
        rcpt, needs_utf8 = envelope_address(recipient)
        options = self._utf8_options(connection, needs_utf8)
        mail_from = envelope_address(sender)[0] if sender else ""
        code, reply = _ask(lambda: connection.mail(mail_from, options), "MAIL")
        if code != 250:
            self._reset(connection)
            if code < 500:
                raise _ConnectionTrouble(_reply_reason(code, reply), replied=True)
            raise SetupFailure(
                f"the server refused the sender address {sender}: {_reply_reason(code, reply)}"
            )
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
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise self._no_answer(exc) from None
        if code == 421:
            raise _ConnectionTrouble(_reply_reason(code, reply), replied=True)
        if code != 250:
            raise _refusal(code, reply, "END")

    def _no_answer(self, exc: BaseException) -> OutcomeUnknown:
        """The message's end met no answer: silence until the timeout, or a closed line."""
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            return OutcomeUnknown(
                f"the server took the whole message and then said nothing for "
                f"{self.timeout:g} seconds; it may have arrived"
            )
        return OutcomeUnknown(
            "the server took the whole message, then the connection ended before it "
            "said whether it accepted it; it may have arrived"
        )

    def _utf8_options(self, connection: smtplib.SMTP, needs_utf8: bool) -> list[str]:
        """["SMTPUTF8"] when the address needs it and the server offers it; else refuse it."""
        if not needs_utf8:
            return []
        if connection.has_extn("smtputf8"):
            return ["SMTPUTF8"]
        raise DeliveryFailure(
            "the part before the @ has non-ASCII characters, which needs SMTPUTF8, and "
            f"the server at {self.endpoint.label} does not offer it",
            permanent=True,
        )

    def _connection(self) -> smtplib.SMTP:
        """The open connection, opening (TLS and login as configured) if needed."""
        if self.connection is not None:
            return self.connection
        endpoint = self.endpoint
        context = ssl.create_default_context()
        try:
            if endpoint.implicit_tls:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    endpoint.host, endpoint.port, timeout=self.timeout, context=context
                )
            else:
                connection = smtplib.SMTP(endpoint.host, endpoint.port, timeout=self.timeout)
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
            return (
                f"the SMTP server at {self.endpoint.label} turned the connection away "
                f"{attempts} times in a row ({trouble.reason})"
            )
        return (
            f"cannot reach the SMTP server at {self.endpoint.label} after "
            f"{attempts} attempts ({trouble.reason})"
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
    return DeliveryFailure(
        _reply_reason(code, reply),
        permanent=permanent,
        setup=permanent and _is_setup_reply(code, status, stage),
        key=(code, status),
    )


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


LINE_DOT = re.compile(rb"\n\.")  # a dot that starts a line (after the first)


def _dot_stuffed(message: bytes) -> bytes:
    """The DATA payload: leading dots doubled, ending in CRLF and the final dot line. A
    line starts after a LF (as `(?m)^` has it), so the dots are found as a LF and a dot: an
    expression anchored at every line start (`(?m)^\\.`) tries each of a message's 38,000
    positions, as much of the sending process's CPU as the rest of a delivery."""
    data = LINE_DOT.sub(b"\n..", message)
    if data.startswith(b"."):
        data = b"." + data
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
        write_atomically(target, message)

    def close(self) -> None:
        """Nothing to release."""

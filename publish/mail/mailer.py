"""The service's mail queue: one worker thread, fed by a bounded queue, sends every letter.

No request ever waits for the mail server: a hung server cannot hold up an unsubscribe,
and a full queue is told to the caller at once. The letters go through the relay of
PUBLISH_SERVICE_SMTP_URL when it is set (so a long bulk send on the relay of
PUBLISH_SMTP_URL never delays a confirmation), else through PUBLISH_SMTP_URL, else to the
outbox (`state/outbox/confirmations/`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from contextlib import closing
from pathlib import Path

import msgspec

from publish.mail.destination import Destination, open_transport, smtp_timeout
from publish.mail.dkim import signer_for
from publish.mail.smtp_url import SMTPEndpoint, parse_smtp_url
from publish.mail.transport import (
    DeliveryFailure,
    OutcomeUnknown,
    ServerUnavailable,
    Transport,
)
from publish.model import Settings
from publish.state import confirmations, ledger
from publish.state.db import connect, database_path
from publish.state.statuses import DeliveryStatus
from publish.support.addresses import masked_address, without_address

OUTBOX_FOLDER = "confirmations"  # state/outbox/confirmations/ when there is no SMTP URL
SERVICE_SMTP_URL_ENV = "PUBLISH_SERVICE_SMTP_URL"  # the service's own relay, if it has one
LOG = logging.getLogger("publish.mail.mailer")


class Letter(msgspec.Struct, frozen=True):
    """One email for the worker to hand to the mail server."""

    sender: str
    recipient: str
    message: bytes
    name: str
    delivery: tuple[str, int] | None = None  # (slug, subscriber id) of a ledger row it settles
    confirmation: tuple[str, int] | None = None  # (link nonce, subscriber id) it confirms

    def label(self) -> str:
        """Which email this is, for a log line, without the reader's full address."""
        whom = masked_address(self.recipient)
        if self.confirmation is not None:
            return f"the confirmation email of signup {self.confirmation[1]} ({whom})"
        if self.delivery is not None:
            return f"the welcome email of subscriber {self.delivery[1]} ({whom})"
        return f"an email to {whom}"


class Mailer:
    """Sends the service's mail from one worker thread, fed by a bounded queue.

    `submit` never blocks: it returns False when the queue is full. The worker starts with
    the first letter and survives any failure of one letter: it is logged with the relay's
    reply (the reader's address masked), and a confirmation's failure is kept for
    `publish status`.
    """

    def __init__(self, root: Path, settings: Settings, size: int):
        self.root = root
        self.settings = msgspec.structs.replace(
            settings, email=msgspec.structs.replace(settings.email, max_retries=1)
        )
        self.relay = service_relay()  # a bad URL stops the service before it starts
        self.signer = signer_for(root, settings)  # so does a broken DKIM key
        smtp_timeout()  # and a bad PUBLISH_SMTP_TIMEOUT (else every letter fails unexplained)
        self.letters: queue.Queue[Letter | None] = queue.Queue(maxsize=max(1, size))
        self.idle = threading.Condition()
        self.unfinished = 0
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()

    def submit(self, letter: Letter) -> bool:
        """Queue a letter; False (and nothing queued) when the queue is full."""
        self._start()
        with self.idle:
            try:
                self.letters.put_nowait(letter)
            except queue.Full:
                self._record(letter, DeliveryStatus.PENDING, "the service's mail queue was full")
                return False
            self.unfinished += 1
        return True

    def drain(self, timeout: float) -> bool:
        """Wait until every queued letter has been handled; False if `timeout` ran out."""
        with self.idle:
            return self.idle.wait_for(lambda: self.unfinished == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker once it has handled what is queued (waiting at most `timeout`)."""
        if self.thread is None:
            return
        try:
            self.letters.put(None, timeout=timeout)
        except queue.Full:
            return  # the worker is stuck on a mail server; it is a daemon thread
        self.thread.join(timeout)

    def _start(self) -> None:
        """Start the worker thread if it is not running."""
        with self.start_lock:
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._work, name="publish-mailer", daemon=True
                )
                self.thread.start()

    def _work(self) -> None:
        """Hand each queued letter to the mail server, one at a time, until told to stop."""
        while (letter := self.letters.get()) is not None:
            try:
                self._deliver(letter)
            except Exception as exc:  # noqa: BLE001 - one bad letter must not stop the worker
                LOG.warning("%s was not sent: %s", letter.label(), failure_reason(exc, letter))
            finally:
                with self.idle:
                    self.unfinished -= 1
                    self.idle.notify_all()

    def _deliver(self, letter: Letter) -> None:
        """Send one letter through the service's relay, or the site's transport (SMTP, or the
        outbox), signed when DKIM is set up; one quick retry. A letter that is a ledger
        delivery (the welcome copy) has its outcome recorded there: `sent` only once the
        server accepted it."""
        transport: Transport
        if self.relay is not None:
            transport = Destination(endpoint=self.relay, signer=self.signer).open(self.settings)
        else:
            transport = open_transport(self.root, self.settings, OUTBOX_FOLDER)
        try:
            transport.send(letter.sender, letter.recipient, letter.message, letter.name)
        except Exception as exc:
            self._settle_failure(letter, exc)
            raise
        else:
            self._record(letter, DeliveryStatus.SENT)
        finally:
            transport.close()

    def _settle_failure(self, letter: Letter, exc: Exception) -> None:
        """Record why a letter did not go out: a ledger letter's outcome, a confirmation's
        reason (for `publish status`)."""
        if isinstance(exc, OutcomeUnknown):
            self._record(letter, DeliveryStatus.UNKNOWN, str(exc))
        elif isinstance(exc, DeliveryFailure):
            self._record(
                letter, DeliveryStatus.FAILED if exc.permanent else DeliveryStatus.PENDING, str(exc)
            )
        else:
            self._record(letter, DeliveryStatus.PENDING, type(exc).__name__)
        if letter.confirmation is not None:
            with closing(connect(database_path(self.root, self.settings))) as conn:
                confirmations.record_failure(
                    conn, letter.confirmation[0], failure_reason(exc, letter)
                )

    def _record(self, letter: Letter, status: str, detail: str = "") -> None:
        """Record a ledger letter's outcome (a pending one is sent by the essay's next send)."""
        if letter.delivery is None:
            return
        slug, subscriber_id = letter.delivery
        with closing(connect(database_path(self.root, self.settings))) as conn:
            ledger.mark(
                conn, slug, subscriber_id, status, detail, unknown=status == DeliveryStatus.UNKNOWN
            )


def failure_reason(exc: Exception, letter: Letter) -> str:
    """Why a letter did not go out, in words fit for a log: the relay's reply (code and
    text) or the server trouble, with the reader's address masked; only the kind of any
    other error, whose text could hold anything."""
    if isinstance(exc, DeliveryFailure):
        reason = exc.reason
    elif isinstance(exc, ServerUnavailable):
        reason = str(exc)
    else:
        reason = type(exc).__name__
    return without_address(reason, letter.recipient)


def service_relay() -> SMTPEndpoint | None:
    """The relay of PUBLISH_SERVICE_SMTP_URL, or None when it is not set; a URL that cannot
    be read is a PublishError naming the variable (never repeating the URL)."""
    url = os.environ.get(SERVICE_SMTP_URL_ENV, "").strip()
    return parse_smtp_url(url, SERVICE_SMTP_URL_ENV) if url else None

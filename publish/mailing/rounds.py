"""One run through the rows of a send, in rounds, and what it reports: progress, a summary.

A refusal for one address fails that row, or defers it to a later round of the same send
(the whole list waiting once per round); SETUP_STREAK recipients in a row refused alike
with a setup-kind reply stop the send with those rows still pending; a row of unknown
outcome is tried again at most once in that send, UNKNOWN_RETRIES in all.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from publish.mailing.built import BuiltEmail, envelope_sender, personal_message
from publish.mailing.destination import Destination, retry_backoff, state_dir
from publish.mailing.transport import (
    DeliveryFailure,
    OutcomeUnknown,
    SetupFailure,
    header_address,
)
from publish.model import Settings
from publish.outputs import mime
from publish.outputs.urls import unsubscribe_url
from publish.state import db, ledger
from publish.state.ledger import Delivery
from publish.state.subscribers import ACTIVE, unsubscribe_token

SETUP_STREAK = 5  # this many recipients in a row refused alike means the setup is broken


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


def compose(
    built: BuiltEmail, settings: Settings, *, to: str, name: str, unsubscribe: str, message_id: str
) -> bytes:
    """One reader's message; one that cannot be built fails for that reader alone."""
    try:
        return personal_message(
            built, settings, to=to, name=name, unsubscribe=unsubscribe, message_id=message_id
        )
    except ValueError as exc:  # header defects and encoding errors are ValueErrors
        raise DeliveryFailure(
            f"the message for this address could not be built ({exc})", permanent=True
        ) from None


class SendRun:
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
        self.secret = db.load_secret(state_dir(root, settings))
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
        self.pace = Pace(settings.email.rate)

    def deliver_all(self, pending: list[Delivery]) -> None:
        """Deliver the rows in rounds, recording each outcome as it happens."""
        self.report(
            ProgressEvent(
                "start", 0, self.total, detail=self.destination.label, outbox=self.destination.shown
            )
        )
        queue, round_number = pending, 0
        while queue:
            again = [d for d in queue if self._attempt(d, round_number)]
            if any(d.subscriber_id not in self.retried_unknown for d in again):
                time.sleep(self.backoff * (2**round_number))
            queue, round_number = again, round_number + 1
        self._settle_suspects(at_end=True)

    def left(self) -> int:
        """Rows still to do in the ledger."""
        return len(ledger.pending_deliveries(self.conn, self.built.slug))

    def _attempt(self, delivery: Delivery, round_number: int) -> bool:
        """Try one row; True if it goes into the next round."""
        self.current = delivery.email
        delivery = ledger.current_subscriber(self.conn, delivery)
        if delivery.status != ACTIVE:
            self._final(delivery, "skipped", "no longer subscribed")
            self.skipped += 1
            return False
        try:
            self.transport.check(delivery.email)
            data = self._message(delivery)
            self.pace.wait()
            self.transport.send(
                self._sender(delivery), delivery.email, data, f"{delivery.subscriber_id:06d}"
            )
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
        return compose(
            self.built,
            self.settings,
            to=header_address(delivery.email),
            name=delivery.name,
            unsubscribe=unsubscribe_url(
                self.settings, unsubscribe_token(self.secret, delivery.subscriber_id)
            ),
            message_id=self._message_id(delivery.subscriber_id),
        )

    def _sender(self, delivery: Delivery) -> str:
        """This copy's return path (VERP when `[email] bounce_address` is set)."""
        return envelope_sender(
            self.settings,
            secret=self.secret,
            subscriber_id=delivery.subscriber_id,
            slug=self.built.slug,
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
        ledger.mark(self.conn, self.built.slug, delivery.subscriber_id, "pending", failure.reason)
        if len(self.suspects) >= SETUP_STREAK:
            raise SetupFailure(
                f"the server refused {len(self.suspects)} recipients in a row "
                f"with the same reply: {failure.reason}"
            )

    def _settle_suspects(self, at_end: bool = False) -> None:
        """Someone else got an answer of their own: the held refusals were about addresses.

        At the end of a run in which every row met the same setup-kind refusal (two or more),
        that refusal is taken for the setup's after all.
        """
        held, self.suspects = self.suspects, []
        if at_end and len(held) >= 2 and self.judged == 0:
            raise SetupFailure(
                f"the server refused all {len(held)} recipients with the same reply: {held[-1][1]}"
            )
        for delivery, reason in held:
            self._fail(delivery, reason)

    def _fail(self, delivery: Delivery, reason: str) -> None:
        """Record a permanent failure for one reader."""
        self.failed.append((delivery.email, reason))
        self._final(delivery, "failed", reason)

    def _temporary(self, delivery: Delivery, failure: DeliveryFailure, round_number: int) -> bool:
        """A temporary refusal: into the next round, or left pending (deferred) after the last."""
        slug = self.built.slug
        if round_number < self.settings.email.max_retries:
            ledger.mark(self.conn, slug, delivery.subscriber_id, "pending", failure.reason)
            self.report(
                ProgressEvent(
                    "retry",
                    self.done,
                    self.total,
                    delivery.email,
                    failure.reason,
                    self.destination.shown,
                )
            )
            return True
        self.deferred.append((delivery.email, failure.reason))
        self._final(delivery, "pending", failure.reason, kind="deferred")
        return False

    def _unknown(self, delivery: Delivery, reason: str) -> bool:
        """Mark the row unknown; True when it gets its one retry of this run."""
        sid = delivery.subscriber_id
        count = self.unknown_counts.get(sid, delivery.unknown_attempts) + 1
        self.unknown_counts[sid] = count
        ledger.mark(self.conn, self.built.slug, sid, "unknown", reason, unknown=True)
        first_in_run = delivery.ledger_status != "unknown" and sid not in self.retried_unknown
        if first_in_run and count <= ledger.UNKNOWN_RETRIES:
            self.retried_unknown.add(sid)
            self.report(
                ProgressEvent(
                    "retry", self.done, self.total, delivery.email, reason, self.destination.shown
                )
            )
            return True
        self.unknown.append((delivery.email, reason))
        self.done += 1
        self.report(
            ProgressEvent(
                "unknown", self.done, self.total, delivery.email, reason, self.destination.shown
            )
        )
        return False

    def _final(self, delivery: Delivery, status: str, detail: str = "", kind: str = "") -> None:
        """Record a row's outcome for this run and report it."""
        ledger.mark(self.conn, self.built.slug, delivery.subscriber_id, status, detail)
        if status in ("sent", "failed") and not kind:
            self.judged += 1
        self.done += 1
        self.report(
            ProgressEvent(
                kind or status,
                self.done,
                self.total,
                delivery.email,
                detail,
                self.destination.shown,
            )
        )

    def _message_id(self, subscriber_id: int) -> str:
        """A Message-ID unique to this essay and subscriber, the same on a resend."""
        tag = db.sign(self.secret, "message-id", f"{self.built.slug}:{subscriber_id}")[:16]
        return f"<{self.built.slug}.{tag}@{self.domain}>"

    def _transport_event(self, kind: str, detail: str) -> None:
        """Pass a reconnect on to the progress callback."""
        self.report(
            ProgressEvent(kind, self.done, self.total, self.current, detail, self.destination.shown)
        )

    def summary(self, already_sent: int, pending: int) -> SendSummary:
        """The summary of this run, saying where the messages went."""
        slug = self.built.slug
        if self.destination.outbox is not None:
            counts = (
                f"{self.sent} written, {len(self.failed)} failed, {already_sent} already "
                f"written, {self.skipped} skipped"
            )
            message = (
                f"Wrote '{slug}' to {self.destination.label}: {counts}; nothing was "
                "mailed and the send ledger is unchanged."
            )
        else:
            counts = (
                f"{self.sent} sent, {len(self.failed)} failed, {len(self.deferred)} "
                f"deferred, {len(self.unknown)} unknown, {already_sent} already sent, "
                f"{self.skipped} skipped"
            )
            undone = self.failed or self.deferred or self.unknown
            opening = "Did not reach everyone with" if undone else "Sent"
            message = f"{opening} '{slug}' through {self.destination.label}: {counts}."
        if self.deferred:
            message += (
                f" {len(self.deferred)} deferred after temporary errors: run "
                f"'publish send {slug}' again later."
            )
        if self.unknown:
            message += (
                f" {len(self.unknown)} unknown: the server took the message but the "
                "connection ended before it confirmed, so it may have arrived; such a "
                f"message is tried again at most {ledger.UNKNOWN_RETRIES} times in all."
            )
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


class Pace:
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

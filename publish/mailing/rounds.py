"""One run through the rows of a send, in rounds, and what it reports: progress, a summary.

A refusal for one address fails that row, or defers it to a later round of the same send
(the whole list waiting once per round); SETUP_STREAK recipients in a row refused alike
with a setup-kind reply stop the send with those rows still pending; a row of unknown
outcome is tried again at most once in that send, UNKNOWN_RETRIES in all.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publish.mailing.built import BuiltEmail, envelope_sender, personal_message
from publish.mailing.destination import Destination, retry_backoff, state_dir
from publish.mailing.pace import HOUR, Pace
from publish.mailing.transport import (
    DeliveryFailure,
    OutcomeUnknown,
    ServerUnavailable,
    SetupFailure,
    header_address,
)
from publish.mailing.workers import Job, Notice, Outcome, Workers
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
    """One run through the rows of a send, in rounds, over `[email] connections` workers.

    Round 0 tries every row once. A row deferred by a temporary refusal, and a row whose
    outcome became unknown in this run, go into the next round; before a round with deferred
    rows the whole list waits once (the backoff, doubling each round, up to max_retries
    rounds), so a slow or greylisting server costs one wait per round, not one per reader.

    This thread alone reads and writes the ledger: it composes each reader's copy, claims
    the row ('sending', committed) just before an idle worker gets it, and records the
    outcome the worker reports. One connection opens first; the others join once a message
    has got through, so a broken setup is found on one connection and stops the send there.
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
        recovered: int = 0,
    ) -> None:
        self.settings, self.built, self.conn, self.report = settings, built, conn, report
        self.destination = destination
        self.total, self.recovered = total, recovered
        self.secret = db.load_secret(state_dir(root, settings))
        self.sender = envelope_sender(settings)
        self.domain = mime.site_domain(settings)
        self.current = ""
        self.backoff = retry_backoff()
        self.sent, self.skipped, self.done, self.judged = 0, 0, 0, 0
        self.failed: list[tuple[str, str]] = []
        self.deferred: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self.unknown_counts: dict[int, int] = {}
        self.retried_unknown: set[int] = set()
        self.suspects: list[tuple[Delivery, str]] = []  # setup-kind refusals, still pending
        self.streak_key: tuple[int, str] = (0, "")
        self.stopping = False
        self.pace = make_pace(conn, settings, destination, self._hold)
        self.workers = Workers(
            settings.email.connections if destination.outbox is None else 1,
            lambda on_event: destination.open(settings, on_event),
            self.sender,
            self.pace,
        )
        self.ready: deque[Job] = deque()

    def deliver_all(self, pending: Iterable[Delivery]) -> None:
        """Deliver the rows in rounds, recording each outcome as it happens."""
        self.report(
            ProgressEvent(
                "start", 0, self.total, detail=self.destination.label, outbox=self.destination.shown
            )
        )
        rows: Iterator[Delivery] = iter(pending)
        round_number = 0
        while True:
            again = self._round(rows, round_number)
            if not again:
                break
            if any(d.subscriber_id not in self.retried_unknown for d in again):
                time.sleep(self.backoff * (2**round_number))
            rows, round_number = iter(again), round_number + 1
        self._settle_suspects(at_end=True)

    def close(self) -> None:
        """Stop the workers; each closes its connection."""
        self.workers.stop()

    def left(self) -> int:
        """Rows still to do in the ledger."""
        return ledger.count_pending(self.conn, self.built.slug)

    def _round(self, rows: Iterator[Delivery], round_number: int) -> list[Delivery]:
        """One round over `rows`; the rows that go into the next one."""
        again: list[Delivery] = []
        source = _Rows(rows)
        self.workers.grow(1 if not self.sent else self.workers.size)
        try:
            while True:
                self._dispatch(source)
                if not self.workers.busy:
                    return again
                can_prepare = len(self.ready) < self.workers.size and not source.done
                result = self.workers.next_result(block=not can_prepare)
                if result is None:
                    self._prepare_next(source)
                elif isinstance(result, Notice):
                    self._notice(result)
                elif self._outcome(result, round_number):
                    again.append(result.job.delivery)
        except BaseException:
            self._drain(round_number)
            raise

    def _dispatch(self, source: _Rows) -> None:
        """Give every idle worker its next message, claimed in the ledger first."""
        while self.workers.idle and not self.stopping:
            if not self.ready and not self._prepare_next(source):
                return
            job = self.ready.popleft()
            ledger.claim(self.conn, self.built.slug, job.delivery.subscriber_id)
            self.workers.hand(job)

    def _prepare_next(self, source: _Rows) -> bool:
        """Compose the next row's message into `ready`; False when no row is left."""
        while (delivery := source.next()) is not None:
            job = self._prepare(delivery)
            if job is not None:
                self.ready.append(job)
                return True
        return False

    def _prepare(self, delivery: Delivery) -> Job | None:
        """The row's job, or None when it is settled here (left the list, unbuildable)."""
        self.current = delivery.email
        delivery = ledger.current_subscriber(self.conn, delivery)
        if delivery.status != ACTIVE:
            self._final(delivery, "skipped", "no longer subscribed")
            self.skipped += 1
            return None
        try:
            data = self._message(delivery)
        except DeliveryFailure as failure:
            self._refused(delivery, failure)
            return None
        return Job(delivery, data, f"{delivery.subscriber_id:06d}")

    def _outcome(self, outcome: Outcome, round_number: int) -> bool:
        """Record what a worker reports; True if the row goes into the next round."""
        delivery, error = outcome.job.delivery, outcome.error
        self.current = delivery.email
        if error is None:
            self._settle_suspects()
            self._final(delivery, "sent")
            self.sent += 1
            if self.sent == 1:
                self.workers.grow(self.workers.size)
            return False
        if isinstance(error, OutcomeUnknown):
            return self._unknown(delivery, error.reason)
        if isinstance(error, DeliveryFailure):
            if error.permanent:
                self._refused(delivery, error)
                return False
            return self._temporary(delivery, error, round_number)
        if isinstance(error, ServerUnavailable):  # the message never went: still pending
            ledger.mark(self.conn, self.built.slug, delivery.subscriber_id, "pending", str(error))
        raise error  # anything else leaves the row claimed: unknown to the next run

    def _drain(self, round_number: int) -> None:
        """The send is stopping: record the outcome of every message still in flight."""
        self.stopping = True
        while self.workers.busy:
            result = self.workers.next_result()
            if isinstance(result, Outcome):
                with contextlib.suppress(Exception):  # the first reason to stop is the one told
                    self._outcome(result, round_number)

    def _notice(self, notice: Notice) -> None:
        """Pass a connection's event on to the progress callback."""
        self.report(
            ProgressEvent(
                notice.kind,
                self.done,
                self.total,
                notice.email,
                notice.detail,
                self.destination.shown,
            )
        )

    def _hold(self, until: float) -> None:
        """The hourly limit holds the send (told from a worker's thread)."""
        moment = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
        detail = (
            f"the hourly limit of {self.settings.email.hourly_limit} messages is reached; "
            f"waiting until {moment}"
        )
        self.workers.results.put(Notice(-1, "waiting", detail))

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
        if self.stopping:
            return  # the send stopped: the held rows stay pending, nobody is failed
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
        message += "".join(self._notes())
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

    def _notes(self) -> Iterator[str]:
        """The sentences after the counts: what is left, and what the send went through."""
        slug = self.built.slug
        if self.recovered:
            yield (
                f" {self.recovered} message(s) had been handed to the server by a send that "
                "stopped before its answer was recorded; they counted as unknown and were "
                "tried again, so those readers may have two copies."
            )
        if self.pace.holds:
            yield (
                f" The hourly limit of {self.settings.email.hourly_limit} messages paused the "
                f"send {self.pace.holds} time(s)."
            )
        if self.deferred:
            yield (
                f" {len(self.deferred)} deferred after temporary errors: run "
                f"'publish send {slug}' again later."
            )
        if self.unknown:
            yield (
                f" {len(self.unknown)} unknown: the server took the message but the "
                "connection ended before it confirmed, so it may have arrived; such a "
                f"message is tried again at most {ledger.UNKNOWN_RETRIES} times in all."
            )


class _Rows:
    """The rows of one round, taken one at a time; `done` once none is left."""

    def __init__(self, rows: Iterator[Delivery]) -> None:
        self.rows = rows
        self.done = False

    def next(self) -> Delivery | None:
        """The next row, or None (and `done`) at the end."""
        row = next(self.rows, None)
        self.done = row is None
        return row


def make_pace(
    conn: sqlite3.Connection,
    settings: Settings,
    destination: Destination,
    on_hold: Callable[[float], None],
) -> Pace:
    """The send's shared pace; the hourly limit counts the messages of the past hour."""
    if destination.outbox is not None:
        return Pace(0.0)  # writing files: no relay to spare
    limit = settings.email.hourly_limit
    earlier: list[float] = []
    if limit:
        since = (datetime.now(UTC) - timedelta(seconds=HOUR)).isoformat(timespec="seconds")
        earlier = [datetime.fromisoformat(t).timestamp() for t in ledger.sent_since(conn, since)]
    return Pace(settings.email.rate, limit, earlier, on_hold)

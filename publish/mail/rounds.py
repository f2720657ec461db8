"""One run through the rows of a send, in rounds, and what it reports: progress, a summary.

A refusal for one address fails that row, or defers it to a later round of the same send
(the whole list waiting once per round); SETUP_STREAK recipients in a row refused alike
with a setup-kind reply stop the send with those rows still pending; a row of unknown
outcome is tried again at most once in that send, UNKNOWN_RETRIES in all; SILENT_STREAK
messages in a row that the server took without ever answering (it hung after the message's
end, or hung up) stop the send with those rows unknown, never sent.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from publish.mail import mime
from publish.mail.built import BuiltEmail, envelope_sender
from publish.mail.composer import Composer, Context, Copy
from publish.mail.destination import Destination, retry_backoff, smtp_timeout, state_dir
from publish.mail.pace import make_pace
from publish.mail.progress import ProgressEvent
from publish.mail.transport import (
    DeliveryFailure,
    OutcomeUnknown,
    RelaySilent,
    ServerUnavailable,
    SetupFailure,
)
from publish.mail.workers import Job, Notice, Outcome, Workers
from publish.model import Settings
from publish.state import db, ledger
from publish.state.ledger import Delivery
from publish.state.statuses import DeliveryStatus, Progress, SubscriberStatus
from publish.support.testhooks import crash_at

SETUP_STREAK = 5  # this many recipients in a row refused alike means the setup is broken
# This many messages in a row (over all connections) taken by the server without an answer
# mean the relay hangs: each costs the SMTP timeout and may arrive twice if tried again.
SILENT_STREAK = 3


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
        domain = mime.site_domain(settings)
        self.current = ""
        self.backoff = retry_backoff()
        self.sent, self.skipped, self.done, self.judged = 0, 0, 0, 0
        self.failed: list[tuple[str, str]] = []
        self.deferred: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self.unknown_counts: dict[int, int] = {}
        self.retried_unknown: set[int] = set()
        self.silent = 0  # messages in a row the server took without answering
        # setup-kind refusals, still pending: the reader, the reply, and when it came
        self.suspects: list[tuple[Delivery, str, float]] = []
        self.streak_key: tuple[int, str] = (0, "")
        self.stopping = False
        self.pace = make_pace(conn, settings, destination.outbox is not None, self._hold)
        self.workers = Workers(
            settings.email.connections if destination.outbox is None else 1,
            lambda on_event: destination.open(settings, on_event, signs=False),
            self.pace,
            smtp_timeout(),
        )
        self.secret = db.load_secret(state_dir(root, settings))
        context = Context(built, settings, self.secret, domain, destination.signer)
        self.composer = Composer(context, total)  # forks, if it does, before any thread starts
        self.ready: deque[tuple[Delivery, Copy]] = deque()
        self.claimed: list[Job] = []  # claimed in the open transaction, handed at its commit

    def deliver_all(self, pending: Iterable[Delivery]) -> None:
        """Deliver the rows in rounds, recording each outcome as it happens."""
        where = self.destination
        self.report(
            ProgressEvent(Progress.START, 0, self.total, detail=where.label, outbox=where.shown)
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
        """Stop the workers (each closes its connection) and the composers."""
        self.workers.stop()
        self.composer.close()

    def left(self) -> int:
        """Rows still to do in the ledger."""
        return ledger.count_pending(self.conn, self.built.slug)

    def _round(self, rows: Iterator[Delivery], round_number: int) -> list[Delivery]:
        """One round over `rows`; the rows that go into the next one."""
        again: list[Delivery] = []
        source = _Rows(rows)
        self.workers.grow(1 if not self.sent else self.workers.size)
        results: list[Outcome | Notice] = []
        try:
            while True:
                settle = partial(self._settle, results, round_number, again, source)
                self._in_one_transaction(settle)
                if not self.workers.busy:
                    return again
                results = self._collect(source)
        except BaseException:
            self._drain(round_number)
            raise

    def _collect(self, source: _Rows) -> list[Outcome | Notice]:
        """Wait for what the workers report (composing copies ahead meanwhile), then take
        everything that has arrived, so that it is recorded in one transaction."""
        while True:
            ahead = self.workers.size + self.composer.ahead
            can_prepare = len(self.ready) < ahead and not source.done
            result = self.workers.next_result(block=not can_prepare)
            if result is not None:
                break
            self._prepare_next(source)
        results = [result]
        while (more := self.workers.next_result(block=False)) is not None:
            results.append(more)
        return results

    def _settle(
        self,
        results: list[Outcome | Notice],
        round_number: int,
        again: list[Delivery],
        source: _Rows,
    ) -> None:
        """Record the reported outcomes, then claim the next message of each idle worker.

        Every outcome is recorded even when one of them stops the send; the first reason
        to stop is raised after them."""
        failure: Exception | None = None
        for result in results:
            try:
                if isinstance(result, Notice):
                    self._notice(result)
                elif self._outcome(result, round_number):
                    again.append(result.job.delivery)
            except Exception as exc:  # noqa: BLE001 - raised once the rest are recorded
                failure = failure or exc
                self.stopping = True
        if failure is not None:
            raise failure
        self._dispatch(source)

    def _in_one_transaction(self, step: Callable[[], None]) -> None:
        """Run `step` in one committed transaction (one write to disk for many rows), then
        hand the jobs it claimed to their workers: never before their claims are committed.
        What `step` raises is raised after the commit, its claims given back first."""
        self.claimed: list[Job] = []
        failure: Exception | None = None
        with db.transaction(self.conn):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - recorded first, raised below
                failure = exc
                for job in self.claimed:
                    self._mark(job.delivery, DeliveryStatus.PENDING)
        if failure is not None:
            raise failure
        crash_at("claimed", len(self.claimed))
        for job in self.claimed:
            self.workers.hand(job)

    def _dispatch(self, source: _Rows) -> None:
        """Claim the next message of every idle worker (handed over once committed)."""
        while len(self.claimed) < len(self.workers.idle) and not self.stopping:
            if not self.ready and not self._prepare_next(source):
                return
            delivery, copy = self.ready.popleft()
            if ledger.current_subscriber(self.conn, delivery).status != SubscriberStatus.ACTIVE:
                self._skip(delivery)  # left while the copy was being made
                continue
            try:
                data = copy.result()
            except DeliveryFailure as failure:
                self._refused(delivery, failure)
                continue
            ledger.claim(self.conn, self.built.slug, delivery.subscriber_id)
            name = f"{delivery.subscriber_id:06d}"
            self.claimed.append(Job(delivery, data, name, self._sender(delivery)))

    def _prepare_next(self, source: _Rows) -> bool:
        """Start the next row's copy into `ready`; False when no row is left."""
        while (delivery := source.next()) is not None:
            delivery = ledger.current_subscriber(self.conn, delivery)
            if delivery.status == SubscriberStatus.ACTIVE:
                self.ready.append((delivery, self.composer.copy(delivery)))
                return True
            self._skip(delivery)
        return False

    def _skip(self, delivery: Delivery) -> None:
        """The reader left the list: the row is skipped."""
        self.current = delivery.email
        self._final(delivery, DeliveryStatus.SKIPPED, "no longer subscribed")
        self.skipped += 1

    def _outcome(self, outcome: Outcome, round_number: int) -> bool:
        """Record what a worker reports; True if the row goes into the next round."""
        delivery, error = outcome.job.delivery, outcome.error
        self.current = delivery.email
        if not isinstance(error, OutcomeUnknown | ServerUnavailable):
            self.silent = 0  # the server answered
        if error is None:
            self._settle_suspects(before=outcome.started)
            self._final(delivery, DeliveryStatus.SENT)
            self.sent += 1
            if self.sent == 1:
                self.workers.grow(self.workers.size)
            return False
        if isinstance(error, OutcomeUnknown):
            return self._unknown(delivery, error.reason)
        if isinstance(error, DeliveryFailure):
            if error.permanent:
                self._refused(delivery, error, outcome.started)
                return False
            return self._temporary(delivery, error, round_number)
        if isinstance(error, ServerUnavailable):  # the message never went: still pending
            self._mark(delivery, DeliveryStatus.PENDING, str(error))
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

    def _sender(self, delivery: Delivery) -> str:
        """This copy's return path (VERP when `[email] bounce_address` is set)."""
        return envelope_sender(
            self.settings,
            secret=self.secret,
            subscriber_id=delivery.subscriber_id,
            slug=self.built.slug,
        )

    def _hold(self, until: float) -> None:
        """The hourly limit holds the send (told from a worker's thread)."""
        moment = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
        detail = (
            f"the hourly limit of {self.settings.email.hourly_limit} messages is reached; "
            f"waiting until {moment}"
        )
        self.workers.results.put(Notice(-1, Progress.WAITING, detail))

    def _refused(
        self, delivery: Delivery, failure: DeliveryFailure, started: float | None = None
    ) -> None:
        """A permanent refusal: failed at once, or held pending while it may be the setup.
        `started` is when the refused transaction began (None: now)."""
        started = time.monotonic() if started is None else started
        if not failure.setup:
            self._settle_suspects(before=started)
            self._fail(delivery, failure.reason)
            return
        if self.suspects and failure.key != self.streak_key:
            self._settle_suspects(before=started)
        self.streak_key = failure.key
        self.suspects.append((delivery, failure.reason, time.monotonic()))
        self._mark(delivery, DeliveryStatus.PENDING, failure.reason)
        if len(self.suspects) >= SETUP_STREAK:
            raise SetupFailure(
                f"the server refused {len(self.suspects)} recipients in a row "
                f"with the same reply: {failure.reason}"
            )

    def _settle_suspects(self, at_end: bool = False, before: float | None = None) -> None:
        """Someone else got an answer of their own: the held refusals were about addresses.

        Only the refusals that came before the transaction that got the answer began count
        (`before`; None: all): with several connections, a message already under way when
        the server turned against the setup may still go through, and proves nothing about
        the refusals after it. At the end of a run in which every row met the same setup-kind
        refusal (two or more), that refusal is taken for the setup's after all.
        """
        if self.stopping:
            return  # the send stopped: the held rows stay pending, nobody is failed
        held = [s for s in self.suspects if before is None or s[2] < before]
        self.suspects = [s for s in self.suspects if not (before is None or s[2] < before)]
        if at_end and len(held) >= 2 and self.judged == 0:
            raise SetupFailure(
                f"the server refused all {len(held)} recipients with the same reply: {held[-1][1]}"
            )
        for delivery, reason, _ in held:
            self._fail(delivery, reason)

    def _fail(self, delivery: Delivery, reason: str) -> None:
        """Record a permanent failure for one reader."""
        self.failed.append((delivery.email, reason))
        self._final(delivery, DeliveryStatus.FAILED, reason)

    def _temporary(self, delivery: Delivery, failure: DeliveryFailure, round_number: int) -> bool:
        """A temporary refusal: into the next round, or left pending (deferred) after the last."""
        if round_number < self.settings.email.max_retries:
            self._mark(delivery, DeliveryStatus.PENDING, failure.reason)
            self.report(
                ProgressEvent(
                    Progress.RETRY,
                    self.done,
                    self.total,
                    delivery.email,
                    failure.reason,
                    self.destination.shown,
                )
            )
            return True
        self.deferred.append((delivery.email, failure.reason))
        self._final(delivery, DeliveryStatus.PENDING, failure.reason, kind=Progress.DEFERRED)
        return False

    def _unknown(self, delivery: Delivery, reason: str) -> bool:
        """Mark the row unknown; True when it gets its one retry of this run. RelaySilent
        once SILENT_STREAK first tries in a row met no answer."""
        sid = delivery.subscriber_id
        count = self.unknown_counts.get(sid, delivery.unknown_attempts) + 1
        self.unknown_counts[sid] = count
        self._mark(delivery, DeliveryStatus.UNKNOWN, reason, unknown=True)
        first_in_run = (
            delivery.ledger_status != DeliveryStatus.UNKNOWN and sid not in self.retried_unknown
        )
        self.silent += first_in_run  # a retry may be that reader's own trouble: not counted
        hanging = self.silent >= SILENT_STREAK
        if first_in_run and count <= ledger.UNKNOWN_RETRIES and not hanging:
            self.retried_unknown.add(sid)
            self.report(
                ProgressEvent(
                    Progress.RETRY,
                    self.done,
                    self.total,
                    delivery.email,
                    reason,
                    self.destination.shown,
                )
            )
            return True
        self.unknown.append((delivery.email, reason))
        self.done += 1
        self.report(
            ProgressEvent(
                Progress.UNKNOWN,
                self.done,
                self.total,
                delivery.email,
                reason,
                self.destination.shown,
            )
        )
        if hanging:
            raise RelaySilent(
                f"the SMTP server at {self.destination.label} took {self.silent} messages in "
                f"a row and answered none of them ({reason})"
            )
        return False

    def _mark(self, row: Delivery, status: str, detail: str = "", unknown: bool = False) -> None:
        """Record a row's status in the ledger."""
        ledger.mark(self.conn, self.built.slug, row.subscriber_id, status, detail, unknown=unknown)

    def _final(self, delivery: Delivery, status: str, detail: str = "", kind: str = "") -> None:
        """Record a row's outcome for this run and report it."""
        self._mark(delivery, status, detail)
        if status in (DeliveryStatus.SENT, DeliveryStatus.FAILED) and not kind:
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

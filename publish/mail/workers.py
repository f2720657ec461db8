"""The connections of a send: one thread each, with its own SMTP connection.

The send's coordinator (`publish.mail.rounds`) owns the ledger and hands each worker one
message at a time, already claimed in the ledger; the worker waits for the shared pace,
delivers it, and puts the outcome on the results queue. A worker never touches the
database, so at most one message per connection is ever between its claim and its outcome.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable

import msgspec

from publish.mail.pace import Pace
from publish.mail.transport import Transport
from publish.state.ledger import Delivery
from publish.state.statuses import Progress
from publish.support.testhooks import crash_at

PUSHBACK = re.compile(r"(421|451|452|454) (?!4\.5\.3)")  # 4.5.3: a per-connection message cap
# A stopping worker finishes the message in hand and says QUIT: it may wait for every reply
# of that exchange (MAIL, RCPT, DATA, the final dot, QUIT), each up to the relay timeout.
REPLIES_TO_STOP = 5
STOP_MARGIN = 30.0  # seconds beyond those replies: connecting, the pace, the thread


class Job(msgspec.Struct, frozen=True):
    """One reader's message, claimed in the ledger, for a worker to deliver."""

    delivery: Delivery
    data: bytes
    name: str  # a short name for the message (the outbox's file name)
    sender: str  # the envelope sender: this copy's return path (VERP) or the From address


class Outcome(msgspec.Struct, frozen=True):
    """What became of a job: `error` None when the server accepted it; `started` the moment
    (time.monotonic) its transaction began, so the server's later answers can be told from
    the ones it gave before."""

    worker: int
    job: Job
    error: BaseException | None
    started: float = 0.0


class Notice(msgspec.Struct, frozen=True):
    """Something a worker's connection went through (a reconnect, a pause), for the report."""

    worker: int
    kind: str
    detail: str
    email: str = ""  # the address of the message the worker was sending, if any


class Workers:
    """Up to `size` delivery threads; each starts when `grow` asks for it.

    `open_transport(on_event)` makes one connection's transport. Outcomes and notices arrive
    on `results`. `reply_timeout` is how long a transport waits for each reply of the relay
    ($PUBLISH_SMTP_TIMEOUT): `stop` waits for as long as a worker may then take to end.
    """

    def __init__(
        self,
        size: int,
        open_transport: Callable[[Callable[[str, str], None]], Transport],
        pace: Pace,
        reply_timeout: float,
    ) -> None:
        self.size = size
        self.stop_wait = REPLIES_TO_STOP * reply_timeout + STOP_MARGIN
        self.open_transport = open_transport
        self.pace = pace
        self.results: queue.Queue[Outcome | Notice] = queue.Queue()
        self.inboxes: list[queue.Queue[Job | None]] = []
        self.threads: list[threading.Thread] = []
        self.idle: list[int] = []
        self.busy = 0
        self.sending: dict[int, str] = {}  # each worker's current address

    def grow(self, count: int) -> None:
        """Start workers until `count` run (never more than `size`)."""
        while len(self.threads) < min(count, self.size):
            index = len(self.threads)
            inbox: queue.Queue[Job | None] = queue.Queue(maxsize=1)
            thread = threading.Thread(
                target=self._work, args=(index, inbox), name=f"publish-send-{index}", daemon=True
            )
            self.inboxes.append(inbox)
            self.threads.append(thread)
            self.idle.append(index)
            thread.start()

    def hand(self, job: Job) -> None:
        """Give a job to an idle worker (there must be one)."""
        index = self.idle.pop()
        self.busy += 1
        self.inboxes[index].put(job)

    def next_result(self, block: bool = True) -> Outcome | Notice | None:
        """The next outcome or notice (None if `block` is False and there is none yet)."""
        try:
            result = self.results.get(block=block)
        except queue.Empty:
            return None
        if isinstance(result, Outcome):
            self.busy -= 1
            self.idle.append(result.worker)
        return result

    def stop(self) -> None:
        """Tell every worker to close its connection and end; wait for them, together at most
        `stop_wait` seconds (a worker still waiting then is left: its row stays claimed, an
        outcome unknown to the next run)."""
        for inbox in self.inboxes:
            inbox.put(None)
        deadline = time.monotonic() + self.stop_wait
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self, index: int, inbox: queue.Queue[Job | None]) -> None:
        """Deliver each job handed over, until told to stop."""
        transport = self.open_transport(lambda kind, detail: self._notice(index, kind, detail))
        try:
            while (job := inbox.get()) is not None:
                self.sending[index] = job.delivery.email
                started = time.monotonic()
                error = self._deliver(transport, job)
                self.results.put(Outcome(index, job, error, started))
        finally:
            transport.close()

    def _deliver(self, transport: Transport, job: Job) -> BaseException | None:
        """One message through this worker's connection; the exception it met, if any."""
        email = job.delivery.email
        try:
            transport.check(email)
            self.pace.wait()
            transport.send(job.sender, email, job.data, job.name)
        except Exception as exc:  # noqa: BLE001 - every outcome goes to the coordinator
            return exc
        crash_at("accepted")
        self.pace.got_through()
        return None

    def _notice(self, index: int, kind: str, detail: str) -> None:
        """A connection event: pushback slows the whole send down; all go to the report."""
        email = self.sending.get(index, "")
        if kind == Progress.RECONNECT and is_pushback(detail) and self.pace.slow_down():
            slower = f"{detail}; now {self.pace.shown_rate}"
            self.results.put(Notice(index, Progress.SLOWER, slower, email))
        self.results.put(Notice(index, kind, detail, email))


def is_pushback(reason: str) -> bool:
    """Whether the reply that closed a connection asks the sender to slow down (421, 451,
    452, 454), rather than to open a new connection for more messages (452 4.5.3)."""
    return PUSHBACK.match(reason) is not None

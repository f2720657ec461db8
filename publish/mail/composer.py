"""Each reader's copy of a send's message, made in this process or, for a large send, ahead
of time by forked processes (composing is most of a send's CPU; the SMTP connections wait).
A copy is signed (DKIM) where it is made, so a large send's signatures are made in the
forked composers too, not one after another in the sending process. The forked composers are
asked for BATCH copies at a time: each task's trip (pickled, queued, its future settled) costs
the sending process, whose CPU sets a large send's pace, about 0.2 ms, as much as the rest of
a delivery's work there.

Both ways call the same `copy_for` with the same inputs, so the bytes are the same.
"""

from __future__ import annotations

from concurrent.futures import Future, ProcessPoolExecutor

import msgspec

from publish.mail.built import BuiltEmail, personal_message
from publish.mail.dkim import DkimSigner
from publish.mail.transport import DeliveryFailure, header_address
from publish.model import Settings
from publish.outputs.urls import unsubscribe_url
from publish.state import db
from publish.state.ledger import Delivery
from publish.state.subscribers import unsubscribe_token
from publish.support.parallel import fork_workers, forked_pool

FORK_THRESHOLD = 500  # readers: below this, composing in this process is quicker
AHEAD = 64  # copies a forked composer may be asked for before the first is taken
BATCH = 8  # copies asked of a forked composer in one task (a fraction of AHEAD)


class Context(msgspec.Struct, frozen=True):
    """What every copy of one send is made from."""

    built: BuiltEmail
    settings: Settings
    secret: bytes
    domain: str
    signer: DkimSigner | None = None  # signs each copy when [email] sets up DKIM


def compose(
    built: BuiltEmail,
    settings: Settings,
    *,
    to: str,
    name: str,
    unsubscribe: str,
    message_id: str,
    signer: DkimSigner | None = None,
) -> bytes:
    """One reader's message, signed by `signer` if given; one that cannot be built (or
    signed) fails for that reader alone."""
    try:
        message = personal_message(
            built, settings, to=to, name=name, unsubscribe=unsubscribe, message_id=message_id
        )
        return message if signer is None else signer.sign(message)
    except ValueError as exc:  # header defects and encoding errors are ValueErrors
        raise DeliveryFailure(
            f"the message for this address could not be built ({exc})", permanent=True
        ) from None


def message_id(context: Context, subscriber_id: int) -> str:
    """A Message-ID unique to this essay and subscriber, the same on a resend."""
    slug = context.built.slug
    tag = db.sign(context.secret, "message-id", f"{slug}:{subscriber_id}")[:16]
    return f"<{slug}.{tag}@{context.domain}>"


def copy_for(context: Context, subscriber_id: int, email: str, name: str) -> bytes:
    """This reader's copy: their address, greeting, unsubscribe link and Message-ID; signed
    when the send signs."""
    settings = context.settings
    return compose(
        context.built,
        settings,
        to=header_address(email),
        name=name,
        unsubscribe=unsubscribe_url(settings, unsubscribe_token(context.secret, subscriber_id)),
        message_id=message_id(context, subscriber_id),
        signer=context.signer,
    )


_FORKED: list[Context] = []  # the context, in a forked composer


def _start(context: Context) -> None:
    """In a forked composer: keep the send's context."""
    _FORKED[:] = [context]


def _copy_in_fork(subscriber_id: int, email: str, name: str) -> tuple[bytes, str]:
    """A copy made in a forked composer: the bytes, or '' and why it could not be made
    (DeliveryFailure itself does not survive the trip back)."""
    try:
        return copy_for(_FORKED[0], subscriber_id, email, name), ""
    except DeliveryFailure as failure:
        return b"", failure.reason


def _copies_in_fork(readers: tuple[tuple[int, str, str], ...]) -> list[tuple[bytes, str]]:
    """The copies of one batch, made in a forked composer, in order."""
    return [_copy_in_fork(*reader) for reader in readers]


class _Batch:
    """Copies asked of the forked composers together: one task, handed over when full or
    when one of its copies is wanted, whichever comes first."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool
        self.readers: list[tuple[int, str, str]] = []
        self.future: Future[list[tuple[bytes, str]]] | None = None

    def add(self, reader: tuple[int, str, str]) -> int:
        """Put one reader's copy in the batch; its place in it."""
        self.readers.append(reader)
        return len(self.readers) - 1

    def submit(self) -> None:
        """Hand the batch to the forked composers (once)."""
        if self.future is None:
            self.future = self.pool.submit(_copies_in_fork, tuple(self.readers))

    def result(self, index: int) -> tuple[bytes, str]:
        """The copy at `index`: its bytes, or '' and why it could not be made."""
        self.submit()
        assert self.future is not None
        return self.future.result()[index]


class Copy:
    """A reader's copy: made now (its bytes, or why it could not be made), or on its way
    from a forked composer in a batch."""

    def __init__(
        self, data: bytes = b"", problem: str = "", batch: _Batch | None = None, index: int = 0
    ) -> None:
        self.data = data
        self.problem = problem
        self.batch = batch
        self.index = index

    def result(self) -> bytes:
        """The bytes, or DeliveryFailure (permanent) when the copy cannot be made."""
        data, problem = (
            (self.data, self.problem) if self.batch is None else self.batch.result(self.index)
        )
        if problem:
            raise DeliveryFailure(problem, permanent=True)
        return data


class Composer:
    """Makes the copies of one send; forks composers when the send is large and forking is
    safe (before any thread starts). Close it when the send ends."""

    def __init__(self, context: Context, readers: int) -> None:
        self.context = context
        workers = fork_workers(readers, FORK_THRESHOLD)
        self.pool: ProcessPoolExecutor | None = (
            forked_pool(workers, _start, (context,)) if workers else None
        )
        self.batch: _Batch | None = None  # the batch being filled

    @property
    def ahead(self) -> int:
        """How many copies are worth asking for before they are needed."""
        return AHEAD if self.pool is not None else 0

    def copy(self, delivery: Delivery) -> Copy:
        """Start (or make) this reader's copy."""
        if self.pool is None:
            try:
                return Copy(copy_for(self.context, *_fields(delivery)))
            except DeliveryFailure as failure:
                return Copy(problem=failure.reason)
        batch = self.batch
        if batch is None or batch.future is not None:  # none yet, or wanted before it filled
            batch = self.batch = _Batch(self.pool)
        copy = Copy(batch=batch, index=batch.add(_fields(delivery)))
        if len(batch.readers) == BATCH:
            batch.submit()
        return copy

    def close(self) -> None:
        """Stop the forked composers, if any."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _fields(delivery: Delivery) -> tuple[int, str, str]:
    """What a copy is made from, besides the send's context."""
    return delivery.subscriber_id, delivery.email, delivery.name

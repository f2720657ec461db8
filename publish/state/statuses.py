"""The states named once: a subscriber's, a delivery's in the send ledger, and the events a
send reports as it goes. Each is a `StrEnum`, so a member is the very string kept in SQLite
and shown in output ("active", "sent"): rows read back compare equal to the members.

The state database's CHECK constraints list the same words (publish.state.db, whose past
migrations keep them as they were written).
"""

from __future__ import annotations

from enum import StrEnum


class SubscriberStatus(StrEnum):
    """Where a reader stands with the list (the `status` of a subscribers row)."""

    PENDING = "pending"  # signed up, the confirmation link not followed yet
    ACTIVE = "active"  # mailed by every send
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # a hard bounce, or soft bounces on sends in a row
    COMPLAINED = "complained"  # marked a letter as spam


# Readers who must never be mailed or subscribed again by an import.
STAYS_GONE = (
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.COMPLAINED,
)


class DeliveryStatus(StrEnum):
    """Where one recipient's copy of a send stands (the `status` of a deliveries row)."""

    PENDING = "pending"  # still to send (a temporary refusal leaves it so: deferred)
    SENDING = "sending"  # claimed, committed before its message goes to the server
    SENT = "sent"
    FAILED = "failed"  # refused for good
    SKIPPED = "skipped"  # the reader left before their copy went
    UNKNOWN = "unknown"  # the server may have taken it: no answer came


class Progress(StrEnum):
    """What a send's progress event tells (publish.mail.progress.ProgressEvent.kind)."""

    START = "start"
    SENT = "sent"
    FAILED = "failed"
    DEFERRED = "deferred"  # left pending after the last retry of this run
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    RETRY = "retry"  # tried again in a later round of this run
    RECONNECT = "reconnect"  # the connection was lost or closed and is opened again
    SLOWER = "slower"  # the server pushed back: the pace slows down
    WAITING = "waiting"  # the hourly limit holds the send


# A recipient's outcome, as its progress event tells it (every outcome but a deferral).
OUTCOMES = (Progress.SENT, Progress.FAILED, Progress.DEFERRED, Progress.UNKNOWN, Progress.SKIPPED)
# Events about the connection or the pace rather than one recipient's outcome.
CONNECTION_EVENTS = (Progress.RETRY, Progress.RECONNECT, Progress.SLOWER, Progress.WAITING)

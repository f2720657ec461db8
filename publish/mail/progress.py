"""What a send reports as it goes (ProgressEvent) and when it ends (SendSummary)."""

from __future__ import annotations

import msgspec


class ProgressEvent(msgspec.Struct, frozen=True):
    """One step of a send, for a progress bar or a log line."""

    kind: str  # a Progress (publish.state.statuses): start, sent, failed, retry, reconnect…
    done: int
    total: int
    email: str = ""
    detail: str = ""
    outbox: str = ""  # the folder the messages are written to, when it is the outbox


class SendSummary(msgspec.Struct, frozen=True):
    """How a send went: counts, failures with reasons, and a sentence saying so."""

    slug: str
    sent: int = 0
    failed: list[tuple[str, str]] = msgspec.field(default_factory=list)
    already_sent: int = 0
    skipped: int = 0
    pending: int = 0
    message: str = ""
    deferred: list[tuple[str, str]] = msgspec.field(default_factory=list)
    unknown: list[tuple[str, str]] = msgspec.field(default_factory=list)
    outbox: str = ""

    @property
    def ok(self) -> bool:
        """False when this run left anything failed, still deferred, or of unknown outcome."""
        return not (self.failed or self.deferred or self.unknown)

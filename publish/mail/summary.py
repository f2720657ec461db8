"""What a send says when it ends: the counts, where the messages went, and what is left."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from publish.mail.progress import SendSummary
from publish.state import ledger

if TYPE_CHECKING:
    from publish.mail.rounds import SendRun


def send_summary(run: SendRun, already_sent: int, pending: int) -> SendSummary:
    """The summary of a send run, saying where the messages went."""
    slug = run.built.slug
    if run.destination.outbox is not None:
        counts = (
            f"{run.sent} written, {len(run.failed)} failed, {already_sent} already "
            f"written, {run.skipped} skipped"
        )
        message = (
            f"Wrote '{slug}' to {run.destination.label}: {counts}; nothing was "
            "mailed and the send ledger is unchanged."
        )
    else:
        counts = (
            f"{run.sent} sent, {len(run.failed)} failed, {len(run.deferred)} "
            f"deferred, {len(run.unknown)} unknown, {already_sent} already sent, "
            f"{run.skipped} skipped"
        )
        undone = run.failed or run.deferred or run.unknown
        opening = "Did not reach everyone with" if undone else "Sent"
        message = f"{opening} '{slug}' through {run.destination.label}: {counts}."
    message += "".join(_notes(run))
    return SendSummary(
        slug=slug,
        sent=run.sent,
        failed=list(run.failed),
        already_sent=already_sent,
        skipped=run.skipped,
        pending=pending,
        message=message,
        deferred=list(run.deferred),
        unknown=list(run.unknown),
        outbox=run.destination.shown,
    )


def _notes(run: SendRun) -> Iterator[str]:
    """The sentences after the counts: what is left, and what the send went through."""
    slug = run.built.slug
    if run.recovered:
        yield (
            f" {run.recovered} message(s) had been handed to the server by a send that "
            "stopped before its answer was recorded; they counted as unknown and were "
            "tried again, so those readers may have two copies."
        )
    if run.pace.holds:
        yield (
            f" The hourly limit of {run.settings.email.hourly_limit} messages paused the "
            f"send {run.pace.holds} time(s)."
        )
    if run.deferred:
        yield (
            f" {len(run.deferred)} deferred after temporary errors: run "
            f"'publish send {slug}' again later."
        )
    if run.unknown:
        yield (
            f" {len(run.unknown)} unknown: the server took the message but the "
            "connection ended before it confirmed, so it may have arrived; such a "
            f"message is tried again at most {ledger.UNKNOWN_RETRIES} times in all."
        )

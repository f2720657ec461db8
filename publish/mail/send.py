"""Sending a built email to the list, driven by the send ledger (`publish.state.ledger`).

The recipient list is fixed in one transaction when a send starts. `[email] connections`
workers deliver in parallel; each delivery is claimed ('sending') in a committed row before
its message goes out and marked sent in another right after the server accepts it. A rerun
after a crash takes the claims left behind as outcomes unknown (tried again under the
unknown rules) and sends every row still pending, so at most one message per connection
can arrive twice, and nobody is skipped.

The rounds of one run are `publish.mail.rounds`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from publish.errors import PublishError
from publish.mail.built import BuiltEmail, load_built_email
from publish.mail.destination import (
    OUTBOX_LEDGER,
    SMTP_URL_ENV,
    Destination,
    choose_destination,
    outbox_folder,
    state_dir,
)
from publish.mail.progress import ProgressEvent, SendSummary
from publish.mail.rounds import SendRun
from publish.mail.summary import send_summary
from publish.mail.testcopy import send_test_copy
from publish.mail.transport import (
    RelaySilent,
    ServerUnavailable,
    SetupFailure,
)
from publish.model import Settings
from publish.state import db, ledger
from publish.state.ledger import Delivery
from publish.state.subscribers import (
    count_active,
)
from publish.support.locks import exclusive_lock

LOCK_FILE = "send.lock"


def require_destination(root: Path, settings: Settings, *, outbox: bool) -> None:
    """PublishError unless mail can go somewhere: a valid PUBLISH_SMTP_URL, or `--outbox`."""
    choose_destination(root, settings, "", outbox=outbox)


def send_essay(
    root: Path,
    settings: Settings,
    slug: str,
    *,
    dry_run: bool = False,
    to: str | None = None,
    outbox: bool = False,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> SendSummary:
    """Deliver an essay's built email to every active subscriber, exactly once each.

    Without `outbox`, PUBLISH_SMTP_URL must be set; with it, the messages go to the outbox
    folder and its own ledger, and the real ledger is left alone.
    """
    if to is not None:  # any essay, queued and drafts too, as the preview makes it
        destination = None if dry_run else choose_destination(root, settings, slug, outbox=outbox)
        return send_test_copy(root, settings, slug, to, destination)
    built = load_built_email(root, slug, make=not dry_run)  # a dry run makes nothing
    report = on_progress or (lambda event: None)
    if outbox:
        ledger.require_database(db.database_path(root, settings))
    if dry_run:  # a fresh outbox ledger would say what the real one says: do not create it
        outbox = outbox and (outbox_folder(root, settings) / OUTBOX_LEDGER).exists()
        with _ledger(root, settings, outbox) as conn:
            return dry_run_summary(conn, slug)
    assert built is not None  # made when the build left it out
    destination = choose_destination(root, settings, slug, outbox=outbox)
    with _ledger(root, settings, outbox) as conn, _send_lock(root, settings):
        return _run_send(root, settings, built, conn, destination, report)


def _send_lock(root: Path, settings: Settings) -> AbstractContextManager[None]:
    """Hold the exclusive send lock, or PublishError if another send holds it."""
    return exclusive_lock(
        state_dir(root, settings) / LOCK_FILE,
        "another send is running (it holds this lock); nothing was sent",
    )


@contextmanager
def _ledger(root: Path, settings: Settings, outbox: bool) -> Iterator[sqlite3.Connection]:
    """The real ledger, or the outbox's own one; closed after the block."""
    if outbox:
        conn = ledger.connect_outbox_ledger(
            outbox_folder(root, settings) / OUTBOX_LEDGER, db.database_path(root, settings)
        )
    else:
        conn = db.connect(db.database_path(root, settings))
    try:
        yield conn
    finally:
        conn.close()


def dry_run_summary(conn: sqlite3.Connection, slug: str) -> SendSummary:
    """Say what a send would do, changing nothing."""
    counts = ledger.ledger_counts(conn, slug)
    if ledger.send_started(conn, slug):
        pending = ledger.count_pending(conn, slug)
        message = (
            f"Dry run: '{slug}' was started before; {counts.get('sent', 0)} already sent, "
            f"{pending} would be sent now, {counts.get('failed', 0)} failed earlier."
        )
        return SendSummary(
            slug=slug, already_sent=counts.get("sent", 0), pending=pending, message=message
        )
    active = count_active(conn)
    return SendSummary(
        slug=slug,
        pending=active,
        message=f"Dry run: '{slug}' would be sent to {active} active "
        "subscriber(s); nothing was sent.",
    )


def _run_send(
    root: Path,
    settings: Settings,
    built: BuiltEmail,
    conn: sqlite3.Connection,
    destination: Destination,
    report: Callable[[ProgressEvent], None],
) -> SendSummary:
    """Start (or resume) the ledger and deliver every pending row."""
    slug = built.slug
    ledger.start_send(conn, slug)
    recovered = ledger.recover_claims(conn, slug)
    already_sent = ledger.ledger_counts(conn, slug).get("sent", 0)
    total = ledger.count_pending(conn, slug)
    if not total:
        ledger.finish_send(conn, slug)
        if destination.outbox is not None:
            message = (
                f"Nothing to write: '{slug}' was already written to {destination.label} "
                f"for {already_sent} subscriber(s); nothing was mailed."
            )
        else:
            message = f"Nothing to send: '{slug}' was already sent to {already_sent} subscriber(s)."
        unknown = ledger.ledger_counts(conn, slug).get("unknown", 0)
        if unknown:
            message += (
                f" {unknown} of unknown outcome (they may have arrived) are not tried again: "
                f"each has had its {ledger.UNKNOWN_RETRIES} retries."
            )
        return SendSummary(
            slug=slug, already_sent=already_sent, message=message, outbox=destination.shown
        )
    run = SendRun(root, settings, built, conn, destination, report, total, recovered)
    try:
        run.deliver_all(_pending_rows(conn, slug))
    except RelaySilent as exc:
        raise PublishError.single(
            SMTP_URL_ENV,
            1,
            1,
            f"{exc}. A relay that takes messages and then hangs is a broken setup, not bad "
            f"addresses: the send stopped. Those messages may have arrived, so they count as "
            f"unknown (tried again at most {ledger.UNKNOWN_RETRIES} times in all), never as "
            f"sent; {run.sent} sent in this run, {run.left()} still to send. Fix the relay, "
            f"then run 'publish send {slug}' again.",
        ) from None
    except SetupFailure as exc:
        raise PublishError.single(
            SMTP_URL_ENV,
            1,
            1,
            f"{exc}. That is the sending setup (relay permission, login or sender address), "
            f"not the addresses: the send stopped and nobody was marked failed; {run.sent} "
            f"sent in this run, {run.left()} still to send. Fix the setup, then run "
            f"'publish send {slug}' again.",
        ) from None
    except ServerUnavailable as exc:
        raise PublishError.single(
            SMTP_URL_ENV,
            1,
            1,
            f"{exc}; {run.sent} sent in this run, {run.left()} still to send. "
            f"Run 'publish send {slug}' again to resume.",
        ) from None
    finally:
        run.close()
    ledger.finish_send(conn, slug)
    return send_summary(run, already_sent, ledger.ledger_counts(conn, slug).get("pending", 0))


def _pending_rows(conn: sqlite3.Connection, slug: str) -> Iterator[Delivery]:
    """The rows still to do, read from the ledger a batch at a time."""
    after = 0
    while batch := ledger.pending_batch(conn, slug, after):
        yield from batch
        after = batch[-1].subscriber_id

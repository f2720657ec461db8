"""`publish bounces`: read the bounce mailbox, apply what it reports, mark what was read.

Every report is read first; the outcomes are applied in one transaction; only then is each
report marked processed. A crash before the marks leaves the reports unmarked, and the next
run reads them again and changes nothing (publish.state.standing keeps each reference
once), then marks them.

A message that cannot be read (larger than MAX_MESSAGE_BYTES, nested too deep, or one the
parser chokes on) stops nothing: it is set aside, named in one warning, and every other
report is applied.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path

import msgspec

from publish.bounces import reports
from publish.bounces.mailbox import (
    MAX_MESSAGE_BYTES,
    URL_VARIABLE,
    ImapMailbox,
    Mailbox,
    MaildirMailbox,
    Stored,
    parse_imap_url,
)
from publish.bounces.reports import Context, Reading
from publish.errors import Problem, PublishError, warning
from publish.mail.destination import state_dir
from publish.model import Settings
from publish.state import db, standing, subscribers


class BounceSummary(msgspec.Struct, frozen=True):
    """What one pass over the mailbox did."""

    mailbox: str
    applied: dict[str, int]
    not_understood: int = 0
    left_alone: int = 0
    repeated: int = 0
    unknown: int = 0
    changed: dict[str, str] = msgspec.field(default_factory=dict)
    unverified: int = 0  # readers named by reports that prove nothing (VERP on)
    set_aside: tuple[Problem, ...] = ()  # one warning per message that could not be read

    @property
    def message(self) -> str:
        """The summary line for the command line."""
        counts = self.applied
        line = (
            f"{counts[standing.HARD_BOUNCE]} hard bounce(s), "
            f"{counts[standing.SOFT_BOUNCE]} soft bounce(s), "
            f"{counts[standing.COMPLAINT]} complaint(s), "
            f"{counts[standing.UNSUBSCRIBE]} unsubscribe request(s), "
            f"{self.not_understood} not understood; "
            f"{len(self.changed)} reader(s) taken off the list"
        )
        if self.unverified:
            line += f"; {self.unverified} unverified (nothing proves whom they are about)"
        if self.set_aside:
            line += f"; {len(self.set_aside)} unreadable message(s) set aside"
        return line


def open_mailbox(maildir: Path | None, environ: Mapping[str, str] | None = None) -> Mailbox:
    """The Maildir at `maildir`, else the IMAP folder of $PUBLISH_BOUNCE_URL."""
    if maildir is not None:
        return MaildirMailbox(maildir)
    url = (os.environ if environ is None else environ).get(URL_VARIABLE, "")
    if not url:
        message = (
            f"no bounce mailbox: set {URL_VARIABLE}=imaps://user:password@host/INBOX "
            "(in the environment or the environment file) or give --maildir PATH"
        )
        raise PublishError.single(f"${URL_VARIABLE}", 1, 1, message)
    return ImapMailbox(parse_imap_url(url))


def process_bounces(
    root: Path, settings: Settings, connection: sqlite3.Connection, box: Mailbox
) -> BounceSummary:
    """Read every unprocessed message of `box` and apply its reports."""
    context = reading_context(root, settings, connection, _source(box))
    readings = [(stored, _read(stored, context)) for stored in box.messages()]
    outcomes = [outcome for _, reading in readings for outcome in reading.outcomes]
    with db.transaction(connection):
        applied = standing.apply_outcomes(
            connection, outcomes, soft_limit=settings.email.soft_bounce_limit
        )
    set_aside = []
    for stored, reading in readings:
        if reading.verdict == reports.REPORT:
            box.mark_processed(stored.key)
        elif reading.verdict == reports.UNREADABLE:
            where = box.set_aside(stored.key)
            message = f"a message that cannot be read was set aside ({where}): {reading.reason}"
            set_aside.append(warning(stored.where, 1, 1, message))
    return BounceSummary(
        mailbox=box.label,
        applied=applied.applied,
        not_understood=_count(readings, reports.NOT_UNDERSTOOD),
        left_alone=_count(readings, reports.NOT_A_REPORT),
        repeated=applied.repeated,
        unknown=applied.unknown,
        changed=applied.changed,
        unverified=sum(reading.unverified for _, reading in readings),
        set_aside=tuple(set_aside),
    )


def _read(stored: Stored, context: Context) -> Reading:
    """What one message reports; UNREADABLE for one too large to have been fetched."""
    if stored.size > MAX_MESSAGE_BYTES:
        reason = f"it is {_megabytes(stored.size)}, more than the {_megabytes(MAX_MESSAGE_BYTES)}"
        return Reading(reports.UNREADABLE, reason=reason + " a report may be")
    return reports.read_report(stored.raw, context)


def _megabytes(size: int) -> str:
    """A size in MB, for messages."""
    return f"{size / 1024 / 1024:.1f} MB"


def reading_context(
    root: Path, settings: Settings, connection: sqlite3.Connection, source: str
) -> Context:
    """What reading a report needs from the site."""
    shared = parseaddr(settings.email.reply_to or settings.email.from_address)[1]
    return Context(
        secret=db.load_secret(state_dir(root, settings)),
        bounce_address=settings.email.bounce_address,
        mailto_address=shared,
        source=source,
        slug_for_digest=lambda digest: standing.send_with_digest(connection, digest),
        reader_for_address=lambda address: _reader_id(connection, address),
    )


def _reader_id(connection: sqlite3.Connection, address: str) -> int | None:
    """The id of the subscriber with this address, if any."""
    found = subscribers.find_subscriber(connection, address)
    return found.id if found is not None else None


def _source(box: Mailbox) -> str:
    """The `source` recorded with each report."""
    return "maildir" if isinstance(box, MaildirMailbox) else "imap"


def _count(readings: list[tuple[Stored, Reading]], verdict: str) -> int:
    """How many messages got this verdict."""
    return sum(reading.verdict == verdict for _, reading in readings)

"""The welcome copy in the send ledger: which essay a newly confirmed reader is sent, and the
delivery row that makes sure they get it once (a later send of that essay skips the row)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from publish.state.statuses import DeliveryStatus
from publish.support.safetext import now_text

if TYPE_CHECKING:
    import sqlite3


def latest_sent_slug(conn: sqlite3.Connection) -> str | None:
    """The essay whose send started last, or None when nothing was ever sent.

    Only an essay whose send has started is offered: one not yet sent reaches a new reader
    through its own send, and its recipient list is fixed only when that send starts."""
    row = conn.execute(
        "SELECT slug FROM sends ORDER BY started_at DESC, rowid DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def claim_welcome(conn: sqlite3.Connection, slug: str, subscriber_id: int, email: str) -> bool:
    """Claim the welcome copy of `slug` for a subscriber (`sending`, like every claimed copy:
    a crash before its outcome is recorded leaves an unknown the next send settles); False
    (nothing changed) when the ledger already has a row for the pair: they were mailed it,
    or are about to be."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO deliveries (slug, subscriber_id, email, status, attempts,"
        f" updated_at) VALUES (?, ?, ?, '{DeliveryStatus.SENDING}', 0, ?)",
        (slug, subscriber_id, email, now_text()),
    )
    return cursor.rowcount == 1

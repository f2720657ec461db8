"""The fediverse's delivery ledger: tables `fedi_sends` and `fedi_deliveries`.

A send fixes, in one transaction, the activity's JSON and the inboxes it goes to (each
follower's shared inbox, else its own, once). Each delivery is claimed ('sending') in a
committed transaction before its request goes out and its outcome recorded after the server
answers, as the mail's ledger does: a rerun after a crash finds the claims left in flight
(at most one per connection) and tries each once more ('unknown'). A server that failed for
now is tried again by a later run, after a backoff that doubles with each attempt.
"""

from __future__ import annotations

import sqlite3

import msgspec

from publish.state import db, followers
from publish.support.safetext import now_text

PENDING, SENDING, UNKNOWN = "pending", "sending", "unknown"
SENT, FAILED, GONE = "sent", "failed", "gone"
UNKNOWN_RETRIES = 1  # a delivery left in flight by a crash is tried again this often
CLAIM_LEFT = "a run stopped after claiming this delivery and before the answer was recorded"
_DUE = f"(d.status = '{PENDING}' OR (d.status = '{UNKNOWN}' AND d.unknown_attempts <= ?))"


class FediDelivery(msgspec.Struct, frozen=True):
    """One inbox still to get an activity: the activity's id and JSON, and how it went."""

    activity_id: str
    inbox: str
    body: str
    attempts: int
    not_found: int


class PendingSend(msgspec.Struct, frozen=True):
    """An activity some inbox is still to get, for `publish status`."""

    slug: str
    kind: str
    waiting: int
    last_error: str


def send_started(conn: sqlite3.Connection, activity_id: str) -> bool:
    """Whether a send of this activity was started."""
    row = conn.execute("SELECT 1 FROM fedi_sends WHERE activity_id = ?", (activity_id,))
    return row.fetchone() is not None


def start_send(conn: sqlite3.Connection, activity_id: str, slug: str, kind: str, body: str) -> int:
    """Fix an activity and the inboxes of every follower, once; how many inboxes (0 when it
    was started before)."""
    with db.transaction(conn):
        if send_started(conn, activity_id):
            return 0
        stamp = now_text()
        conn.execute(
            "INSERT INTO fedi_sends (activity_id, slug, kind, body, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (activity_id, slug, kind, body, stamp),
        )
        inboxes = followers.delivery_inboxes(conn)
        conn.executemany(
            "INSERT INTO fedi_deliveries (activity_id, inbox, status, updated_at)"
            " VALUES (?, ?, ?, ?)",
            [(activity_id, inbox, PENDING, stamp) for inbox in inboxes],
        )
        return len(inboxes)


def recover_claims(conn: sqlite3.Connection) -> int:
    """Turn the claims a stopped run left into outcomes unknown; how many there were."""
    cursor = conn.execute(
        f"UPDATE fedi_deliveries SET status = '{UNKNOWN}', unknown_attempts ="
        f" unknown_attempts + 1, last_error = ?, updated_at = ? WHERE status = '{SENDING}'",
        (CLAIM_LEFT, now_text()),
    )
    return cursor.rowcount


def due(conn: sqlite3.Connection, now: float) -> list[FediDelivery]:
    """Every delivery to try now (its backoff over), oldest send first."""
    rows = conn.execute(
        "SELECT d.activity_id, d.inbox, s.body, d.attempts, d.not_found"
        " FROM fedi_deliveries d JOIN fedi_sends s ON s.activity_id = d.activity_id"
        f" WHERE {_DUE} AND d.next_at <= ? ORDER BY s.started_at, d.rowid",
        (UNKNOWN_RETRIES, now),
    )
    return [FediDelivery(*row) for row in rows]


def claim(conn: sqlite3.Connection, delivery: FediDelivery) -> None:
    """Mark a delivery 'sending', committed before its request goes out."""
    conn.execute(
        f"UPDATE fedi_deliveries SET status = '{SENDING}', updated_at = ?"
        " WHERE activity_id = ? AND inbox = ?",
        (now_text(), delivery.activity_id, delivery.inbox),
    )


def mark(
    conn: sqlite3.Connection,
    delivery: FediDelivery,
    status: str,
    error_text: str = "",
    next_at: float = 0.0,
    not_found: int = 0,
) -> None:
    """Record the outcome of one attempt (`next_at`: when a retry may go, wall clock)."""
    conn.execute(
        "UPDATE fedi_deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
        " next_at = ?, not_found = ?, updated_at = ? WHERE activity_id = ? AND inbox = ?",
        (status, error_text, next_at, not_found, now_text(), delivery.activity_id, delivery.inbox),
    )


def remove_inbox_followers(conn: sqlite3.Connection, inbox: str) -> int:
    """Forget every follower delivered through `inbox` (its server said it is gone), and
    every delivery still due to it; how many followers."""
    removed = conn.execute(
        "DELETE FROM followers WHERE shared_inbox = ? OR (shared_inbox = '' AND inbox = ?)",
        (inbox, inbox),
    ).rowcount
    conn.execute(
        f"UPDATE fedi_deliveries SET status = '{GONE}', updated_at = ?"
        f" WHERE inbox = ? AND status IN ('{PENDING}', '{UNKNOWN}')",
        (now_text(), inbox),
    )
    return removed


def finish_sends(conn: sqlite3.Connection) -> None:
    """Stamp finished every send with no delivery left to try."""
    conn.execute(
        "UPDATE fedi_sends SET finished_at = ? WHERE finished_at IS NULL AND NOT EXISTS"
        f" (SELECT 1 FROM fedi_deliveries d WHERE d.activity_id = fedi_sends.activity_id"
        f" AND ({_DUE} OR d.status = '{SENDING}'))",
        (now_text(), UNKNOWN_RETRIES),
    )


def pending_sends(conn: sqlite3.Connection) -> list[PendingSend]:
    """Each activity some inbox is still to get, with how many and the last error."""
    rows = conn.execute(
        "SELECT s.slug, s.kind, COUNT(*), MAX(d.last_error) FROM fedi_sends s"
        " JOIN fedi_deliveries d ON d.activity_id = s.activity_id"
        f" WHERE {_DUE} OR d.status = '{SENDING}' GROUP BY s.activity_id ORDER BY s.started_at",
        (UNKNOWN_RETRIES,),
    )
    return [PendingSend(*row) for row in rows]

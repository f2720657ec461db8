"""The send ledger: tables `sends` and `deliveries`, one row per recipient of each essay.

The recipient list is fixed in one transaction when a send starts. Each delivery is claimed
('sending') in a committed transaction before its message goes out, and its outcome marked
in another after the server answers, so a rerun after a crash resumes where it stopped and
knows which few messages were in flight (they count as outcomes unknown).
The outbox keeps its own ledger of the same shape, with the site's database attached for
its subscribers.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from publish.errors import PublishError
from publish.state import db
from publish.state.statuses import DeliveryStatus, SubscriberStatus
from publish.support.safetext import now_text

UNKNOWN_RETRIES = 2  # an unknown outcome is tried again at most this often, over all runs
CLAIM_LEFT = (
    "a send stopped after claiming this delivery and before the server's answer was "
    "recorded; the message may have arrived"
)

OUTBOX_REMEDY = (
    "it holds only what --outbox wrote, so delete it (with the folders beside it) to start "
    "the outbox afresh; nothing was written"
)

# The outbox's own ledger: the same two tables, with the site's state database attached
# for its subscribers (unqualified `subscribers` resolves there).
OUTBOX_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sends (slug TEXT PRIMARY KEY, started_at TEXT NOT NULL,"
    " finished_at TEXT)",
    "CREATE TABLE IF NOT EXISTS deliveries (slug TEXT NOT NULL, subscriber_id INTEGER NOT NULL,"
    " email TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " unknown_attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
    " updated_at TEXT, PRIMARY KEY (slug, subscriber_id))",
)


class Delivery(msgspec.Struct, frozen=True):
    """One pending row of the ledger, with the subscriber's current name and status."""

    subscriber_id: int
    email: str
    name: str
    status: str
    ledger_status: str = DeliveryStatus.PENDING
    unknown_attempts: int = 0


def connect_outbox_ledger(ledger: Path, database: Path) -> sqlite3.Connection:
    """The outbox's ledger at `ledger`, reading subscribers from `database` (untouched).

    PublishError naming the file: without a state database (there is nobody to write for,
    and nothing is created), or when either database cannot be used (busy or damaged)."""
    require_database(database)
    db.connect(database).close()  # migrate it, as a real send would
    ledger.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(ledger.resolve().as_uri(), uri=True, timeout=30, isolation_level=None)
    try:
        for statement in OUTBOX_SCHEMA:
            conn.execute(statement)
        conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()
        conn.execute("ATTACH DATABASE ? AS site", (database.resolve().as_uri(),))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise db.database_error(
            ledger, exc, what="the outbox ledger", remedy=OUTBOX_REMEDY
        ) from None
    return conn


def require_database(database: Path) -> None:
    """PublishError unless the state database exists: the outbox's readers live there."""
    if not database.is_file():
        raise PublishError.single(
            str(database),
            1,
            1,
            "there is no state database here, so the outbox has nobody to write for; nothing "
            "was written or created. Add subscribers first (`publish subscribers add` or "
            "`publish subscribers import`), or correct [state] database in publish.toml",
        )


def send_started(conn: sqlite3.Connection, slug: str) -> bool:
    """Whether a send of `slug` was started (its recipient list is fixed)."""
    return conn.execute("SELECT 1 FROM sends WHERE slug = ?", (slug,)).fetchone() is not None


def start_send(conn: sqlite3.Connection, slug: str) -> bool:
    """Fix the recipient list of a send, once; True if this call started it."""
    with db.transaction(conn):
        if send_started(conn, slug):
            return False
        stamp = now_text()
        conn.execute("INSERT INTO sends (slug, started_at) VALUES (?, ?)", (slug, stamp))
        conn.execute(
            "INSERT INTO deliveries (slug, subscriber_id, email, status, updated_at)"
            f" SELECT ?, id, email, '{DeliveryStatus.PENDING}', ? FROM subscribers"
            " WHERE status = ? ORDER BY id",
            (slug, stamp, SubscriberStatus.ACTIVE),
        )
        return True


def pending_batch(
    conn: sqlite3.Connection, slug: str, after: int, limit: int = 500
) -> list[Delivery]:
    """Up to `limit` rows still to do whose subscriber id is above `after`, in order: a large
    list is read a batch at a time, so a send's memory does not grow with it."""
    rows = conn.execute(
        "SELECT d.subscriber_id, d.email, s.name, s.status, d.status, d.unknown_attempts"
        " FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        f" WHERE d.slug = ? AND d.subscriber_id > ? AND (d.status = '{DeliveryStatus.PENDING}'"
        f" OR (d.status = '{DeliveryStatus.UNKNOWN}' AND d.unknown_attempts <= ?))"
        " ORDER BY d.subscriber_id LIMIT ?",
        (slug, after, UNKNOWN_RETRIES, limit),
    )
    return [Delivery(*row) for row in rows]


def count_pending(conn: sqlite3.Connection, slug: str) -> int:
    """How many rows of a send are still to do: as `pending_batch` reads them, and
    the claims a stopped send left that `recover_claims` would make such rows."""
    return conn.execute(
        f"SELECT COUNT(*) FROM deliveries WHERE slug = ? AND (status = '{DeliveryStatus.PENDING}'"
        f" OR (status = '{DeliveryStatus.UNKNOWN}' AND unknown_attempts <= ?)"
        f" OR (status = '{DeliveryStatus.SENDING}' AND unknown_attempts < ?))",
        (slug, UNKNOWN_RETRIES, UNKNOWN_RETRIES),
    ).fetchone()[0]


def claim(conn: sqlite3.Connection, slug: str, subscriber_id: int) -> None:
    """Mark a delivery 'sending', committed before its message goes to the server: a crash
    from here until its outcome is recorded leaves the row claimed."""
    conn.execute(
        f"UPDATE deliveries SET status = '{DeliveryStatus.SENDING}', updated_at = ?"
        " WHERE slug = ? AND subscriber_id = ?",
        (now_text(), slug, subscriber_id),
    )


def recover_claims(conn: sqlite3.Connection, slug: str) -> int:
    """Turn the claims a stopped send left into outcomes unknown (the message may have
    arrived); how many there were. Call it holding the send lock."""
    cursor = conn.execute(
        f"UPDATE deliveries SET status = '{DeliveryStatus.UNKNOWN}',"
        " unknown_attempts = unknown_attempts + 1,"
        f" last_error = ?, updated_at = ? WHERE slug = ? AND status = '{DeliveryStatus.SENDING}'",
        (CLAIM_LEFT, now_text(), slug),
    )
    return cursor.rowcount


def sent_since(conn: sqlite3.Connection, moment: str) -> list[str]:
    """When each message of any send that may have reached a server since `moment` (ISO
    text) was recorded, oldest first: for a limit on messages per hour."""
    rows = conn.execute(
        "SELECT updated_at FROM deliveries WHERE status IN"
        f" ('{DeliveryStatus.SENT}', '{DeliveryStatus.SENDING}', '{DeliveryStatus.UNKNOWN}')"
        " AND updated_at >= ? ORDER BY updated_at",
        (moment,),
    )
    return [row[0] for row in rows]


def current_subscriber(conn: sqlite3.Connection, delivery: Delivery) -> Delivery:
    """The row with the subscriber's name and status as they are now (they may have left)."""
    row = conn.execute(
        "SELECT name, status FROM subscribers WHERE id = ?", (delivery.subscriber_id,)
    ).fetchone()
    name, status = ("", SubscriberStatus.UNSUBSCRIBED) if row is None else (row[0], row[1])
    return Delivery(
        delivery.subscriber_id,
        delivery.email,
        name,
        status,
        delivery.ledger_status,
        delivery.unknown_attempts,
    )


def ledger_counts(conn: sqlite3.Connection, slug: str) -> dict[str, int]:
    """How many rows of a send have each status."""
    rows = conn.execute(
        "SELECT status, COUNT(*) FROM deliveries WHERE slug = ? GROUP BY status", (slug,)
    )
    return {status: count for status, count in rows}


def mark(
    conn: sqlite3.Connection,
    slug: str,
    subscriber_id: int,
    status: str,
    error_text: str = "",
    *,
    unknown: bool = False,
) -> None:
    """Record the outcome of one delivery. It is committed with the caller's transaction
    (a send records many outcomes in one), or at once on a connection outside any."""
    conn.execute(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
        " unknown_attempts = unknown_attempts + ?, updated_at = ?"
        " WHERE slug = ? AND subscriber_id = ?",
        (status, error_text, int(unknown), now_text(), slug, subscriber_id),
    )


def finish_send(conn: sqlite3.Connection, slug: str) -> None:
    """Stamp the send finished once no row is left to do."""
    if not count_pending(conn, slug):
        conn.execute(
            "UPDATE sends SET finished_at = COALESCE(finished_at, ?) WHERE slug = ?",
            (now_text(), slug),
        )

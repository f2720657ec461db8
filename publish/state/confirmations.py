"""The subscription service's tables: confirmation links (`confirmations`) and rate events.

A rate event stores only an HMAC of what it counts, so the table never holds client or
email addresses. A confirmation whose email did not go out keeps when and why.
"""

from __future__ import annotations

import secrets
import sqlite3

import msgspec

from publish.state import db, subscribers
from publish.state.statuses import SubscriberStatus
from publish.support.safetext import now_text


class Confirmation(msgspec.Struct, frozen=True):
    """One confirmation link: its nonce, whose it is, and whether it was used."""

    nonce: str
    subscriber_id: int
    used: bool


class FailedConfirmations(msgspec.Struct, frozen=True):
    """The signups whose confirmation email did not go out and that are not confirmed since:
    how many, and the latest one's subscriber, moment and reason."""

    count: int
    subscriber_id: int
    email: str
    failed_at: str
    reason: str


def count_attempt(
    conn: sqlite3.Connection, bucket: str, now: float, window_start: float, limit: int
) -> bool:
    """Count one attempt in `bucket`'s sliding window; False once `limit` were counted."""
    with db.transaction(conn):
        conn.execute("DELETE FROM rate_events WHERE at < ?", (window_start,))
        count = conn.execute(
            "SELECT COUNT(*) FROM rate_events WHERE bucket = ? AND at >= ?", (bucket, window_start)
        ).fetchone()[0]
        if count >= limit:
            return False
        conn.execute("INSERT INTO rate_events (bucket, at) VALUES (?, ?)", (bucket, now))
    return True


def record_signup(
    conn: sqlite3.Connection, address: str, name: str
) -> tuple[subscribers.Subscriber, str]:
    """The subscriber for a signup (a new one is pending; a known one keeps its status and
    name until confirmed) and the nonce of a fresh confirmation link."""
    nonce = secrets.token_urlsafe(16)
    with db.transaction(conn):
        subscriber = subscribers.find_subscriber(conn, address) or subscribers.add_subscriber(
            conn, address, name, status=SubscriberStatus.PENDING, source="web"
        )
        conn.execute(
            "INSERT INTO confirmations (nonce, subscriber_id, created_at) VALUES (?, ?, ?)",
            (nonce, subscriber.id, now_text()),
        )
    return subscriber, nonce


def find_confirmation(conn: sqlite3.Connection, nonce: str) -> Confirmation | None:
    """The confirmation link of a nonce, or None if there is none."""
    row = conn.execute(
        "SELECT subscriber_id, used_at FROM confirmations WHERE nonce = ?", (nonce,)
    ).fetchone()
    if row is None:
        return None
    return Confirmation(nonce=nonce, subscriber_id=row[0], used=row[1] is not None)


def close_confirmations(conn: sqlite3.Connection, subscriber_id: int) -> None:
    """Mark every open confirmation link of a subscriber used, so none can act again."""
    conn.execute(
        "UPDATE confirmations SET used_at = ? WHERE subscriber_id = ? AND used_at IS NULL",
        (now_text(), subscriber_id),
    )


def record_failure(conn: sqlite3.Connection, nonce: str, reason: str) -> None:
    """Note that the confirmation email of a link did not go out, and why."""
    with db.transaction(conn):
        conn.execute(
            "UPDATE confirmations SET failed_at = ?, failure = ? WHERE nonce = ?",
            (now_text(), reason, nonce),
        )


def failed_confirmations(conn: sqlite3.Connection) -> FailedConfirmations | None:
    """The unconfirmed signups whose confirmation email failed, None when there are none (or
    the database, opened read only, predates the record of failures)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(confirmations)")}
    if "failed_at" not in columns:
        return None
    count = conn.execute(
        "SELECT COUNT(*) FROM confirmations WHERE failed_at IS NOT NULL AND used_at IS NULL"
    ).fetchone()[0]
    if not count:
        return None
    row = conn.execute(
        "SELECT c.subscriber_id, s.email, c.failed_at, c.failure FROM confirmations c "
        "JOIN subscribers s ON s.id = c.subscriber_id "
        "WHERE c.failed_at IS NOT NULL AND c.used_at IS NULL "
        "ORDER BY c.failed_at DESC, c.rowid DESC LIMIT 1"
    ).fetchone()
    return FailedConfirmations(count, row[0], row[1], row[2], row[3])

"""Subscribers kept in the SQLite state: add, merge, unsubscribe, count, tokens.

Addresses are checked with email-validator (no DNS) and merged when they differ only by
case, in any script (the `email_key` column, see publish.support.addresses). An unsubscribed
address keeps its row, so a later import never subscribes it again. Every function takes an
open connection from `publish.state.db.connect`.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import msgspec
from email_validator import EmailNotValidError, validate_email

from publish.errors import Problem, PublishError, error
from publish.state import db
from publish.state.statuses import STAYS_GONE, SubscriberStatus
from publish.support.addresses import address_key
from publish.support.safetext import fold_controls, now_text

TOKEN_PURPOSE = "unsubscribe"


class Subscriber(msgspec.Struct, frozen=True):
    """One row of the subscribers table."""

    id: int
    email: str
    name: str
    status: str
    created_at: str
    confirmed_at: str | None
    unsubscribed_at: str | None
    bounced_at: str | None = None
    complained_at: str | None = None


class AddressError(PublishError, ValueError):
    """An address email-validator refuses; `reason` is the plain message."""

    def __init__(self, problem: Problem):
        super().__init__([problem])
        self.reason = problem.message


def normalise_address(address: str, path: str = "<address>", line: int = 1) -> str:
    """The normalised form of an address, or AddressError saying why it is not valid."""
    candidate = address.strip()
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        message = f"'{fold_controls(candidate)}' is not a valid email address: {exc}"
        raise AddressError(error(path, line, 1, message)) from None
    return checked.normalized


def add_subscriber(
    conn: sqlite3.Connection,
    email: str,
    name: str = "",
    status: str = SubscriberStatus.ACTIVE,
    source: str = "cli",
) -> Subscriber:
    """Add an address, or merge it into the existing row with the same address (any case)."""
    subscriber, _ = _upsert(conn, normalise_address(email), fold_controls(name), status, source)
    return subscriber


def _upsert(
    conn: sqlite3.Connection, email: str, name: str, status: str, source: str
) -> tuple[Subscriber, str]:
    """Insert or merge one normalised address; return it and what happened."""
    if status not in set(SubscriberStatus):
        raise ValueError(f"unknown subscriber status {status!r}")
    existing = find_subscriber(conn, email)
    if existing is None:
        stamp = now_text()
        cursor = conn.execute(
            "INSERT INTO subscribers (email, name, status, created_at, confirmed_at, source)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                email,
                name,
                status,
                stamp,
                stamp if status == SubscriberStatus.ACTIVE else None,
                source,
            ),
        )
        return _require(conn, int(cursor.lastrowid or 0)), "added"
    if existing.status in STAYS_GONE and source == "import":
        return existing, "kept_unsubscribed"
    new_status = merged_status(existing.status, status)
    new_name = name or existing.name
    if new_status == existing.status and new_name == existing.name:
        return existing, "unchanged"
    conn.execute("UPDATE subscribers SET name = ? WHERE id = ?", (new_name, existing.id))
    if new_status != existing.status:
        set_status(conn, existing.id, new_status)
    return _require(conn, existing.id), "updated"


def merged_status(current: str, requested: str) -> str:
    """The status after asking for `requested`: an active subscriber never drops to pending."""
    if current == SubscriberStatus.ACTIVE and requested == SubscriberStatus.PENDING:
        return SubscriberStatus.ACTIVE
    return requested


def find_subscriber(conn: sqlite3.Connection, email: str) -> Subscriber | None:
    """The subscriber with this address (any case, any script), or None."""
    row = conn.execute(
        "SELECT * FROM subscribers WHERE email_key = ? OR email = ? COLLATE NOCASE"
        " ORDER BY id LIMIT 1",
        (address_key(email), email.strip()),
    ).fetchone()
    return _subscriber(row) if row else None


def get_subscriber(conn: sqlite3.Connection, subscriber_id: int) -> Subscriber | None:
    """The subscriber with this id, or None."""
    row = conn.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return _subscriber(row) if row else None


def _require(conn: sqlite3.Connection, subscriber_id: int) -> Subscriber:
    """The subscriber with this id, which must exist."""
    subscriber = get_subscriber(conn, subscriber_id)
    if subscriber is None:
        raise LookupError(f"no subscriber with id {subscriber_id}")
    return subscriber


def set_status(conn: sqlite3.Connection, subscriber_id: int, status: str) -> Subscriber:
    """Change a subscriber's status, stamping confirmed_at, unsubscribed_at, bounced_at or
    complained_at (an active reader's run of soft bounces starts again)."""
    if status not in set(SubscriberStatus):
        raise ValueError(f"unknown subscriber status {status!r}")
    stamp = now_text()
    if status == SubscriberStatus.ACTIVE:
        conn.execute(
            "UPDATE subscribers SET status = ?, confirmed_at = ?, unsubscribed_at = NULL,"
            " soft_bounces = 0 WHERE id = ?",
            (status, stamp, subscriber_id),
        )
    elif status == SubscriberStatus.UNSUBSCRIBED:
        conn.execute(
            "UPDATE subscribers SET status = ?, unsubscribed_at = ? WHERE id = ?",
            (status, stamp, subscriber_id),
        )
    elif status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
        column = "bounced_at" if status == SubscriberStatus.BOUNCED else "complained_at"
        conn.execute(
            f"UPDATE subscribers SET status = ?, {column} = ? WHERE id = ?",
            (status, stamp, subscriber_id),
        )
    else:
        conn.execute("UPDATE subscribers SET status = ? WHERE id = ?", (status, subscriber_id))
    return _require(conn, subscriber_id)


def remove_subscriber(conn: sqlite3.Connection, email: str) -> Subscriber | None:
    """Mark an address unsubscribed (the row stays, so imports never bring it back); one
    already unsubscribed, bounced or complained keeps its status and dates."""
    subscriber = find_subscriber(conn, email)
    if subscriber is None:
        return None
    if subscriber.status in STAYS_GONE:
        return subscriber
    return set_status(conn, subscriber.id, SubscriberStatus.UNSUBSCRIBED)


def active_subscribers(conn: sqlite3.Connection) -> list[Subscriber]:
    """Every active subscriber, oldest first."""
    rows = conn.execute(
        "SELECT * FROM subscribers WHERE status = ? ORDER BY id", (SubscriberStatus.ACTIVE,)
    )
    return [_subscriber(row) for row in rows]


def count_active(conn: sqlite3.Connection) -> int:
    """How many subscribers are active."""
    return conn.execute(
        "SELECT COUNT(*) FROM subscribers WHERE status = ?", (SubscriberStatus.ACTIVE,)
    ).fetchone()[0]


def has_subscribers(path: Path) -> bool:
    """Whether the database at `path` holds an active or pending subscriber (read only)."""
    if not path.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM subscribers"
                f" WHERE status IN ('{SubscriberStatus.ACTIVE}', '{SubscriberStatus.PENDING}')"
            ).fetchone()
    except sqlite3.Error:
        return True  # cannot tell: assume a list, the careful answer
    return bool(row[0])


def list_subscribers(conn: sqlite3.Connection) -> list[Subscriber]:
    """Every subscriber whatever the status, oldest first."""
    return [_subscriber(row) for row in conn.execute("SELECT * FROM subscribers ORDER BY id")]


def _subscriber(row: sqlite3.Row) -> Subscriber:
    """A Subscriber from a database row."""
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        status=row["status"],
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
        unsubscribed_at=row["unsubscribed_at"],
        bounced_at=row["bounced_at"],
        complained_at=row["complained_at"],
    )


def unsubscribe_token(secret: bytes, subscriber_id: int) -> str:
    """The secret token of a subscriber's unsubscribe link: `<id>-<hmac>`."""
    return f"{subscriber_id}-{db.sign(secret, TOKEN_PURPOSE, str(subscriber_id))}"


def read_unsubscribe_token(secret: bytes, token: str) -> int | None:
    """The subscriber id a token was made for, or None if it is malformed or forged."""
    number, _, signature = token.strip().partition("-")
    if not number.isdigit() or not signature:
        return None
    if not db.verify(secret, TOKEN_PURPOSE, number, signature):
        return None
    return int(number)

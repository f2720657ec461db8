"""The numbers a writer wants, read from the ledger and the subscriber table (read only).

Nothing here tracks a reader: every figure is a count of rows the sending and the
subscription service keep anyway (`subscribers`, `sends`, `deliveries`, `reports`).
Timestamps in the state are ISO 8601 UTC text, so a month is the first seven characters.
"""

from __future__ import annotations

import sqlite3

import msgspec

from publish.state import ledger
from publish.state.statuses import DeliveryStatus as Status

# Each subscriber event counted per month: its name and the column that dates it.
MONTHLY_EVENTS = (
    ("new", "created_at"),
    ("confirmed", "confirmed_at"),
    ("unsubscribed", "unsubscribed_at"),
    ("bounced", "bounced_at"),
    ("complained", "complained_at"),
)


class MonthCounts(msgspec.Struct, frozen=True):
    """What happened to the list in one month (YYYY-MM)."""

    month: str
    new: int = 0
    confirmed: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0


class SendCounts(msgspec.Struct, frozen=True):
    """One send of the ledger: when it ran and how each delivery ended."""

    slug: str
    started_at: str
    finished_at: str | None
    delivered: int = 0
    failed: int = 0
    deferred: int = 0  # still pending after a temporary refusal (the next run retries)
    unknown: int = 0
    pending: int = 0  # not tried yet
    skipped: int = 0
    bounced: int = 0  # bounce reports about this send, from the bounce mailbox or a webhook
    unsubscribed: int = 0  # readers who left after it, before the next send
    to_send: int = 0  # rows a rerun would still send: pending, and unknown within the limit


def monthly_counts(conn: sqlite3.Connection) -> list[MonthCounts]:
    """Subscriber events per month, oldest month first; months with no event are left out."""
    months: dict[str, dict[str, int]] = {}
    for name, column in MONTHLY_EVENTS:
        rows = conn.execute(
            f"SELECT substr({column}, 1, 7) AS month, COUNT(*) FROM subscribers"
            f" WHERE {column} IS NOT NULL AND {column} != '' GROUP BY month"
        )
        for month, count in rows:
            months.setdefault(month, {})[name] = count
    return [MonthCounts(month, **counts) for month, counts in sorted(months.items())]


def send_counts(conn: sqlite3.Connection) -> list[SendCounts]:
    """Every send, oldest first, with its delivery outcomes, its bounces and the
    unsubscribes between its start and the next send's start."""
    sends = conn.execute(
        "SELECT slug, started_at, finished_at FROM sends ORDER BY started_at, slug"
    ).fetchall()
    counted = []
    for index, (slug, started_at, finished_at) in enumerate(sends):
        until = sends[index + 1][1] if index + 1 < len(sends) else None
        counted.append(
            SendCounts(
                slug,
                started_at,
                finished_at,
                **_outcomes(conn, slug),
                bounced=_bounces(conn, slug),
                unsubscribed=_unsubscribes(conn, started_at, until),
            )
        )
    return counted


def last_send(conn: sqlite3.Connection) -> SendCounts | None:
    """The most recently started send, or None before the first."""
    row = conn.execute(
        "SELECT slug, started_at, finished_at FROM sends ORDER BY started_at DESC, slug DESC"
    ).fetchone()
    if row is None:
        return None
    return SendCounts(*row, **_outcomes(conn, row[0]), to_send=ledger.count_pending(conn, row[0]))


def _outcomes(conn: sqlite3.Connection, slug: str) -> dict[str, int]:
    """The ledger's rows of one send by outcome; a pending row already tried is deferred, and
    a claimed row (`sending`: in flight, or left so by a stopped send) is unknown."""
    row = conn.execute(
        "SELECT"
        f" COALESCE(SUM(status = '{Status.SENT}'), 0),"
        f" COALESCE(SUM(status = '{Status.FAILED}'), 0),"
        f" COALESCE(SUM(status = '{Status.PENDING}' AND attempts > 0), 0),"
        f" COALESCE(SUM(status IN ('{Status.UNKNOWN}', '{Status.SENDING}')), 0),"
        f" COALESCE(SUM(status = '{Status.PENDING}' AND attempts = 0), 0),"
        f" COALESCE(SUM(status = '{Status.SKIPPED}'), 0)"
        " FROM deliveries WHERE slug = ?",
        (slug,),
    ).fetchone()
    names = ("delivered", "failed", "deferred", "unknown", "pending", "skipped")
    return dict(zip(names, row, strict=True))


def _bounces(conn: sqlite3.Connection, slug: str) -> int:
    """How many readers a bounce report (hard or soft) says did not get this send."""
    return conn.execute(
        "SELECT COUNT(DISTINCT lower(address)) FROM reports"
        " WHERE slug = ? AND kind IN ('hard_bounce', 'soft_bounce')",
        (slug,),
    ).fetchone()[0]


def _unsubscribes(conn: sqlite3.Connection, since: str, until: str | None) -> int:
    """How many readers unsubscribed (or complained) from `since` up to `until`."""
    return conn.execute(
        "SELECT COUNT(*) FROM subscribers WHERE"
        " COALESCE(unsubscribed_at, complained_at) >= ?"
        " AND (? IS NULL OR COALESCE(unsubscribed_at, complained_at) < ?)",
        (since, until, until),
    ).fetchone()[0]

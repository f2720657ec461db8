"""Subscribers kept in the SQLite state: add, merge, unsubscribe, import, export, tokens.

Addresses are checked with email-validator (no DNS) and merged when they differ only by
case, in any script (the `email_key` column, see publish.addresses). An unsubscribed
address keeps its row, so a later import never subscribes it again. Every function takes an
open connection from `publish.state.connect`.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from publish import state
from publish.addresses import address_key
from publish.errors import Problem, PublishError, error
from publish.model import Settings

PENDING, ACTIVE, UNSUBSCRIBED = "pending", "active", "unsubscribed"
STATUSES = (PENDING, ACTIVE, UNSUBSCRIBED)

TOKEN_PURPOSE = "unsubscribe"
EMAIL_COLUMNS = ("email", "e-mail", "email address", "e-mail address", "mail", "address")
NAME_COLUMNS = ("name", "full name", "fullname", "display name", "first name")
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")


@dataclass(frozen=True)
class Subscriber:
    """One row of the subscribers table."""

    id: int
    email: str
    name: str
    status: str
    created_at: str
    confirmed_at: str | None
    unsubscribed_at: str | None


@dataclass(frozen=True)
class ImportReport:
    """What an import did: counts of rows added, merged and kept unsubscribed."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_unsubscribed: int = 0

    @property
    def message(self) -> str:
        """A one-line summary for the command line."""
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.kept_unsubscribed} kept unsubscribed"
        )


class AddressError(PublishError, ValueError):
    """An address email-validator refuses; `reason` is the plain message."""

    def __init__(self, problem: Problem):
        super().__init__([problem])
        self.reason = problem.message


def fold_controls(text: str) -> str:
    """Replace CR, LF, other control characters and U+2028/U+2029 with single spaces."""
    return _CONTROL.sub(" ", text).strip()


def has_controls(text: str) -> bool:
    """Whether text holds CR, LF, another control character or a Unicode line separator."""
    return _CONTROL.search(text) is not None


def now_text() -> str:
    """The current UTC time as ISO 8601 text, the format of every timestamp in the state."""
    return datetime.now(UTC).isoformat(timespec="seconds")


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
    status: str = ACTIVE,
    source: str = "cli",
) -> Subscriber:
    """Add an address, or merge it into the existing row with the same address (any case)."""
    subscriber, _ = _upsert(conn, normalise_address(email), fold_controls(name), status, source)
    return subscriber


def _upsert(
    conn: sqlite3.Connection, email: str, name: str, status: str, source: str
) -> tuple[Subscriber, str]:
    """Insert or merge one normalised address; return it and what happened."""
    if status not in STATUSES:
        raise ValueError(f"unknown subscriber status {status!r}")
    existing = find_subscriber(conn, email)
    if existing is None:
        stamp = now_text()
        cursor = conn.execute(
            "INSERT INTO subscribers (email, name, status, created_at, confirmed_at, source)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (email, name, status, stamp, stamp if status == ACTIVE else None, source),
        )
        return _require(conn, int(cursor.lastrowid or 0)), "added"
    if existing.status == UNSUBSCRIBED and source == "import":
        return existing, "kept_unsubscribed"
    new_status = _merged_status(existing.status, status)
    new_name = name or existing.name
    if new_status == existing.status and new_name == existing.name:
        return existing, "unchanged"
    conn.execute("UPDATE subscribers SET name = ? WHERE id = ?", (new_name, existing.id))
    if new_status != existing.status:
        set_status(conn, existing.id, new_status)
    return _require(conn, existing.id), "updated"


def _merged_status(current: str, requested: str) -> str:
    """The status after asking for `requested`: an active subscriber never drops to pending."""
    if current == ACTIVE and requested == PENDING:
        return ACTIVE
    return requested


def find_subscriber(conn: sqlite3.Connection, email: str) -> Subscriber | None:
    """The subscriber with this address (any case, any script), or None."""
    row = conn.execute(
        "SELECT * FROM subscribers WHERE email_key = ? OR email = ? COLLATE NOCASE"
        " ORDER BY id LIMIT 1", (address_key(email), email.strip())
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
    """Change a subscriber's status, stamping confirmed_at or unsubscribed_at."""
    if status not in STATUSES:
        raise ValueError(f"unknown subscriber status {status!r}")
    stamp = now_text()
    if status == ACTIVE:
        conn.execute(
            "UPDATE subscribers SET status = ?, confirmed_at = ?, unsubscribed_at = NULL"
            " WHERE id = ?",
            (status, stamp, subscriber_id),
        )
    elif status == UNSUBSCRIBED:
        conn.execute(
            "UPDATE subscribers SET status = ?, unsubscribed_at = ? WHERE id = ?",
            (status, stamp, subscriber_id),
        )
    else:
        conn.execute("UPDATE subscribers SET status = ? WHERE id = ?", (status, subscriber_id))
    return _require(conn, subscriber_id)


def remove_subscriber(conn: sqlite3.Connection, email: str) -> Subscriber | None:
    """Mark an address unsubscribed (the row stays, so imports never bring it back)."""
    subscriber = find_subscriber(conn, email)
    if subscriber is None:
        return None
    if subscriber.status == UNSUBSCRIBED:
        return subscriber
    return set_status(conn, subscriber.id, UNSUBSCRIBED)


def active_subscribers(conn: sqlite3.Connection) -> list[Subscriber]:
    """Every active subscriber, oldest first."""
    rows = conn.execute("SELECT * FROM subscribers WHERE status = ? ORDER BY id", (ACTIVE,))
    return [_subscriber(row) for row in rows]


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
    )


# --- CSV ----------------------------------------------------------------------


def import_csv(conn: sqlite3.Connection, path: Path) -> ImportReport:
    """Import `email,name` rows; every row is checked first and nothing is written on error."""
    rows = _read_csv_rows(path)
    counts = {"added": 0, "updated": 0, "unchanged": 0, "kept_unsubscribed": 0}
    with state.transaction(conn):
        for email, name in rows:
            _, outcome = _upsert(conn, email, name, ACTIVE, "import")
            counts[outcome] += 1
    return ImportReport(**counts)


def _read_csv_rows(path: Path) -> list[tuple[str, str]]:
    """The checked (address, name) rows of a CSV file, or PublishError naming each bad line."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PublishError.single(label, 1, 1, f"cannot read the CSV file: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        message = "the CSV file is empty; expected a header 'email,name'"
        raise PublishError.single(label, 1, 1, message)
    email_index, name_index = _columns(label, header)
    rows: list[tuple[str, str]] = []
    problems: list[Problem] = []
    line = reader.line_num + 1
    for cells in reader:
        line, start = reader.line_num + 1, line
        if not any(cell.strip() for cell in cells):
            continue
        address = cells[email_index] if email_index < len(cells) else ""
        name = cells[name_index] if name_index is not None and name_index < len(cells) else ""
        try:
            rows.append((normalise_address(address, label, start), fold_controls(name)))
        except AddressError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PublishError(problems)
    return rows


def _columns(label: str, header: list[str]) -> tuple[int, int | None]:
    """The indexes of the address and name columns, found by tolerant header names."""
    names = [cell.strip().lower().replace("_", " ") for cell in header]
    email_index = next((i for i, n in enumerate(names) if n in EMAIL_COLUMNS), None)
    if email_index is None:
        found = ", ".join(repr(cell) for cell in header)
        raise PublishError.single(
            label, 1, 1, f"no email column in the header (found {found}); expected 'email,name'"
        )
    name_index = next((i for i, n in enumerate(names) if n in NAME_COLUMNS), None)
    return email_index, name_index


def export_csv(conn: sqlite3.Connection) -> str:
    """Every subscriber as CSV: email, name, status and the timestamps."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["email", "name", "status", "created_at", "confirmed_at", "unsubscribed_at"])
    for s in list_subscribers(conn):
        writer.writerow(
            [s.email, s.name, s.status, s.created_at, s.confirmed_at or "", s.unsubscribed_at or ""]
        )
    return buffer.getvalue()


# --- Unsubscribe tokens ---------------------------------------------------------


def unsubscribe_token(secret: bytes, subscriber_id: int) -> str:
    """The secret token of a subscriber's unsubscribe link: `<id>-<hmac>`."""
    return f"{subscriber_id}-{state.sign(secret, TOKEN_PURPOSE, str(subscriber_id))}"


def read_unsubscribe_token(secret: bytes, token: str) -> int | None:
    """The subscriber id a token was made for, or None if it is malformed or forged."""
    number, _, signature = token.strip().partition("-")
    if not number.isdigit() or not signature:
        return None
    if not state.verify(secret, TOKEN_PURPOSE, number, signature):
        return None
    return int(number)


def unsubscribe_url(settings: Settings, token: str) -> str:
    """The link that unsubscribes the holder of `token`, on the subscription service."""
    return service_link(settings, f"unsubscribe/{token}")


def service_link(settings: Settings, path: str, fallback: str = "") -> str:
    """`path` on the subscription service: `[email] service_url`, else `fallback`, else the
    site's URL."""
    base = settings.email.service_url or fallback or settings.site.url
    return f"{base.rstrip('/')}/{path}"

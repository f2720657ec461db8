"""Importing a subscriber CSV in any format `publish.state.formats` knows, and exporting one.

Every row is checked before anything is written; a merge keeps statuses, dates and names,
and an unsubscribed address stays unsubscribed.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import msgspec

from publish.errors import Problem, PublishError, error
from publish.state import db, formats
from publish.state.formats import Record
from publish.state.statuses import STAYS_GONE, SubscriberStatus
from publish.state.subscribers import (
    AddressError,
    find_subscriber,
    list_subscribers,
    merged_status,
    normalise_address,
    set_status,
)
from publish.support.safetext import fold_controls, now_text

EXPORT_COLUMNS = (
    "email",
    "name",
    "status",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "bounced_at",
    "complained_at",
)
# The column that dates each status an import sets on a known reader.
STAMP_COLUMNS = {
    SubscriberStatus.UNSUBSCRIBED: "unsubscribed_at",
    SubscriberStatus.BOUNCED: "bounced_at",
    SubscriberStatus.COMPLAINED: "complained_at",
    SubscriberStatus.ACTIVE: "confirmed_at",
}


class ImportReport(msgspec.Struct, frozen=True):
    """What an import did: rows added (by status), merged, kept unsubscribed and skipped."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_unsubscribed: int = 0
    kept_bounced: int = 0  # bounced or complained readers an import never brings back
    format: str = "CSV"
    added_by_status: dict[str, int] = msgspec.field(default_factory=dict)
    skipped: dict[str, list[int]] = msgspec.field(default_factory=dict)

    @property
    def message(self) -> str:
        """A one-line summary for the command line."""
        statuses = ", ".join(
            f"{count} {status}" for status, count in sorted(self.added_by_status.items())
        )
        added = f"{self.added} added" + (f" ({statuses})" if statuses else "")
        skipped = sum(len(lines) for lines in self.skipped.values())
        bounced = f"{self.kept_bounced} kept bounced or complained, " if self.kept_bounced else ""
        return (
            f"{added}, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.kept_unsubscribed} kept unsubscribed, {bounced}{skipped} skipped"
        )

    def skip_lines(self, shown: int = 5) -> list[str]:
        """One line per reason a row was skipped: the count and the first few line numbers."""
        lines = []
        for reason, numbers in sorted(self.skipped.items()):
            first = ", ".join(str(n) for n in numbers[:shown])
            more = ", ..." if len(numbers) > shown else ""
            lines.append(
                f"skipped {len(numbers)}: {reason} (line{'s' if len(numbers) > 1 else ''}"
                f" {first}{more})"
            )
        return lines


class ImportRow(msgspec.Struct, frozen=True):
    """A checked record to import, with the line its row starts on."""

    line: int
    record: Record


def import_csv(conn: sqlite3.Connection, path: Path) -> ImportReport:
    """Import a subscriber CSV in any format `publish.state.formats` knows.

    Every row is checked first; on any error nothing is written. Statuses, dates and names
    are kept; opted-out readers are kept as unsubscribed, placeholders are skipped.
    """
    plan = read_import(path)
    with db.transaction(conn):
        return merge_plan(conn, plan)


def merge_plan(conn: sqlite3.Connection, plan: ImportPlan) -> ImportReport:
    """Merge a checked file's rows into the list, inside the caller's transaction (an
    archive import merges all its files in one)."""
    counts = {"added": 0, "updated": 0, "unchanged": 0, "kept_unsubscribed": 0, "kept_bounced": 0}
    added: dict[str, int] = {}
    for row in plan.rows:
        outcome, status = _merge_record(conn, row.record)
        counts[outcome] += 1
        if outcome == "added":
            added[status] = added.get(status, 0) + 1
    return ImportReport(**counts, format=plan.format, added_by_status=added, skipped=plan.skipped)


class ImportPlan(msgspec.Struct, frozen=True):
    """What a CSV file holds: its format, the rows to import and the lines skipped, by
    reason."""

    format: str
    rows: list[ImportRow]
    skipped: dict[str, list[int]]


def read_import(path: Path) -> ImportPlan:
    """Read and check a subscriber CSV; PublishError naming every bad line, nothing else."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PublishError.single(label, 1, 1, f"cannot read the CSV file: {exc}") from None
    try:
        return _plan_rows(label, text)
    except csv.Error as exc:
        line, col = _oversized_field(text)
        message = f"this CSV file cannot be read: {exc}"
        if "field larger than field limit" in str(exc):
            message = (
                f"a field is longer than {csv.field_size_limit() // 1024} KB; is this "
                "a subscriber list? (a quote left open makes the rest of the file one "
                "field)"
            )
        raise PublishError.single(label, line, col, message) from None


def _plan_rows(label: str, text: str) -> ImportPlan:
    """The rows of a CSV text, read in its recognised format."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        message = "the CSV file is empty; expected a header 'email,name'"
        raise PublishError.single(label, 1, 1, message)
    keys = [formats.column_key(cell) for cell in header]
    columns = frozenset(keys)
    kind = formats.detect(columns)
    if kind is None:
        found = ", ".join(repr(cell) for cell in header)
        raise PublishError.single(
            label, 1, 1, f"no email column in the header (found {found}); expected 'email,name'"
        )
    strict = kind.name in formats.PLATFORM_FORMATS
    rows: list[ImportRow] = []
    skipped: dict[str, list[int]] = {}
    problems: list[Problem] = []
    line = reader.line_num + 1
    for cells in reader:
        line, start = reader.line_num + 1, line
        if not any(cell.strip() for cell in cells):
            continue
        values = dict(zip(keys, cells, strict=False))
        try:
            found = _read_row(kind, values, columns, strict, label, start)
        except formats.BadValue as exc:
            col = keys.index(exc.column) + 1 if exc.column in keys else 1
            problems.append(error(label, start, col, f"{exc.column}: {exc}"))
        except AddressError as exc:
            problems.extend(exc.problems)
        else:
            if isinstance(found, formats.Skip):
                skipped.setdefault(found.reason, []).append(start)
            else:
                rows.append(ImportRow(start, found))
    if problems:
        raise PublishError(problems)
    return ImportPlan(kind.name, rows, skipped)


def _read_row(
    kind: formats.Format,
    values: dict[str, str],
    columns: frozenset[str],
    strict: bool,
    label: str,
    line: int,
) -> Record | formats.Skip:
    """One row as a normalised record, or the reason it is skipped."""
    found = kind.read(values, columns)
    if isinstance(found, formats.Skip):
        return found
    reason = formats.placeholder_reason(found.email, strict)
    if reason:
        return formats.Skip(reason)
    email = normalise_address(found.email, label, line)
    return msgspec.structs.replace(found, email=email, name=fold_controls(found.name))


def _merge_record(conn: sqlite3.Connection, record: Record) -> tuple[str, str]:
    """Insert or merge one imported reader; what happened, and the status it now has.

    A new address keeps the record's status and dates. A known unsubscribed address stays
    so; an opt-out in the file unsubscribes a known reader; an active reader never drops to
    pending; the earlier signup date wins.
    """
    existing = find_subscriber(conn, record.email)
    if existing is None:
        _insert_record(conn, record)
        return "added", record.status
    if existing.status in STAYS_GONE:
        kept = (
            "kept_unsubscribed"
            if existing.status == SubscriberStatus.UNSUBSCRIBED
            else "kept_bounced"
        )
        return kept, existing.status
    status = merged_status(existing.status, record.status)
    name = record.name or existing.name
    created = min(existing.created_at, record.created_at or existing.created_at)
    if (status, name, created) == (existing.status, existing.name, existing.created_at):
        return "unchanged", status
    conn.execute(
        "UPDATE subscribers SET name = ?, created_at = ? WHERE id = ?", (name, created, existing.id)
    )
    if status != existing.status:
        set_status(conn, existing.id, status)
        column = STAMP_COLUMNS.get(status, "confirmed_at")
        stamp = getattr(record, column)
        if stamp and status != SubscriberStatus.PENDING:
            conn.execute(f"UPDATE subscribers SET {column} = ? WHERE id = ?", (stamp, existing.id))
    return "updated", status


def _insert_record(conn: sqlite3.Connection, record: Record) -> None:
    """A new row holding an imported record as it is; missing dates are filled sensibly
    (signup: now; confirmation of an active reader: the signup; an opt-out: now)."""
    created = record.created_at or now_text()
    confirmed = record.confirmed_at or (
        created if record.status == SubscriberStatus.ACTIVE else None
    )
    unsubscribed = record.unsubscribed_at
    if record.status == SubscriberStatus.UNSUBSCRIBED and unsubscribed is None:
        unsubscribed = now_text()
    bounced = record.bounced_at or (
        now_text() if record.status == SubscriberStatus.BOUNCED else None
    )
    complained = record.complained_at or (
        now_text() if record.status == SubscriberStatus.COMPLAINED else None
    )
    conn.execute(
        "INSERT INTO subscribers (email, name, status, created_at, confirmed_at,"
        " unsubscribed_at, bounced_at, complained_at, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'import')",
        (
            record.email,
            record.name,
            record.status,
            created,
            confirmed,
            unsubscribed,
            bounced,
            complained,
        ),
    )


def _oversized_field(text: str) -> tuple[int, int]:
    """Line and column where the first field longer than the csv module's limit starts
    (or where the text ends, if none is: then the file is broken some other way)."""
    limit = csv.field_size_limit()
    line, col, start, length, quoted = 1, 1, (1, 1), 0, False
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"' and quoted and text[index + 1 : index + 2] == '"':
            index += 1
            col += 1
            length += 1
        elif char == '"':
            quoted = not quoted
        elif char in ",\n" and not quoted:
            length = 0
            start = (line, col + 1) if char == "," else (line + 1, 1)
        else:
            length += 1
        if length > limit:
            return start
        if char == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        index += 1
    return line, col


def export_csv(conn: sqlite3.Connection) -> str:
    """Every subscriber as CSV: email, name, status and the timestamps."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for s in list_subscribers(conn):
        writer.writerow(
            [
                s.email,
                s.name,
                s.status,
                s.created_at,
                s.confirmed_at or "",
                s.unsubscribed_at or "",
                s.bounced_at or "",
                s.complained_at or "",
            ]
        )
    return buffer.getvalue()


# --- Unsubscribe tokens ---------------------------------------------------------

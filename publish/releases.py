"""The `releases` table of the state database: which essay went out in which slot, and when.

A release row is written once and never changed: it is what fixes an undated essay's date.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from publish import state
from publish.model import Settings
from publish.schedule import Release
from publish.state import database_error, database_path, transaction


def record_releases(connection: sqlite3.Connection, releases: Iterable[Release]) -> None:
    """Record releases in one transaction; a slug already recorded keeps its first record."""
    rows = [(r.slug, r.slot.isoformat(), r.released_at.isoformat(), r.content_hash)
            for r in releases]
    with transaction(connection):
        connection.executemany("INSERT OR IGNORE INTO releases (slug, slot, released_at, "
                               "content_hash) VALUES (?, ?, ?, ?)", rows)


def read_releases(connection: sqlite3.Connection, timezone: str) -> dict[str, Release]:
    """Every recorded release by slug, its times in the site's time zone."""
    zone = ZoneInfo(timezone)
    rows = connection.execute("SELECT slug, slot, released_at, content_hash FROM releases "
                              "ORDER BY slot, slug").fetchall()
    return {row[0]: Release(slug=row[0],
                            slot=datetime.fromisoformat(row[1]).astimezone(zone),
                            released_at=datetime.fromisoformat(row[2]).astimezone(zone),
                            content_hash=row[3])
            for row in rows}


def unfinished_sends(connection: sqlite3.Connection, slugs: Iterable[str]) -> list[str]:
    """The slugs among `slugs` whose send in the ledger has not finished (or not started)."""
    finished = {row[0] for row in connection.execute(
        "SELECT slug FROM sends WHERE finished_at IS NOT NULL")}
    return [slug for slug in slugs if slug not in finished]


def open_read_only(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to an existing state database, or None when there is none yet."""
    if not path.is_file():
        return None
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                 timeout=state.BUSY_TIMEOUT)
    try:
        connection.execute("SELECT 1 FROM releases LIMIT 1")
    except sqlite3.DatabaseError as exc:
        connection.close()
        if "no such table" in str(exc):  # a database from before the releases table
            return None
        raise database_error(path, exc, "read") from None
    return connection


def recorded_releases(root: Path, settings: Settings) -> dict[str, Release]:
    """The releases recorded for a site, read without creating or changing the database."""
    connection = open_read_only(database_path(root, settings))
    if connection is None:
        return {}
    with closing(connection):
        return read_releases(connection, settings.site.timezone)

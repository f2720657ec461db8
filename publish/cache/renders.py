"""Renderings of cached essays, kept in one SQLite file per site (`renders.sqlite`)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from markdown_it.token import Token

from publish.cache.store import (
    PROCESS,
)

RENDERS_FILE = "renders.sqlite"


Renderer = Callable[[Sequence[Token], Any], str]


class RenderStore:
    """Renderings of cached essays, one SQLite file per site, each row with its checksum.

    The store is disposable: a damaged row is deleted and rendered again, and a damaged file
    is removed and started afresh, so nothing it holds is ever served unchecked.
    """

    MAX_OPEN = 4  # stores kept open at once; the oldest is closed to make room
    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS renders (key TEXT PRIMARY KEY, record TEXT NOT NULL, "
        "checksum INTEGER NOT NULL, text BLOB NOT NULL)"
    )
    INDEX = "CREATE INDEX IF NOT EXISTS renders_by_record ON renders (record)"

    def __init__(self, path: Path):
        self.path = path
        self.connection: sqlite3.Connection | None = None
        self.lock = threading.RLock()  # `publish serve` rebuilds from timer threads

    @classmethod
    def at(cls, cache_dir: Path) -> RenderStore:
        """The store of the cache folder `cache_dir`, opened once per process."""
        path = cache_dir / RENDERS_FILE
        if path not in PROCESS.render_stores:
            while len(PROCESS.render_stores) >= cls.MAX_OPEN:  # one process, many sites (tests)
                PROCESS.render_stores.pop(next(iter(PROCESS.render_stores))).close()
            PROCESS.render_stores[path] = cls(path)
        return PROCESS.render_stores[path]

    def close(self) -> None:
        """Close the connection, if open; a later use opens it again."""
        with self.lock:
            if self.connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    self.connection.close()
                self.connection = None

    @classmethod
    def forget_connections(cls) -> None:
        """In a forked worker: open new connections; the inherited ones stay the parent's
        (kept referenced, never closed or used here)."""
        for store in PROCESS.render_stores.values():
            if store.connection is not None:
                PROCESS.inherited_connections.append(store.connection)
                store.connection = None
            store.lock = threading.RLock()

    def _connect(self) -> sqlite3.Connection:
        """The open connection, creating the file and table when needed."""
        if self.connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, isolation_level=None, timeout=10, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(self.SCHEMA)
            connection.execute(self.INDEX)
            self.connection = connection
        return self.connection

    def _reset(self) -> None:
        """Drop a damaged store; the next use starts a new one."""
        if self.connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self.connection.close()
            self.connection = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def get(self, key: str) -> str | None:
        """The rendering stored under `key` if its checksum holds, else None."""
        with self.lock:
            return self._get(key)

    def _get(self, key: str) -> str | None:
        """`get`, with the lock held."""
        try:
            row = (
                self._connect()
                .execute("SELECT checksum, text FROM renders WHERE key = ?", (key,))
                .fetchone()
            )
            if row is None:
                return None
            if zlib.crc32(row[1]) != row[0]:
                self._connect().execute("DELETE FROM renders WHERE key = ?", (key,))
                return None
            return bytes(row[1]).decode("utf-8")
        except (sqlite3.Error, UnicodeDecodeError):
            self._reset()
            return None

    def put(self, key: str, record: str, text: str) -> None:
        """Store a rendering (a store that fails is dropped; the build goes on)."""
        data = text.encode("utf-8")
        with self.lock:
            self._put(key, record, data)

    def _put(self, key: str, record: str, data: bytes) -> None:
        """`put`, with the lock held."""
        try:
            self._connect().execute(
                "INSERT OR REPLACE INTO renders VALUES (?, ?, ?, ?)",
                (key, record, zlib.crc32(data), data),
            )
        except sqlite3.Error:
            self._reset()

    def prune(self, records: set[str]) -> None:
        """Delete the renderings of records no longer in use."""
        if not self.path.exists():
            return
        with self.lock:
            self._prune(records)

    def _prune(self, records: set[str]) -> None:
        """`prune`, with the lock held."""
        try:
            connection = self._connect()
            stale = {r for (r,) in connection.execute("SELECT DISTINCT record FROM renders")}
            connection.executemany(
                "DELETE FROM renders WHERE record = ?", [(r,) for r in stale - records]
            )
        except sqlite3.Error:
            self._reset()

"""The build cache: each essay's one parse, kept under `build/.cache/` by content hash.

A record's key hashes everything its parse depends on except the glossary: the essay's
bytes and path, the settings, publish's parsing code and the versions of the libraries it
uses. The glossary entries an essay cites are checked on every load instead, so editing a
term re-parses exactly the essays that cite it. Every record carries its format version, its
key and a checksum of its bytes; a record that fails any check is deleted and the essay is
parsed again, never served. A record is plain data (MessagePack, decoded by msgspec into
checked types), so nothing placed in the cache folder can run code when it is read.

Cached essays keep their tokens on disk (`StoredTokens`) and decode them when used, so the
parsed tokens in memory do not grow with the number of essays; the Markdown renderings of
cached tokens are kept too (`memoized_render`). Cache misses are parsed in parallel
across the machine's cores when there are enough of them to pay for the worker processes,
which die with the process that forked them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from markdown_it.token import Token

from publish.cache.store import (
    CACHE_DIR,
    PROCESS,
    cache_enabled,
    code_fingerprint,
    pack_record,
    unpack_record,
    write_cache_file,
)
from publish.errors import Problem, PublishError
from publish.model import Essay, Glossary, GlossaryEntry, Note, Settings
from publish.parallel import fork_workers, forked_pool

MAGIC = b"PUBCACHE"
PARALLEL_THRESHOLD = 48
RENDERS_FILE = "renders.sqlite"
RECENT_DECODES = 16  # decoded essays kept, so indexing tokens one by one decodes once

Dependency = tuple[str, str, str]  # label cited, glossary key it resolved to, entry fingerprint


def essay_key(relative_path: str, raw: bytes, settings: Settings) -> bytes:
    """The cache key of one essay file: its bytes and path, the settings and the code."""
    digest = hashlib.sha256(code_fingerprint())
    digest.update(repr(settings).encode())
    digest.update(relative_path.encode() + b"\0")
    digest.update(raw)
    return digest.digest()


def entry_fingerprint(entry: GlossaryEntry) -> str:
    """A hash of everything a glossary entry puts into the essays that cite it (entries are
    immutable, so each one's is computed once)."""
    found = PROCESS.entry_fingerprints.get(id(entry))
    if found is not None and found[0] is entry:
        return found[1]
    text = repr((entry.key, entry.term, entry.source, entry.aliases, entry.definition))
    fingerprint = hashlib.sha256(text.encode()).hexdigest()
    if len(PROCESS.entry_fingerprints) > 4096:
        PROCESS.entry_fingerprints.clear()
    PROCESS.entry_fingerprints[id(entry)] = (entry, fingerprint)
    return fingerprint


def glossary_dependencies(essay: Essay, glossary: Glossary) -> tuple[Dependency, ...]:
    """The glossary entries an essay's parse took in, by the label that cited each."""
    dependencies = []
    for note in essay.notes:
        entry = glossary.entries.get(note.glossary_key) if note.glossary_key else None
        if entry is not None:
            dependencies.append((note.label, entry.key, entry_fingerprint(entry)))
    return tuple(dependencies)


def dependencies_hold(dependencies: Sequence[Dependency], glossary: Glossary) -> bool:
    """Whether every cited label still resolves to the same, unchanged glossary entry."""
    for label, key, fingerprint in dependencies:
        entry = glossary.lookup(label)
        if entry is None or entry.key != key or entry_fingerprint(entry) != fingerprint:
            return False
    return True


def encode_tokens(tokens: Sequence[Token]) -> tuple[Any, ...]:
    """Tokens as plain rows of text, numbers, lists and tables, for MessagePack."""
    return tuple((t.type, t.tag, t.nesting, t.attrs, t.map, t.level,
                  encode_tokens(t.children) if t.children is not None else None,
                  t.content, t.markup, t.info, t.meta, t.block, t.hidden) for t in tokens)


def decode_tokens(rows: Sequence[Any]) -> list[Token]:
    """Rebuild tokens from `encode_tokens` rows (a TypeError or ValueError if malformed)."""
    tokens = []
    for (kind, tag, nesting, attrs, line_map, level, children, content, markup, info, meta,
         block, hidden) in rows:
        tokens.append(Token(kind, tag, nesting, attrs, line_map, level,
                            decode_tokens(children) if children is not None else None,
                            content, markup, info, meta, block, hidden))
    return tokens


# --- The record of one essay: MessagePack, its shape and types checked when read --------
# MessagePack holds only data (text, numbers, lists, tables): unlike pickle, reading it can
# never run code, and msgspec checks every field's type as it decodes, in C.


class EssayRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """An essay without its tokens; its date as [wall-clock ISO text, fold, zone name or
    UTC offset in seconds or None], so a zone read back is the zone stored."""

    path: str
    slug: str
    title: str
    subtitle: str
    date: tuple[str, int, str | float | None] | None
    author: str
    tags: tuple[str, ...]
    category: str
    summary: str
    image: str
    image_alt: str
    image_credit: str
    draft: bool
    order: int | None
    body_line: int
    notes: tuple[tuple[int, str, str | None, int], ...]
    word_count: int
    content_hash: str


class CacheRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """A record's metadata: the essay, its warnings, what it cited and its token count."""

    essay: EssayRecord
    problems: tuple[tuple[str, int, int, str, Literal["error", "warning"]], ...]
    dependencies: tuple[tuple[str, str, str], ...]
    count: int


_RECORD_DECODER = msgspec.msgpack.Decoder(CacheRecord)
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()


def pack(value: Any) -> bytes:
    """MessagePack bytes; a ValueError for anything MessagePack cannot hold exactly."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def unpack(data: bytes) -> Any:
    """Plain data (text, numbers, lists, tables) from MessagePack bytes."""
    return _DECODER.decode(data)


def essay_to_record(essay: Essay, problems: Sequence[Problem],
                    dependencies: Sequence[Dependency], count: int) -> bytes:
    """The record's metadata: the essay without its tokens, its warnings and what it cited."""
    fields = {name: getattr(essay, name) for name in EssayRecord.__struct_fields__}
    fields["date"] = _date_to_record(essay.date)
    fields["notes"] = tuple((n.number, n.label, n.glossary_key, n.references)
                            for n in essay.notes)
    return pack(CacheRecord(
        essay=EssayRecord(**fields),
        problems=tuple((p.path, p.line, p.col, p.message, p.severity) for p in problems),
        dependencies=tuple(dependencies), count=count))


def essay_from_record(data: bytes) -> tuple[Essay, list[Problem], tuple[Dependency, ...], int]:
    """Read `essay_to_record`'s metadata back; a ValueError for anything else."""
    try:
        record = _RECORD_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    fields = msgspec.structs.asdict(record.essay)
    fields["date"] = _date_from_record(record.essay.date)
    fields["notes"] = tuple(Note(*note) for note in record.essay.notes)
    essay = Essay(**fields, tokens=())
    return essay, [Problem(*p) for p in record.problems], record.dependencies, record.count


def _date_to_record(moment: datetime | None) -> tuple[str, int, str | float | None] | None:
    """A date as [wall-clock ISO text, fold, zone name or UTC offset in seconds or None]."""
    if moment is None:
        return None
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo):
        where: str | float | None = zone.key
    elif isinstance(zone, timezone):
        where = zone.utcoffset(None).total_seconds()
    elif zone is None:
        where = None
    else:
        raise ValueError(f"a date in the time zone {zone!r} cannot be stored")
    return (moment.replace(tzinfo=None).isoformat(), moment.fold, where)


def _date_from_record(value: tuple[str, int, str | float | None] | None) -> datetime | None:
    """Read `_date_to_record` back (a ValueError if it names no date or zone)."""
    if value is None:
        return None
    text, fold, where = value
    moment = datetime.fromisoformat(text).replace(fold=fold)
    if isinstance(where, str):
        try:
            return moment.replace(tzinfo=ZoneInfo(where))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(str(exc)) from None
    if where is None:
        return moment
    return moment.replace(tzinfo=timezone(timedelta(seconds=where)))


class StoredTokens(Sequence[Token]):
    """An essay's tokens, kept in its cache record and decoded when used.

    The last few decodes are kept (renderers index tokens one at a time), so memory holds a
    handful of essays' tokens, never the whole site's.
    """

    __slots__ = ("path", "offset", "length", "checksum", "count", "ident")

    def __init__(self, path: Path, offset: int, length: int, checksum: int, count: int):
        self.path, self.offset, self.length = path, offset, length
        self.checksum, self.count = checksum, count
        self.ident = (path, offset, checksum)

    def load(self) -> list[Token]:
        """The decoded tokens, from the small table of recent decodes or from the record."""
        tokens = PROCESS.recent_decodes.get(self.ident)
        if tokens is None:
            tokens = PROCESS.recent_decodes[self.ident] = self._read()
            while len(PROCESS.recent_decodes) > RECENT_DECODES:
                del PROCESS.recent_decodes[next(iter(PROCESS.recent_decodes))]
        return tokens

    def _read(self) -> list[Token]:
        """Read, check and decode the tokens; a PublishError if the record changed under us."""
        try:
            with open(self.path, "rb") as stored:
                stored.seek(self.offset)
                data = stored.read(self.length)
        except OSError:
            data = b""
        tokens = None
        if len(data) == self.length and zlib.crc32(data) == self.checksum:
            with contextlib.suppress(ValueError, TypeError, RecursionError, msgspec.DecodeError):
                tokens = decode_tokens(unpack(data))
        if tokens is None:
            if not PROCESS.read_only:
                self.path.unlink(missing_ok=True)
            raise PublishError.single(str(self.path), 1, 1, "build cache record changed during "
                                      "the build; it was removed, run the build again")
        return tokens

    def __iter__(self) -> Iterator[Token]:
        return iter(self.load())

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> Token: ...

    @overload
    def __getitem__(self, index: slice) -> list[Token]: ...

    def __getitem__(self, index: int | slice) -> Token | list[Token]:
        return self.load()[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.ident)

    def __repr__(self) -> str:
        return f"StoredTokens({self.path.name}, {self.count} tokens)"


class EssayCache:
    """The folder of cached essay parses of one site."""

    def __init__(self, root: Path, settings: Settings, glossary: Glossary):
        self.folder = root / CACHE_DIR / "essays"
        self.settings = settings
        self.glossary = glossary

    def record_path(self, key: bytes) -> Path:
        """Where the record of a key lives."""
        return self.folder / f"{key.hex()}.rec"

    def load(self, key: bytes) -> tuple[Essay, list[Problem]] | None:
        """The cached essay and its warnings, or None when absent, damaged or out of date."""
        path = self.record_path(key)
        record = self._read_record(path, key)
        if record is None:
            return None
        essay, problems, dependencies = record
        return (essay, problems) if dependencies_hold(dependencies, self.glossary) else None

    def _read_record(self, path: Path,
                     key: bytes) -> tuple[Essay, list[Problem], tuple[Dependency, ...]] | None:
        """A record decoded, or None (a damaged one is deleted).

        A record decoded earlier in this process is reused while its file keeps the same
        inode, size and modification time (records are only ever replaced whole), so a
        long-lived process (`publish serve`) does not decode every essay on every rebuild.
        """
        try:
            status = os.stat(path)
            stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
            known = PROCESS.loaded_records.get(path)
            if known is not None and known[0] == stamp:
                return known[1]
            data = path.read_bytes()
        except OSError:
            return None
        record = self._decode(path, key, data)
        if record is None:
            PROCESS.loaded_records.pop(path, None)
            if not PROCESS.read_only:
                path.unlink(missing_ok=True)
            return None
        PROCESS.loaded_records[path] = (stamp, record)
        return record

    def _decode(self, path: Path, key: bytes,
                data: bytes) -> tuple[Essay, list[Problem], tuple[Dependency, ...]] | None:
        """Check a record's header and checksum, then read its essay (tokens stay stored).

        A record is MessagePack checked field by field: nothing in the cache can run code.
        """
        spans = unpack_record(data, MAGIC, key)
        if spans is None or len(spans) != 2:
            return None
        (meta_start, meta_length), (tokens_start, tokens_length) = spans
        try:
            essay, problems, dependencies, count = essay_from_record(
                data[meta_start:meta_start + meta_length])
        except (ValueError, TypeError, KeyError, RecursionError):  # a foreign or stale record
            return None
        tokens_bytes = data[tokens_start:tokens_start + tokens_length]
        tokens = StoredTokens(path, tokens_start, tokens_length, zlib.crc32(tokens_bytes), count)
        return dataclasses.replace(essay, tokens=tokens), problems, dependencies

    def store(self, key: bytes, essay: Essay, problems: list[Problem]) -> Essay:
        """Write an essay's record atomically; return the essay with its tokens stored."""
        try:
            tokens_bytes = pack(encode_tokens(essay.tokens))
            meta = essay_to_record(essay, problems, glossary_dependencies(essay, self.glossary),
                                   len(essay.tokens))
        except ValueError:  # something MessagePack cannot store: keep the essay in memory
            return essay
        record = pack_record(MAGIC, key, [meta, tokens_bytes])
        path = self.record_path(key)
        if not write_cache_file(path, record):
            return essay
        tokens = StoredTokens(path, len(record) - len(tokens_bytes), len(tokens_bytes),
                              zlib.crc32(tokens_bytes), len(essay.tokens))
        return dataclasses.replace(essay, tokens=tokens)

    def key_of(self, path: Path, root: Path) -> bytes:
        """The cache key of the essay file at `path` as it is now (see `essay_key`)."""
        return essay_key(path.relative_to(root).as_posix(), path.read_bytes(), self.settings)

    def parse(self, path: Path, root: Path, key: bytes) -> tuple[Essay | None, list[Problem]]:
        """Parse one essay the cache does not hold and store it under `key` (if it parsed)."""
        from publish.content.essays import read_essay  # essays -> markdown -> cache: import at use

        essay, problems = read_essay(path, root, self.settings, self.glossary)
        if essay is None or any(p.is_error for p in problems):
            return essay, problems
        return self.store(key, essay, problems), problems

    def peek(self, path: Path, root: Path) -> tuple[Essay | None, list[Problem]]:
        """One essay from the cache if its record holds, else parsed; nothing is stored."""
        from publish.content.essays import read_essay

        cached = self.load(self.key_of(path, root))
        return cached if cached is not None else read_essay(path, root, self.settings,
                                                            self.glossary)

    def prune(self, keep: set[str]) -> None:
        """Remove records and renderings no essay of this build uses (old versions, deleted)."""
        for path in self.folder.glob("*.rec") if self.folder.is_dir() else []:
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in self.folder.glob(".*.tmp") if self.folder.is_dir() else []:
            path.unlink(missing_ok=True)  # half-written by a killed build (one runs at a time)
        RenderStore.at(self.folder.parent).prune({name.removesuffix(".rec") for name in keep})


Renderer = Callable[[Sequence[Token], Any], str]


class RenderStore:
    """Renderings of cached essays, one SQLite file per site, each row with its checksum.

    The store is disposable: a damaged row is deleted and rendered again, and a damaged file
    is removed and started afresh, so nothing it holds is ever served unchecked.
    """

    MAX_OPEN = 4  # stores kept open at once; the oldest is closed to make room
    SCHEMA = ("CREATE TABLE IF NOT EXISTS renders (key TEXT PRIMARY KEY, record TEXT NOT NULL, "
              "checksum INTEGER NOT NULL, text BLOB NOT NULL)")
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
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=10,
                                         check_same_thread=False)
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
            row = self._connect().execute("SELECT checksum, text FROM renders WHERE key = ?",
                                          (key,)).fetchone()
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
            self._connect().execute("INSERT OR REPLACE INTO renders VALUES (?, ?, ?, ?)",
                                    (key, record, zlib.crc32(data), data))
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
            connection.executemany("DELETE FROM renders WHERE record = ?",
                                   [(r,) for r in stale - records])
        except sqlite3.Error:
            self._reset()


def memoized_render(render: Renderer) -> Renderer:
    """Keep what `render(tokens, context)` returns for stored tokens in the build cache.

    A rendering is filed under its essay's record, and its key hashes the tokens' checksum,
    the renderer and the context's repr, so a change to any of them misses.
    """
    def cached(tokens: Sequence[Token], context: Any) -> str:
        if PROCESS.read_only or not isinstance(tokens, StoredTokens):
            return render(tokens, context)
        digest = hashlib.sha256(f"{render.__qualname__}|{tokens.checksum}|{context!r}".encode())
        record = tokens.path.stem
        key = f"{record}-{digest.hexdigest()}"
        store = RenderStore.at(tokens.path.parent.parent)
        text = store.get(key)
        if text is None:
            text = render(tokens.load(), context)  # decoded once, not token by token
            store.put(key, record, text)
        return text

    cached.__doc__ = render.__doc__
    cached.__wrapped__ = render  # type: ignore[attr-defined]
    return cached


def read_essays(paths: Sequence[Path], root: Path, settings: Settings,
                glossary: Glossary) -> list[tuple[Essay | None, list[Problem]]]:
    """Every essay, in order: cached where the cache holds, the rest parsed across cores."""
    from publish.content.essays import read_essay

    if not cache_enabled():
        return [read_essay(path, root, settings, glossary) for path in paths]
    cache = EssayCache(root, settings, glossary)
    if PROCESS.read_only:
        return [cache.peek(path, root) for path in paths]
    results: list[tuple[Essay | None, list[Problem]] | None] = []
    missing: list[tuple[int, bytes]] = []  # index and key of each essay the cache lacks
    keys: set[str] = set()
    for index, path in enumerate(paths):
        key = cache.key_of(path, root)
        keys.add(cache.record_path(key).name)
        cached = cache.load(key)
        results.append(cached)
        if cached is None:
            missing.append((index, key))
    parsed = _parse_missing([paths[i] for i, _ in missing], [k for _, k in missing], cache,
                            root)
    loaded = PROCESS.loaded_records
    for stale in [p for p in loaded if p.parent == cache.folder and p.name not in keys]:
        del PROCESS.loaded_records[stale]
    for (index, _), result in zip(missing, parsed, strict=True):
        results[index] = result
    cache.prune(keys)
    return [r for r in results if r is not None]


def _parse_missing(paths: list[Path], keys: list[bytes], cache: EssayCache,
                   root: Path) -> list[tuple[Essay | None, list[Problem]]]:
    """Parse the essays the cache did not hold (under their keys), in worker processes when
    there are many."""
    workers = fork_workers(len(paths), PARALLEL_THRESHOLD)
    if not workers:
        return [cache.parse(path, root, key) for path, key in zip(paths, keys, strict=True)]
    with forked_pool(workers, _start_worker, (cache, root)) as pool:
        chunk = max(1, min(32, len(paths) // (workers * 8)))  # small results: flat memory
        return list(pool.map(_parse_in_worker, paths, keys, chunksize=chunk))


def _start_worker(cache: EssayCache, root: Path) -> None:
    """Give a forked worker the cache it parses into."""
    PROCESS.worker_state = (cache, root)


def _parse_in_worker(path: Path, key: bytes) -> tuple[Essay | None, list[Problem]]:
    """Parse one essay in a worker process (its tokens go back stored, not pickled whole)."""
    cache, root = PROCESS.worker_state
    return cache.parse(path, root, key)

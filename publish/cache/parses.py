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
cached tokens are kept too (`StoredTokens.memoized`). Cache misses are parsed in parallel
across the machine's cores when there are enough of them to pay for the worker processes,
which die with the process that forked them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import msgspec
from markdown_it.token import Token

from publish.cache.records import (
    Dependency,
    decode_tokens,
    encode_tokens,
    essay_from_record,
    essay_to_record,
    pack,
    unpack,
)
from publish.cache.renders import Renderer, RenderStore
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
from publish.model import Essay, Glossary, GlossaryEntry, Settings
from publish.parallel import fork_workers, forked_pool

MAGIC = b"PUBCACHE"
PARALLEL_THRESHOLD = 48
RECENT_DECODES = 16  # decoded essays kept, so indexing tokens one by one decodes once

EssayParser = Callable[[Path, Path, Settings, Glossary], tuple[Essay | None, list[Problem]]]


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
            raise PublishError.single(
                str(self.path),
                1,
                1,
                "build cache record changed during the build; it was removed, run the build again",
            )
        return tokens

    def memoized(self, render: Renderer, context: Any) -> str:
        """What `render(tokens, context)` returns, kept in the site's render store.

        A rendering is filed under its essay's record, and its key hashes the tokens'
        checksum, the renderer and the context's repr, so a change to any of them misses.
        """
        if PROCESS.read_only:
            return render(self, context)
        digest = hashlib.sha256(f"{render.__qualname__}|{self.checksum}|{context!r}".encode())
        record = self.path.stem
        key = f"{record}-{digest.hexdigest()}"
        store = RenderStore.at(self.path.parent.parent)
        text = store.get(key)
        if text is None:
            text = render(self.load(), context)  # decoded once, not token by token
            store.put(key, record, text)
        return text

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

    def __init__(self, root: Path, settings: Settings, glossary: Glossary, parse_file: EssayParser):
        self.folder = root / CACHE_DIR / "essays"
        self.settings = settings
        self.glossary = glossary
        self.parse_file = parse_file

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

    def _read_record(
        self, path: Path, key: bytes
    ) -> tuple[Essay, list[Problem], tuple[Dependency, ...]] | None:
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

    def _decode(
        self, path: Path, key: bytes, data: bytes
    ) -> tuple[Essay, list[Problem], tuple[Dependency, ...]] | None:
        """Check a record's header and checksum, then read its essay (tokens stay stored).

        A record is MessagePack checked field by field: nothing in the cache can run code.
        """
        spans = unpack_record(data, MAGIC, key)
        if spans is None or len(spans) != 2:
            return None
        (meta_start, meta_length), (tokens_start, tokens_length) = spans
        try:
            essay, problems, dependencies, count = essay_from_record(
                data[meta_start : meta_start + meta_length]
            )
        except (ValueError, TypeError, KeyError, RecursionError):  # a foreign or stale record
            return None
        tokens_bytes = data[tokens_start : tokens_start + tokens_length]
        tokens = StoredTokens(path, tokens_start, tokens_length, zlib.crc32(tokens_bytes), count)
        return dataclasses.replace(essay, tokens=tokens), problems, dependencies

    def store(self, key: bytes, essay: Essay, problems: list[Problem]) -> Essay:
        """Write an essay's record atomically; return the essay with its tokens stored."""
        try:
            tokens_bytes = pack(encode_tokens(essay.tokens))
            meta = essay_to_record(
                essay, problems, glossary_dependencies(essay, self.glossary), len(essay.tokens)
            )
        except ValueError:  # something MessagePack cannot store: keep the essay in memory
            return essay
        record = pack_record(MAGIC, key, [meta, tokens_bytes])
        path = self.record_path(key)
        if not write_cache_file(path, record):
            return essay
        tokens = StoredTokens(
            path,
            len(record) - len(tokens_bytes),
            len(tokens_bytes),
            zlib.crc32(tokens_bytes),
            len(essay.tokens),
        )
        return dataclasses.replace(essay, tokens=tokens)

    def key_of(self, path: Path, root: Path) -> bytes:
        """The cache key of the essay file at `path` as it is now (see `essay_key`)."""
        return essay_key(path.relative_to(root).as_posix(), path.read_bytes(), self.settings)

    def parse(self, path: Path, root: Path, key: bytes) -> tuple[Essay | None, list[Problem]]:
        """Parse one essay the cache does not hold and store it under `key` (if it parsed)."""
        essay, problems = self.parse_file(path, root, self.settings, self.glossary)
        if essay is None or any(p.is_error for p in problems):
            return essay, problems
        return self.store(key, essay, problems), problems

    def peek(self, path: Path, root: Path) -> tuple[Essay | None, list[Problem]]:
        """One essay from the cache if its record holds, else parsed; nothing is stored."""
        cached = self.load(self.key_of(path, root))
        return (
            cached
            if cached is not None
            else self.parse_file(path, root, self.settings, self.glossary)
        )

    def prune(self, keep: set[str]) -> None:
        """Remove records and renderings no essay of this build uses (old versions, deleted)."""
        for path in self.folder.glob("*.rec") if self.folder.is_dir() else []:
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in self.folder.glob(".*.tmp") if self.folder.is_dir() else []:
            path.unlink(missing_ok=True)  # half-written by a killed build (one runs at a time)
        RenderStore.at(self.folder.parent).prune({name.removesuffix(".rec") for name in keep})


def read_essays(
    paths: Sequence[Path], root: Path, settings: Settings, glossary: Glossary, parse: EssayParser
) -> list[tuple[Essay | None, list[Problem]]]:
    """Every essay, in order: cached where the cache holds, the rest parsed (by `parse`, the
    content's own reader of one file) across cores."""
    if not cache_enabled():
        return [parse(path, root, settings, glossary) for path in paths]
    cache = EssayCache(root, settings, glossary, parse)
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
    parsed = _parse_missing([paths[i] for i, _ in missing], [k for _, k in missing], cache, root)
    loaded = PROCESS.loaded_records
    for stale in [p for p in loaded if p.parent == cache.folder and p.name not in keys]:
        del PROCESS.loaded_records[stale]
    for (index, _), result in zip(missing, parsed, strict=True):
        results[index] = result
    cache.prune(keys)
    return [r for r in results if r is not None]


def _parse_missing(
    paths: list[Path], keys: list[bytes], cache: EssayCache, root: Path
) -> list[tuple[Essay | None, list[Problem]]]:
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

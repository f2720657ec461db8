"""The build cache: each essay's one parse, kept under `build/.cache/essays/` by content hash.

A cold build parses each essay once, in a forked worker, which renders from the tokens it
has just parsed every body the outputs will ask for (see `bodies.py`) and keeps them with
the essay's metadata; the tokens themselves are never stored, and never cross a process.
A record's key hashes everything its parse depends on except the glossary: the essay's
bytes and path, the settings, publish's parsing code and the versions of the libraries it
uses. The glossary entries an essay cites are checked on every load instead, so editing a
term re-parses exactly the essays that cite it. Every record carries its format version, its
key and a checksum of its bytes; a record that fails any check is deleted and the essay is
parsed again, never served. A record is plain data (MessagePack, decoded by msgspec into
checked types), so nothing placed in the cache folder can run code when it is read. The
workers die with the process that forked them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from publish.cache.bodies import KeptBody, Rendering, render_bodies
from publish.cache.index import (
    EssayIndex,
    IndexEntry,
    SourceEntry,
    file_stamp,
    indexed_head,
    read_index,
    settled,
    source_stamp,
    write_index,
)
from publish.cache.records import (
    Dependency,
    Span,
    essay_from_record,
    essay_to_record,
    pack_bodies,
)
from publish.cache.store import (
    BuildCache,
    code_fingerprint,
    pack_record,
    read_record_head,
    write_cache_file,
)
from publish.errors import Problem, PublishError
from publish.model import Essay, Glossary, Settings
from publish.support.parallel import fork_workers, in_forked_runs

MAGIC = b"PUBCACHE"
PARALLEL_THRESHOLD = 48
RECENT_PARSES = 8  # essays parsed again for a body the cache lacked, kept for the next

EssayParser = Callable[[Path, Path, Settings, Glossary], tuple[Essay | None, list[Problem]]]
# What to render of each parsed essay: the bodies the outputs will ask for, each a renderer
# and its context (made once per load from the site's root and settings).
BodyPlan = Callable[[Path, Settings], Callable[[Essay], Sequence[Rendering]]]
Parsed = tuple[Essay | None, list[Problem]]


def essay_key(relative_path: str, raw: bytes, settings: Settings, base: Any = None) -> bytes:
    """The cache key of one essay file: its bytes and path, the settings and the code
    (`base`, when given, is `essay_key_base(settings)`, hashed once for many essays)."""
    digest = (base if base is not None else essay_key_base(settings)).copy()
    digest.update(relative_path.encode() + b"\0")
    digest.update(raw)
    return digest.digest()


def essay_key_base(settings: Settings) -> Any:
    """The part of every essay key that all essays share: the code and the settings."""
    digest = hashlib.sha256(code_fingerprint())
    digest.update(repr(settings).encode())
    return digest


def glossary_dependencies(essay: Essay, glossary: Glossary) -> tuple[Dependency, ...]:
    """The glossary entries an essay's parse took in, by the label that cited each."""
    dependencies = []
    for note in essay.notes:
        entry = glossary.entries.get(note.glossary_key) if note.glossary_key else None
        if entry is not None:
            dependencies.append((note.label, entry.key, entry.fingerprint))
    return tuple(dependencies)


def dependencies_hold(dependencies: Sequence[Dependency], glossary: Glossary) -> bool:
    """Whether every cited label still resolves to the same, unchanged glossary entry."""
    for label, key, fingerprint in dependencies:
        entry = glossary.lookup(label)
        if entry is None or entry.key != key or entry.fingerprint != fingerprint:
            return False
    return True


class EssayCache:
    """The folder of cached essay parses of one site: a record (`<key>.rec`) of each essay,
    with its rendered bodies."""

    def __init__(
        self,
        cache: BuildCache,
        settings: Settings,
        glossary: Glossary,
        parse_file: EssayParser,
        plan: BodyPlan | None = None,
    ):
        self.cache = cache
        self.root = cache.root
        self.folder = cache.folder / "essays"
        self.settings = settings
        self.glossary = glossary
        self.parse_file = parse_file
        self.renderings = plan(cache.root, settings) if plan is not None else None
        self.key_base = essay_key_base(settings)
        index = read_index(cache.folder) if cache.enabled else EssayIndex()
        self.index = index
        self.base = self.key_base.digest()
        self.known_keys = index.sources if index.base == self.base else {}
        self.heads: dict[str, IndexEntry] = {}  # the heads of the records read in this build
        self.keys: dict[str, SourceEntry] = {}  # the essay files keyed in this build

    def record_path(self, key: bytes) -> Path:
        """Where the record of a key lives."""
        return self.folder / f"{key.hex()}.rec"

    def load(self, key: bytes, path: Path) -> Parsed | None:
        """The cached essay at `path` and its warnings, or None when absent, damaged or out
        of date."""
        record_path = self.record_path(key)
        record = self._read_record(record_path, key)
        if record is None:
            return None
        essay, problems, dependencies, spans, count = record
        if not dependencies_hold(dependencies, self.glossary):
            return None
        return self.with_body(essay, path, record_path, spans, count), problems

    def _read_record(
        self, path: Path, key: bytes
    ) -> tuple[Essay, list[Problem], tuple[Dependency, ...], dict[str, Span], int] | None:
        """A record decoded, or None (a damaged one is deleted).

        A record decoded earlier in this process is reused while its file keeps the same
        inode, size and modification time (records are only ever replaced whole), so a
        long-lived process (`publish serve`) does not decode every essay on every rebuild.
        """
        try:
            stamp = file_stamp(path)
            known = self.cache.loaded_records.get(path)
            if known is not None and known[0] == stamp:
                record, self.heads[path.name] = known[1]
                return record
            head = indexed_head(self.index.records, path, stamp) or read_record_head(
                path, MAGIC, key
            )
        except OSError:
            return None
        except ValueError:
            head = None
        record = self._decode(head) if head is not None else None
        if record is None:
            self.forget(path)
            return None
        entry = IndexEntry(stamp, *head)
        self.heads[path.name] = entry
        self.cache.loaded_records[path] = (stamp, (record, entry))
        return record

    def keep_index(self, keys: set[str]) -> None:
        """Keep the index of the records this build uses (see `index.py`), when it changed:
        the heads read in this build, and those of records made in it, read once now."""
        if not self.cache.writable:
            return
        entries = {}
        for name in sorted(keys):
            file = f"{name}.rec"
            entry = self.heads.get(file) or self._entry_of(self.folder / file, bytes.fromhex(name))
            if entry is not None:
                entries[file] = entry
        index = EssayIndex(entries, self.base, self.keys)
        if index != self.index:
            write_index(self.cache.folder, index)

    @staticmethod
    def _entry_of(path: Path, key: bytes) -> IndexEntry | None:
        """The index entry of a record file (None when it is absent or fails a check)."""
        try:
            stamp = file_stamp(path)
            return IndexEntry(stamp, *read_record_head(path, MAGIC, key))
        except (OSError, ValueError):
            return None

    @staticmethod
    def _decode(
        head: tuple[bytes, list[tuple[int, int]]],
    ) -> tuple[Essay, list[Problem], tuple[Dependency, ...], dict[str, Span], int] | None:
        """Read a record's essay (its head, checked) and where its bodies lie (read later,
        each when asked for, and checked then).

        A record is MessagePack checked field by field: nothing in the cache can run code.
        """
        meta, parts = head
        if len(parts) != 2:
            return None
        _, (bodies_start, bodies_length) = parts
        try:
            essay, problems, dependencies, count, spans = essay_from_record(meta)
        except (ValueError, TypeError, KeyError, RecursionError):  # a foreign or stale record
            return None
        if any(offset + length > bodies_length for offset, length, _ in spans.values()):
            return None
        return essay, problems, dependencies, _placed(spans, bodies_start), count

    def with_body(
        self, essay: Essay, path: Path, record: Path, spans: dict[str, Span], count: int
    ) -> Essay:
        """The essay with its kept bodies in place of its tokens."""
        source = EssaySource(self, path, record, essay.content_hash)
        return essay.with_tokens(KeptBody(record, spans, count, source))

    def store(self, key: bytes, essay: Essay, problems: list[Problem]) -> tuple[Essay, Body]:
        """Render the essay's bodies from its tokens and write its record (with them)
        atomically; return the essay without its tokens and where its bodies lie in the
        record (or, when nothing could be stored, the essay with its tokens and no bodies)."""
        bodies = render_bodies(essay.tokens, self.renderings(essay) if self.renderings else ())
        count = len(essay.tokens)
        try:
            data, spans = pack_bodies(bodies)
            dependencies = glossary_dependencies(essay, self.glossary)
            meta = essay_to_record(essay, problems, dependencies, count, spans)
        except ValueError:  # something MessagePack cannot store: keep the essay in memory
            return essay, None
        record = pack_record(MAGIC, key, [meta, data])
        if not write_cache_file(self.record_path(key), record):
            return essay, None
        return dataclasses.replace(essay, tokens=()), (
            _placed(spans, len(record) - len(data)),
            count,
        )

    def key_of(self, path: Path) -> bytes:
        """The cache key of the essay file at `path` as it is now (see `essay_key`): the
        index's while the file keeps the stamp it had when it was keyed, else hashed."""
        relative = path.relative_to(self.root).as_posix()
        try:
            stamp = source_stamp(path)  # before reading: a change after it moves the stamp
        except OSError:
            stamp = None
        known = self.known_keys.get(relative)
        if known is not None and known.stamp == stamp:
            self.keys[relative] = known
            return known.key
        key = essay_key(relative, path.read_bytes(), self.settings, self.key_base)
        if stamp is not None and settled(stamp, time.time_ns()):
            self.keys[relative] = SourceEntry(stamp, key)
        return key

    def parse(self, path: Path, key: bytes) -> tuple[Essay | None, list[Problem], Body]:
        """Parse one essay the cache does not hold and store it under `key` (if it parsed)."""
        essay, problems = self.parse_file(path, self.root, self.settings, self.glossary)
        if essay is None or any(p.is_error for p in problems):
            return essay, problems, None
        self.remember(self.record_path(key), essay)  # a body it will not keep is made from it
        essay, body = self.store(key, essay, problems)
        return essay, problems, body

    def attach(
        self, parsed: tuple[Essay | None, list[Problem], Body], path: Path, key: bytes
    ) -> Parsed:
        """A parsed essay with its kept body attached (what `parse` returned, maybe from a
        worker, where a body is sent back as its index, never as tokens)."""
        essay, problems, body = parsed
        if essay is None or body is None:
            return essay, problems
        spans, count = body
        return self.with_body(essay, path, self.record_path(key), spans, count), problems

    def parse_pair(
        self, path_and_key: tuple[Path, bytes]
    ) -> tuple[Essay | None, list[Problem], Body]:
        """`parse` of one (path, key) pair (what a forked worker is handed)."""
        return self.parse(*path_and_key)

    def remember(self, record: Path, essay: Essay) -> Essay:
        """Keep an essay parsed in this build (under its record's path) for a body its record
        lacks, the last RECENT_PARSES of them; `read_essays` forgets them at each build's
        start (a record's name does not hash the glossary: a later build must not reuse them)."""
        recent = self.cache.recent_parses
        recent[record] = essay
        while len(recent) > RECENT_PARSES:
            del recent[next(iter(recent))]
        return essay

    def forget(self, record: Path) -> None:
        """Drop a record that failed a check (from memory, and from disk unless read-only):
        the next build parses its essay again."""
        self.cache.loaded_records.pop(record, None)
        if self.cache.writable:
            record.unlink(missing_ok=True)

    def peek(self, path: Path) -> Parsed:
        """One essay from the cache if its record holds, else parsed; nothing is stored."""
        cached = self.load(self.key_of(path), path)
        if cached is not None:
            return cached
        return self.parse_file(path, self.root, self.settings, self.glossary)

    def prune(self, keep: set[str]) -> None:
        """Remove the records no essay of this build uses (old versions, deleted essays), and
        files half-written by a killed build (one build runs at a time)."""
        for path in self.folder.iterdir() if self.folder.is_dir() else []:
            if path.stem not in keep or path.suffix != ".rec":
                path.unlink(missing_ok=True)


@dataclasses.dataclass(frozen=True)
class EssaySource:
    """The source of a kept essay: parsed again when the cache lacks one of its bodies."""

    cache: EssayCache
    path: Path
    record: Path
    content_hash: str

    def parse(self) -> Essay:
        """The essay parsed again (kept for the build's next few asks); a PublishError if its
        source changed since its record was made (the build read one version of it, and must
        not mix in another)."""
        cache = self.cache
        found = cache.cache.recent_parses.get(self.record)
        if found is not None:
            return found
        essay, _ = cache.parse_file(self.path, cache.root, cache.settings, cache.glossary)
        if essay is None or essay.content_hash != self.content_hash:
            raise PublishError.single(
                self.path.relative_to(cache.root).as_posix(),
                1,
                1,
                "this essay changed during the build; run the build again",
            )
        return cache.remember(self.record, essay)

    def bodies(self, essay: Essay) -> dict[str, str]:
        """Every body the cache keeps of the essay, rendered from its tokens."""
        renderings = self.cache.renderings
        return render_bodies(essay.tokens, renderings(essay) if renderings else ())

    def discard(self) -> None:
        """Remove the essay's record (its bodies failed a check): the next build parses it."""
        self.cache.forget(self.record)


Body = tuple[dict[str, Span], int] | None  # where a stored essay's bodies are, and its token count


def _placed(spans: dict[str, Span], start: int) -> dict[str, Span]:
    """Spans within a record's bodies part, placed in the record file (the part at `start`)."""
    return {key: (start + offset, length, crc) for key, (offset, length, crc) in spans.items()}


def read_essays(
    paths: Sequence[Path],
    root: Path,
    settings: Settings,
    glossary: Glossary,
    parse: EssayParser,
    plan: BodyPlan | None = None,
    build_cache: BuildCache | None = None,
) -> list[Parsed]:
    """Every essay, in order: cached where `build_cache` holds, the rest parsed (by `parse`,
    the content's own reader of one file) across cores, each rendered as `plan` says."""
    if build_cache is None or not build_cache.enabled:
        return [parse(path, root, settings, glossary) for path in paths]
    # parses kept for bodies a record lacks hold only within one build: a record's name does
    # not hash the glossary, so a later build of `publish serve` must not reuse them
    build_cache.recent_parses.clear()
    cache = EssayCache(build_cache, settings, glossary, parse, plan)
    if build_cache.read_only:
        return [cache.peek(path) for path in paths]
    results: list[Parsed | None] = []
    missing: list[tuple[int, bytes]] = []  # index and key of each essay the cache lacks
    keys: set[str] = set()
    for index, path in enumerate(paths):
        key = cache.key_of(path)
        keys.add(key.hex())
        cached = cache.load(key, path)
        results.append(cached)
        if cached is None:
            missing.append((index, key))
    parsed = _parse_missing([paths[i] for i, _ in missing], [k for _, k in missing], cache)
    loaded = build_cache.loaded_records
    for stale in [p for p in loaded if p.parent == cache.folder and p.stem not in keys]:
        del loaded[stale]
    for (index, _), result in zip(missing, parsed, strict=True):
        results[index] = result
    cache.prune(keys)
    cache.keep_index(keys)
    return [r for r in results if r is not None]


def _parse_missing(paths: list[Path], keys: list[bytes], cache: EssayCache) -> list[Parsed]:
    """Parse the essays the cache did not hold (under their keys), in forked workers when
    there are many (they inherit the cache); each comes back with its bodies rendered and
    kept, never its tokens."""
    pairs = list(zip(paths, keys, strict=True))
    workers = fork_workers(len(pairs), PARALLEL_THRESHOLD)
    if not workers:
        found = list(map(cache.parse_pair, pairs))
    else:
        chunk = max(1, min(32, len(pairs) // (workers * 8)))  # small results: flat memory
        found = list(in_forked_runs(pairs, cache.parse_pair, workers, chunk))
    return [
        cache.attach(result, path, key)
        for result, path, key in zip(found, paths, keys, strict=True)
    ]

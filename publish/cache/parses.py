"""The build cache: each essay's one parse, kept by content hash in the packs of
`build/.cache/essays/` (see `packs.py`).

A cold build parses each essay once, in a forked worker, which renders from the tokens it
has just parsed every body the outputs will ask for (see `bodies.py`) and keeps them with
the essay's metadata; the tokens themselves are never stored, and never cross a process.
A record's key hashes everything its parse depends on except the glossary: the essay's
bytes and path, the settings, publish's parsing code and the versions of the libraries it
uses. The glossary entries an essay cites are checked on every load instead, so editing a
term re-parses exactly the essays that cite it. Every record carries its format version, its
key and a checksum of its head, and each body a checksum of its own; a record that fails any
check is never served (and no longer indexed): the essay is parsed again. A record is
plain data (MessagePack, decoded by msgspec into checked types), so nothing placed in the
cache folder can run code when it is read. The workers die with the process that forked
them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from publish.cache.bodies import NO_PAIRS, KeptBody, Pairs, Rendering, render_bodies
from publish.cache.index import (
    EssayIndex,
    SourceEntry,
    SourceStamp,
    essay_key,
    essay_key_base,
    read_index,
    settled,
    source_stamp,
    write_index,
)
from publish.cache.packs import Located, PackWriter, compact, find_records, pack_stamps
from publish.cache.records import (
    Dependency,
    Span,
    dependencies_hold,
    essay_from_record,
    essay_to_record,
    glossary_dependencies,
    pack_bodies,
)
from publish.cache.store import BuildCache, pack_record
from publish.errors import Problem, PublishError
from publish.model import Essay, Glossary, Settings

MAGIC = b"PUBCACHE"
RECENT_PARSES = 8  # essays parsed again for a body the cache lacked, kept for the next
SOURCES_KEPT = 16 * 1024 * 1024  # bytes of essay files read to be keyed, kept for the parse

EssayParser = Callable[..., tuple[Essay | None, list[Problem]]]  # path, root, settings, glossary
# What to render of each parsed essay: the bodies the outputs will ask for, each a renderer
# and its context (made once per load from the site's root and settings).
BodyPlan = Callable[[Path, Settings], Callable[[Essay], Sequence[Rendering]]]
Parsed = tuple[Essay | None, list[Problem]]


class EssayCache:
    """The cached essay parses of one site: a record of each essay, with its rendered
    bodies, in the packs under `build/.cache/` (see `packs.py`), found through the index."""

    def __init__(
        self,
        cache: BuildCache,
        settings: Settings,
        glossary: Glossary,
        parse_file: EssayParser,
        plan: BodyPlan | None = None,
        pairs: Pairs = NO_PAIRS,
    ):
        self.cache = cache
        self.root = cache.root
        self.root_prefix = f"{cache.root}/"
        self.folder = cache.folder / "essays"
        self.settings = settings
        self.glossary = glossary
        self.parse_file = parse_file
        self.renderings = plan(cache.root, settings) if plan is not None else None
        self.pairs = pairs  # the bodies written together (see `render_bodies`)
        self.key_base = essay_key_base(settings)
        index = read_index(cache.folder) if cache.enabled else EssayIndex()
        self.index = index
        self.base = self.key_base.digest()
        self.known_keys = index.sources if index.base == self.base else {}
        others: list[str] = []
        self.records, self.packs = (
            find_records(self.folder, MAGIC, index.records, index.packs, others)
            if cache.enabled
            else ({}, {})
        )
        if cache.writable:
            compact(self.folder, self.records, self.packs, others)
        self.writer = PackWriter(self.folder)
        self.heads: dict[str, Located] = {}  # the records read or made in this build
        self.keys: dict[str, SourceEntry] = {}  # the essay files keyed in this build
        self.sources: dict[str, bytes] = {}  # the bytes of essay files read to be keyed
        self.kept_bytes = 0  # their size
        self.unkeyed: dict[str, tuple[SourceStamp | None, int]] = {}  # stamp, when taken
        self.pack_paths: dict[str, Path] = {}  # each pack's path, by its name

    def relative(self, path: Path) -> str:
        """An essay file's path relative to the site's root, as POSIX text (from the text of
        the path, which lies under the root, without making a path object)."""
        text = str(path)
        if text.startswith(self.root_prefix):
            return text[len(self.root_prefix) :]
        return path.relative_to(self.root).as_posix()

    def load(self, key: bytes, path: Path) -> Parsed | None:
        """The cached essay at `path` and its warnings, or None when absent, damaged or out
        of date."""
        record = self._read_record(key.hex())
        if record is None:
            return None
        essay, problems, dependencies, spans, count = record
        if not dependencies_hold(dependencies, self.glossary):
            return None
        name = key.hex()
        return self.with_body(essay, path, name, spans, count, self.records[name].meta), problems

    def _read_record(self, name: str) -> Record | None:
        """A record decoded from its head, or None (a damaged one is forgotten).

        A record decoded earlier in this process is reused while it lies at the same place
        (a pack is only ever appended to), so a long-lived process (`publish serve`) does not
        decode every essay on every rebuild.
        """
        found = self.records.get(name)
        if found is None:
            return None
        place = (found.pack, found.offset)
        known = self.cache.loaded_records.get(name)
        fresh = known is None or known[0] != place
        record = self._decode(found) if fresh else known[1]
        if record is None:
            self.forget(name)
            return None
        self.heads[name] = found
        self.cache.loaded_records[name] = (place, record)
        return record

    def keep_index(self, keys: set[str]) -> None:
        """Keep the index of the records this build uses (see `index.py`), when it changed."""
        if not self.cache.writable:
            return
        entries = {name: self.heads[name] for name in sorted(keys) if name in self.heads}
        self.writer.close()
        used = {found.pack for found in entries.values()}
        packs = {name: stamp for name, stamp in pack_stamps(self.folder).items() if name in used}
        index = EssayIndex(entries, packs, self.base, self.keys)
        if index != self.index:
            write_index(self.cache.folder, index)

    def _decode(self, found: Located) -> Record | None:
        """Read a record's essay (its head, checked) and where its bodies lie in its pack
        (read later, each when asked for, and checked then).

        A record is MessagePack checked field by field: nothing in the cache can run code.
        """
        if len(found.parts) != 2:
            return None
        _, (bodies_start, bodies_length) = found.parts
        try:
            essay, problems, dependencies, count, spans = essay_from_record(found.meta)
        except (ValueError, TypeError, KeyError, RecursionError):  # a foreign or stale record
            return None
        if any(offset + length > bodies_length for offset, length, _ in spans.values()):
            return None
        placed = _placed(spans, found.offset + bodies_start)
        return essay, problems, dependencies, placed, count

    def with_body(
        self,
        essay: Essay,
        path: Path,
        name: str,
        spans: dict[str, Span],
        count: int,
        meta: bytes | None = None,
        read: bool = True,
    ) -> Essay:
        """The essay with its kept bodies in place of its tokens; `meta` is its record's
        metadata, the essay read from it or (`read` false) just stored as it (what
        fingerprints it, see `KeptBody.read_as` and `KeptBody.stored_as`)."""
        source = EssaySource(self, path, name, essay.content_hash)
        body = KeptBody(self._pack_path(self.records[name].pack), spans, count, source, name)
        kept = essay.with_tokens(body)
        if meta is None:
            return kept
        return body.read_as(kept, meta) if read else body.stored_as(kept, meta)

    def _pack_path(self, pack: str) -> Path:
        """The path of a pack of this cache's folder (one object for all its records)."""
        found = self.pack_paths.get(pack)
        if found is None:
            found = self.pack_paths[pack] = self.folder / pack
        return found

    def store(self, key: bytes, essay: Essay, problems: list[Problem]) -> tuple[Essay, Body]:
        """Render the essay's bodies from its tokens and append its record (with them) to
        this process's pack; return the essay without its tokens and where its record lies
        (or, when nothing could be stored, the essay with its tokens and no record)."""
        renderings = self.renderings(essay) if self.renderings else ()
        bodies = render_bodies(essay.tokens, renderings, self.pairs)
        count = len(essay.tokens)
        try:
            data, spans = pack_bodies(bodies)
            dependencies = glossary_dependencies(essay, self.glossary)
            meta = essay_to_record(essay, problems, dependencies, count, spans)
        except ValueError:  # something MessagePack cannot store: keep the essay in memory
            return essay, None
        record = pack_record(MAGIC, key, [meta, data])
        appended = self.writer.append(record)
        if appended is None:
            return essay, None
        pack, offset = appended
        start = len(record) - len(data)  # where the bodies begin, after the metadata
        parts = [(start - len(meta), len(meta)), (start, len(data))]
        found = Located(pack, offset, len(record), meta, parts)
        return essay.with_tokens(()), (found, _placed(spans, start), count)

    def key_of(self, path: Path) -> bytes | None:
        """The cache key of the essay file at `path` as it is now (see `essay_key`): the
        index's while the file keeps the stamp it had when it was keyed, else hashed (the
        bytes read kept for its parse, up to SOURCES_KEPT, so that the file is read once);
        None when the cache holds no record at all, so that no key could be found: then
        the file is read, keyed and parsed in one go (`parse`)."""
        relative = self.relative(path)
        try:
            # before reading: a change after it moves the stamp
            stamp = self.cache.stamped.pop(str(path), None) or source_stamp(path)
        except OSError:
            stamp = None
        known = self.known_keys.get(relative)
        if known is not None and known.stamp == stamp:
            self.keys[relative] = known
            return known.key
        now = time.time_ns()
        if not self.records:
            self.unkeyed[relative] = (stamp, now)
            return None
        raw = path.read_bytes()
        key = essay_key(relative, raw, self.settings, self.key_base)
        if self.kept_bytes + len(raw) <= SOURCES_KEPT:
            self.sources[relative] = raw
            self.kept_bytes += len(raw)
        self._keyed(relative, stamp, now, key)
        return key

    def _keyed(self, relative: str, stamp: SourceStamp | None, now: int, key: bytes) -> None:
        """Keep the key of an essay file by the stamp it had before it was read at `now`."""
        if stamp is not None and settled(stamp, now):
            self.keys[relative] = SourceEntry(stamp, key)

    def parse(self, path: Path, key: bytes | None) -> Made:
        """Parse one essay the cache does not hold and store it under `key` (if it parsed),
        read and keyed first when its key is not known (None)."""
        relative = self.relative(path)
        raw = self.sources.get(relative)
        if key is None:
            raw = path.read_bytes()
            key = essay_key(relative, raw, self.settings, self.key_base)
        essay, problems = self.parse_file(path, self.root, self.settings, self.glossary, raw=raw)
        if essay is None or any(p.is_error for p in problems):
            return essay, problems, None, key
        self.remember(key.hex(), essay)  # a body it will not keep is made from it
        essay, body = self.store(key, essay, problems)
        return essay, problems, body, key

    def attach(self, made: Made, path: Path) -> tuple[Parsed, bytes]:
        """A parsed essay with its kept body attached (what `parse` returned, maybe from a
        worker, where a body is sent back as where its record lies, never as tokens), and
        its key."""
        essay, problems, body, key = made
        relative = self.relative(path)
        if relative in self.unkeyed:
            self._keyed(relative, *self.unkeyed.pop(relative), key)
        if essay is None or body is None:
            return (essay, problems), key
        found, spans, count = body
        name = key.hex()
        self.records[name] = self.heads[name] = found
        placed = _placed(spans, found.offset)
        # whether it reads back from its record as it is: asked as each reply comes in while
        # the workers parse, not when the build keys its outputs after them
        kept = self.with_body(essay, path, name, placed, count, found.meta, read=False)
        return (kept, problems), key

    def parse_pair(self, path_and_key: tuple[Path, bytes | None]) -> Made:
        """`parse` of one (path, key) pair (what a forked worker is handed)."""
        return self.parse(*path_and_key)

    def remember(self, name: str, essay: Essay) -> Essay:
        """Keep an essay parsed in this build (under its record's key) for a body its record
        lacks, the last RECENT_PARSES of them; `read_essays` forgets them at each build's
        start (a record's name does not hash the glossary: a later build must not reuse them)."""
        recent = self.cache.recent_parses
        recent[name] = essay
        while len(recent) > RECENT_PARSES:
            del recent[next(iter(recent))]
        return essay

    def forget(self, name: str) -> None:
        """Drop a record that failed a check: this build neither serves nor indexes it."""
        self.cache.loaded_records.pop(name, None)
        self.records.pop(name, None)
        self.heads.pop(name, None)

    def discard(self, name: str) -> None:
        """Drop a record whose body failed its check after the index was kept: from memory,
        and from the index unless read-only, so the next build parses its essay again."""
        self.forget(name)
        if self.cache.writable:
            index = read_index(self.cache.folder)
            if index.records.pop(name, None) is not None:
                write_index(self.cache.folder, index)

    def peek(self, path: Path) -> Parsed:
        """One essay from the cache if its record holds, else parsed; nothing is stored."""
        key = self.key_of(path)
        cached = self.load(key, path) if key is not None else None
        if cached is not None:
            return cached
        raw = self.sources.get(self.relative(path))
        return self.parse_file(path, self.root, self.settings, self.glossary, raw=raw)


class EssaySource(msgspec.Struct, frozen=True):
    """The source of a kept essay: parsed again when the cache lacks one of its bodies."""

    cache: EssayCache
    path: Path
    record: str  # the key (hex) of its record
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
        plan = self.cache.renderings
        return render_bodies(essay.tokens, plan(essay) if plan else (), self.cache.pairs)

    def discard(self) -> None:
        """Drop the essay's record (its bodies failed a check): the next build parses it."""
        self.cache.discard(self.record)


# where a stored essay's record lies (and its head), and its bodies in the record; its tokens
Body = tuple[Located, dict[str, Span], int] | None
Made = tuple[Essay | None, list[Problem], Body, bytes]  # a parse, its kept body, and its key
Record = tuple[Essay, list[Problem], tuple[Dependency, ...], dict[str, Span], int]


def _placed(spans: dict[str, Span], start: int) -> dict[str, Span]:
    """Spans within a record's bodies part, placed further on by `start` (where the part
    begins in its record, or in its pack)."""
    return {key: (start + offset, length, crc) for key, (offset, length, crc) in spans.items()}

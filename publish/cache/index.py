"""One index of every essay record's head, so a rebuild reads one file instead of a thousand.

`build/.cache/essays.idx` holds, for each record under `build/.cache/essays/`, the stamp of
its file (inode, size, modification time) and its head: the metadata part and where each of
its parts lies, exactly as `read_record_head` would read them from the record. A record is
only ever replaced whole (a new file, so a new inode), so while its file keeps the stamp the
index names, the index's head is the record's. The index is one checksummed record of its
own (`store.pack_record`): a damaged or foreign index is ignored as a whole, and an entry
whose stamp no longer holds is ignored alone; either way the record itself is read.

It also keeps each essay file's key (`parses.essay_key`) by the stamp of the file (size,
modification and change times, inode) and the hash of the code and settings the keys
share, so an essay whose file keeps its stamp is not read and hashed again. A key is kept
only for a file whose times were already `RACY_NS` old when it was read: a file changed
again within a coarse file-system clock's tick could keep its times, never one that old.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from publish.cache.store import NO_KEY, pack_record, unpack_record, write_cache_file
from publish.support import stamps

MAGIC = b"PUBINDEX"
INDEX_NAME = "essays.idx"

Stamp = tuple[int, int, int]  # inode, size, modification time in nanoseconds
Head = tuple[bytes, list[tuple[int, int]]]  # a record's first part and where its parts lie


class IndexEntry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One record's stamp and head."""

    stamp: tuple[int, int, int]
    meta: bytes
    parts: list[tuple[int, int]]


class SourceEntry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One essay file's stamp when it was read, and its key."""

    stamp: tuple[int, int, int, int]
    key: bytes


class EssayIndex(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """The index: the records by file name, the essay files' keys by relative path, and
    the hash of what every key shares (keys kept under another are ignored)."""

    records: dict[str, IndexEntry] = {}
    base: bytes = b""
    sources: dict[str, SourceEntry] = {}


_DECODER = msgspec.msgpack.Decoder(EssayIndex)
_ENCODER = msgspec.msgpack.Encoder()


def file_stamp(path: Path) -> Stamp:
    """The stamp of a record file (OSError when it is absent)."""
    status = os.stat(path)
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def source_stamp(path: Path) -> tuple[int, int, int, int]:
    """The stamp of an essay file (OSError when it is absent)."""
    status = os.stat(path)
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino)


def settled(stamp: tuple[int, int, int, int], now: int) -> bool:
    """Whether a file stamped at `now` (nanoseconds) is old enough to be known by its stamp."""
    return max(stamp[1], stamp[2]) < now - stamps.RACY_NS


def read_index(folder: Path) -> EssayIndex:
    """The index kept in the cache folder; empty when it is absent, damaged or of another
    version."""
    try:
        data = (folder / INDEX_NAME).read_bytes()
    except OSError:
        return EssayIndex()
    spans = unpack_record(data, MAGIC)
    if spans is None or len(spans) != 1:
        return EssayIndex()
    ((start, length),) = spans
    try:
        return _DECODER.decode(memoryview(data)[start : start + length])
    except msgspec.DecodeError:
        return EssayIndex()


def indexed_head(index: dict[str, IndexEntry], path: Path, stamp: Stamp) -> Head | None:
    """The head the index keeps of the record at `path`, if its file still has that stamp."""
    entry = index.get(path.name)
    if entry is None or entry.stamp != stamp:
        return None
    return entry.meta, entry.parts


def write_index(folder: Path, index: EssayIndex) -> bool:
    """Keep the index (atomically); whether the disk took it."""
    payload = _ENCODER.encode(index)
    return write_cache_file(folder / INDEX_NAME, pack_record(MAGIC, NO_KEY, [payload]))

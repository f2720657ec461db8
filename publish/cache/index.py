"""One index of every essay record's head, so a rebuild reads one file instead of a thousand.

`build/.cache/essays.idx` holds, for each record under `build/.cache/essays/`, the stamp of
its file (inode, size, modification time) and its head: the metadata part and where each of
its parts lies, exactly as `read_record_head` would read them from the record. A record is
only ever replaced whole (a new file, so a new inode), so while its file keeps the stamp the
index names, the index's head is the record's. The index is one checksummed record of its
own (`store.pack_record`): a damaged or foreign index is ignored as a whole, and an entry
whose stamp no longer holds is ignored alone; either way the record itself is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from publish.cache.store import NO_KEY, pack_record, unpack_record, write_cache_file

MAGIC = b"PUBINDEX"
INDEX_NAME = "essays.idx"

Stamp = tuple[int, int, int]  # inode, size, modification time in nanoseconds
Head = tuple[bytes, list[tuple[int, int]]]  # a record's first part and where its parts lie


class IndexEntry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One record's stamp and head."""

    stamp: tuple[int, int, int]
    meta: bytes
    parts: list[tuple[int, int]]


_DECODER = msgspec.msgpack.Decoder(dict[str, IndexEntry])
_ENCODER = msgspec.msgpack.Encoder()


def file_stamp(path: Path) -> Stamp:
    """The stamp of a record file (OSError when it is absent)."""
    status = os.stat(path)
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def read_index(folder: Path) -> dict[str, IndexEntry]:
    """The index kept in the cache folder, by record file name; empty when it is absent,
    damaged or of another version."""
    try:
        data = (folder / INDEX_NAME).read_bytes()
    except OSError:
        return {}
    spans = unpack_record(data, MAGIC)
    if spans is None or len(spans) != 1:
        return {}
    ((start, length),) = spans
    try:
        return _DECODER.decode(memoryview(data)[start : start + length])
    except msgspec.DecodeError:
        return {}


def indexed_head(index: dict[str, IndexEntry], path: Path, stamp: Stamp) -> Head | None:
    """The head the index keeps of the record at `path`, if its file still has that stamp."""
    entry = index.get(path.name)
    if entry is None or tuple(entry.stamp) != stamp:
        return None
    return entry.meta, [tuple(part) for part in entry.parts]


def write_index(folder: Path, entries: dict[str, IndexEntry]) -> bool:
    """Keep the index of `entries` (atomically); whether the disk took it."""
    payload = _ENCODER.encode(entries)
    return write_cache_file(folder / INDEX_NAME, pack_record(MAGIC, NO_KEY, [payload]))

"""One index of every essay record's place and head, so a rebuild reads one file, not a thousand.

`build/.cache/essays.idx` holds, for each record the last build used, where it lies in the
packs (`packs.py`: the pack, offset and length) and its head (the metadata part and where
each of its parts lies, exactly as reading the record would find them), and the stamp
(inode, size, modification time) of every pack. A pack is only ever appended to by the
process that created it, and never once its build ended, so while a pack keeps the stamp
the index names, the index's heads of its records are the records'. The index is one
checksummed record of its own (`store.pack_record`): a damaged or foreign index is ignored
as a whole, and the entries of a pack whose stamp no longer holds are ignored with it;
either way the packs are scanned.

It also keeps each essay file's key (`essay_key`) by the stamp of the file (size,
modification and change times, inode) and the hash of the code and settings the keys
share, so an essay whose file keeps its stamp is not read and hashed again. A key is kept
only for a file whose times were already `RACY_NS` old when it was read: a file changed
again within a coarse file-system clock's tick could keep its times, never one that old.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from publish.cache.fingerprint import code_fingerprint
from publish.cache.packs import Located
from publish.cache.store import (
    NO_KEY,
    pack_record,
    unpack_record,
    write_cache_file,
)
from publish.model import Settings
from publish.support import stamps

MAGIC = b"PUBINDEX"
INDEX_NAME = "essays.idx"


SourceStamp = tuple[int, int, int, int]  # size, modification and change times, inode


class SourceEntry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One essay file's stamp when it was read, and its key."""

    stamp: tuple[int, int, int, int]
    key: bytes


class EssayIndex(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """The index: the records by key (hex), the packs' stamps by name, the essay files'
    keys by relative path, and the hash of what every key shares (keys kept under another
    are ignored)."""

    records: dict[str, Located] = {}
    packs: dict[str, tuple[int, int, int]] = {}
    base: bytes = b""
    sources: dict[str, SourceEntry] = {}


@cache
def _decoder() -> msgspec.msgpack.Decoder[EssayIndex]:
    """The decoder of the index (made on first use: a cold build finds no index to read)."""
    return msgspec.msgpack.Decoder(EssayIndex)


_ENCODER = msgspec.msgpack.Encoder()


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


def source_stamp(path: Path) -> SourceStamp:
    """The stamp of an essay file (OSError when it is absent)."""
    status = os.stat(path)
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino)


def settled(stamp: SourceStamp, now: int) -> bool:
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
        return _decoder().decode(memoryview(data)[start : start + length])
    except msgspec.DecodeError:
        return EssayIndex()


def write_index(folder: Path, index: EssayIndex) -> bool:
    """Keep the index (atomically); whether the disk took it."""
    payload = _ENCODER.encode(index)
    return write_cache_file(folder / INDEX_NAME, pack_record(MAGIC, NO_KEY, [payload]))

"""The cache folder and what every file in it shares: one record format (keyed by hashes of
the code fingerprint, `publish.cache.fingerprint`), one atomic write, and the `BuildCache`
object a build passes to everything that uses it.

A record is a header (magic, format version, key, checksum, number of parts), the length of
each part, then the parts. The checksum covers the lengths and the first part, so a reader
reads only the head of a record (`read_head_at`): a later part carries checks of its own
(an essay's bodies, each with its checksum, read when asked for). A record whose magic,
version, key, lengths or checksum do not hold is never served: the caller drops it and
makes its content again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from publish.cache.fingerprint import FORMAT_VERSION, code_fingerprint
from publish.layout import CACHE_DIR
from publish.support.atomic import write_atomically

HEADER = struct.Struct("<8sH32sIH")  # magic, format version, key, crc of the body, part count
PART = struct.Struct("<I")  # the length of one part
NO_CACHE_ENV = "PUBLISH_NO_CACHE"  # set to 1 to parse every essay afresh and store nothing
NO_KEY = bytes(32)


class BuildCache(msgspec.Struct):
    """The build cache of one site, made by `build()` (or kept by a long-lived process such
    as `publish serve`, which passes it to each rebuild) and passed to what reads or writes it.

    `enabled` off (`PUBLISH_NO_CACHE=1`) parses every essay afresh and stores nothing;
    `read_only` (`publish check`) reads but never writes, prunes or repairs. Besides the files
    under `build/.cache/` it holds what one process keeps in memory between builds: the records
    decoded so far (reused while their files stay the same), the last few essays parsed again
    for a body their record lacked (within one build) and the compiled templates. A forked
    worker inherits it.
    """

    root: Path
    enabled: bool = True
    read_only: bool = False
    loaded_records: dict[str, tuple[tuple[str, int], Any]] = msgspec.field(default_factory=dict)
    recent_parses: dict[str, Any] = msgspec.field(default_factory=dict)
    template_environments: dict[Path, tuple[Any, Any]] = msgspec.field(default_factory=dict)
    # essay files stamped just before this build (by the command, which stamps its inputs):
    # each taken, not stat'ed again, when it is keyed (see `cache.index.source_stamp`)
    stamped: dict[str, tuple[int, int, int, int]] = msgspec.field(default_factory=dict)
    # where the command keeps a manifest of the build, the stamps of the modules loaded, taken
    # while the essays are parsed (see `publish.pipeline.unchanged.stamp_modules`); else None
    module_stamps: dict[str, Any] | None = None

    @classmethod
    def for_site(cls, root: Path, read_only: bool = False) -> BuildCache:
        """The cache of the site at `root`, on unless `PUBLISH_NO_CACHE=1` turns it off."""
        return cls(root, enabled=not os.environ.get(NO_CACHE_ENV), read_only=read_only)

    def reading(self) -> BuildCache:
        """This cache (its memory shared) read but never written: for `publish check`."""
        return msgspec.structs.replace(self, read_only=True)

    @property
    def folder(self) -> Path:
        """The cache folder, `build/.cache/` of the site."""
        return self.root / CACHE_DIR

    @property
    def writable(self) -> bool:
        """Whether this build may write, prune or repair the cache's files."""
        return self.enabled and not self.read_only

    def compiled_templates(self) -> Path | None:
        """Where the site's compiled templates are kept between processes (a folder per code
        fingerprint, which covers Jinja's version and the environment's options; the others
        are removed), or None when the cache is off or only read."""
        if not self.writable:
            return None
        parent = self.folder / "templates"
        folder = parent / code_fingerprint().hex()[:32]
        if not folder.is_dir():
            with contextlib.suppress(OSError):
                for old in parent.iterdir() if parent.is_dir() else []:
                    shutil.rmtree(old, ignore_errors=True)
                folder.mkdir(parents=True, exist_ok=True)
        return folder if folder.is_dir() else None

    def read_json(self, name: str, magic: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
        """The JSON kept in the cache file `name` (see `read_json_file`); None when off."""
        return read_json_file(self.folder / name, magic, decoder) if self.enabled else None

    def write_json(self, name: str, magic: bytes, value: Any) -> bool:
        """Keep `value` in the cache file `name` (see `write_json_file`); nothing when the
        cache is off or read-only. Whether it was kept."""
        return self.writable and write_json_file(self.folder / name, magic, value)


def hash_folder(digest: Any, folder: Path) -> None:
    """Feed every file of a folder (names and bytes, in name order) into a digest."""
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")


def pack_record(magic: bytes, key: bytes, parts: Sequence[bytes]) -> bytes:
    """A record's bytes: the header, each part's length, then the parts (at least one)."""
    lengths = b"".join(PART.pack(len(part)) for part in parts)
    checksum = zlib.crc32(parts[0], zlib.crc32(lengths))
    header = HEADER.pack(magic, FORMAT_VERSION, key, checksum, len(parts))
    return b"".join([header, lengths, *parts])  # one copy of the parts, not two


def unpack_record(data: bytes, magic: bytes, key: bytes = NO_KEY) -> list[tuple[int, int]] | None:
    """The (offset, length) of each part of a record, or None when anything fails to hold."""
    spans = _record_spans(data, magic, key, len(data), exact=True)
    if spans is None:
        return None
    first_end = spans[0][0] + spans[0][1]
    return spans if _checksum(data, first_end) == HEADER.unpack_from(data)[3] else None


def read_head_at(
    file: BinaryIO, offset: int, limit: int, magic: bytes
) -> tuple[bytes, bytes, list[tuple[int, int]]]:
    """The key, first part and parts' (offset, length) of the record at `offset` of an open
    file (offsets from the record's start), reading only its header, lengths and first part;
    ValueError when anything fails to hold (magic, version, lengths reaching past `limit`,
    checksum)."""
    file.seek(offset)
    head = file.read(HEADER.size + 64 * PART.size)
    spans = _record_spans(head, magic, None, limit - offset)
    if spans is None:
        raise ValueError(f"no record of this version at {offset}")
    first_end = spans[0][0] + spans[0][1]
    head += file.read(max(0, first_end - len(head)))
    if len(head) < first_end or _checksum(head, first_end) != HEADER.unpack_from(head)[3]:
        raise ValueError(f"the record at {offset} fails its checksum")
    return HEADER.unpack_from(head)[2], head[spans[0][0] : first_end], spans


def _record_spans(
    head: bytes, magic: bytes, key: bytes | None, size: int, exact: bool = False
) -> list[tuple[int, int]] | None:
    """Where each part of a record lies, from its header and lengths (at the start of
    `head`), if they hold for a record of `size` bytes (at most, unless `exact`) and of
    `key` (any when None); None otherwise."""
    if len(head) < HEADER.size:
        return None
    found_magic, version, found_key, _, count = HEADER.unpack_from(head)
    start = HEADER.size + count * PART.size
    if found_magic != magic or version != FORMAT_VERSION or key not in (None, found_key):
        return None
    if count < 1 or len(head) < start:
        return None
    spans, offset = [], start
    for number in range(count):
        (length,) = PART.unpack_from(head, HEADER.size + number * PART.size)
        spans.append((offset, length))
        offset += length
    return spans if offset == size or (offset <= size and not exact) else None


def _checksum(data: bytes, first_end: int) -> int:
    """The checksum of a record's head: its lengths and its first part."""
    return zlib.crc32(memoryview(data)[HEADER.size : first_end])


def write_cache_file(path: Path, data: bytes) -> bool:
    """Write a file of the build cache atomically; False, leaving nothing half-written, when
    the disk refuses (the cache is disposable: a full or read-only disk only costs time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data, durable=False)
    except OSError:
        return False
    return True


def read_json_file(path: Path, magic: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    """The JSON kept in a one-part cache file, its types checked by `decoder` as it is read
    (so it can never run code); None when the file is absent, damaged or of another version."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    spans = unpack_record(data, magic)
    if spans is None or len(spans) != 1:
        return None
    ((start, length),) = spans
    try:
        return decoder.decode(data[start : start + length])
    except msgspec.DecodeError:
        return None


def write_json_file(path: Path, magic: bytes, value: Any) -> bool:
    """Keep `value` as JSON in a one-part cache file (atomically); False when the disk
    refused, or when JSON cannot hold the value (a file name whose bytes are not UTF-8):
    nothing is kept then, and what reads the file finds none."""
    try:
        encoded = msgspec.json.encode(value)
    except (UnicodeEncodeError, msgspec.EncodeError):
        return False
    return write_cache_file(path, pack_record(magic, NO_KEY, [encoded]))

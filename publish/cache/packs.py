"""The essays' records in a few pack files instead of one file per essay.

Each process that parses essays (the build, or each forked worker) appends its records to a
pack of its own, `build/.cache/essays/<pid>-<random>.pack`, created on its first record and
never written by another process, so workers write in parallel without a lock. A record in a
pack is the same checksummed record as anywhere in the cache (`store.pack_record`): a pack
is only records, one after another. The index (`index.py`) says where each record the last
build used lies, and the stamp (inode, size, modification time) of each pack it read them
from; a pack whose stamp no longer holds, or that the index does not name (a build killed
before it wrote its index), is scanned record by record instead, up to its first record
that fails a check (a torn append): nothing past a damaged head is ever trusted, and each
body keeps its own checksum. So a crash at any point leaves packs that are either used
correctly or ignored from the damage on.

Records replaced by newer ones (an essay edited, deleted) stay behind as garbage until
`compact` runs at the start of a writing build, before any record is served: a pack with
nothing live is removed, and the live records of packs mostly garbage (or of all but the
largest, when there are more than MAX_PACKS) are copied into one new pack. Anything else in
the folder (the one-file-per-record cache of format 5 and before, a killed compaction's
half-written pack) is removed then too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import msgspec

from publish.cache.store import read_head_at
from publish.support.testhooks import crash_at

SUFFIX = ".pack"
MAX_PACKS = 8  # more packs than this are merged (all but the largest) at a build's start
MIN_GARBAGE = 256 * 1024  # bytes of garbage worth a copy (a pack with nothing live always goes)

PackStamp = tuple[int, int, int]  # inode, size, modification time in nanoseconds


class Located(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """Where one record lies (its pack, offset and length) and its head: its first part and
    where each of its parts lies, from the record's start."""

    pack: str
    offset: int
    length: int
    meta: bytes
    parts: list[tuple[int, int]]


def pack_stamp(path: Path) -> PackStamp:
    """The stamp of a pack (OSError when it is absent)."""
    status = os.stat(path)
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def pack_stamps(folder: Path, others: list[str] | None = None) -> dict[str, PackStamp]:
    """The stamp of every pack in the folder, by name (the names of its other files added
    to `others`, if given)."""
    found = {}
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(SUFFIX) and entry.is_file(follow_symlinks=False):
                status = entry.stat()
                found[entry.name] = (status.st_ino, status.st_size, status.st_mtime_ns)
            elif others is not None:
                others.append(entry.name)
    return found


def scan_pack(path: Path, magic: bytes) -> Iterator[tuple[bytes, Located]]:
    """Each record of a pack with its key, in order, up to the first that fails a check of
    its head (magic, version, lengths within the file, checksum): what follows a torn or
    damaged record cannot be found, so it is never read."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            offset = 0
            while offset < size:
                key, meta, parts = read_head_at(file, offset, size, magic)
                length = parts[-1][0] + parts[-1][1]
                yield key, Located(path.name, offset, length, meta, parts)
                offset += length
    except (OSError, ValueError):
        return


def find_records(
    folder: Path,
    magic: bytes,
    indexed: Mapping[str, Located],
    stamps: Mapping[str, PackStamp],
    others: list[str] | None = None,
) -> tuple[dict[str, Located], dict[str, PackStamp]]:
    """Every record that can be found, by key (hex), and the stamp of each pack: the index's
    entries in packs that keep the stamp it names, and the records of every other pack,
    scanned (the folder's other names added to `others`, if given)."""
    packs = pack_stamps(folder, others)
    trusted = {name for name, stamp in packs.items() if stamps.get(name) == stamp}
    records = {key: found for key, found in indexed.items() if found.pack in trusted}
    for name in sorted(packs.keys() - trusted):
        for key, found in scan_pack(folder / name, magic):
            records.setdefault(key.hex(), found)
    return records, packs


class PackWriter:
    """Appends records to the pack of the process it runs in (opened on its first record;
    a forked worker inherits the writer and opens a pack of its own)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.owner = 0  # the process whose pack is open
        self.descriptor = -1
        self.name = ""
        self.size = 0

    def append(self, record: bytes) -> tuple[str, int] | None:
        """Append one record; its pack's name and offset, or None when the disk refused (the
        pack is cut back to its last whole record, which costs only time)."""
        try:
            if self.owner != os.getpid():
                self._open()
            offset = self.size
            half = len(record) // 2
            view = memoryview(record)  # its halves written as they lie, not copied
            _write_all(self.descriptor, view[:half])
            crash_at("pack-append")  # a test kills the process with a record half-written
            _write_all(self.descriptor, view[half:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.descriptor, self.size)
            return None
        self.size += len(record)
        return self.name, offset

    def _open(self) -> None:
        """Create this process's own pack."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = new_pack_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self.descriptor = os.open(self.folder / name, flags, 0o666)
        self.owner, self.name, self.size = os.getpid(), name, 0

    def close(self) -> None:
        """Close this process's pack, if it opened one."""
        if self.owner == os.getpid() and self.descriptor >= 0:
            os.close(self.descriptor)
        self.owner, self.descriptor = 0, -1


def new_pack_name() -> str:
    """A name no other pack has: this process's id and a random part."""
    return f"{os.getpid()}-{secrets.token_hex(6)}{SUFFIX}"


def _write_all(descriptor: int, data: bytes | memoryview) -> None:
    """Write all of `data` (OSError when the disk refuses)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def compact(
    folder: Path, records: dict[str, Located], packs: dict[str, PackStamp], others: list[str]
) -> None:
    """Remove what the records no longer use (see the module's note), changing `records` and
    `packs` to match, and the folder's `others` (old record files, a killed compaction's
    half-written pack). Only a writing build calls it, before any record is served."""
    for name in others:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    live = {name: 0 for name in packs}
    for found in records.values():
        live[found.pack] += found.length
    for name in [name for name, size in live.items() if size == 0]:
        (folder / name).unlink(missing_ok=True)
        del packs[name], live[name]
    copied = _to_copy(live, packs)
    if copied:
        _copy_live(folder, records, packs, copied)


def _to_copy(live: Mapping[str, int], packs: Mapping[str, PackStamp]) -> set[str]:
    """The packs whose live records are worth copying into a new one."""
    garbage = {name: packs[name][1] - live[name] for name in live}
    if len(packs) > MAX_PACKS:
        largest = max(packs, key=lambda name: packs[name][1])
        return set(packs) - {largest}
    mostly = {name for name in live if garbage[name] > live[name]}
    return mostly if sum(garbage[name] for name in mostly) >= MIN_GARBAGE else set()


def _copy_live(
    folder: Path, records: dict[str, Located], packs: dict[str, PackStamp], copied: set[str]
) -> None:
    """Copy the live records of the `copied` packs into one new pack, then remove them."""
    name = new_pack_name()
    temporary = folder / f"{name}.tmp"
    moved: dict[str, Located] = {}
    live = sorted(
        ((key, found) for key, found in records.items() if found.pack in copied),
        key=lambda item: (item[1].pack, item[1].offset),
    )
    try:
        with open(temporary, "xb") as out, contextlib.ExitStack() as opened:
            sources: dict[str, BinaryIO] = {}
            for key, found in live:
                if found.pack not in sources:
                    sources[found.pack] = opened.enter_context(open(folder / found.pack, "rb"))
                data = os.pread(sources[found.pack].fileno(), found.length, found.offset)
                if len(data) != found.length:
                    raise OSError(f"{found.pack} is shorter than its index says")
                moved[key] = Located(name, out.tell(), found.length, found.meta, found.parts)
                out.write(data)
        os.replace(temporary, folder / name)
        crash_at("pack-compacted")  # a test kills the process with its records in two packs
    except OSError:  # a full disk, a pack gone: the packs stay as they are
        temporary.unlink(missing_ok=True)
        return
    records.update(moved)
    packs[name] = pack_stamp(folder / name)
    for old in copied:
        (folder / old).unlink(missing_ok=True)
        del packs[old]

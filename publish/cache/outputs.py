"""Outputs made only when what they read changed: output keys and the output memo.

The build keys each deferred output (`OutputKeys`): a key hashes everything the file's
content reads (the essay, the glossary entries it cites, its neighbours' titles, the
settings, the templates and publish's own code). The build then asks the `OutputMemo` of the
folder whether the previous build wrote that path from the same key into a file that is still
exactly as it was written (same inode, size and modification time); if so the writer
hard-links that file and the content is never made.

The memo is a manifest under `build/.cache/outputs/`, one per output folder: plain JSON
behind a magic number, a format version and a checksum; a damaged one is ignored (everything
is made again).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from publish.cache.bodies import KeptBody
from publish.cache.fingerprint import code_fingerprint
from publish.cache.records import Dependency, glossary_dependencies
from publish.cache.store import (
    hash_folder,
    read_json_file,
    write_json_file,
)
from publish.layout import CACHE_DIR, LOCALE_DIR
from publish.model import Essay, Glossary, Settings

MAGIC = b"PUBMEMO1"
OUTPUTS_DIR = CACHE_DIR / "outputs"
ESSAY_FIELDS = tuple(name for name in Essay.__struct_fields__ if name != "tokens")
DATE_FIELD = ESSAY_FIELDS.index("date")
_FINGERPRINT_ENCODER = msgspec.msgpack.Encoder()
Stamp = tuple[str, int, int, int, int]  # key, device, inode, size, mtime in ns
FileStamp = tuple[int, int, int, int]  # a file's device, inode, size, mtime in ns


def file_stamp(status: os.stat_result) -> FileStamp:
    """The stamp of a file, from its status."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def render_fingerprint(settings: Settings, templates_dir: Path) -> bytes:
    """What every output reads besides its own data: code, settings, the site's templates
    and its own message catalogs (`locale/<lang>/LC_MESSAGES/*.po`)."""
    digest = hashlib.sha256(code_fingerprint())
    digest.update(repr(settings).encode())
    hash_folder(digest, templates_dir)
    for catalog in sorted((templates_dir.parent / LOCALE_DIR).glob("*/LC_MESSAGES")):
        digest.update(catalog.parent.name.encode() + b"\0")
        hash_folder(digest, catalog)
    return digest.digest()


def essay_fingerprint(essay: Essay, glossary: Glossary) -> bytes | None:
    """A hash of an essay as its outputs see it, or None when its parse is not kept.

    An essay that is the very object read from its record (see `KeptBody.read_as`) is hashed
    by the record's metadata, which holds every field as read. Otherwise the hash covers
    every field (the date may come from the state database), the kept parse (whose
    record key hashes the essay's bytes, path, settings and parsing code) and each cited
    glossary entry. The fields are hashed as MessagePack (which keeps every type apart, as
    their `repr` would, at a fraction of its cost), the date as its wall-clock text, fold
    and zone, which MessagePack alone would reduce to an offset (by their `repr` when a
    text holds what UTF-8 cannot).
    """
    body = essay.tokens
    if not isinstance(body, KeptBody):
        return None
    cited = glossary_dependencies(essay, glossary)
    digest = hashlib.sha256(_as_read(essay, body, cited) or shown_fields(essay, cited))
    digest.update(f"|{body.record}|{body.count}".encode())
    return digest.digest()


def _as_read(essay: Essay, body: KeptBody, cited: tuple[Dependency, ...]) -> bytes | None:
    """The bytes to hash of an essay that is the very object read from its record (or just
    stored as it, and found to read back the same as it was attached): the record's metadata
    (every field as read) and the entries it cites; else None."""
    as_read = body.as_read
    if as_read is None or as_read[0] is not essay:
        return None
    _, meta = as_read
    try:
        return b"k" + meta + _FINGERPRINT_ENCODER.encode(cited)
    except (TypeError, ValueError):  # a label UTF-8 cannot hold
        return None


def shown_fields(essay: Essay, cited: tuple[Dependency, ...]) -> bytes:
    """An essay's fields (but its body) and the glossary entries it cites, as bytes to hash:
    MessagePack, the date as its wall-clock text, fold and zone (by their `repr` when a
    text holds what UTF-8 cannot)."""
    shown = [getattr(essay, name) for name in ESSAY_FIELDS]  # the body is in content_hash
    moment = essay.date
    if moment is not None:
        wall_clock = moment.replace(tzinfo=None).isoformat()
        shown[DATE_FIELD] = (wall_clock, moment.fold, repr(moment.tzinfo))
    try:
        return b"m" + _FINGERPRINT_ENCODER.encode([shown, cited])
    except (TypeError, ValueError):  # text UTF-8 cannot hold (a file name's stray bytes)
        return b"r" + repr([shown, cited]).encode("utf-8", "backslashreplace")


class OutputKeys:
    """The keys of one build's deferred outputs: each essay fingerprinted once."""

    def __init__(self, settings: Settings, templates_dir: Path, glossary: Glossary):
        self.base = render_fingerprint(settings, templates_dir)
        self.glossary = glossary
        self.essays: dict[int, bytes | None] = {}

    def essay(self, essay: Essay) -> bytes | None:
        """The fingerprint of one essay of this build (see `essay_fingerprint`)."""
        found = self.essays.get(id(essay), b"")
        if found == b"":
            found = self.essays[id(essay)] = essay_fingerprint(essay, self.glossary)
        return found

    def key(self, kind: str, essay: Essay | None, *more: bytes | str | None) -> str | None:
        """The key of an output of `kind` that reads `essay` (if any) and `more`."""
        parts = (self.essay(essay), *more) if essay is not None else more
        return output_key(self.base, kind, parts)


def output_key(base: bytes, kind: str, parts: Sequence[bytes | str | None]) -> str | None:
    """The key of one output: its kind, the render fingerprint and its own inputs."""
    if None in parts:
        return None
    digest = hashlib.sha256(base + kind.encode() + b"\0")
    if parts:  # each part and a NUL after it, hashed in one call
        data = [part.encode() if isinstance(part, str) else part for part in parts]
        digest.update(b"\0".join(data) + b"\0")  # type: ignore[arg-type]
    return digest.hexdigest()


MANIFEST_DECODER = msgspec.json.Decoder(dict[str, Stamp])


def read_manifest(path: Path) -> dict[str, Stamp]:
    """The stamps of an output folder's manifest, or nothing when absent, damaged or of
    another version."""
    return read_json_file(path, MAGIC, MANIFEST_DECODER) or {}


class OutputMemo:
    """Which key each file of an output folder was made from, and its stamp on disk."""

    def __init__(self, path: Path):
        self.path = path
        self.listing = path.with_suffix(".listing")  # the folder's, kept by the writer
        self.previous = self._load()
        self.current: dict[str, Stamp] = {}

    @classmethod
    def for_folder(cls, root: Path, name: str) -> OutputMemo:
        """The memo of the output folder `build/<name>/` of a site."""
        return cls(root / OUTPUTS_DIR / f"{name}.manifest")

    def _load(self) -> dict[str, Stamp]:
        """The previous build's manifest (see `read_manifest`)."""
        return read_manifest(self.path)

    def holds(
        self, relative: str, key: str, previous: Path | str, listed: os.stat_result | None = None
    ) -> bool:
        """Whether the previous build made `relative` from `key` and the file is untouched
        (`listed`: its status as the writer listed it, if it is a plain file)."""
        stamp = self.previous.get(relative)
        if stamp is None or stamp[0] != key:
            return False
        try:
            found = listed if listed and stat.S_ISREG(listed.st_mode) else os.stat(previous)
        except OSError:
            return False
        return stamp[1:] == (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)

    def keep_vouched(self, paths: Iterable[str]) -> None:
        """Carry over the stamps of files left in place because `holds` vouched for them."""
        for relative in paths:
            self.current[relative] = self.previous[relative]

    def record(
        self, relative: str, key: str, written: Path | str, stamp: FileStamp | None = None
    ) -> None:
        """Note the key and stamp of a file this build wrote or linked (its `stamp` when the
        writer took it, else read now)."""
        self.current[relative] = (key, *(stamp or file_stamp(os.stat(written))))

    def save(self) -> None:
        """Store this build's manifest atomically (a failure only costs the next build time)."""
        if not write_json_file(self.path, MAGIC, self.current):  # drop the old one
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
        self.previous, self.current = self.current, {}

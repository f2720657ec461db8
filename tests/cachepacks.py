"""Test helpers for the essay records kept in the build cache's packs: find them, read them,
damage them the way a disk or a killed process would."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from publish.cache import index as record_index
from publish.cache import packs
from publish.cache import parses as cache
from publish.layout import CACHE_DIR


@dataclass(frozen=True)
class Record:
    """One essay record: its pack, where it lies in it, and its key."""

    pack: Path
    offset: int
    length: int
    key: bytes

    def read(self) -> bytes:
        """The record's bytes."""
        return self.pack.read_bytes()[self.offset : self.offset + self.length]

    def rewrite(self, data: bytes) -> None:
        """Put `data` in place of the record's bytes (the pack's size stays if it has the
        same length)."""
        whole = self.pack.read_bytes()
        self.pack.write_bytes(whole[: self.offset] + data + whole[self.offset + self.length :])


def pack_files(root: Path) -> list[Path]:
    """The packs of a site's cache."""
    return sorted((root / CACHE_DIR / "essays").glob(f"*{packs.SUFFIX}"))


def records(root: Path) -> list[Record]:
    """The records the index of a site's cache names (those the last build used), in the
    order of their packs and offsets."""
    found = record_index.read_index(root / CACHE_DIR).records
    folder = root / CACHE_DIR / "essays"
    return sorted(
        (
            Record(folder / place.pack, place.offset, place.length, bytes.fromhex(key))
            for key, place in found.items()
        ),
        key=lambda r: (r.pack.name, r.offset),
    )


def scanned(root: Path) -> list[Record]:
    """Every record a scan of the packs finds (garbage included), pack by pack."""
    return [
        Record(pack, place.offset, place.length, key)
        for pack in pack_files(root)
        for key, place in packs.scan_pack(pack, cache.MAGIC)
    ]


def last_of_a_pack(root: Path) -> Record:
    """The last record of the largest pack (damage there reaches no other record)."""
    largest = max(pack_files(root), key=lambda p: p.stat().st_size)
    return [r for r in records(root) if r.pack == largest][-1]

"""The listing of an output folder kept from the last build, so that a rebuild need not list
every folder of the tree again.

After a commit updated a folder in place, the writer knows the status of everything under
it (`journal.status_after`); it keeps, beside the folder's output memo, each folder's stamp
(device, inode, modification and change times) and the names it holds. The next build
reads a folder's names from there while the folder keeps that stamp (adding, removing or
renaming an entry moves a folder's times), and lists it again otherwise; every file and
folder is still looked at (`lstat`), for the memo and the manifest of an unchanged
rebuild. A stamp vouches for names only once its times were `RACY_NS` old when they were
read (a coarse file-system clock may not move within one tick); a damaged or foreign
listing, a link anywhere in the tree, or anything else unexpected lists the whole tree.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgspec

from publish.cache.store import read_json_file, write_json_file
from publish.pipeline.journal import Listing, folders_of, listed_tree
from publish.support.stamps import RACY_NS

MAGIC = b"PUBLIST1"
FolderStamp = tuple[int, int, int, int]  # device, inode, modification and change times (ns)


class KeptFolder(msgspec.Struct, array_like=True, frozen=True):
    """One folder as the last build left it: its stamp, its files' and its folders' names."""

    stamp: FolderStamp
    files: list[str]
    folders: list[str]


class KeptListing(msgspec.Struct, array_like=True, frozen=True):
    """A tree's folders by relative path ("" the tree itself), and when their statuses
    began to be read (nanoseconds)."""

    taken: int
    folders: dict[str, KeptFolder]


_DECODER = msgspec.json.Decoder(KeptListing)


def listed(target: Path, kept_at: Path, racy: int = RACY_NS) -> Listing:
    """Everything under `target` with its status (as `journal.listed_tree` finds it), each
    folder's names read from the listing kept at `kept_at` while its stamp holds and its
    times were `racy` old when its names were read."""
    kept = read_json_file(kept_at, MAGIC, _DECODER)
    found = _from_kept(target, kept, racy) if kept is not None else None
    return found if found is not None else listed_tree(target)


def _folder_stamp(status: os.stat_result) -> FolderStamp:
    """The stamp of a folder, from its status."""
    return (status.st_dev, status.st_ino, status.st_mtime_ns, status.st_ctime_ns)


def _from_kept(target: Path, kept: KeptListing, racy: int) -> Listing | None:
    """The listing, from `kept` where it still holds; None for anything unexpected."""
    listing = Listing(taken=time.time_ns())
    base = str(target)
    try:
        status = os.lstat(base)
        whole = _walk(base, "", status, kept, kept.taken - racy, listing)
    except OSError:
        return None
    return listing if whole else None


def _walk(
    path: str, relative: str, status: os.stat_result, kept: KeptListing, before: int, into: Listing
) -> bool:
    """Add what the folder at `path` holds, and what its folders hold; False on a link or
    an entry of another kind than its folder's kept names say."""
    known = kept.folders.get(relative)
    vouched = (
        known is not None
        and known.stamp == _folder_stamp(status)
        and max(status.st_mtime_ns, status.st_ctime_ns) < before
    )
    names = _kinds(known) if known is not None and vouched else _listed_names(path)
    if names is None:
        return False
    prefix = f"{relative}/" if relative else ""
    for name, is_folder in names:
        full = f"{path}/{name}"
        entry = os.lstat(full)
        if stat.S_ISLNK(entry.st_mode) or stat.S_ISDIR(entry.st_mode) != is_folder:
            return False
        into.status[full] = entry
        (into.folders if is_folder else into.files).add(prefix + name)
        if is_folder and not _walk(full, prefix + name, entry, kept, before, into):
            return False
    return True


def _kinds(known: KeptFolder) -> list[tuple[str, bool]]:
    """A kept folder's names, each with whether it is a folder."""
    return [(name, False) for name in known.files] + [(name, True) for name in known.folders]


def _listed_names(path: str) -> list[tuple[str, bool]] | None:
    """A folder's names as it holds them now, each with whether it is a folder (None when
    it holds a link)."""
    with os.scandir(path) as entries:
        names = [(entry.name, entry.is_dir(follow_symlinks=False), entry) for entry in entries]
    if any(entry.is_symlink() for _, _, entry in names):
        return None
    return [(name, is_folder) for name, is_folder, _ in names]


def keep(target: Path, status: Mapping[str, os.stat_result], taken: int, kept_at: Path) -> None:
    """Keep the listing of `target` from the status of everything under it (read from
    `taken` on); none when it holds a link (the next build lists it)."""
    base = str(target)
    prefix = f"{base}/"
    folders: dict[str, tuple[FolderStamp, list[str], list[str]]] = {}
    try:
        folders[""] = (_folder_stamp(os.lstat(base)), [], [])
    except OSError:
        return
    for path, entry in status.items():
        if stat.S_ISLNK(entry.st_mode) or not path.startswith(prefix):
            with contextlib.suppress(OSError):
                kept_at.unlink(missing_ok=True)
            return
        if stat.S_ISDIR(entry.st_mode):
            folders[path[len(prefix) :]] = (_folder_stamp(entry), [], [])
    for path, entry in status.items():
        parent, _, name = path[len(prefix) :].rpartition("/")
        holder = folders.get(parent)
        if holder is None:  # a folder gone while its files were read: list it next time
            return
        holder[2 if stat.S_ISDIR(entry.st_mode) else 1].append(name)
    listing = KeptListing(taken, {k: KeptFolder(*v) for k, v in folders.items()})
    if not write_json_file(kept_at, MAGIC, listing):
        with contextlib.suppress(OSError):
            kept_at.unlink(missing_ok=True)


class NewTree(Mapping[str, os.stat_result]):
    """The status of everything under `target`, a tree swapped in where there was none, by
    path, without listing it: each file the build staged as the process that wrote it found
    it (`written`: nothing touches it after, a swap renames its folder only), each folder and
    any other file of `places` (a finisher's) read when first asked for."""

    def __init__(
        self, target: Path, places: Mapping[str, object], written: Mapping[str, os.stat_result]
    ):
        self.target, self.places, self.written = target, places, written
        self._status: dict[str, os.stat_result] | None = None

    def _read(self) -> dict[str, os.stat_result]:
        """Every status, the files' as written and the rest read now (once)."""
        if self._status is None:
            base = str(self.target)
            status = {f"{base}/{relative}": found for relative, found in self.written.items()}
            others = self.places.keys() - self.written.keys()
            for relative in [*others, *(folders_of(self.places) - {"."})]:
                status[f"{base}/{relative}"] = os.lstat(f"{base}/{relative}")
            self._status = status
        return self._status

    def __getitem__(self, path: str) -> os.stat_result:
        return self._read()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

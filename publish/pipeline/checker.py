"""`publish check`'s side of the writer: every file a build would write, made and measured but
never kept, except those a memo vouches for.

An output's key hashes everything its content reads (see `publish.cache.outputs`), so a file
made before without an error at the same path from the same key makes the same content again,
with the same problems (none) and the same size. Check therefore makes only the files no memo
holds: the output folders' manifests (what builds wrote) and check's own memo,
`build/.cache/outputs/check.manifest` (each file's key and size as the last check made or
vouched for it; plain JSON behind a magic number and a checksum, read with its types checked;
a cache, not an output: a damaged one only costs time). It is kept only once a build has made
the cache folder: check alone never creates `build/`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import msgspec

from publish.cache.outputs import OUTPUTS_DIR, read_manifest
from publish.cache.store import read_json_file, write_json_file
from publish.layout import CACHE_DIR
from publish.outputs.files import Content, Deferred, as_bytes, made
from publish.pipeline.writer import Maker, OutputFolder

MAGIC = b"PUBCHCK1"
CHECK_MEMO = "check.manifest"
Made = tuple[str, int]  # the key a file was made from, and its size in bytes
_MEMO = msgspec.json.Decoder(dict[str, Made])


class CheckedFolder(Mapping[str, bytes]):
    """An output folder as a build would stage it, for the finishers of `check`: each file's
    size as made (or vouched for), its bytes made again only when a finisher reads them."""

    def __init__(self, files: Mapping[str, Content | Deferred], sizes: Mapping[str, int]):
        self.files, self.sizes = files, sizes

    def __getitem__(self, path: str) -> bytes:
        return as_bytes(made(self.files[path]))

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def size(self, path: str) -> int:
        """The file's size in bytes."""
        return self.sizes[path]


class CheckMemo:
    """The sizes of the files made before without an error, by path and key."""

    def __init__(self, root: Path):
        self.cache_dir = root / CACHE_DIR
        self.path = root / OUTPUTS_DIR / CHECK_MEMO
        self.sizes = vouched_sizes(root / OUTPUTS_DIR, self.path)
        self.current: dict[str, Made] = {}

    def size(self, folder: str, path: str, value: Deferred) -> int | None:
        """The size of `path` made before from the value's key (noted for the next check),
        or None when no memo holds it."""
        size = self.sizes.get((path, value.key)) if value.key is not None else None
        if value.key is not None and size is not None:
            self.current[f"{folder}/{path}"] = (value.key, size)
        return size

    def record(self, folder: str, path: str, value: Deferred, data: bytes) -> None:
        """Note a file this check made without an error."""
        if value.key is not None:
            self.current[f"{folder}/{path}"] = (value.key, len(data))

    def save(self) -> None:
        """Keep this check's files for the next one, in a site a build has made a cache for
        (before that no essay's parse is kept, so hardly any file has a key); a refusing
        disk only costs time."""
        if self.cache_dir.is_dir():
            write_json_file(self.path, MAGIC, self.current)


def vouched_sizes(folder: Path, own: Path) -> dict[tuple[str, str | None], int]:
    """The size of each (path, key) a build's manifest or check's own memo holds. The
    folder of a path does not matter: a key names the kind of file it makes."""
    sizes: dict[tuple[str, str | None], int] = {}
    for manifest in sorted(folder.glob("*.manifest")) if folder.is_dir() else []:
        if manifest != own:
            stamps = read_manifest(manifest)
            sizes.update({(path, stamp[0]): stamp[3] for path, stamp in stamps.items()})
    for name, (key, size) in (read_json_file(own, MAGIC, _MEMO) or {}).items():
        sizes[(name.partition("/")[2], key)] = size
    return sizes


def check_trees(
    folders: Sequence[OutputFolder], make: Maker, memo: CheckMemo | None = None
) -> dict[str, CheckedFolder]:
    """Make every file of `folders` that `memo` does not vouch for, measure it and let it go
    (check's memory stays flat); each folder as a build would stage it, by name. A made
    file's error is raised as the build would raise it, and the memo is then left as it was."""
    sizes: dict[str, dict[str, int]] = {folder.target.name: {} for folder in folders}
    todo: list[tuple[str, str, Deferred]] = []
    for folder in folders:
        name = folder.target.name
        for path, value in folder.files.items():
            if not isinstance(value, Deferred):
                sizes[name][path] = len(as_bytes(value))  # given as content: nothing to make
                continue
            size = memo.size(name, path, value) if memo is not None else None
            if size is None:
                todo.append((name, path, value))
            else:
                sizes[name][path] = size
    contents = make([value for _, _, value in todo])
    for (name, path, value), content in zip(todo, contents, strict=True):
        data = as_bytes(content)
        sizes[name][path] = len(data)
        if memo is not None:
            memo.record(name, path, value, data)
    if memo is not None:
        memo.save()
    return {f.target.name: CheckedFolder(f.files, sizes[f.target.name]) for f in folders}

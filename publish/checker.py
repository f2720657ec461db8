"""`publish check`'s side of the writer: every file a build would write, made and measured but
never kept, except those a memo vouches for.

An output's key hashes everything its content reads (see `publish.cache.outputs`), so a file
whose key was made before without an error makes the same content again, with the same
problems (none) and the same size. Check therefore makes only the files whose key no memo
holds: the output folders' manifests (what builds wrote) and check's own memo,
`build/.cache/outputs/check.manifest` ({key: size} of what the last check made or vouched
for, plain JSON behind a magic number and a checksum; a cache, not an output: a damaged one
only costs time). It is kept only once a build has made the cache folder: check alone never
creates `build/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from publish.cache.outputs import MAGIC as MANIFEST_MAGIC
from publish.cache.outputs import OUTPUTS_DIR, Keyed, Stamp
from publish.cache.store import CACHE_DIR, read_json_file, write_json_file
from publish.outputs.files import Content, as_bytes
from publish.writer import Maker, OutputFolder

MAGIC = b"PUBCHCK1"
CHECK_MEMO = "check.manifest"
_MANIFEST = msgspec.json.Decoder(dict[str, Stamp])
_SIZES = msgspec.json.Decoder(dict[str, int])

Sizes = dict[str, dict[str, int]]  # each folder's {path: size} of the files not made


class CheckMemo:
    """The sizes of the contents made before without an error, by key."""

    def __init__(self, root: Path):
        self.cache_dir = root / CACHE_DIR
        self.path = root / OUTPUTS_DIR / CHECK_MEMO
        self.sizes = vouched_sizes(root / OUTPUTS_DIR, self.path)
        self.current: dict[str, int] = {}

    def size(self, value: Content | Keyed) -> int | None:
        """The size of a keyed value made before (and noted for the next check), else None."""
        key = value.key if isinstance(value, Keyed) else None
        size = self.sizes.get(key) if key is not None else None
        if key is not None and size is not None:
            self.current[key] = size
        return size

    def record(self, value: Content | Keyed, data: bytes) -> None:
        """Note a keyed value this check made without an error."""
        if isinstance(value, Keyed) and value.key is not None:
            self.current[value.key] = len(data)

    def save(self) -> None:
        """Keep this check's keys for the next one, in a site a build has made a cache for
        (before that no essay's parse is kept, so hardly any output has a key); a refusing
        disk only costs time."""
        if self.cache_dir.is_dir():
            write_json_file(self.path, MAGIC, self.current)


def vouched_sizes(folder: Path, own: Path) -> dict[str, int]:
    """Every key a build's manifest or check's own memo holds, with its content's size."""
    sizes: dict[str, int] = {}
    for manifest in sorted(folder.glob("*.manifest")) if folder.is_dir() else []:
        if manifest != own:
            stamps = read_json_file(manifest, MANIFEST_MAGIC, _MANIFEST) or {}
            sizes.update({stamp[0]: stamp[3] for stamp in stamps.values()})
    sizes.update(read_json_file(own, MAGIC, _SIZES) or {})
    return sizes


def check_trees(
    folders: Sequence[OutputFolder], make: Maker, memo: CheckMemo | None = None
) -> Sizes:
    """Make every file of `folders` that `memo` does not vouch for, measure it and let it go
    (check's memory stays flat); each folder's sizes of the files not made (vouched for, or
    given as content). A made file's error is raised as the build would raise it, and the
    memo is then left as it was."""
    kept: Sizes = {folder.target.name: {} for folder in folders}
    todo: list[Content | Keyed] = []
    for folder in folders:
        for path, value in folder.files.items():
            if not isinstance(value, Keyed):
                size: int | None = len(as_bytes(value))  # made already
            else:
                size = memo.size(value) if memo is not None else None
            if size is None:
                todo.append(value)
            else:
                kept[folder.target.name][path] = size
    for value, content in zip(todo, make(todo), strict=True):
        if memo is not None:
            memo.record(value, as_bytes(content))
    if memo is not None:
        memo.save()
    return kept

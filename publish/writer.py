"""The only place that touches an output folder: checked paths, then an atomic swap.

A tree is written into a temporary folder beside its target and swapped in only when every
file was written, so a failed build leaves the previous output exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from publish.errors import PublishError

Content = str | bytes


def merge_outputs(*parts: Mapping[str, Content]) -> dict[str, Content]:
    """Join several `{path: content}` maps, refusing a path that two of them write."""
    merged: dict[str, Content] = {}
    for part in parts:
        for path, content in part.items():
            if path in merged:
                raise PublishError.single(path, 1, 1, "two outputs write this path "
                                                      "(a slug or tag clash?)")
            merged[path] = content
    return merged


def check_path(path: str) -> PurePosixPath:
    """A relative output path inside the root, or a PublishError."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts or "\\" in path:
        raise PublishError.single(path, 1, 1, "output path escapes the output folder")
    return relative


def write_tree(files: Mapping[str, Content], target: Path) -> None:
    """Replace the folder `target` with exactly `files`, atomically."""
    recover_interrupted_swap(target)
    checked = {check_path(p): content for p, content in files.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    try:
        for relative, content in checked.items():
            _write_file(staging / relative, content, target / relative)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap(staging, target)


def _write_file(path: Path, content: Content, previous: Path) -> None:
    """Write one file, creating its folders; an unchanged file is hard-linked, not rewritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if _unchanged(previous, data):
        try:
            os.link(previous, path)
            return
        except OSError:  # no hard links here: write it
            pass
    path.write_bytes(data)


def _unchanged(previous: Path, data: bytes) -> bool:
    """Whether the previous build's file at this path holds exactly `data`."""
    try:
        return previous.stat().st_size == len(data) and previous.read_bytes() == data
    except OSError:
        return False


def _old_path(target: Path) -> Path:
    """Where the previous tree waits while the new one moves in."""
    return target.parent / f".{target.name}-old"


def _swap(staging: Path, target: Path) -> None:
    """Move the new tree into place, keeping the old one until the new one is there."""
    old = _old_path(target)
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.rename(target, old)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted_swap(target: Path) -> None:
    """If a crash left the old tree set aside and no new one, put the old one back."""
    old = _old_path(target)
    if old.exists() and not target.exists():
        os.rename(old, target)

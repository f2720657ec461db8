"""Staging one file of a build: its content made, its folders made, the file written (or the
previous build's file hard-linked, when it holds the same bytes), and its stamp taken where
it is written. What the writer (`publish.pipeline.writer`) asks of each staged file, in this
process or in a forked worker.

Each folder of a new tree is made by the first file under it (its `Placing` says which);
no file asks the system to make a folder that exists. Folders are made `0o777` and files
`0o666`, less the umask, so a web server can read them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import msgspec

from publish.outputs.files import Content, Deferred, as_bytes, made
from publish.pipeline.journal import set_mode

_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


class Placing(msgspec.Struct, frozen=True):
    """One file to stage: its content, where it is staged, and the previous build's file at
    its path (hard-linked instead when it holds the same bytes), if any; the folders it makes
    first (those of a new tree it is the first file of, outermost first)."""

    content: Content | Deferred
    path: Path | str  # as text where the writer makes many (no path object for each)
    previous: Path | None = None
    new_folders: tuple[str, ...] = ()


# What stages files: each placing made and written, in order (the status of each yielded
# once its file is in place, see `place`). The build passes its own, which makes and writes
# in worker processes.
Placer = Callable[[Sequence[Placing]], Iterable[os.stat_result]]


def place(placing: Placing) -> os.stat_result:
    """Make one file's content and write it where it is staged, after the folders it makes
    (its folder made too if another worker's file has yet to make it); its status as
    written, for the output memo and the stamps of the tree (taken where it is written, so
    the build need not look at the file again)."""
    data = as_bytes(made(placing.content))
    for folder in placing.new_folders:
        _folder_made_here(folder)
    if placing.previous is None:
        return _written(placing.path, data)
    return _write_file(placing.path, data, placing.previous)


def _folder_made_here(folder: str) -> None:
    """Make one folder of a new tree (with the output mode, 0o777 less the umask); one that
    exists already is left, one whose parent is not yet made is made with it."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    except FileNotFoundError:  # its parent is another worker's file's to make, not made yet
        os.makedirs(folder, exist_ok=True)


def placed_in_turn(placings: Sequence[Placing]) -> Iterator[os.stat_result]:
    """Each file made and staged here, one at a time, in order."""
    return map(place, placings)


def _written(path: Path | str, data: bytes) -> os.stat_result:
    """Write a new file (with the output mode: 0o666 less the umask) and give its status; its
    folder is made here only if the file that makes it, in another worker, has yet to."""
    try:
        descriptor = os.open(path, _WRITE_FLAGS, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = os.open(path, _WRITE_FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        return os.fstat(descriptor)
    finally:
        os.close(descriptor)


def folders_to_make(tree: Path, relative: str, folders: set[str]) -> tuple[str, ...]:
    """The folders above the file `relative` (a checked path under `tree`) not yet in
    `folders` (relative paths, now noted in it), outermost first, as paths under `tree` (text:
    no path object made for a file whose folder is made already)."""
    missing: list[str] = []
    folder = relative.rpartition("/")[0]
    while folder and folder not in folders:
        missing.append(folder)
        folders.add(folder)
        folder = folder.rpartition("/")[0]
    return tuple(f"{tree}/{folder}" for folder in reversed(missing))


def linked(previous: Path, path: Path | str) -> bool:
    """Hard-link the previous build's file into the new tree, if this file system can (with
    the output mode, as every file the build makes is created with it)."""
    try:
        os.link(previous, path)
        set_mode(path)
    except OSError:
        return False
    return True


def _write_file(path: Path | str, content: Content, previous: Path) -> os.stat_result:
    """Write one file; an unchanged file is hard-linked, not rewritten (written, if its
    folder is another worker's file's to make and not made yet). Its status."""
    data = as_bytes(content)
    if holds_bytes(previous, data) and linked(previous, path):
        return os.stat(path)
    return _written(path, data)


def holds_bytes(previous: Path, data: bytes) -> bool:
    """Whether the previous build's file at this path holds exactly `data`."""
    try:
        return previous.stat().st_size == len(data) and previous.read_bytes() == data
    except OSError:
        return False

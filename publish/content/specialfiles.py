"""Finds FIFOs, sockets and device files among a site's sources before anything opens them
(opening a FIFO waits forever for a writer, a device may never end)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from publish.errors import Problem, error
from publish.layout import SOURCE_FOLDERS

# Where the build reads files the author wrote; each is walked whole, hidden files too.
SOURCE_FILES = ("publish.toml",)
KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_file_problems(root: Path) -> list[Problem]:
    """An error for each FIFO, socket or device file (or link to one) under the site's
    source folders, found without opening anything: a folder's listing tells regular files
    and folders apart, and only what it cannot place (a link, a special file) is stat'ed."""
    problems = []
    for name in SOURCE_FILES:
        problems += _check(root, root / name)
    for name in SOURCE_FOLDERS:
        problems += _check(root, root / name)
        if (root / name).is_dir():
            problems += _walk(root, str(root / name))
    return problems


def _walk(root: Path, folder: str) -> list[Problem]:
    """The errors of one folder's entries, in name order, then of each subfolder's (not
    through a link to a folder); an unreadable folder is skipped, as `os.walk` skips it."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return []
    problems = []
    subfolders = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            subfolders.append(entry.path)
        elif not entry.is_file(follow_symlinks=False):  # a link, or special: look closer
            problems += _check(root, Path(entry.path))
    for subfolder in subfolders:
        problems += _walk(root, subfolder)
    return problems


def _check(root: Path, path: Path) -> list[Problem]:
    """An error if `path` is, or links to, a file that is neither regular nor a folder."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            mode = os.stat(path).st_mode  # the target's kind; a dangling link is not ours
    except OSError:
        return []
    kind = next((words for test, words in KINDS if test(mode)), None)
    if kind is None:
        return []
    relative = path.relative_to(root).as_posix()
    return [
        error(
            relative,
            1,
            1,
            f"{relative} is {kind}, not a regular file: the build would wait on it "
            "forever; remove it or replace it with a file",
        )
    ]

"""The commit journal: the moves that make a staged build the live one, replayed whole.

A build stages every output folder beside its target, writes one journal listing each
folder's change (a whole tree to swap in, or files to move into place and files to
remove), then replays it. The next build replays a journal a crash left, and removes what a
killed build left beside the folders. Paths are checked before anything is moved, and every
file and folder ends with the modes a web server can read (`0o666`/`0o777`, less the umask).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from publish.errors import PublishError
from publish.support.atomic import write_atomically
from publish.support.testhooks import hold_at

JOURNAL_NAME = ".commit.json"


def checked_path(path: str) -> str:
    """`check_path` as a POSIX string; plain paths (the usual case) skip pathlib."""
    parts = path.split("/")
    if path and "\\" not in path and not ({"", ".", ".."} & set(parts)):
        return path
    return check_path(path).as_posix()


def check_path(path: str) -> PurePosixPath:
    """A relative output path inside the root, or a PublishError."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts or "\\" in path:
        raise PublishError.single(path, 1, 1, "output path escapes the output folder")
    return relative


# --- Permissions ---------------------------------------------------------------------


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_modes() -> tuple[int, int]:
    """The modes of output folders and files: 0o777 and 0o666 less the umask."""
    mask = current_umask()
    return 0o777 & ~mask, 0o666 & ~mask


def set_mode(path: Path | str) -> None:
    """Give one folder or file the output mode (each made by a build is created with it: a
    staging folder, a hard link to an earlier build's file, a file moved in, are not)."""
    folder_mode, file_mode = output_modes()
    status = os.lstat(path)
    wanted = folder_mode if stat.S_ISDIR(status.st_mode) else file_mode
    if status.st_mode & 0o7777 != wanted:  # a stat costs less than a needless chmod
        os.chmod(path, wanted)


def tree_listing(target: Path) -> tuple[set[str], set[str]]:
    """Every file and every folder under `target`, as relative POSIX paths (as `os.walk`
    finds them, from the listings alone: no call per folder to ask if it is a link)."""
    listed = Listing()
    _list_folder(str(target), "", listed, with_status=False)
    return listed.files, listed.folders


class Listing(msgspec.Struct):
    """A tree's files and folders (relative POSIX paths, "." the tree itself) and, by full
    path, the status of each as it was listed (links not followed)."""

    files: set[str] = msgspec.field(default_factory=set)
    folders: set[str] = msgspec.field(default_factory=lambda: {"."})
    status: dict[str, os.stat_result] = msgspec.field(default_factory=dict)
    taken: int = 0  # when the statuses began to be read (nanoseconds)


def listed_tree(target: Path) -> Listing:
    """`tree_listing` with each file's and folder's status, read from the one listing."""
    listed = Listing(taken=time.time_ns())
    _list_folder(str(target), "", listed, with_status=True)
    return listed


def _list_folder(folder: str, prefix: str, listed: Listing, with_status: bool) -> None:
    """Add what `folder` holds (`prefix`: its relative path + "/"); a link to a folder is a
    folder not walked into, and an unreadable folder adds nothing (as `os.walk` has it)."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:
        return
    for entry in entries:
        relative = prefix + entry.name
        try:
            is_folder = entry.is_dir()
            if with_status:
                listed.status[entry.path] = entry.stat(follow_symlinks=False)
        except OSError:
            is_folder = False
        (listed.folders if is_folder else listed.files).add(relative)
        if is_folder and not entry.is_symlink():
            _list_folder(entry.path, f"{relative}/", listed, with_status)


def status_after(listed: Listing, target: Path, entry: dict[str, Any]) -> dict[str, os.stat_result]:
    """The status of everything under `target` once its update (journal `entry`) moved files
    in and took others out, from its listing before: only those and their folders read again."""
    status = dict(listed.status)
    base = str(target)
    folders: set[str] = set()
    for relative in (*entry["moves"], *entry["removes"]):
        path = f"{base}/{relative}"
        _read_again(status, path)
        while "/" in relative:
            relative = relative.rsplit("/", 1)[0]
            if relative in folders:
                break
            folders.add(relative)
    for relative in folders:
        _read_again(status, f"{base}/{relative}")
    return status


def _read_again(status: dict[str, os.stat_result], path: str) -> None:
    """Read `path`'s status again into `status`, or drop it when it is gone."""
    try:
        status[path] = os.lstat(path)
    except OSError:
        status.pop(path, None)


def folders_of(paths: Iterable[str]) -> set[str]:
    """Every folder that holds one of `paths` (relative POSIX paths), "." for the root."""
    folders = {"."}
    for path in paths:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            if path in folders:
                break
            folders.add(path)
    return folders


# --- The build lock ------------------------------------------------------------------


def old_path(target: Path) -> Path:
    """Where the previous tree waits while the new one moves in."""
    return target.parent / f".{target.name}-old"


def recover_interrupted_swap(target: Path) -> None:
    """If a crash left the old tree set aside and no new one, put the old one back."""
    old = old_path(target)
    if old.exists() and not target.exists():
        os.rename(old, target)


def remove_leftovers(parent: Path, names: Iterable[str]) -> None:
    """Remove what killed builds left beside the folders `names`: staging folders, set-aside
    old trees (put back if their folder is missing) and a half-written journal."""
    stagings = tuple(f".{name}-new-" for name in names)
    for name in names:
        _finish_legacy_commit(parent, name)
        recover_interrupted_swap(parent / name)
        shutil.rmtree(old_path(parent / name), ignore_errors=True)
    for entry in _names_in(parent):  # one listing for all (no pattern to compile)
        if entry.startswith(stagings):
            shutil.rmtree(parent / entry, ignore_errors=True)
        elif _half_written_journal(entry):
            (parent / entry).unlink(missing_ok=True)


def _names_in(folder: Path) -> list[str]:
    """The names in a folder (none when it cannot be listed)."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _half_written_journal(name: str) -> bool:
    """Whether a name is a journal's file being written (`.<journal>.*.tmp`)."""
    start, end = f".{JOURNAL_NAME}.", ".tmp"
    return name.startswith(start) and name.endswith(end) and len(name) >= len(start + end)


def _finish_legacy_commit(parent: Path, name: str) -> None:
    """Finish an in-place update that an older publish left with its own per-folder journal
    (`.<name>-commit.json`), then drop that journal."""
    path = parent / f".{name}-commit.json"
    if not path.exists():
        return
    import json  # see `write_journal`

    with contextlib.suppress(OSError, ValueError):
        change = {"kind": "update", "folder": name, **json.loads(path.read_text(encoding="utf-8"))}
        if _change_holds(change):
            _commit_update(
                parent / name, parent / change["staging"], change["moves"], change["removes"]
            )
    path.unlink(missing_ok=True)


# --- The commit journal ----------------------------------------------------------------


def journal_path(parent: Path) -> Path:
    """Where the commit journal of the folders under `parent` waits."""
    return parent / JOURNAL_NAME


def write_journal(parent: Path, journal: dict[str, Any]) -> None:
    """Write the journal atomically and durably: it exists whole or not at all."""
    # Loaded here: only a commit writes or reads a journal, and Jinja has loaded json by
    # then (a build forks its parse workers sooner without it).
    import json

    write_atomically(journal_path(parent), json.dumps(journal).encode("utf-8"))


def replay(parent: Path, journal: dict[str, Any]) -> None:
    """Carry out every change of a journal (repeatable: a replay after a crash finishes it),
    then remove the journal."""
    for number, change in enumerate(journal["changes"]):
        if number == 1:
            hold_at("half-committed")
        if change["kind"] == "swap":
            _commit_swap(parent / change["folder"], parent / change["staging"])
        else:
            _commit_update(
                parent / change["folder"],
                parent / change["staging"],
                change["moves"],
                change["removes"],
            )
    hold_at("committed")
    journal_path(parent).unlink(missing_ok=True)


def _commit_swap(target: Path, staging: Path) -> None:
    """Move a staged tree into place, the old tree set aside until the new one is there."""
    old = old_path(target)
    if staging.is_dir():
        if target.exists():
            if old.exists():  # a leftover: the journal's own old tree is never beside its target
                shutil.rmtree(old)
            os.rename(target, old)
        os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def _commit_update(target: Path, staging: Path, moves: list[str], removes: list[str]) -> None:
    """Move each staged file into place and remove the files no longer built."""
    for number, relative in enumerate(moves):
        staged = staging / str(number)
        if staged.exists():
            destination = target / check_path(relative)
            try:  # staged with the output mode, which the move keeps
                os.replace(staged, destination)
            except FileNotFoundError:  # a new folder (made with the output mode)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, destination)
    emptied: set[Path] = set()
    for relative in removes:
        path = target / check_path(relative)
        path.unlink(missing_ok=True)
        emptied.add(path.parent)
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        _remove_empty_folders(folder, target)
    set_mode(target)  # a tree an older build left 0o700
    shutil.rmtree(staging, ignore_errors=True)


def _remove_empty_folders(folder: Path, target: Path) -> None:
    """Remove `folder` and its parents up to `target` while they are empty."""
    while folder != target and folder.is_relative_to(target):
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop here
            return
        folder = folder.parent


def recover_interrupted_commit(parent: Path) -> None:
    """Finish the commit that a crash interrupted after its journal was written."""
    path = journal_path(parent)
    if not path.exists():
        return
    import json  # see `write_journal`

    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = None
    if not _journal_holds(journal):  # damaged: nothing of it can be trusted
        path.unlink(missing_ok=True)
        return
    replay(parent, journal)


def _plain_name(name: Any) -> bool:
    """Whether `name` is one file name (no separator, not "." or "..")."""
    return (
        isinstance(name, str)
        and bool(name)
        and "/" not in name
        and "\\" not in name
        and name not in {".", ".."}
    )


def _journal_holds(journal: Any) -> bool:
    """Whether a journal read back has the shape `write_trees` writes, each staging folder
    one of its own folder's (so a damaged journal never moves or removes elsewhere)."""
    changes = journal.get("changes") if isinstance(journal, dict) else None
    return isinstance(changes, list) and all(_change_holds(c) for c in changes)


def _change_holds(change: Any) -> bool:
    """Whether one change of a journal has a shape `replay` can carry out safely."""
    if not isinstance(change, dict):
        return False
    folder, staging, kind = (change.get(k) for k in ("folder", "staging", "kind"))
    if not (
        _plain_name(folder)
        and not folder.startswith(".")
        and _plain_name(staging)
        and staging.startswith(f".{folder}-new-")
    ):
        return False
    if kind == "swap":
        return True
    moves, removes = change.get("moves"), change.get("removes")
    return (
        kind == "update"
        and isinstance(moves, list)
        and isinstance(removes, list)
        and all(isinstance(p, str) for p in moves + removes)
    )

"""The only place that touches an output folder: checked paths, then an atomic change.

A first tree is written into a temporary folder beside its target and swapped in only when
every file was written, so a failed build leaves the previous output exactly as it was. A
rebuild with the output memo stages only the files that changed, writes a commit journal,
then moves them into the tree and removes the files no longer built; a failure before the
journal leaves the tree untouched, and a crash after it is finished by the next build.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from publish.errors import PublishError
from publish.memo import Content, Deferred, OutputMemo, as_bytes, made_contents


def merge_outputs(*parts: Mapping[str, Content | Deferred]) -> dict[str, Content | Deferred]:
    """Join several `{path: content}` maps, refusing a path that two of them write."""
    merged: dict[str, Content | Deferred] = {}
    for part in parts:
        for path, content in part.items():
            if path in merged:
                raise PublishError.single(path, 1, 1, "two outputs write this path "
                                                      "(a slug or tag clash?)")
            merged[path] = content
    return merged


def _checked(path: str) -> str:
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


def write_tree(files: Mapping[str, Content | Deferred], target: Path,
               memo: OutputMemo | None = None) -> None:
    """Replace the folder `target` with exactly `files`, atomically.

    A deferred content is made only when `memo` cannot vouch for the previous build's file.
    With a memo and a previous tree, only the changed files are staged and then moved into
    place under a commit journal (`update_in_place`); otherwise a new tree is swapped in.
    """
    recover_interrupted_swap(target)
    recover_interrupted_commit(target)
    checked = {_checked(p): content for p, content in files.items()}
    if memo is not None and target.is_dir():
        plan = _update_plan(checked, target, memo)
        if plan is not None:
            update_in_place(plan, target, memo)
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    try:
        folders: set[Path] = set()
        todo = [(relative, content) for relative, content in checked.items()
                if not _kept(staging, relative, content, target, memo, folders)]
        made = made_contents([content for _, content in todo])
        for (relative, content), data in zip(todo, made, strict=True):
            path = _folder_made(staging / relative, folders)
            _write_file(path, data, target / relative)
            if memo is not None and isinstance(content, Deferred) and content.key is not None:
                memo.record(relative, content.key, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap(staging, target)


def _kept(staging: Path, relative: str, content: Content | Deferred, target: Path,
          memo: OutputMemo | None, folders: set[Path]) -> bool:
    """Link the previous build's file when the memo vouches for it; whether it was."""
    key = content.key if isinstance(content, Deferred) else None
    if memo is None or key is None or not memo.holds(relative, key, target / relative):
        return False
    path = _folder_made(staging / relative, folders)
    if not _linked(target / relative, path):
        return False
    memo.record(relative, key, path)
    return True


def _folder_made(path: Path, folders: set[Path]) -> Path:
    """`path`, once its folder exists (each folder created once per tree)."""
    if path.parent not in folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        folders.add(path.parent)
    return path


def _linked(previous: Path, path: Path) -> bool:
    """Hard-link the previous build's file into the new tree, if this file system can."""
    try:
        os.link(previous, path)
    except OSError:
        return False
    return True


def _write_file(path: Path, content: Content, previous: Path) -> None:
    """Write one file (its folder exists); an unchanged file is hard-linked, not rewritten."""
    data = as_bytes(content)
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


# --- Updating a tree in place ----------------------------------------------------------


@dataclass(frozen=True)
class UpdatePlan:
    """What turns the previous tree into the new one: files to write, kept, and removed."""

    writes: list[tuple[str, Content | Deferred]]
    kept: list[str]  # each file the memo vouched for
    removes: list[str]


def _update_plan(new_files: Mapping[str, Content | Deferred], target: Path,
                 memo: OutputMemo) -> UpdatePlan | None:
    """The plan, or None when a path changes between file and folder (then swap a new tree)."""
    old_files, old_folders = _tree_listing(target)
    new_folders = _folders_of(new_files)
    if (not new_files.keys().isdisjoint(old_folders | new_folders)
            or not new_folders.isdisjoint(old_files)):
        return None
    writes, kept = [], []
    base = str(target)
    for relative, content in new_files.items():
        key = content.key if isinstance(content, Deferred) else None
        if key is not None and memo.holds(relative, key, f"{base}/{relative}"):
            kept.append(relative)
        elif isinstance(content, Deferred) or not _unchanged(target / relative,
                                                             as_bytes(content)):
            writes.append((relative, content))
    return UpdatePlan(writes, kept, sorted(old_files - new_files.keys()))


def _folders_of(paths: Iterable[str]) -> set[str]:
    """Every folder that holds one of `paths` (relative POSIX paths), "." for the root."""
    folders = {"."}
    for path in paths:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            if path in folders:
                break
            folders.add(path)
    return folders


def _tree_listing(target: Path) -> tuple[set[str], set[str]]:
    """Every file and every folder under `target`, as relative POSIX paths."""
    files: set[str] = set()
    folders: set[str] = {"."}
    for folder, subfolders, names in os.walk(target):
        relative = os.path.relpath(folder, target).replace(os.sep, "/")
        prefix = "" if relative == "." else f"{relative}/"
        folders.update(prefix + name for name in subfolders)
        files.update(prefix + name for name in names)
    return files, folders


def update_in_place(plan: UpdatePlan, target: Path, memo: OutputMemo) -> None:
    """Stage the changed files beside the tree, then move them in under a commit journal.

    Until the journal exists nothing in `target` has changed, so a failed build leaves it as
    it was; once it exists, an interrupted commit is finished by the next write.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    try:
        made = made_contents([content for _, content in plan.writes])
        for number, data in enumerate(made):
            (staging / str(number)).write_bytes(as_bytes(data))
        journal = {"staging": staging.name,
                   "moves": [relative for relative, _ in plan.writes],
                   "removes": plan.removes}
        _write_journal(target, journal)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _commit(target, journal)
    memo.keep_vouched(plan.kept)
    for relative, content in plan.writes:
        if isinstance(content, Deferred) and content.key is not None:
            memo.record(relative, content.key, target / relative)


def _journal_path(target: Path) -> Path:
    """Where the commit journal of an in-place update waits."""
    return target.parent / f".{target.name}-commit.json"


def _write_journal(target: Path, journal: dict[str, object]) -> None:
    """Write the journal atomically: it exists whole or not at all."""
    path = _journal_path(target)
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(json.dumps(journal), encoding="utf-8")
    os.replace(temporary, path)


def _commit(target: Path, journal: dict[str, Any]) -> None:
    """Move each staged file into place and remove the files no longer built (repeatable)."""
    staging = target.parent / journal["staging"]
    for number, relative in enumerate(journal["moves"]):
        staged = staging / str(number)
        if staged.exists():
            destination = target / check_path(relative)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, destination)
    emptied: set[Path] = set()
    for relative in journal["removes"]:
        path = target / check_path(relative)
        path.unlink(missing_ok=True)
        emptied.add(path.parent)
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        _remove_empty_folders(folder, target)
    shutil.rmtree(staging, ignore_errors=True)
    _journal_path(target).unlink(missing_ok=True)


def _remove_empty_folders(folder: Path, target: Path) -> None:
    """Remove `folder` and its parents up to `target` while they are empty."""
    while folder != target and folder.is_relative_to(target):
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop here
            return
        folder = folder.parent


def recover_interrupted_commit(target: Path) -> None:
    """Finish an in-place update that a crash interrupted after its journal was written."""
    path = _journal_path(target)
    if not path.exists():
        return
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = None
    if not _journal_holds(journal, target):  # damaged: nothing of it can be trusted
        path.unlink(missing_ok=True)
        return
    _commit(target, journal)


def _journal_holds(journal: Any, target: Path) -> bool:
    """Whether a journal read back has the shape `update_in_place` writes, its staging
    folder one of this target's (so a damaged journal never moves or removes elsewhere)."""
    if not isinstance(journal, dict):
        return False
    staging, moves, removes = (journal.get(k) for k in ("staging", "moves", "removes"))
    return (isinstance(staging, str) and "/" not in staging and "\\" not in staging
            and staging.startswith(f".{target.name}-new-")
            and isinstance(moves, list) and isinstance(removes, list)
            and all(isinstance(p, str) for p in moves + removes))

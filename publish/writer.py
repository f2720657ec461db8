"""The only place that touches an output folder: checked paths, then one atomic commit.

Every folder of a build is first prepared beside its target, which stays untouched: a new
tree is staged whole (to be swapped in) or, with the output memo and a previous tree, only
the changed files are staged (to be moved into place). Then one commit journal is written
that lists what every folder's change does, and it is replayed. A crash before the journal
exists leaves every folder as it was (the next build removes the staging folders); a crash
after it is finished by the next build; so the folders always hold all of one build.
Folders are made `0o777` and files `0o666`, less the umask, so a web server can read them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from publish.atomic import write_atomically
from publish.cache.outputs import Keyed, OutputMemo
from publish.errors import PublishError
from publish.locks import exclusive_lock
from publish.outputs.files import Content, as_bytes
from publish.parallel import hold_for_test

JOURNAL_NAME = ".commit.json"
LOCK_NAME = ".lock"


Maker = Callable[[Sequence[Content | Keyed]], Iterable[Content]]


def made_in_turn(values: Sequence[Content | Keyed]) -> Iterator[Content]:
    """Each value's content, in order, made here one at a time (the build passes its own
    maker, which shares the work among worker processes)."""
    for value in values:
        yield value.content() if isinstance(value, Keyed) else value


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


def set_modes(tree: Path) -> None:
    """Give every folder and file under `tree` (itself included) the output modes."""
    folder_mode, file_mode = output_modes()
    for folder, _, names in os.walk(tree):
        _chmod(folder, folder_mode)
        for name in names:
            _chmod(os.path.join(folder, name), file_mode)


def _chmod(path: str, mode: int) -> None:
    """Set a mode when it differs (a stat costs less than a needless chmod)."""
    if os.lstat(path).st_mode & 0o7777 != mode:
        os.chmod(path, mode)


# --- The build lock ------------------------------------------------------------------


def build_lock(build_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the site's build lock (`build/.lock`), or fail at once if a build holds it."""
    return exclusive_lock(
        build_dir / LOCK_NAME,
        "another build is running in this site (it "
        "holds this lock file); wait for it to finish, then build again",
    )


# --- Writing folders -----------------------------------------------------------------


@dataclass(frozen=True)
class OutputFolder:
    """One folder a build replaces: its files, where it goes, and its output memo if any."""

    files: Mapping[str, Content | Keyed]
    target: Path
    memo: OutputMemo | None = None


@dataclass
class Prepared:
    """A folder's change, staged and not yet visible: its journal entry, and what to note in
    the memo once it is committed."""

    entry: dict[str, Any]
    staging: Path
    finish: Callable[[], None]


def write_tree(
    files: Mapping[str, Content | Keyed], target: Path, memo: OutputMemo | None = None
) -> None:
    """Replace the folder `target` with exactly `files`, atomically (see `write_trees`)."""
    write_trees([OutputFolder(files, target, memo)])


def write_trees(
    folders: Sequence[OutputFolder],
    make: Maker = made_in_turn,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """Replace each folder with exactly its files, all of them in one atomic commit.

    The folders share one parent, which holds the journal. A deferred content is made only
    when its folder's memo cannot vouch for the previous build's file.
    """
    parent = _shared_parent(folders)
    recover_interrupted_commit(parent)
    remove_leftovers(parent, [folder.target.name for folder in folders])
    prepared: list[Prepared] = []
    try:
        for folder in folders:
            checked = {_checked(p): content for p, content in folder.files.items()}
            prepared.append(_prepare(checked, folder.target, folder.memo, make))
        if before_commit is not None:
            before_commit()  # may refuse the build: the staging is removed, nothing changes
        hold_for_test("staged")
        journal = {"changes": [p.entry for p in prepared]}
        _write_journal(parent, journal)
    except BaseException:
        for done in prepared:
            shutil.rmtree(done.staging, ignore_errors=True)
        raise
    hold_for_test("journal")
    _replay(parent, journal)
    for done in prepared:
        done.finish()


def _shared_parent(folders: Sequence[OutputFolder]) -> Path:
    """The one folder holding every target (created if missing)."""
    parents = {folder.target.parent for folder in folders}
    names = [folder.target.name for folder in folders]
    if len(parents) != 1 or len(set(names)) != len(names):
        raise ValueError("the output folders of one commit must be distinct siblings")
    parent = parents.pop()
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _prepare(
    files: Mapping[str, Content | Keyed], target: Path, memo: OutputMemo | None, make: Maker
) -> Prepared:
    """Stage one folder's change: in place when the memo and a previous tree allow it."""
    if memo is not None and target.is_dir():
        plan = _update_plan(files, target, memo)
        if plan is not None:
            return _stage_update(plan, target, memo, make)
    return _stage_tree(files, target, memo, make)


def _new_staging(target: Path) -> Path:
    """A new, empty staging folder beside `target`."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))


def _stage_tree(
    files: Mapping[str, Content | Keyed], target: Path, memo: OutputMemo | None, make: Maker
) -> Prepared:
    """Write a whole new tree beside `target`, to be swapped in."""
    staging = _new_staging(target)
    try:
        folders: set[Path] = set()
        todo = [
            (relative, content)
            for relative, content in files.items()
            if not _kept(staging, relative, content, target, memo, folders)
        ]
        made = make([content for _, content in todo])
        for (relative, content), data in zip(todo, made, strict=True):
            path = _folder_made(staging / relative, folders)
            _write_file(path, data, target / relative)
            if memo is not None and isinstance(content, Keyed) and content.key is not None:
                memo.record(relative, content.key, path)
        set_modes(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    entry = {"kind": "swap", "folder": target.name, "staging": staging.name}
    return Prepared(entry, staging, lambda: None)


def _kept(
    staging: Path,
    relative: str,
    content: Content | Keyed,
    target: Path,
    memo: OutputMemo | None,
    folders: set[Path],
) -> bool:
    """Link the previous build's file when the memo vouches for it; whether it was."""
    key = content.key if isinstance(content, Keyed) else None
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


def recover_interrupted_swap(target: Path) -> None:
    """If a crash left the old tree set aside and no new one, put the old one back."""
    old = _old_path(target)
    if old.exists() and not target.exists():
        os.rename(old, target)


def remove_leftovers(parent: Path, names: Iterable[str]) -> None:
    """Remove what killed builds left beside the folders `names`: staging folders, set-aside
    old trees (put back if their folder is missing) and a half-written journal."""
    for name in names:
        _finish_legacy_commit(parent, name)
        recover_interrupted_swap(parent / name)
        shutil.rmtree(_old_path(parent / name), ignore_errors=True)
        for staging in parent.glob(f".{name}-new-*"):
            shutil.rmtree(staging, ignore_errors=True)
    for half_written in parent.glob(f".{JOURNAL_NAME}.*.tmp"):
        half_written.unlink(missing_ok=True)


def _finish_legacy_commit(parent: Path, name: str) -> None:
    """Finish an in-place update that an older publish left with its own per-folder journal
    (`.<name>-commit.json`), then drop that journal."""
    path = parent / f".{name}-commit.json"
    if not path.exists():
        return
    with contextlib.suppress(OSError, ValueError):
        change = {"kind": "update", "folder": name, **json.loads(path.read_text(encoding="utf-8"))}
        if _change_holds(change):
            _commit_update(
                parent / name, parent / change["staging"], change["moves"], change["removes"]
            )
    path.unlink(missing_ok=True)


# --- Updating a tree in place ----------------------------------------------------------


@dataclass(frozen=True)
class UpdatePlan:
    """What turns the previous tree into the new one: files to write, kept, and removed."""

    writes: list[tuple[str, Content | Keyed]]
    kept: list[str]  # each file the memo vouched for
    removes: list[str]


def _update_plan(
    new_files: Mapping[str, Content | Keyed], target: Path, memo: OutputMemo
) -> UpdatePlan | None:
    """The plan, or None when a path changes between file and folder (then swap a new tree)."""
    old_files, old_folders = _tree_listing(target)
    new_folders = _folders_of(new_files)
    if not new_files.keys().isdisjoint(old_folders | new_folders) or not new_folders.isdisjoint(
        old_files
    ):
        return None
    writes, kept = [], []
    base = str(target)
    for relative, content in new_files.items():
        key = content.key if isinstance(content, Keyed) else None
        if key is not None and memo.holds(relative, key, f"{base}/{relative}"):
            kept.append(relative)
        elif isinstance(content, Keyed) or not _unchanged(target / relative, as_bytes(content)):
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


def _stage_update(plan: UpdatePlan, target: Path, memo: OutputMemo, make: Maker) -> Prepared:
    """Stage the changed files beside the tree, to be moved in when the journal commits."""
    staging = _new_staging(target)
    try:
        made = make([content for _, content in plan.writes])
        for number, data in enumerate(made):
            (staging / str(number)).write_bytes(as_bytes(data))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    entry = {
        "kind": "update",
        "folder": target.name,
        "staging": staging.name,
        "moves": [relative for relative, _ in plan.writes],
        "removes": plan.removes,
    }

    def finish() -> None:
        memo.keep_vouched(plan.kept)
        for relative, content in plan.writes:
            if isinstance(content, Keyed) and content.key is not None:
                memo.record(relative, content.key, target / relative)

    return Prepared(entry, staging, finish)


# --- The commit journal ----------------------------------------------------------------


def _journal_path(parent: Path) -> Path:
    """Where the commit journal of the folders under `parent` waits."""
    return parent / JOURNAL_NAME


def _write_journal(parent: Path, journal: dict[str, Any]) -> None:
    """Write the journal atomically and durably: it exists whole or not at all."""
    write_atomically(_journal_path(parent), json.dumps(journal).encode("utf-8"))


def _replay(parent: Path, journal: dict[str, Any]) -> None:
    """Carry out every change of a journal (repeatable: a replay after a crash finishes it),
    then remove the journal."""
    for number, change in enumerate(journal["changes"]):
        if number == 1:
            hold_for_test("half-committed")
        if change["kind"] == "swap":
            _commit_swap(parent / change["folder"], parent / change["staging"])
        else:
            _commit_update(
                parent / change["folder"],
                parent / change["staging"],
                change["moves"],
                change["removes"],
            )
    hold_for_test("committed")
    _journal_path(parent).unlink(missing_ok=True)


def _commit_swap(target: Path, staging: Path) -> None:
    """Move a staged tree into place, the old tree set aside until the new one is there."""
    old = _old_path(target)
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
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, destination)
    emptied: set[Path] = set()
    for relative in removes:
        path = target / check_path(relative)
        path.unlink(missing_ok=True)
        emptied.add(path.parent)
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        _remove_empty_folders(folder, target)
    set_modes(target)
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
    path = _journal_path(parent)
    if not path.exists():
        return
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = None
    if not _journal_holds(journal):  # damaged: nothing of it can be trusted
        path.unlink(missing_ok=True)
        return
    _replay(parent, journal)


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
    """Whether one change of a journal has a shape `_replay` can carry out safely."""
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

"""The only place that touches an output folder: checked paths, then one atomic commit.

Every folder of a build is first prepared beside its target, which stays untouched: a new
tree is staged whole (to be swapped in) or, with the output memo and a previous tree, only
the changed files are staged (to be moved into place). Then one commit journal is written
that lists what every folder's change does, and it is replayed. A crash before the journal
exists leaves every folder as it was (the next build removes the staging folders); a crash
after it is finished by the next build; so the folders always hold all of one build.
Between staged and committed, the build's finish step sees each folder as it will be (a
`StagedFolder`: path -> bytes, new and unchanged files alike) and may add files or refuse.
Folders are made `0o777` and files `0o666`, less the umask, so a web server can read them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from publish.cache.outputs import FileStamp, OutputMemo, file_stamp
from publish.errors import PublishError
from publish.outputs.files import Content, Deferred, as_bytes
from publish.pipeline import listings
from publish.pipeline.journal import (
    Listing,
    checked_path,
    folders_of,
    recover_interrupted_commit,
    remove_leftovers,
    replay,
    set_mode,
    status_after,
    write_journal,
)
from publish.pipeline.placing import (
    Placer,
    Placing,
    folders_to_make,
    holds_bytes,
    linked,
    placed_in_turn,
)
from publish.pipeline.placing import place as place  # what the build's workers run
from publish.support.testhooks import hold_at

Maker = Callable[[Sequence[Content | Deferred]], Iterable[Content]]


class StagedFolder(Mapping[str, bytes]):
    """An output folder as it will be once committed: each path's bytes, read from where the
    file lies now (staged, or left in place because it does not change)."""

    def __init__(self, places: Mapping[str, Path | str]):
        self.places = places

    def __getitem__(self, path: str) -> bytes:
        return Path(self.places[path]).read_bytes()

    def __iter__(self) -> Iterator[str]:
        return iter(self.places)

    def __len__(self) -> int:
        return len(self.places)

    def size(self, path: str) -> int:
        """The size of one file in bytes, without reading it."""
        return os.stat(self.places[path]).st_size


# What the build's finish step adds to the staged folders (folder name -> {path: content}).
Finish = Callable[[Mapping[str, StagedFolder]], Mapping[str, Mapping[str, Content]]]


# --- Writing folders -----------------------------------------------------------------


class OutputFolder(msgspec.Struct, frozen=True):
    """One folder a build replaces: its files, where it goes, and its output memo if any."""

    files: Mapping[str, Content | Deferred]
    target: Path
    memo: OutputMemo | None = None


class Prepared(msgspec.Struct):
    """A folder's change, staged and not yet visible: its journal entry, where each of its
    files lies until the commit, and what to note in the memo once it is committed."""

    entry: dict[str, Any]
    staging: Path
    after_commit: Callable[[], None]
    # where each file lies until the commit (a file left in place: its path as text)
    places: dict[str, Path | str] = msgspec.field(default_factory=dict)
    listed: Listing | None = None  # the tree before an update in place
    # a new tree where there was none: the status of each file the stage wrote, as written
    written: dict[str, os.stat_result] | None = None

    def add(self, files: Mapping[str, Content], source: str) -> None:
        """Stage more files (a finisher's), refusing a path the folder already has."""
        for relative, content in files.items():
            relative = checked_path(relative)
            if relative in self.places:
                raise PublishError.single(
                    relative, 1, 1, f"written twice: by the build and by {source}"
                )
            data = as_bytes(content)
            previous = self.staging.parent / self.entry["folder"] / relative
            if self.entry["kind"] == "swap":
                path = self.staging / relative
                path.parent.mkdir(parents=True, exist_ok=True)
            elif relative in self.entry["removes"] and holds_bytes(previous, data):
                self.entry["removes"].remove(relative)  # the file in place stays as it is
                self.places[relative] = previous
                continue
            else:
                path = self.staging / str(len(self.entry["moves"]))
                self.entry["moves"].append(relative)
                if relative in self.entry["removes"]:
                    self.entry["removes"].remove(relative)
            path.write_bytes(data)
            self.places[relative] = path


def write_tree(
    files: Mapping[str, Content | Deferred], target: Path, memo: OutputMemo | None = None
) -> None:
    """Replace the folder `target` with exactly `files`, atomically (see `write_trees`)."""
    write_trees([OutputFolder(files, target, memo)])


def write_trees(
    folders: Sequence[OutputFolder],
    stage: Placer = placed_in_turn,
    finish: Finish | None = None,
) -> dict[str, Mapping[str, os.stat_result]]:
    """Replace each folder with exactly its files, all of them in one atomic commit; the
    status of everything under each folder updated in place, or swapped in where there was
    none (`listings.NewTree`), by the folder's path.

    The folders share one parent, which holds the journal. A deferred content is made only
    when its folder's memo cannot vouch for the previous build's file; `stage` makes and
    writes the files to stage (the build's does both in worker processes). Once every folder is
    staged, `finish` sees each as it will be (by folder name) and may add files, or raise to
    refuse the build (the staging is then removed, and nothing changes).
    """
    parent = _shared_parent(folders)
    recover_interrupted_commit(parent)
    remove_leftovers(parent, [folder.target.name for folder in folders])
    prepared: list[Prepared] = []
    try:
        for folder in folders:
            checked = {checked_path(p): content for p, content in folder.files.items()}
            prepared.append(_prepare(checked, folder.target, folder.memo, stage))
        if finish is not None:
            _finish(folders, prepared, finish)
        hold_at("staged")
        journal = {"changes": [p.entry for p in prepared]}
        write_journal(parent, journal)
    except BaseException:
        for done in prepared:
            shutil.rmtree(done.staging, ignore_errors=True)
        raise
    hold_at("journal")
    replay(parent, journal)
    for done in prepared:
        done.after_commit()
    left: dict[str, Mapping[str, os.stat_result]] = {}
    for folder, done in zip(folders, prepared, strict=True):
        if done.listed is not None and folder.memo is not None:
            left[str(folder.target)] = status = status_after(done.listed, folder.target, done.entry)
            listings.keep(folder.target, status, done.listed.taken, folder.memo.listing)
        elif done.written is not None:
            left[str(folder.target)] = listings.NewTree(folder.target, done.places, done.written)
    return left


def _finish(folders: Sequence[OutputFolder], prepared: Sequence[Prepared], finish: Finish) -> None:
    """Show `finish` each staged folder as it will be, and stage the files it adds."""
    by_name = {f.target.name: done for f, done in zip(folders, prepared, strict=True)}
    added = finish({name: StagedFolder(done.places) for name, done in by_name.items()})
    for name, files in added.items():
        by_name[name].add(files, "a finisher")


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
    files: Mapping[str, Content | Deferred], target: Path, memo: OutputMemo | None, stage: Placer
) -> Prepared:
    """Stage one folder's change: in place when the memo and a previous tree allow it."""
    if memo is not None and target.is_dir():
        plan = _update_plan(files, target, memo)
        if plan is not None:
            return _stage_update(plan, target, memo, stage)
    return _stage_tree(files, target, memo, stage)


def _new_staging(target: Path) -> Path:
    """A new, empty staging folder beside `target`."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))


def _stage_tree(
    files: Mapping[str, Content | Deferred], target: Path, memo: OutputMemo | None, stage: Placer
) -> Prepared:
    """Write a whole new tree beside `target`, to be swapped in (each path as text: no path
    object made for each file)."""
    staging = _new_staging(target)
    had_tree = target.is_dir()  # else no file of it to compare with, nor to stat
    base, old = f"{staging}/", f"{target}/"
    written: dict[str, os.stat_result] = {}
    try:
        folders: set[Path] = set()  # made here, for the files linked
        placed: set[str] = set()  # made, or to be made by a file staged before
        todo = [
            (
                relative,
                Placing(
                    content,
                    base + relative,
                    Path(old + relative) if had_tree else None,
                    folders_to_make(staging, relative, placed),
                ),
            )
            for relative, content in files.items()
            if not _kept(staging, relative, content, target, memo, folders)
        ]
        placings = [placing for _, placing in todo]
        for (relative, placing), status in zip(todo, stage(placings), strict=True):
            content = placing.content
            written[relative] = status
            if memo is not None and isinstance(content, Deferred) and content.key is not None:
                memo.record(relative, content.key, placing.path, file_stamp(status))
        set_mode(staging)  # what is made in it is created with its mode
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    entry = {"kind": "swap", "folder": target.name, "staging": staging.name}
    places: dict[str, Path | str] = {relative: base + relative for relative in files}
    return Prepared(entry, staging, lambda: None, places, written=None if had_tree else written)


def _kept(
    staging: Path,
    relative: str,
    content: Content | Deferred,
    target: Path,
    memo: OutputMemo | None,
    folders: set[Path],
) -> bool:
    """Link the previous build's file when the memo vouches for it; whether it was."""
    key = content.key if isinstance(content, Deferred) else None
    if memo is None or key is None or not memo.holds(relative, key, f"{target}/{relative}"):
        return False
    path = _folder_made(staging / relative, folders)
    if not linked(target / relative, path):
        return False
    memo.record(relative, key, path)
    return True


def _folder_made(path: Path, folders: set[Path]) -> Path:
    """`path`, once its folder exists (each folder created once per tree)."""
    if path.parent not in folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        folders.add(path.parent)
    return path


def add_files(files: Mapping[str, Content], target: Path) -> None:
    """Add `files` to the folder `target` (made if missing), its other files left alone, in
    one commit through the journal, so a crash leaves all of them or none (the caller holds
    the build lock). The next build's commit keeps them only if it makes them too."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_commit(parent)
    remove_leftovers(parent, [target.name])
    writes = [(checked_path(relative), content) for relative, content in files.items()]
    done = _stage_update(UpdatePlan(writes, [], []), target, None, placed_in_turn)
    journal = {"changes": [done.entry]}
    try:
        write_journal(parent, journal)
    except BaseException:
        shutil.rmtree(done.staging, ignore_errors=True)
        raise
    replay(parent, journal)


# --- Updating a tree in place ----------------------------------------------------------


class UpdatePlan(msgspec.Struct, frozen=True):
    """What turns the previous tree into the new one: files to write, kept, and removed."""

    writes: list[tuple[str, Content | Deferred]]
    kept: list[str]  # each file the memo vouched for
    removes: list[str]
    # given as content, the same as before
    unchanged: list[str] = msgspec.field(default_factory=list)
    listed: Listing | None = None  # the previous tree

    @property
    def kept_in_place(self) -> list[str]:
        """Every file the update leaves as it is."""
        return self.kept + self.unchanged


def _update_plan(
    new_files: Mapping[str, Content | Deferred], target: Path, memo: OutputMemo
) -> UpdatePlan | None:
    """The plan, or None when a path changes between file and folder (then swap a new tree)."""
    listed = listings.listed(target, memo.listing)
    old_files, old_folders = listed.files, listed.folders
    new_folders = folders_of(new_files)
    if not new_files.keys().isdisjoint(old_folders | new_folders) or not new_folders.isdisjoint(
        old_files
    ):
        return None
    writes, kept, unchanged = [], [], []
    base = str(target)
    for relative, content in new_files.items():
        key = content.key if isinstance(content, Deferred) else None
        path = f"{base}/{relative}"
        if key is not None and memo.holds(relative, key, path, listed.status.get(path)):
            kept.append(relative)
        elif isinstance(content, Deferred) or not holds_bytes(target / relative, as_bytes(content)):
            writes.append((relative, content))
        else:
            unchanged.append(relative)
    return UpdatePlan(writes, kept, sorted(old_files - new_files.keys()), unchanged, listed)


def _stage_update(
    plan: UpdatePlan, target: Path, memo: OutputMemo | None, stage: Placer
) -> Prepared:
    """Stage the changed files beside the tree, to be moved in when the journal commits."""
    staging = _new_staging(target)
    base = f"{target}/"  # no path object per file left in place
    places: dict[str, Path | str] = {relative: base + relative for relative in plan.kept_in_place}
    stamps: dict[str, FileStamp] = {}  # a move keeps the inode, size and time
    try:
        placings = [
            Placing(content, staging / str(number))
            for number, (_, content) in enumerate(plan.writes)
        ]
        for (relative, _), placing, status in zip(
            plan.writes, placings, stage(placings), strict=True
        ):
            places[relative], stamps[relative] = placing.path, file_stamp(status)
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

    def after_commit() -> None:
        if memo is None:
            return
        memo.keep_vouched(plan.kept)
        for relative, content in plan.writes:
            if isinstance(content, Deferred) and content.key is not None:
                memo.record(relative, content.key, target / relative, stamps[relative])

    return Prepared(entry, staging, after_commit, places, plan.listed)

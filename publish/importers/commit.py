"""An import written whole or not at all: every new file is staged in a hidden folder
inside the site, the readers are merged in one database transaction, and only then are the
files moved into place and `releases.toml` replaced; a failure on the way undoes what was
done, so the site is left as it was. The staging folder is named with the import's process
id, so the next import clears the folder of one that was killed."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext, suppress
from pathlib import Path

import msgspec

from publish.content.releasefile import releases_file_path
from publish.state import db
from publish.state.imports import ImportPlan, ImportReport, merge_plan
from publish.support.atomic import write_atomically
from publish.support.testhooks import crash_at, hold_at

STAGING_PREFIX = ".publish-import-"
# os.link's errors where the filesystem cannot link the staged file: another filesystem,
# one without hard links (FAT, some network and FUSE ones), or too many links already
NO_HARD_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK})


class Changes(msgspec.Struct):
    """Everything one import writes: new files (relative path to bytes), the new
    `releases.toml` (None: unchanged) and the subscriber files to merge, by name."""

    files: dict[str, bytes] = msgspec.field(default_factory=dict)
    releases: bytes | None = None
    readers: list[tuple[str, ImportPlan]] = msgspec.field(default_factory=list)

    def add(self, path: str, content: bytes) -> bool:
        """Plan a new file; False (and nothing planned) when it is planned already."""
        if path in self.files:
            return False
        self.files[path] = content
        return True


def commit(root: Path, changes: Changes, database: Path) -> list[tuple[str, ImportReport]]:
    """Write every change, or none: the site is left as it was when anything fails.
    Returns what each subscriber file did."""
    clear_stale_staging(root)
    with _staged(root, changes.files) as staged, _connection(database, changes) as connection:
        hold_at("import-staged")
        crash_at("import-staged")
        undo = _Undo(root, _old_text(releases_file_path(root)))
        try:
            with db.transaction(connection) if connection is not None else nullcontext():
                merged = [(name, merge_plan(connection, plan)) for name, plan in changes.readers]
                for relative, source in staged.items():
                    undo.place(source, root / relative)
                if changes.releases is not None:
                    undo.replaced_releases = True
                    write_atomically(releases_file_path(root), changes.releases)
        except BaseException:  # the transaction is rolled back already
            undo.run()
            raise
        return merged


def clear_stale_staging(root: Path) -> None:
    """Remove the staging folders of imports that were killed on the way (their process is
    gone); one whose process still runs, or that names none, is left alone."""
    for folder in root.glob(f"{STAGING_PREFIX}*"):
        owner = folder.name.removeprefix(STAGING_PREFIX).partition("-")[0]
        if folder.is_dir() and owner.isdigit() and int(owner) > 0 and not _running(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether a process with this id exists (one of another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _staged(root: Path, files: dict[str, bytes]) -> Iterator[dict[str, Path]]:
    """Each new file written under a hidden staging folder in the site; the folder goes
    when the import is done, whatever happened."""
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=root))
    try:
        staged = {}
        for relative, content in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            staged[relative] = path
        yield staged
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _connection(database: Path, changes: Changes) -> Iterator[sqlite3.Connection | None]:
    """The state database when there are readers to merge, else None."""
    if not changes.readers:
        yield None
        return
    with closing(db.connect(database)) as connection:
        yield connection


class _Undo:
    """What a commit did so far, to take back when a later step fails."""

    def __init__(self, root: Path, old_releases: bytes | None):
        self.root, self.old_releases = root, old_releases
        self.linked: list[Path] = []
        self.folders: list[Path] = []
        self.replaced_releases = False

    def place(self, source: Path, target: Path) -> None:
        """Put a staged file in place, never replacing a file that appeared since the import
        looked: a hard link, or a copy where the target's filesystem has none (or is
        another one, through a symbolic link)."""
        missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        self.folders += missing
        try:
            os.link(source, target)
        except OSError as exc:
            if exc.errno not in NO_HARD_LINK:
                raise
            with open(target, "xb") as copy, open(source, "rb") as staged:
                self.linked.append(target)  # a copy cut short is taken back too
                shutil.copyfileobj(staged, copy)
            return
        self.linked.append(target)

    def run(self) -> None:
        """Remove the files put in place and the folders made for them; restore the
        releases file. The first failure is the one reported, so these stay quiet."""
        for path in self.linked:
            path.unlink(missing_ok=True)
        for folder in sorted(set(self.folders), key=lambda p: len(p.parts), reverse=True):
            with suppress(OSError):
                folder.rmdir()
        if not self.replaced_releases:
            return
        path = releases_file_path(self.root)
        with suppress(OSError):
            if self.old_releases is None:
                path.unlink(missing_ok=True)
            else:
                write_atomically(path, self.old_releases)


def _old_text(path: Path) -> bytes | None:
    """A file's bytes, or None when there is none."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None

"""The exclusive-lock helpers: a `flock` on a lock file or a folder, refused at once when held."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from publish.errors import PublishError

SITE_BUSY = "a `publish run` or a `publish import` is in progress; try again when it has finished"
LOCK_NAME = ".lock"  # the build lock's file, in the build folder (or the preview's)


@contextmanager
def exclusive_lock(path: Path, message: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created, with its folder, if missing).

    Another process holding it gets PublishError at `path` saying `message` at once: a lock
    here guards work that must never overlap, so waiting would only hide the clash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError.single(str(path), 1, 1, message) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def folder_lock(folder: Path, message: str) -> Iterator[None]:
    """Hold an exclusive lock on a folder that exists, creating nothing in it (a site's root,
    which `publish run` and `publish import` both lock before they read `releases.toml`).

    Another process holding it gets PublishError at `folder` saying `message` at once.
    """
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError.single(str(folder), 1, 1, message) from None
        yield
    finally:
        os.close(descriptor)  # closing the only descriptor lets go of the lock


def build_lock(build_dir: Path) -> AbstractContextManager[None]:
    """Hold the site's build lock (`build/.lock`), or fail at once if a build holds it."""
    return exclusive_lock(
        build_dir / LOCK_NAME,
        "another build is running in this site (it "
        "holds this lock file); wait for it to finish, then build again",
    )

"""The one exclusive-lock helper: a `flock` on a lock file, refused at once when held."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from publish.errors import PublishError


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

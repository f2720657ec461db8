"""The one advisory-lock helper: hold a file's exclusive `flock`, or fail at once if held."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from publish.errors import PublishError


@contextmanager
def exclusive_lock(path: Path, message: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block; a PublishError
    naming `path` with `message` at once if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError.single(str(path), 1, 1, message) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

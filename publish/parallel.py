"""Worker processes: whether forking is safe, how many workers, a forked pool whose workers
die with their parent, and the test hook that holds a process at a named step."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

MAX_WORKERS = 8  # forked workers at most, however many cores


def can_fork() -> bool:
    """Whether worker processes can be forked safely: a POSIX system and no other threads
    (a thread holding a lock at the fork would leave it held forever in the worker)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and os.name == "posix"
        and threading.active_count() == 1
    )


def fork_workers(tasks: int, threshold: int) -> int:
    """How many forked workers to share `tasks` among: 0 (work in this process) below
    `threshold`, on a single core, or when forking is not safe."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    return workers if tasks >= threshold and workers >= 2 and can_fork() else 0


def forked_pool(
    workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> ProcessPoolExecutor:
    """A pool of `workers` forked processes (they inherit the loaded site, not a pickle);
    each worker dies with the process that forked it, however that process ends."""
    from concurrent.futures import ProcessPoolExecutor  # loaded only when there is much to do

    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_forked_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _start_forked_worker(
    parent: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> None:
    """In a new worker: ask the kernel to kill it when its parent dies, leave at once if the
    parent already died (before the request was made), then run the pool's initializer."""
    die_with_parent()
    if os.getppid() != parent:
        os._exit(1)
    hold_for_test("worker")
    initializer(*initargs)


def die_with_parent() -> None:
    """Have the kernel send SIGKILL to this process when its parent ends (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


HOLD_ENV = "PUBLISH_TEST_HOLD_AT"  # test hook: "step" or "step:seconds" (see `hold_for_test`)


def hold_for_test(step: str) -> None:
    """Test hook: with PUBLISH_TEST_HOLD_AT=`step` (or `step:seconds`), say so on stderr
    and wait there 60 seconds (or as many as given), so a test can kill the build at
    exactly that moment or see which processes reached it. Does nothing otherwise."""
    name, _, seconds = os.environ.get(HOLD_ENV, "").partition(":")
    if name == step:
        os.write(2, f"holding at {step} in process {os.getpid()}\n".encode())
        time.sleep(float(seconds or 60))

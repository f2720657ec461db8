"""Worker processes: whether forking is safe, how many workers, a forked pool whose workers
die with their parent (a test may hold each at the point `worker`, see publish.support.testhooks),
and values made in order by forked workers."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

from publish.errors import Problem, PublishError
from publish.support.testhooks import hold_at

MAX_WORKERS = 8  # forked workers at most, however many cores
RUNS_AHEAD = 4  # runs a worker makes ahead of what the caller has taken


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
    gc.freeze()  # what the workers inherit stays shared: their collector never writes to it
    return _pool_class()(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_forked_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


@functools.cache
def _pool_class() -> type[ProcessPoolExecutor]:
    """The pool of `forked_pool` (its module loaded only when there is much to do)."""
    from concurrent.futures import ProcessPoolExecutor

    class FrozenParentPool(ProcessPoolExecutor):
        """A pool forked with the parent's objects frozen (`gc.freeze`), so each worker's
        garbage collector leaves their pages shared; shutting it down unfreezes them, so a
        long-lived parent (`publish serve`) collects them again."""

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            try:
                super().shutdown(wait, cancel_futures=cancel_futures)
            finally:
                gc.unfreeze()

    return FrozenParentPool


def in_forked_runs(
    values: Sequence[Any], make: Callable[[Any], Any], workers: int, run: int
) -> Iterator[Any]:
    """`make(value)` for each value, in order, made by `workers` forked processes (which
    inherit `values` and `make`, never pickled), each task a run of `run` neighbouring values.
    At most `RUNS_AHEAD` runs a worker are made ahead of what the caller has taken, so the
    parent's memory stays flat however fast the workers are; a PublishError raised while
    making is raised here, with its problems."""
    with forked_pool(workers, _start_runs, (values, make)) as pool:
        ahead: deque[Future[list[Any] | PublishError]] = deque()
        for start in range(0, len(values), run):
            ahead.append(pool.submit(_make_run, start, run))
            if len(ahead) >= workers * RUNS_AHEAD:
                yield from _taken(ahead.popleft())
        while ahead:
            yield from _taken(ahead.popleft())


def _taken(future: Future[list[Any] | PublishError]) -> list[Any]:
    """What one run made, or its PublishError raised."""
    made = future.result()
    if isinstance(made, PublishError):
        raise PublishError(made.problems)
    return made


_runs: tuple[Sequence[Any], Callable[[Any], Any]] = ((), repr)  # a worker's values and maker


def _start_runs(values: Sequence[Any], make: Callable[[Any], Any]) -> None:
    """Give a forked worker the values it makes and how (inherited, not pickled)."""
    global _runs
    _runs = (values, make)


def _make_run(start: int, length: int) -> list[Any] | PublishError:
    """Make the values `start` to `start + length` in a worker; a PublishError comes back
    as a value, since its problems would not survive pickling as an exception."""
    values, make = _runs
    try:
        return [make(value) for value in values[start : start + length]]
    except PublishError as exc:
        return _ProblemsCarrier(exc.problems)


class _ProblemsCarrier(PublishError):
    """A PublishError that pickles (it is rebuilt from its problems)."""

    def __reduce__(self) -> tuple[type, tuple[list[Problem]]]:
        return (_ProblemsCarrier, (self.problems,))


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _start_forked_worker(
    parent: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> None:
    """In a new worker: ask the kernel to kill it when its parent dies, leave at once if the
    parent already died (before the request was made), then run the pool's initializer."""
    die_with_parent()
    if os.getppid() != parent:
        os._exit(1)
    hold_at("worker")
    initializer(*initargs)


def die_with_parent() -> None:
    """Have the kernel send SIGKILL to this process when its parent ends (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

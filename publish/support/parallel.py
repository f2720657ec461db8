"""Worker processes: whether forking is safe, how many workers, a forked pool whose workers
die with their parent (a test may hold each at the point `worker`, see publish.support.testhooks),
and values made in order by forked workers.

`in_forked_runs` (the build's parse and render) forks its workers itself, each with two pipes,
rather than starting a `ProcessPoolExecutor`: it needs no thread, queue or pickled call, so it
starts and ends in a fraction of the pool's time (measured on a 1,000-essay build's heap: 3 ms
of wall and 5 ms of CPU against 12 and 20), twice in every cold build. The process that forks
them makes runs too (`workers_beside`: one worker fewer than the cores), so that no core is
left to a process that only waits, and one worker fewer is forked: each costs CPU of its own
(the pages it writes are copied, its caches start cold) that making the same values in the
process that already holds them does not."""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import hmac
import itertools
import os
import pickle
import select
import signal
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

from publish.errors import PublishError
from publish.support.testhooks import hold_at

MAX_WORKERS = 8  # forked workers at most, however many cores
RUNS_AHEAD = 4  # runs a worker makes ahead of what the caller has taken


def can_fork() -> bool:
    """Whether worker processes can be forked safely: a POSIX system and no other threads
    (a thread holding a lock at the fork would leave it held forever in the worker)."""
    return hasattr(os, "fork") and os.name == "posix" and threading.active_count() == 1


def fork_workers(tasks: int, threshold: int) -> int:
    """How many forked workers to share `tasks` among: 0 (work in this process) below
    `threshold`, on a single core, or when forking is not safe."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    return workers if tasks >= threshold and workers >= 2 and can_fork() else 0


def workers_beside(tasks: int, threshold: int) -> int:
    """How many workers to fork beside this process, which makes runs too (see
    `in_forked_runs`): one fewer than `fork_workers` would fork (none where it forks none)."""
    workers = fork_workers(tasks, threshold)
    return workers - 1 if workers else 0


def forked_pool(
    workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> ProcessPoolExecutor:
    """A pool of `workers` forked processes (they inherit the loaded site, not a pickle);
    each worker dies with the process that forked it, however that process ends."""
    import multiprocessing

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
    values: Sequence[Any],
    make: Callable[[Any], Any],
    workers: int,
    run: int | Sequence[int],
    ahead: int | None = RUNS_AHEAD,
    meanwhile: Sequence[Callable[[], object]] = (),
    here: Callable[[Any], Any] | None = None,
    hold: int = 1,
) -> Iterator[Any]:
    """`make(value)` for each value, in order, made by `workers` forked processes (which
    inherit `values` and `make`, never pickled), each task a run of `run` neighbouring values
    (or runs of the lengths `run` gives, in order). Each worker is handed its next run as it
    finishes one, so a long run holds up no other worker; at most `ahead` of the longest
    runs a participant are made beyond what the caller has taken (None: no bound, for results
    as small as a file's stamp), so the parent's memory stays flat however fast the workers
    are. The steps of `meanwhile` are taken here, one at a time whenever no worker waits for
    its next run, while the workers make theirs (what the parent would otherwise do after
    them, alone); then, with `here` (this process's own maker of one value, giving what
    `make` gives or its equal), this process makes the next run itself whenever no reply
    waits. Each worker holds up to `hold` runs (the one it makes and those handed to it
    ahead), one more while steps are left: one, where a run may wait for others (a page
    made once the rest are), so that none waits behind a long one; two, where values weigh
    alike and none waits for another (the parse), so that a worker never waits for this
    process to end a value of its own before it is handed its next run. A PublishError
    raised while making is raised here, with its problems; a worker that dies (killed -9)
    is a ChildProcessError, never a wait without end."""
    lengths = _run_lengths(len(values), run)
    if not lengths:
        return
    participants = workers + (here is not None)
    window = None if ahead is None else participants * ahead * max(lengths)
    team = _Team(workers, values, make)
    try:
        yield from team.runs(lengths, window, meanwhile, here, hold)
    finally:
        team.end()


def _run_lengths(count: int, run: int | Sequence[int]) -> list[int]:
    """The length of each run of `count` values: `run` each (the last one shorter), or as
    given (they must add up to `count`)."""
    if isinstance(run, int):
        return [min(run, count - start) for start in range(0, count, max(1, run))]
    if sum(run) != count or any(length < 1 for length in run):
        raise ValueError("the runs' lengths must be positive and add up to the values")
    return list(run)


def weighed_runs(weights: Sequence[int], workers: int, longest: int) -> list[int]:
    """The lengths of runs of neighbouring tasks of these weights for `workers`: a run ends
    once its tasks weigh `longest` together (a task that weighs as much is a run of its own)
    and, toward the end, once they weigh a quarter of what is left a worker, so that the
    workers end together, none left making a long last run while the others wait."""
    runs, length, weight, left = [], 0, 0, sum(weights)
    for task_weight in weights:
        length, weight = length + 1, weight + task_weight
        if weight >= max(1, min(longest, left // (workers * 4))):
            runs.append(length)
            left -= weight
            length = weight = 0
    return [*runs, length] if length else runs


HEADER = struct.Struct("<QQ")  # a task (start, length), or a reply's length (and 0)
SIGNATURE = "sha256"  # a reply's HMAC, under its team's key, before the reply's bytes
SIGNATURE_SIZE = 32


class _Worker:
    """One forked worker as the parent sees it: its process, the pipe it is handed runs on,
    the pipe its results come back on, and the numbers of the runs it holds, oldest first
    (one at a time once the parent is free to answer: a run handed ahead to a busy worker
    could wait behind a long one; two while the parent takes its own steps, so that a worker
    done with a run starts its next at once rather than waiting for the step to end)."""

    def __init__(self, pid: int, tasks: int, results: int):
        self.pid, self.tasks, self.results = pid, tasks, results
        self.runs: collections.deque[int] = collections.deque()


class _OwnRun:
    """A run the process that forked the workers makes itself, one value at a time: its
    number, the index of its next value and of the value after its last, and what it made."""

    def __init__(self, number: int, start: int, length: int):
        self.number, self.next, self.end = number, start, start + length
        self.made: list[Any] = []


class _Team:
    """The forked workers of one `in_forked_runs`: forked at once, each handed runs through
    a pipe of its own and answering through another (a pickled list of what it made, or the
    problems it met); ended when the runs are done, killed if the caller stops early."""

    def __init__(self, workers: int, values: Sequence[Any], make: Callable[[Any], Any]):
        _prctl()  # loaded here, once, rather than in every worker
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # what is buffered is written once, not once more by a worker
        gc.freeze()  # what the workers inherit stays shared: their collector never writes to it
        self.values = values
        self.key = os.urandom(32)  # signs every reply: known only to this team's processes
        self.members: list[_Worker] = []
        try:
            for _ in range(workers):
                self.members.append(self._fork(values, make))
        except BaseException:
            self.end(kill=True)
            raise

    def _fork(self, values: Sequence[Any], make: Callable[[Any], Any]) -> _Worker:
        """Fork one worker, which makes the runs it is handed until its pipe closes."""
        tasks_read, tasks_write = os.pipe()
        results_read, results_write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: it never returns from here
            code = 1
            try:
                for member in self.members:  # so the parent sees a dead worker's pipe close
                    os.close(member.tasks)
                    os.close(member.results)
                os.close(tasks_write)
                os.close(results_read)
                die_with_parent()
                if os.getppid() == parent:
                    hold_at("worker")
                    _serve(tasks_read, results_write, values, make, self.key)
                    code = 0
            finally:
                os._exit(code)
        os.close(tasks_read)
        os.close(results_write)
        return _Worker(pid, tasks_write, results_read)

    def runs(
        self,
        lengths: Sequence[int],
        window: int | None,
        meanwhile: Sequence[Callable[[], object]] = (),
        here: Callable[[Any], Any] | None = None,
        hold: int = 1,
    ) -> Iterator[Any]:
        """What each run made, in order, the runs handed out as workers become free (no
        more than `window` values made or in hand beyond what the caller has taken), each
        worker holding up to `hold` runs; each step of `meanwhile` taken when no reply is
        waiting (while steps are left, each worker holds a run more, so that it never waits
        for a step to end); then, with `here`, the next run made here one value at a time,
        the workers' replies answered between two values."""
        steps = list(reversed(meanwhile))  # taken from the end: the first step first
        starts = [0, *itertools.accumulate(lengths[:-1])]
        made: dict[int, list[Any]] = {}
        handed = taken = held = 0  # runs handed out and taken; values made or in hand
        own: _OwnRun | None = None  # the run this process is making, if any
        by_pipe = {member.results: member for member in self.members}
        poller = select.poll()
        for member in self.members:
            poller.register(member.results, select.POLLIN)
        while True:
            while taken in made:
                yield from made.pop(taken)
                held -= lengths[taken]
                taken += 1
            if taken == len(lengths):
                while steps:  # what the workers left no time for
                    steps.pop()()
                return
            room = handed < len(lengths) and (
                window is None or held == 0 or held + lengths[handed] <= window
            )
            for depth in range(1, hold + (2 if steps else 1)):
                for member in self.members:
                    if len(member.runs) < depth and room:
                        self._hand(member, handed, starts[handed], lengths[handed])
                        held += lengths[handed]
                        handed += 1
                        room = handed < len(lengths) and (
                            window is None or held + lengths[handed] <= window
                        )
            if here is not None and not steps and own is None and room:
                own = _OwnRun(handed, starts[handed], lengths[handed])
                held += lengths[handed]
                handed += 1
            ready = poller.poll(0 if steps or own else None)
            if ready:
                for descriptor, _ in ready:
                    member = by_pipe[descriptor]
                    made[member.runs[0]] = self._reply(member)
                    member.runs.popleft()
            elif steps:
                steps.pop()()
            elif own is not None and here is not None:  # one value of the run made here
                own.made.append(here(self.values[own.next]))
                own.next += 1
                if own.next == own.end:
                    made[own.number] = own.made
                    own = None

    def _hand(self, member: _Worker, number: int, start: int, length: int) -> None:
        """Hand a worker a run (a ChildProcessError if it has died)."""
        try:
            os.write(member.tasks, HEADER.pack(start, length))
        except BrokenPipeError:
            raise self._died(member) from None
        member.runs.append(number)

    def _reply(self, member: _Worker) -> list[Any]:
        """What a worker made of its oldest run; what it raised, raised here."""
        header = _read_exactly(member.results, HEADER.size)
        signature = _read_exactly(member.results, SIGNATURE_SIZE) if header else b""
        data = _read_exactly(member.results, HEADER.unpack(header)[0]) if signature else b""
        if not data:
            raise self._died(member)
        # Unpickled only once proven the worker's: these bytes come from the pipe this process
        # made for the worker it forked (os.pipe, never a file, a socket or a path another
        # process could open, and not inherited by a program a worker starts), and they are
        # signed with the key this team drew before forking, which never leaves its processes.
        if not hmac.compare_digest(signature, _signature(self.key, data)):
            raise ChildProcessError(
                "a worker's reply did not carry its team's signature and was not read; "
                "nothing was written: run the command again"
            )
        kind, found, *told = pickle.loads(data)
        if kind == "problems":
            raise PublishError(found)
        if kind == "raised":
            raise found from WorkerTraceback(told[0])
        return found

    def _died(self, member: _Worker) -> ChildProcessError:
        """The error of a worker that ended before its work was done (it is reaped)."""
        _, status = os.waitpid(member.pid, 0)
        member.pid = 0
        if os.WIFSIGNALED(status):
            how = f"killed by signal {os.WTERMSIG(status)}"
        else:
            how = f"exit status {os.waitstatus_to_exitcode(status)}"
        return ChildProcessError(
            f"a worker process ended before its work was done ({how}); nothing was written: "
            "run the command again (a worker the system killed may mean memory ran short)"
        )

    def end(self, kill: bool = False) -> None:
        """Close the workers' pipes (each then leaves) and reap them, killed first if they
        may still be working (the caller stopped early or a run failed)."""
        try:
            for member in self.members:
                if kill or member.runs:
                    with contextlib.suppress(ProcessLookupError):
                        if member.pid:
                            os.kill(member.pid, signal.SIGKILL)
                os.close(member.tasks)
            for member in self.members:
                if member.pid:
                    os.waitpid(member.pid, 0)
                os.close(member.results)
            self.members = []
        finally:
            gc.unfreeze()


class WorkerTraceback(Exception):
    """Where an exception raised in a worker was raised (the worker's traceback, as text)."""


def _serve(
    tasks: int, results: int, values: Sequence[Any], make: Callable[[Any], Any], key: bytes
) -> None:
    """In a worker: make each run handed over `tasks` and answer over `results` (signed with
    `key`), until the parent closes the pipe. A PublishError goes back as its problems; any
    other exception as itself (or, when it does not pickle, its text) with the worker's
    traceback."""
    while header := _read_exactly(tasks, HEADER.size):
        start, length = HEADER.unpack(header)
        try:
            reply: tuple[Any, ...] = ("made", [make(v) for v in values[start : start + length]])
        except PublishError as exc:
            reply = ("problems", exc.problems)
        except Exception as exc:  # any other failure: raised again in the parent
            reply = ("raised", exc, traceback.format_exc())
        try:
            data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # what does not pickle: its words do
            failure = RuntimeError(f"a worker's answer does not pickle: {exc!r}")
            data = pickle.dumps(("raised", failure, traceback.format_exc()))
        _write_all(results, HEADER.pack(len(data), 0) + _signature(key, data) + data)


def _signature(key: bytes, data: bytes) -> bytes:
    """The HMAC of a reply under its team's key."""
    return hmac.digest(key, data, SIGNATURE)


def _read_exactly(descriptor: int, size: int) -> bytes:
    """`size` bytes from a pipe, or b"" at its end (or when it ends early)."""
    chunks, left = [], size
    while left:
        chunk = os.read(descriptor, min(left, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(descriptor: int, data: bytes) -> None:
    """All of `data` written to a pipe."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


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
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """The C library's `prctl`, or None where there is none (loaded once: a parent that
    loads it before forking spares each worker the loading)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

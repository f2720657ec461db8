"""Forked workers: the parent's objects are frozen for them (`gc.freeze`), so a worker's
garbage collector never writes to the pages it shares with its parent, and thawed again in
the parent once the pool is shut down; a worker killed is an error, never a wait; a long run
in one worker holds up no other."""

from __future__ import annotations

import functools
import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import generate
from publish.cache.reading import PARALLEL_THRESHOLD as PARSE_THRESHOLD
from publish.errors import PublishError
from publish.support import parallel
from publish.support.parallel import (
    MAX_WORKERS,
    forked_pool,
    in_forked_runs,
    weighed_runs,
    workers_beside,
)
from publish.support.testhooks import HOLD, HOOK_ENV, hook_value


def _frozen_in_worker(_: object) -> int:
    return gc.get_freeze_count()


def _nothing() -> None:
    return None


def test_workers_inherit_the_parents_objects_frozen_and_the_parent_thaws_them() -> None:
    assert gc.get_freeze_count() == 0
    counts = list(in_forked_runs(list(range(8)), _frozen_in_worker, workers=2, run=2))
    assert len(counts) == 8 and min(counts) > 1000  # the whole loaded program, at least
    assert gc.get_freeze_count() == 0


def test_a_pool_shut_down_without_waiting_thaws_the_parent_too() -> None:
    pool = forked_pool(2, _nothing, ())
    assert pool.submit(_frozen_in_worker, None).result() > 1000
    pool.shutdown(wait=False, cancel_futures=True)
    assert gc.get_freeze_count() == 0


# --- Workers that die, fail or wait ---------------------------------------------------------


def _pid_or_killed(value: int) -> int:
    """The worker's process id; value 5 kills the worker making it, as `kill -9` would."""
    if value == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def test_a_worker_killed_mid_run_is_an_error_and_every_worker_is_reaped() -> None:
    seen: list[int] = []
    with pytest.raises(ChildProcessError, match="killed by signal 9"):
        seen.extend(in_forked_runs(list(range(40)), _pid_or_killed, workers=2, run=1))
    assert seen and os.getpid() not in seen, "made by workers until one was killed"
    for worker in set(seen):
        with pytest.raises(ChildProcessError):  # no such child: reaped, nothing left behind
            os.waitpid(worker, os.WNOHANG)
    assert gc.get_freeze_count() == 0


def _refused(value: int) -> int:
    if value == 3:
        raise PublishError.single("essays/three.md", 2, 5, "not this one")
    if value == 4:
        raise ValueError("a bug in a worker")
    return value


def test_what_a_worker_raises_comes_back_with_its_problems() -> None:
    with pytest.raises(PublishError) as raised:
        list(in_forked_runs(list(range(4)), _refused, workers=2, run=1))
    assert [p.format() for p in raised.value.problems] == [
        "essays/three.md:2:5: error: not this one"
    ]
    with pytest.raises(ValueError, match="a bug in a worker") as bug:
        list(in_forked_runs([0, 4], _refused, workers=2, run=1))
    assert "_refused" in str(bug.value.__cause__), "the worker's traceback"


def _waits_for_the_rest(folder: Path) -> Callable[[int], int]:
    """Value 0 is made only once every other value has been (each leaves a file in `folder`):
    a worker holding it waits while the others make the rest, however many runs they are."""

    def make(value: int) -> int:
        if value:
            (folder / str(value)).touch()
            return value
        deadline = time.monotonic() + 60
        while len(list(folder.iterdir())) < COUNT - 1:
            assert time.monotonic() < deadline, "the other workers were never handed the rest"
            time.sleep(0.01)
        return value

    return make


COUNT = 64


def test_a_long_run_holds_up_no_other_worker_when_results_are_small(tmp_path: Path) -> None:
    runs = [1, *[3] * ((COUNT - 1) // 3)]  # the waiting value alone, then 21 runs of three
    made = list(in_forked_runs(list(range(COUNT)), _waits_for_the_rest(tmp_path), 2, runs, None))
    assert made == list(range(COUNT)), "in order, although made out of it"


def test_runs_of_given_lengths_are_made_in_order() -> None:
    made = list(in_forked_runs(list(range(10)), _doubled, 2, [1, 1, 5, 3]))
    assert made == [v * 2 for v in range(10)]
    with pytest.raises(ValueError):
        list(in_forked_runs(list(range(10)), _doubled, 2, [4, 4]))


def _doubled(value: int) -> int:
    return value * 2


def _now_and_then_slow(value: int) -> tuple[int, int]:
    """Three times the value, and the worker that made it; every seventh a little slower, so
    the workers finish out of order."""
    if value % 7 == 0:
        time.sleep(0.001)
    return value * 3, os.getpid()


@st.composite
def _runs(draw: st.DrawFn) -> list[int]:
    """Run lengths of up to 80 values, each 1 to 12."""
    return draw(st.lists(st.integers(1, 12), min_size=1, max_size=12))


@given(
    runs=_runs(),
    ahead=st.sampled_from([None, 1, 2, 4]),
    workers=st.sampled_from([1, 2, 3]),
    parent_too=st.booleans(),
    hold=st.sampled_from([1, 2, 3]),
)
@settings(max_examples=25)
def test_whatever_the_runs_and_the_bound_every_value_comes_back_in_order(
    runs: list[int], ahead: int | None, workers: int, parent_too: bool, hold: int
) -> None:
    """Made by the workers alone or with the calling process (`here`), in any runs, each
    worker holding up to `hold` of them."""
    values = list(range(sum(runs)))
    descriptors = len(os.listdir("/proc/self/fd"))
    here = _now_and_then_slow if parent_too else None
    made = list(
        in_forked_runs(values, _now_and_then_slow, workers, runs, ahead, here=here, hold=hold)
    )
    assert [value for value, _ in made] == [value * 3 for value in values]
    stopped = in_forked_runs(values, _now_and_then_slow, workers, runs, ahead)
    first = next(stopped)
    stopped.close()  # the caller stops early: the workers are killed and reaped
    assert first[0] == 0
    assert len(os.listdir("/proc/self/fd")) == descriptors, "every pipe closed"
    for worker in ({pid for _, pid in made} | {first[1]}) - {os.getpid()}:
        with pytest.raises(ChildProcessError):  # no such child: reaped, nothing left behind
            os.waitpid(worker, os.WNOHANG)


def test_the_calling_process_makes_runs_too_once_its_steps_are_taken() -> None:
    """With `here`, the process that forked the worker makes runs of its own (so that a
    machine of two cores forks one worker, and neither core waits), but only once every
    step of `meanwhile` is taken; what each made comes back in order all the same."""
    stepped: list[int] = []

    def step() -> None:
        stepped.append(os.getpid())

    values = list(range(60))
    made = list(
        in_forked_runs(values, _now_and_then_slow, 1, 3, None, [step, step], _now_and_then_slow)
    )
    assert [value for value, _ in made] == [value * 3 for value in values]
    makers = [pid for _, pid in made]
    assert os.getpid() in makers, "the calling process made runs"
    assert len(set(makers)) == 2, "and the worker made the others"
    assert stepped == [os.getpid(), os.getpid()]


def _made_then_told(told: Path, value: int) -> tuple[int, int]:
    """In the worker: the value made, and a line added to `told` for it."""
    with told.open("a") as lines:
        lines.write(f"{value}\n")
    return value, os.getpid()


def _made_once_the_worker_made_two(told: Path, value: int) -> tuple[int, int]:
    """In the calling process: its first value made only once the worker has made two
    (a ChildProcessError-free failure, not a wait without end, if it never does)."""
    deadline = time.monotonic() + 20
    while len(told.read_text().split()) < 2:
        if time.monotonic() > deadline:
            raise AssertionError("the worker made fewer than two values: it held one run")
        time.sleep(0.005)
    return value, os.getpid()


def test_a_worker_holding_two_runs_never_waits_for_the_caller_to_hand_it_the_next(
    tmp_path: Path,
) -> None:
    """With `hold=2` a worker is handed its next run before it ends the one it makes, so it
    never waits while the calling process makes a value of its own (what the parse does:
    its essays weigh alike, and no value waits for another); with one run held it would."""
    told = tmp_path / "told"
    told.write_text("")
    made = list(
        in_forked_runs(
            list(range(6)),
            functools.partial(_made_then_told, told),
            1,
            1,
            None,
            here=functools.partial(_made_once_the_worker_made_two, told),
            hold=2,
        )
    )
    assert [value for value, _ in made] == list(range(6))
    assert len({pid for _, pid in made}) == 2, "both processes made values"


def test_a_build_forks_one_worker_fewer_than_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "can_fork", lambda: True)  # other tests leave threads
    cores = min(os.cpu_count() or 1, MAX_WORKERS)
    assert workers_beside(10**6, 1) == (cores - 1 if cores >= 2 else 0)
    assert workers_beside(1, 2) == 0, "below the threshold nothing forks"


@given(
    weights=st.lists(st.integers(1, 60), max_size=300),
    workers=st.integers(2, 8),
    longest=st.integers(1, 48),
)
def test_runs_cover_every_task_and_taper_toward_the_end(
    weights: list[int], workers: int, longest: int
) -> None:
    runs = weighed_runs(weights, workers, longest)
    assert sum(runs) == len(weights) and all(length >= 1 for length in runs)
    starts = [sum(runs[:n]) for n in range(len(runs))]
    for start, length in zip(starts, runs, strict=True):
        before_last = sum(weights[start : start + length - 1])
        assert before_last < longest, "a run ends once it weighs `longest`"
    if len(runs) > 1:
        last = weights[starts[-1] :]
        assert sum(last[:-1]) < max(1, sum(last) // (workers * 4)) or len(last) == 1


def test_plain_tasks_go_in_long_runs_then_shorter_ones() -> None:
    runs = weighed_runs([1] * 1000, 2, 32)
    assert runs[:3] == [32, 32, 32] and runs[-1] == 1
    assert runs == sorted(runs, reverse=True)
    assert weighed_runs([1000, 1, 1, 50, *[1] * 60], 2, 48)[:3] == [1, 3, 7]  # alone, then tapering


def _waits_for_the_parent(marker: Path) -> Callable[[int], int]:
    """Value 0 is made only once the parent has left `marker` (or a failure after a minute)."""

    def make(value: int) -> int:
        deadline = time.monotonic() + 60
        while value == 0 and not marker.exists():
            assert time.monotonic() < deadline, "the parent did nothing while the workers worked"
            time.sleep(0.01)
        return value

    return make


def test_the_parent_does_its_own_work_while_the_workers_make_theirs(tmp_path: Path) -> None:
    marker = tmp_path / "done by the parent"
    made = in_forked_runs(
        list(range(6)), _waits_for_the_parent(marker), 2, 1, meanwhile=[marker.touch]
    )
    assert list(made) == list(range(6))


def test_the_parent_takes_in_what_its_workers_made_between_the_steps_of_its_own_work() -> None:
    """A worker done with a run is answered between two steps of the parent's own work, not
    after all of them: the first values come back while the parent still has steps to take
    (each step takes a tenth of a second here, the workers a moment)."""
    log: list[tuple[str, int]] = []
    steps = [functools.partial(_step, log, number) for number in range(10)]
    for value in in_forked_runs(list(range(8)), abs, 2, 1, meanwhile=steps):
        log.append(("value", value))
    assert [entry for entry in log if entry[0] == "step"] == [("step", n) for n in range(10)]
    assert [entry for entry in log if entry[0] == "value"] == [("value", n) for n in range(8)]
    assert log.index(("value", 0)) < log.index(("step", 9))


def _step(log: list[tuple[str, int]], number: int) -> None:
    """One step of the parent's own work: noted, then a tenth of a second of it."""
    log.append(("step", number))
    time.sleep(0.1)


def _noted(folder: Path, started: Path) -> Callable[[int], int]:
    """Each value made once the parent's step has `started`, noted by a file of its name in
    `folder`."""

    def make(value: int) -> int:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline, "the parent never took its step"
            time.sleep(0.01)
        (folder / str(value)).touch()
        return value

    return make


def _waits_for_values(folder: Path, started: Path, count: int) -> Callable[[], None]:
    """A step of the parent's own work, marked `started`, that lasts until `count` values are
    made (a failure after ten seconds)."""

    def step() -> None:
        started.touch()
        deadline = time.monotonic() + 10
        while len(list(folder.iterdir())) < count:
            assert time.monotonic() < deadline, "the workers waited for the parent's step"
            time.sleep(0.01)

    return step


def test_a_worker_done_with_a_run_starts_its_next_while_the_parent_takes_a_step(
    tmp_path: Path,
) -> None:
    """Each worker holds a run beyond the one it makes while the parent has steps to take:
    the second runs are made during the parent's one long step, not after it."""
    made_folder, started = tmp_path / "made", tmp_path / "step started"
    made_folder.mkdir()
    step = _waits_for_values(made_folder, started, 4)
    made = in_forked_runs(list(range(6)), _noted(made_folder, started), 2, 1, meanwhile=[step])
    assert list(made) == list(range(6))


def test_the_parent_takes_every_step_even_when_the_workers_finish_first() -> None:
    steps_taken: list[int] = []
    steps = [functools.partial(steps_taken.append, number) for number in range(50)]
    assert list(in_forked_runs([1, 2], abs, 2, 1, meanwhile=steps)) == [1, 2]
    assert steps_taken == list(range(50))


FORKED_BUILD = """
import sys
from datetime import date
from pathlib import Path
from publish.pipeline.build import BuildOptions, build
build(Path(sys.argv[1]), BuildOptions(today=date(2030, 1, 1)))
print(sorted(m for m in ("multiprocessing", "concurrent.futures") if m in sys.modules))
"""


def test_a_build_forks_its_workers_without_a_process_pool(tmp_path: Path) -> None:
    """Neither `multiprocessing` nor `concurrent.futures` is loaded (nor their threads and
    queues started) by a cold build, although it parses and renders in forked workers."""
    root = generate(PARSE_THRESHOLD + 12, tmp_path / "site")
    built = subprocess.run(
        [sys.executable, "-c", FORKED_BUILD, str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, HOOK_ENV: hook_value(HOLD, "worker", 0)},
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    forked = built.stderr.count("holding at worker in process ")
    assert forked == 2 * (min(os.cpu_count() or 1, MAX_WORKERS) - 1), "both phases forked"
    assert built.stdout.strip() == "[]"


def test_a_reply_without_its_teams_signature_is_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What comes back over a worker's pipe is unpickled only when it carries the HMAC of the
    key its team drew before forking: bytes signed otherwise (as a forger would, not knowing
    the key) are refused with a clear error, and pickle never sees them."""
    parent = os.getpid()
    real_signature = parallel._signature

    def forged(key: bytes, data: bytes) -> bytes:
        if os.getpid() != parent:  # the worker signs with a key of its own
            return real_signature(bytes(32), data)
        return real_signature(key, data)

    unpickled: list[bytes] = []
    real_loads = parallel.pickle.loads

    def loads(data: bytes) -> object:
        unpickled.append(data)
        return real_loads(data)

    monkeypatch.setattr(parallel, "_signature", forged)
    monkeypatch.setattr(parallel.pickle, "loads", loads)
    with pytest.raises(ChildProcessError, match="did not carry its team's signature"):
        list(in_forked_runs(list(range(8)), _now_and_then_slow, 1, 4))
    assert unpickled == []
    monkeypatch.undo()
    assert [v for v, _ in in_forked_runs(list(range(8)), _now_and_then_slow, 1, 4)] == [
        v * 3 for v in range(8)
    ]

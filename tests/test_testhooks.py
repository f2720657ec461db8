"""The test hooks: one variable, PUBLISH_TEST_HOOK, with one syntax (publish.support.testhooks)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from publish.support.testhooks import CRASH, HOLD, HOOK_ENV, hook_value

REPO = Path(__file__).resolve().parent.parent
PASSES = (
    "from publish.support.testhooks import crash_at, hold_at\n"
    "for n in range(1, 5):\n    {call}\n    print(n, flush=True)\n"
)


def run_points(call: str, hook: str | None) -> subprocess.CompletedProcess[str]:
    """A fresh Python process passing a hooked point four times, printing each pass."""
    env = {k: v for k, v in os.environ.items() if k != HOOK_ENV}
    if hook is not None:
        env[HOOK_ENV] = hook
    return subprocess.run(
        [sys.executable, "-c", PASSES.format(call=call)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_no_other_test_variable_is_read_or_set_anywhere() -> None:
    names = set()
    for folder in ("publish", "tests", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            names.update(re.findall(r"PUBLISH_TEST_[A-Z_]+", path.read_text(encoding="utf-8")))
    assert names == {HOOK_ENV}


@pytest.mark.parametrize(("passes", "printed"), [(None, "1"), (1, "1"), (3, "1 2 3")])
def test_a_crash_kills_the_process_once_the_point_is_passed_that_often(
    passes: int | None, printed: str
) -> None:
    wanted = int(printed[-1])
    done = run_points('crash_at("here")', hook_value(CRASH, "here", passes))
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == [str(n) for n in range(1, wanted)]


@pytest.mark.parametrize("hook", [None, "", "crash:elsewhere", "hold:here:0", "crash"])
def test_a_crash_elsewhere_or_unasked_changes_nothing(hook: str | None) -> None:
    done = run_points('crash_at("here")', hook)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "2", "3", "4"]


def test_a_crash_counts_several_passes_at_once() -> None:
    done = run_points('crash_at("claimed", 2)', hook_value(CRASH, "claimed", 5))
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["1", "2"]  # 2, 4, then 6 passes: the third call kills


def test_a_hold_says_where_and_in_which_process() -> None:
    done = run_points('hold_at("worker")', hook_value(HOLD, "worker", 0))
    assert done.returncode == 0, done.stderr
    said = done.stderr.splitlines()
    assert len(said) == 4 and all(
        re.fullmatch(r"holding at worker in process \d+", s) for s in said
    )
    assert run_points('hold_at("worker")', hook_value(CRASH, "worker", 0)).stderr == ""

"""`make mutation`: mutation testing of the modules that carry the promises (the send ledger,
the release records in the database and in `releases.toml`, the subscriber standing, the
schedule), mutating the SQL in their string literals too (bench/mutants.py makes the
mutants).

The repository is copied to a temporary folder first and only the copy is ever changed. For
each mutant the module's file in the copy is rewritten and a chosen, fast set of test files
runs against it (`pytest -x -q -p no:randomly` with the copy first on PYTHONPATH, so that the
tests' `python -m publish` subprocesses load the mutant too); a failing run kills the
mutant, a passing run lets it survive, a run past its time limit counts as a timeout (a
killed mutant, reported apart). The total time is bounded: past `--minutes` no new mutant
starts and the rest are reported as not run.

    python -m bench.mutation                                  # every module, 20 minutes
    python -m bench.mutation --module standing --sample 40    # 40 mutants, spread evenly
    python -m bench.mutation --list                           # the mutants, without running
    python -m bench.mutation --module standing --tests tests/test_standing.py  # quicker
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.mutants import Mutant, mutants

CHECKOUT = Path(__file__).resolve().parent.parent
# Each module, by a short name, and the test files that hold its promises (fast ones first:
# -x stops at the first failure).
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ledger": (
        "publish/state/ledger.py",
        (
            "tests/test_pace.py",
            "tests/test_stats.py",
            "tests/test_status.py",
            "tests/test_delivery.py",
            "tests/test_parallel_send.py",
        ),
    ),
    "releases": (
        "publish/state/releases.py",
        (
            "tests/test_status.py",
            "tests/test_schedule.py",
            "tests/test_run.py",
            "tests/test_releases.py",
        ),
    ),
    "releasefile": (
        "publish/content/releasefile.py",
        ("tests/test_schedule.py", "tests/test_releases.py"),
    ),
    "standing": (
        "publish/state/standing.py",
        ("tests/test_standing.py", "tests/test_bounces.py", "tests/test_webhooks.py"),
    ),
    "schedule": (
        "publish/schedule/slots.py",
        (
            "tests/test_promises.py",
            "tests/test_schedule.py",
            "tests/test_releases.py",
            "tests/test_cadence.py",
        ),
    ),
}
COPIED = ("publish", "tests", "bench", "docs", "essays", "footnotes", "templates")
COPIED_FILES = ("pyproject.toml", "publish.toml", "README.md", "Makefile")
SEED = 19


@dataclass
class Score:
    """What happened to one module's mutants."""

    killed: int = 0
    timeout: int = 0
    not_run: int = 0
    survivors: list[Mutant] = field(default_factory=list)

    @property
    def run(self) -> int:
        """How many mutants were tried."""
        return self.killed + self.timeout + len(self.survivors)

    def line(self, name: str, total: int) -> str:
        """One line of the summary table."""
        caught = self.killed + self.timeout
        percent = f"{100 * caught / self.run:.0f}%" if self.run else "-"
        return (
            f"{name:12} {percent:>5} killed {caught:>3}/{self.run:<3} "
            f"(timeouts {self.timeout}, survived {len(self.survivors)}, "
            f"not run {self.not_run}, of {total} mutants)"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the mutants of the chosen modules and print the scores and the survivors."""
    options = parse_arguments(argv)
    chosen = options.module or list(MODULES)
    if options.list:
        for name in chosen:
            path = MODULES[name][0]
            for mutant in sample(chosen_mutants(options.repo / path, options.line), options.sample):
                print(mutant.describe(path))
        return 0
    deadline = time.monotonic() + options.minutes * 60
    # a stop (kill, Ctrl-C) still removes the copy and the tests it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    scores: dict[str, tuple[Score, int]] = {}
    with tempfile.TemporaryDirectory(prefix="publish-mutation-") as folder:
        copy = make_copy(options.repo.resolve(), Path(folder) / "repo")
        for name in chosen:
            path, tests = MODULES[name]
            tests = tuple(options.tests or tests)
            found = sample(chosen_mutants(copy / path, options.line), options.sample)
            print(f"{name}: {len(found)} mutants of {path}, tests {' '.join(tests)}", flush=True)
            scores[name] = (run_module(copy, path, tests, found, deadline, options), len(found))
    report(scores)
    return 0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__)
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="repeatable")
    parser.add_argument("--minutes", type=float, default=20.0, help="total time (default 20)")
    parser.add_argument("--sample", type=int, default=0, help="at most N mutants per module")
    parser.add_argument("--repo", type=Path, default=CHECKOUT, help="the checkout to copy")
    parser.add_argument("--tests", nargs="+", help="run these test files instead of the map's")
    parser.add_argument("--line", type=int, action="append", help="only mutants on this line")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--verbose", action="store_true", help="print each mutant's fate")
    return parser.parse_args(argv)


def chosen_mutants(path: Path, lines: list[int] | None) -> list[Mutant]:
    """The mutants of one file, only those on `lines` when given."""
    return [m for m in mutants(path.read_text()) if not lines or m.line in lines]


def sample(found: list[Mutant], size: int) -> list[Mutant]:
    """At most `size` mutants spread evenly over the module (a fixed seed picks the offset)."""
    if size <= 0 or size >= len(found):
        return found
    step = len(found) / size
    offset = random.Random(SEED).random() * step
    return [found[int(offset + step * index)] for index in range(size)]


def make_copy(source: Path, target: Path) -> Path:
    """A copy of a checkout's code, tests and example site (the tools' folders linked)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {"__pycache__", ".cache", ".hypothesis"}
        if Path(folder) == source / "bench":
            skipped.add("work")
        return skipped & set(names)

    for name in COPIED:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, ignore=ignore)
    for name in COPIED_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    for name in (".venv", "node_modules"):
        tools = source / name if (source / name).exists() else CHECKOUT / name
        if tools.exists():
            (target / name).symlink_to(tools.resolve())
    return target


def run_module(
    copy: Path,
    path: str,
    tests: tuple[str, ...],
    found: list[Mutant],
    deadline: float,
    options: argparse.Namespace,
) -> Score:
    """Try each mutant of one module; the module's file is put back afterwards."""
    score = Score()
    target = copy / path
    original = target.read_text()
    started = time.monotonic()
    baseline = run_tests(copy, tests, timeout=max(60.0, deadline - started))
    if baseline != "passed":
        print(f"  the tests do not pass on the unmutated code ({baseline}): skipped", flush=True)
        score.not_run = len(found)
        return score
    limit = max(30.0, 3 * (time.monotonic() - started))
    try:
        for index, mutant in enumerate(found):
            if time.monotonic() + limit > deadline:
                score.not_run = len(found) - index
                break
            target.write_text(mutant.source)
            fate = run_tests(copy, tests, timeout=limit)
            if fate == "passed":
                score.survivors.append(mutant)
            elif fate == "timeout":
                score.timeout += 1
            else:
                score.killed += 1
            if options.verbose:
                print(f"  {fate:8} {mutant.describe(path)}", flush=True)
    finally:
        target.write_text(original)
    return score


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> str:
    """'passed', 'failed' or 'timeout': the test files run against the copy."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(copy),
        "PYTHONDONTWRITEBYTECODE": "1",  # a mutant of the same size must never reuse a .pyc
        "CI": "true",
        "HYPOTHESIS_PROFILE": "ci",
    }
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", *tests]
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    finally:  # past the time limit, or stopped: end the tests and what they started
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if code is None:
        return "timeout"
    return "passed" if code == 0 else "failed"


def report(scores: dict[str, tuple[Score, int]]) -> None:
    """The score of each module, then every survivor as `file:line: original → mutant`."""
    print("\nmodule       score")
    for name, (score, total) in scores.items():
        print(score.line(name, total))
    for name, (score, _) in scores.items():
        if score.survivors:
            print(f"\nsurvivors in {MODULES[name][0]}:")
            for mutant in score.survivors:
                print("  " + mutant.describe(MODULES[name][0]))


if __name__ == "__main__":
    sys.exit(main())

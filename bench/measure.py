"""Measuring one process: wall time, peak memory and CPU of a command, and the `publish`
command line the benchmarks run (shared by run, compare, warm and sending)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WORK_DIR = Path(__file__).parent / "work"
TODAY = "2030-01-01"


@dataclass(frozen=True)
class Measure:
    """One measured process: wall seconds, peak resident memory in MB, its exit status, and
    the CPU seconds it and the processes it forked used."""

    seconds: float
    peak_mb: float
    status: int
    output: str
    cpu: float = 0.0


def measure(
    command: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
) -> Measure:
    """Run a command in its own process; wall time and that process's peak RSS.

    Dirty pages of earlier runs are flushed first, so their write-back is not charged here.
    """
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = process.stdout.read().decode("utf-8", "replace") if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(seconds, usage.ru_maxrss / 1024, process.returncode, output, cpu)


def publish_command(root: Path, *args: str) -> list[str]:
    """The `publish` command line for a site, run by this interpreter."""
    return [sys.executable, "-m", "publish", "--root", str(root), *args]

"""Measuring one process: wall time, peak memory and CPU of a command, and the `publish`
command line the benchmarks run (shared by run, compare, warm and sending).

A forked worker's resident pages are mostly its parent's, shared, so adding up the RSS of a
process tree counts them again for every worker. With `tree=True` the tree's memory is
sampled as the sum of each process's proportional set size (PSS: a page shared by n
processes counts 1/n in each), which is what the processes together hold.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
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
    tree_peak_mb: float = 0.0  # the process and its workers together, at their largest (PSS)


def measure(
    command: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
    tree: bool = False,
) -> Measure:
    """Run a command in its own process; wall time and that process's peak RSS, and with
    `tree` the peak of its whole process tree's PSS, sampled (`TreeSampler`).

    Dirty pages of earlier runs are flushed first, so their write-back is not charged here.
    """
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    sampler = TreeSampler(process.pid) if tree else None
    output = process.stdout.read().decode("utf-8", "replace") if process.stdout else ""
    tree_peak = sampler.stop() if sampler else 0.0
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(seconds, usage.ru_maxrss / 1024, process.returncode, output, cpu, tree_peak)


class TreeSampler:
    """Samples, in a thread, the summed PSS of a process and all its descendants every
    `interval` seconds (Linux /proc); `stop()` gives the largest sum seen, in MB."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.peak_kb = max(self.peak_kb, sum(map(pss_kb, descendants(self.pid))))

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self.stopped.set()
        self.thread.join()
        return self.peak_kb / 1024


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue  # the thread or process ended while being read
    return found


def pss_kb(pid: int) -> int:
    """A process's proportional set size in kB (0 once it has ended)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def publish_command(root: Path, *args: str) -> list[str]:
    """The `publish` command line for a site, run by this interpreter (publish's bytecode
    compiled first, see `compile_publish`)."""
    compile_publish()
    return [sys.executable, "-m", "publish", "--root", str(root), *args]


@functools.cache
def compile_publish() -> None:
    """Compile publish's modules and its packaged templates once, and keep its code
    fingerprint, as installing a package does: with PYTHONDONTWRITEBYTECODE set (as in some
    shells and CI), a checkout's modules would otherwise be compiled again in every measured
    process (about 0.1 s each), its templates in every cold build (see
    `publish.outputs.templatecode`) and its fingerprint made from every module's bytes."""
    import compileall

    import publish
    from publish.cache.fingerprint import keep_code_fingerprint
    from publish.outputs.templates import compile_packaged_templates

    compileall.compile_dir(Path(publish.__file__).parent, quiet=1)
    compile_packaged_templates()
    keep_code_fingerprint()

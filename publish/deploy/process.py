"""Running the programs a deploy needs (rsync, ssh, git, a deploy command), with clear errors."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

import msgspec

from publish.deploy.target import failure, redact
from publish.model import DeploySettings

SHOWN_LINES = 20


class Finished(msgspec.Struct, frozen=True):
    """A program that exited 0: its output (stdout and stderr) as text."""

    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        """Every non-empty output line, stdout first."""
        return [line for line in (self.stdout + self.stderr).splitlines() if line.strip()]


def run(
    settings: DeploySettings,
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    shell: bool = False,
    stdin: str | None = None,
) -> Finished:
    """Run `argv` (no shell unless `shell`) in a process group of its own; raise the deploy
    failure if it cannot start, fails, or outlasts `deploy.timeout` (then the whole group,
    whatever the program started, is killed: a child left holding its output would
    otherwise keep the run waiting forever)."""
    try:
        process = subprocess.Popen(
            argv if not shell else argv[0],
            shell=shell,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise failure(
            settings, f"{what}: the program '{argv[0]}' is not installed (or not on PATH)"
        ) from None
    try:
        stdout, stderr = process.communicate(stdin, timeout=settings.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise failure(
            settings,
            f"{what} did not finish in {settings.timeout:g} seconds (deploy.timeout): "
            "it was stopped with every program it started",
        ) from None
    except BaseException:  # Ctrl-C or a kill of the run: its own session would outlive it
        _kill_group(process)
        raise
    if process.returncode != 0:
        output = [line for line in (stdout + stderr).splitlines() if line.strip()]
        tail = redact(" | ".join(output[-SHOWN_LINES:])) or "no output"
        raise failure(settings, f"{what} exited with status {process.returncode}: {tail}")
    return Finished(stdout, stderr)


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Kill a program's whole process group and reap it, without waiting on its pipes (a
    program that left the group may still hold them)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    process.wait()

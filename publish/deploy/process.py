"""Running the programs a deploy needs (rsync, ssh, git, a deploy command), with clear errors."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from publish.deploy.target import failure, redact
from publish.model import DeploySettings

TIMEOUT = 600  # seconds for any one program; a stuck upload must not hold the run forever
SHOWN_LINES = 20


@dataclass(frozen=True)
class Finished:
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
    """Run `argv` (no shell unless `shell`); raise the deploy failure if it cannot or fails."""
    try:
        done = subprocess.run(
            argv if not shell else argv[0],
            shell=shell,
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise failure(
            settings, f"{what}: the program '{argv[0]}' is not installed (or not on PATH)"
        ) from None
    except subprocess.TimeoutExpired:
        raise failure(settings, f"{what} did not finish in {TIMEOUT} seconds") from None
    if done.returncode != 0:
        output = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        tail = redact(" | ".join(output[-SHOWN_LINES:])) or "no output"
        raise failure(settings, f"{what} exited with status {done.returncode}: {tail}")
    return Finished(done.stdout, done.stderr)

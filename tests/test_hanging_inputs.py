"""Inputs that used to hang `build` and `run` forever: a FIFO, socket or device among the
sources, and a deploy command that never returns. Each runs the real command line in a
subprocess with a time limit, so a regression fails instead of hanging the suite."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from publish.state.db import connect
from publish.state.subscribers import add_subscriber
from tests.sitebuilder import essay_text, make_site
from tests.tools import REPO_ROOT, RecordingSMTPServer, requires

LIMIT = 60  # seconds: far more than any of these runs needs, far less than forever
SLOT = "2027-01-05T10:00"
SUBSCRIBERS = ["ann@example.org", "bob@example.net"]
GOOD = essay_text("A Good Essay", "A first paragraph.\n", date="2026-01-06")


def publish(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m publish --root ROOT ARGS...` in a subprocess, killed after LIMIT seconds."""
    return subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )


def make_fifo(path: Path) -> None:
    """A named pipe nobody writes to: opening it for reading waits forever."""
    os.mkfifo(path)


def make_socket(path: Path) -> None:
    """A UNIX socket file (bound, then closed: the file stays)."""
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))


SPECIAL = {"FIFO (named pipe)": make_fifo, "socket": make_socket}
PLACES = ["essays/late.md", "essays/images/pic.png", "footnotes/flow-state.md"]
PLACES += ["templates/essay.html", "templates/footer.html"]


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("command", [("build",), ("run", "--outbox")])
def test_a_special_file_among_the_sources_is_an_error_naming_it(
    tmp_path: Path, kind: str, place: str, command: tuple[str, ...]
) -> None:
    root = make_site(tmp_path / "site", {"01-good": GOOD})
    (root / place).parent.mkdir(parents=True, exist_ok=True)
    SPECIAL[kind](root / place)
    done = publish(root, *command, "--today", "2026-06-01")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{place}:1:1: error: {place} is a {kind}, not a regular file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "build" / "site").exists() and not (root / "state").exists()


def test_a_link_to_a_fifo_is_an_error_naming_the_link(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", {"01-good": GOOD})
    make_fifo(tmp_path / "pipe")
    (root / "essays" / "pipe.md").symlink_to(tmp_path / "pipe")
    done = publish(root, "check", "--today", "2026-06-01")
    assert done.returncode == 1
    assert "essays/pipe.md:1:1: error: essays/pipe.md is a FIFO" in done.stderr


@pytest.fixture
def relay() -> Iterator[RecordingSMTPServer]:
    """A real SMTP relay on 127.0.0.1."""
    with RecordingSMTPServer() as server:
        yield server


def deployed_site(root: Path, deploy: str) -> Path:
    """A site with one queued essay due at SLOT, two subscribers and this [deploy] table."""
    settings = f"""\
[site]
title = "Test Letters"
url = "http://127.0.0.1:9/"
author = "Test Author"
timezone = "Europe/London"

[email]
from = "Test Author <letters@example.org>"
service_url = "http://127.0.0.1:8001/"
postal_address = "1 Test Street, Testville"

[deploy]
{deploy}"""
    essays = {"01-alder": essay_text("On the Alder", "About the alder.\n", slug="alder")}
    root = make_site(root, essays, settings=settings)
    with closing(connect(root / "state" / "publish.db")) as connection:
        for address in SUBSCRIBERS:
            add_subscriber(connection, address)
    return root


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie waiting to be reaped does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_a_deploy_command_that_never_returns_is_stopped_before_mailing(
    tmp_path: Path, relay: RecordingSMTPServer
) -> None:
    requires("sh", "sleep")
    pid_file = tmp_path / "sleeper.pid"
    # The shell starts a child that keeps the command's output open and never ends.
    command = f"sh -c 'sleep 100000 & echo $! > {pid_file}; wait'"
    root = deployed_site(tmp_path / "site", f'target = "command:{command}"\ntimeout = 1\n')
    env = {
        "PUBLISH_SMTP_URL": f"smtp://127.0.0.1:{relay.port}",
        "PUBLISH_SECRET": "test-secret",
        "PUBLISH_RETRY_BACKOFF": "0",
    }
    done = publish(root, "run", "--today", SLOT, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "did not finish in 1 seconds (deploy.timeout)" in output
    assert "nobody was mailed" in output and "Traceback" not in output
    assert relay.messages == []
    with closing(sqlite3.connect(root / "state" / "publish.db")) as connection:
        assert connection.execute("SELECT slug FROM releases").fetchall() == []
    assert not alive(int(pid_file.read_text()))


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", '"10"'])
def test_a_deploy_timeout_that_cannot_be_is_an_error_at_its_line(
    tmp_path: Path, value: str
) -> None:
    table = f'target = "dir:{tmp_path}/www"\ntimeout = {value}\n'
    root = deployed_site(tmp_path / "site", table)
    done = publish(root, "check", "--today", "2026-06-01")
    assert done.returncode == 1
    assert "publish.toml:14:1: error: 'deploy.timeout' must be" in done.stderr

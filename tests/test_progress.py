"""Tests for the build's progress: a bar on stderr when it is a terminal (a pseudo-terminal
here), nothing at all when it is not; the build reports through a callback value."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from publish.pipeline.build import BuildOptions, build
from publish.pipeline.place import BuildProgress
from tests.sitebuilder import due_since_long_ago, essay_text, make_site

ESSAYS = {
    f"{n:02d}-essay": essay_text(f"Essay {n}", date=f"2026-{n:02d}-01", slug=f"essay-{n}")
    for n in range(1, 7)
}
BUILD = ("build", "--today", "2026-12-01")


def publish_process(root: Path, stderr: int) -> subprocess.Popen[bytes]:
    """`python -m publish build` with its stderr on `stderr` and stdout on a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "publish", "--root", str(root), *BUILD],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "COLUMNS": "100"},
    )


def read_terminal(fd: int, limit: float = 60.0) -> str:
    """Everything written to the pseudo-terminal until its last writer closed it (or
    `limit` seconds passed, so that a hung build fails the test instead of blocking it)."""
    chunks, deadline = [], time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_sees_a_bar_for_each_folder(tmp_path: Path) -> None:
    root = due_since_long_ago(make_site(tmp_path / "site", ESSAYS))  # due: emails to write
    controller, terminal = pty.openpty()
    process = publish_process(root, terminal)
    os.close(terminal)
    shown = read_terminal(controller)
    stdout, _ = process.communicate(timeout=120)
    os.close(controller)
    assert process.returncode == 0, shown
    assert "Writing site" in shown and "Writing email" in shown
    assert "100%" in shown
    assert b"Built 6 essay(s)" in stdout


def test_no_terminal_no_progress(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", ESSAYS)
    process = publish_process(root, subprocess.PIPE)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert stderr == b""
    assert b"Writing" not in stdout and b"Built 6 essay(s)" in stdout


def test_the_build_reports_each_file_it_makes(tmp_path: Path) -> None:
    root = due_since_long_ago(make_site(tmp_path / "site", ESSAYS))  # due: emails to make
    events: list[BuildProgress] = []
    build(root, BuildOptions(today=date(2026, 12, 1)), progress=events.append)
    by_folder: dict[str, list[BuildProgress]] = {}
    for event in events:
        by_folder.setdefault(event.folder, []).append(event)
    assert sorted(by_folder) == ["email", "site"]
    for folder_events in by_folder.values():
        total = folder_events[0].total
        assert [e.done for e in folder_events] == list(range(1, total + 1))
    assert by_folder["email"][-1].total == 3 * len(ESSAYS)  # .html, .txt and .eml of each
    # a rebuild with nothing changed makes nothing, so it reports nothing
    events.clear()
    build(root, BuildOptions(today=date(2026, 12, 1)), progress=events.append)
    assert events == []

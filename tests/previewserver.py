"""A site with a sent essay, a queue and a draft, and a real `publish serve` process on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from publish.content.settings import load_settings
from publish.state import db
from publish.state.subscribers import add_subscriber
from tests.sitebuilder import essay_text, make_site, site_settings
from tests.tools import free_port

TODAY = date(2026, 11, 23)  # before the first-Tuesday slot of 2026-12-01
SENT, NEXT, LATER, DRAFT = "already-sent", "the-next-letter", "a-later-letter", "half-written"
NEXT_SLOT = "2026-12-01 09:00 Europe/London"
LATER_SLOT = "2027-01-05 09:00 Europe/London"
SAMPLE_GREETING = "Hello Sam Sample,"
WAIT_LIMIT = 30.0  # seconds for the server to start or stop; not a speed assertion

ESSAYS = {
    "01-sent": essay_text("A Letter Already Sent", "It went out.\n", date="2026-11-03", slug=SENT),
    "02-next": essay_text("The Next Letter", "What comes next, in one paragraph.\n", slug=NEXT),
    "03-later": essay_text("A Later Letter", "And after that, this one.\n", slug=LATER),
    "04-draft": essay_text("Half Written", "Not ready at all.\n", draft="true", slug=DRAFT),
}


def preview_site(root: Path) -> Path:
    """The site: the email fixture's settings, one dated essay, two queued, one draft."""
    return make_site(root, ESSAYS, settings=site_settings("mail"), site="mail")


def subscribe(root: Path, address: str, name: str) -> None:
    """Add one active subscriber to the site's state."""
    path = db.database_path(root, load_settings(root))
    with closing(db.connect(path)) as conn:
        add_subscriber(conn, address, name, status="active")


@dataclass
class Served:
    """A running `publish serve`: its URL and the site it serves."""

    url: str
    root: Path
    process: subprocess.Popen[str]
    banner: str


@contextmanager
def serving(root: Path, *args: str) -> Iterator[Served]:
    """Run `publish serve` on a free port until the block ends (then Ctrl-C it)."""
    port = free_port()
    command = [sys.executable, "-m", "publish", "--root", str(root), "serve"]
    command += ["--port", str(port), "--today", TODAY.isoformat(), *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = wait_for_banner(process)
        yield Served(f"http://127.0.0.1:{port}/", root, process, banner)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=WAIT_LIMIT)


def wait_for_banner(process: subprocess.Popen[str]) -> str:
    """Read the server's output up to its "Serving" line; fail if it exits first."""
    assert process.stdout is not None and process.stderr is not None
    seen = []
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"serve exited: {''.join(seen)}{process.stderr.read()}")
        seen.append(line)
        if line.startswith("Serving"):
            return line
    raise AssertionError(f"no 'Serving' line within {WAIT_LIMIT}s: {''.join(seen)}")


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Request a URL; the status, headers and body, also for error statuses."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()

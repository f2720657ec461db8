"""The Fedify peer (tests/fedify/peer.mjs) for the fediverse tests, and the site's service
serving its actor on a loopback port, both started and stopped by the test."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from waitress import wasyncore

from publish.service.app import mailer_of
from publish.service.server import create_server
from tests.tools import FEDIFY_DIR, requires

FEDIVERSE_TABLE = (
    '[fediverse]\nenabled = true\nhandle = "letters"\nallow_private_addresses = true\n'
)


def fediverse_settings(port: int, extra: str = "") -> str:
    """The publish.toml of a site whose service (and so its actor) answers on `port`."""
    base = f"http://127.0.0.1:{port}/"
    return (
        f'[site]\ntitle = "Peer Letters"\nurl = "{base}"\nauthor = "Pat Peer"\n'
        'description = "Letters the peer follows."\nlanguage = "en"\n\n'
        f'[email]\nfrom = "Letters <letters@example.org>"\nservice_url = "{base}"\n\n'
        f"{FEDIVERSE_TABLE}{extra}"
    )


@dataclass
class Peer:
    """The running Fedify peer: its origin, and its control routes."""

    origin: str

    def control(self, name: str, **values: Any) -> dict[str, Any]:
        """Ask the peer to act (follow, reply, like, undo); its JSON answer."""
        request = urllib.request.Request(
            f"{self.origin}/control/{name}",
            data=json.dumps(values).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def state(self) -> dict[str, Any]:
        """What the peer received: accepted follows, created objects, errors."""
        with urllib.request.urlopen(f"{self.origin}/control/state", timeout=10) as answer:
            return json.loads(answer.read())

    def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict:
        """The peer's state once `check` holds of it (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if check(state):
                return state
            assert time.monotonic() < deadline, f"the peer never got there: {state}"
            time.sleep(0.1)


@contextmanager
def fedify_peer(log: Path) -> Iterator[Peer]:
    """Start the Fedify peer on a free loopback port; stop it afterwards."""
    node = requires("node", "fedify")["node"]
    with open(log, "wb") as errors:
        process = subprocess.Popen(
            [node, str(FEDIFY_DIR / "peer.mjs")],
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=FEDIFY_DIR,
        )
        try:
            line = process.stdout.readline().decode().strip() if process.stdout else ""
            assert line.startswith("http://127.0.0.1:"), log.read_text()
            yield Peer(line)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.stdout:
                process.stdout.close()


@contextmanager
def running_service(app: Flask, port: int) -> Iterator[str]:
    """Serve `app` with waitress on 127.0.0.1:`port` in a thread; stop it afterwards."""
    server = create_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        if "fediverse" in app.extensions:  # what it still sends goes out first
            app.extensions["fediverse"].outbox.close()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=30)
        server.task_dispatcher.shutdown()
        mailer_of(app).close()

"""A small ActivityPub inbox on 127.0.0.1 for the delivery failure modes: each path answers
as the test scripts it (202, 500 then 202, 410, 404, or hang until released), and every
POST is recorded with its path, body and whether it was signed. Signature verification is
the Fedify peer's job (tests/fedipeer.py); this stands in only for servers that misbehave."""

from __future__ import annotations

import http.server
import json
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

HANG_LIMIT = 30.0  # seconds a hanging answer waits at most for the test to release it


@dataclass
class Inbox:
    """The running inbox: its base URL, the answers each path gives in turn (the last one
    repeats; 0 hangs until `release` is set), and what it received."""

    base: str
    answers: dict[str, list[int]] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hanging: threading.Event = field(default_factory=threading.Event)
    given_up: threading.Event = field(default_factory=threading.Event)  # a hung client left
    # for each POST: whether a hanging request's client had given up when it came
    after_give_up: list[tuple[str, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        """The inbox URL of the path `/name/inbox`."""
        return f"{self.base}{name}/inbox"

    def got(self, name: str) -> list[dict[str, Any]]:
        """The activities POSTed to `/name/inbox`, in order."""
        with self.lock:
            return [body for path, body, _ in self.received if path == f"/{name}/inbox"]

    def answer(self, path: str) -> int:
        """The next answer scripted for `path` (202 unless scripted)."""
        with self.lock:
            script = self.answers.get(path.strip("/").removesuffix("/inbox"), [202])
            return script.pop(0) if len(script) > 1 else script[0]


@contextmanager
def scripted_inbox() -> Iterator[Inbox]:
    """Serve an Inbox on a free loopback port; stop it afterwards (releasing any hang)."""
    inbox = Inbox("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Say nothing: the tests read what arrived, not the server's log."""

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            signed = "keyId=" in self.headers.get("Signature", "")
            with inbox.lock:
                inbox.received.append((self.path, json.loads(body), signed))
                inbox.after_give_up.append((self.path, inbox.given_up.is_set()))
            status = inbox.answer(self.path)
            if status == 0:
                inbox.hanging.set()
                if self.hang():
                    return
                status = 503
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def hang(self) -> bool:
            """Hold the answer until released; True if the client gave up first."""
            for _ in range(int(HANG_LIMIT / 0.05)):
                if inbox.release.is_set():
                    return False
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    inbox.given_up.set()
                    return True
            return False

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    inbox.base = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield inbox
    finally:
        inbox.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

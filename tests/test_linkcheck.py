"""`publish check --links` against a real HTTP server on 127.0.0.1: a page that answers, one
that is missing, permanent and temporary redirects, a server that refuses HEAD, a page too
slow to answer in time, and the kept answers that spare a second fetch."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from tests.sitebuilder import essay_text, make_site
from tests.tools import free_port

SLOW_SECONDS = 3.0
TIMEOUT = "0.5"


class LinkServer(ThreadingHTTPServer):
    """A web server with one page of each kind, counting the requests to each path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Pages)
        self.requests: Counter[tuple[str, str]] = Counter()
        self.release = threading.Event()  # lets the slow page go when the test ends

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: the check hangs up on the slow page, as it should."""

    @property
    def base(self) -> str:
        """The server's address."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Pages(BaseHTTPRequestHandler):
    """/ok answers, /missing is 404, /moved is a 301 and /found a 302 to /ok, /no-head
    answers HEAD with 405 and GET with 200, /slow answers after SLOW_SECONDS."""

    server: LinkServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_GET(self) -> None:
        self._answer("GET")

    def _answer(self, method: str) -> None:
        self.server.requests[(method, self.path)] += 1
        if self.path == "/moved":
            return self._send(301, location="/ok")
        if self.path == "/found":
            return self._send(302, location="/ok")
        if self.path == "/missing":
            return self._send(404)
        if self.path == "/no-head" and method == "HEAD":
            return self._send(405)
        if self.path == "/slow":
            self.server.release.wait(SLOW_SECONDS)
        self._send(200, body=b"<p>hello</p>" if method == "GET" else b"")

    def _send(self, status: int, location: str = "", body: bytes = b"") -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def link_server() -> Iterator[LinkServer]:
    server = LinkServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def links_site(tmp_path: Path, base: str) -> Path:
    """One essay linking to every page of the server, one link a line."""
    body = "\n\n".join(
        f"Link [{name}]({base}/{name})." for name in ("ok", "missing", "moved", "found", "no-head")
    )
    body += f"\n\nAnd a slow one: <{base}/slow>.\n"
    body += f"\nNobody listens at [this port](http://127.0.0.1:{free_port()}/).\n"
    return make_site(tmp_path / "site", essays={"01-links": essay_text("Links", body)})


def check_links(root: Path):
    """`publish check --links` with a short timeout."""
    args = ["--root", str(root), "check", "--links", "--link-timeout", TIMEOUT]
    return CliRunner().invoke(cli, [*args, "--today", "2026-12-01"])


def test_check_links_reports_each_kind_of_answer(tmp_path: Path, link_server: LinkServer) -> None:
    base = link_server.base
    root = links_site(tmp_path, base)
    started = time.monotonic()
    result = check_links(root)
    assert time.monotonic() - started < SLOW_SECONDS  # the slow page did not hold the check
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "essays/01-links.md" in line]
    assert (
        f"essays/01-links.md:6:16: warning: broken link to {base}/missing (status 404"
        in "\n".join(lines)
    )
    assert any(
        line.startswith("essays/01-links.md:8:14: hint: ")
        and f"{base}/moved moved permanently to {base}/ok" in line
        for line in lines
    ), lines
    assert any(
        line.startswith("essays/01-links.md:14:18: warning: broken link to ")
        and f"{base}/slow" in line
        and "no answer" in line
        for line in lines
    ), lines
    assert any(
        line.startswith("essays/01-links.md:16:31: warning: broken link to http://127.0.0.1:")
        for line in lines
    ), lines
    for quiet in ("/ok", "/found", "/no-head"):
        assert not any(f"{base}{quiet} " in line or f"{base}{quiet})" in line for line in lines)
    assert link_server.requests[("HEAD", "/no-head")] == 1
    assert link_server.requests[("GET", "/no-head")] == 1  # GET after HEAD was refused
    assert link_server.requests[("GET", "/ok")] == 0  # HEAD was enough


def test_kept_answers_spare_a_second_fetch(tmp_path: Path, link_server: LinkServer) -> None:
    root = links_site(tmp_path, link_server.base)
    first = check_links(root)
    assert first.exit_code == 0, first.output
    counted = sum(n for (_, path), n in link_server.requests.items() if path != "/slow")
    assert counted > 0
    second = check_links(root)
    assert second.exit_code == 0, second.output
    again = sum(n for (_, path), n in link_server.requests.items() if path != "/slow")
    assert again == counted  # every answer came from build/.cache/links.json
    assert "broken link to " in second.output and "/missing (status 404" in second.output
    assert (root / "build/.cache/links.json").is_file()


def test_strict_check_links_fails_on_a_broken_link(tmp_path: Path, link_server: LinkServer) -> None:
    base = link_server.base
    root = make_site(
        tmp_path / "site",
        essays={"01-one": essay_text("One", f"See [gone]({base}/missing).\n")},
    )
    args = ["--root", str(root), "check", "--links", "--strict", "--today", "2026-12-01"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert f"essays/01-one.md:4:12: error: broken link to {base}/missing" in result.output
    assert "Traceback" not in result.output

"""Real servers for the deploy tests, all on 127.0.0.1: a static HTTP server on a folder,
sshd (Debian's openssh-server) with its own host key, moto's S3 server, and a reader that
polls the HTTP server during a deploy, recording every answer."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from tests.tools import free_port, requires

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request to stderr."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Say nothing."""


@contextmanager
def http_folder(
    folder: Path,
    stale: dict[str, bytes] | None = None,
    requests: list[tuple[float, str, int]] | None = None,
) -> Iterator[str]:
    """Serve `folder` (followed anew at every request, like nginx's root) on a free port;
    yield the base URL. `stale` maps URL paths to bodies served instead (a caching CDN);
    `requests` gets (monotonic time, path, status) of every answer."""
    overrides = stale if stale is not None else {}
    answered = requests if requests is not None else []

    class Handler(_QuietHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            answered.append((time.monotonic(), self.path, int(code)))

        def do_GET(self) -> None:  # noqa: N802
            if self.path in overrides:
                body = overrides[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def websub_hub() -> Iterator[SimpleNamespace]:
    """A WebSub hub stand-in on a free port that records the form of every POST."""
    pings: list[dict[str, list[str]]] = []

    class Hub(_QuietHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            pings.append(urllib.parse.parse_qs(self.rfile.read(length).decode()))
            self.send_response(204)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}/hub", pings=pings)
    finally:
        server.shutdown()
        server.server_close()


class Reader:
    """A reader fetching some paths over and over in a thread, keeping every (path, answer)."""

    def __init__(self, base: str, paths: list[str]) -> None:
        self.base, self.paths = base, paths
        self.seen: list[tuple[str, bytes | int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        while not self.stop.is_set():
            for path in self.paths:
                try:
                    with urllib.request.urlopen(self.base + path, timeout=5) as response:
                        self.seen.append((path, response.read()))
                except urllib.error.HTTPError as exc:
                    self.seen.append((path, exc.code))

    def __enter__(self) -> Reader:
        self.thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc_info: object) -> None:
        time.sleep(0.05)
        self.stop.set()
        self.thread.join(timeout=10)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links followed) by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@contextmanager
def sshd_server(base: Path) -> Iterator[SimpleNamespace]:
    """A real sshd on a free loopback port with its own host key, one authorized client key,
    and a known_hosts file naming that host key; yields the ssh command to reach it."""
    tools = requires("sshd", "ssh", "ssh-keygen", "rsync")
    folder = base / "sshd"
    folder.mkdir()
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run(
            [tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)],
            check=True,
            timeout=30,
        )
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    port = free_port()
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\n"
        f"AuthorizedKeysFile {folder}/authorized_keys\nPidFile {folder}/sshd.pid\n"
        "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    )
    log = open(folder / "sshd.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [tools["sshd"], "-D", "-e", "-f", str(folder / "sshd_config")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not (folder / "sshd.pid").exists():
            assert process.poll() is None, (folder / "sshd.log").read_text()
            assert time.monotonic() < deadline, "sshd did not start"
            time.sleep(0.05)
        ssh = (
            f"ssh -F /dev/null -p {port} -i {folder}/client_key -o IdentitiesOnly=yes "
            f"-o UserKnownHostsFile={folder}/known_hosts -o StrictHostKeyChecking=yes "
            "-o LogLevel=ERROR"
        )
        import pwd

        yield SimpleNamespace(
            ssh=ssh, user=pwd.getpwuid(os.getuid()).pw_name, log=folder / "sshd.log"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 API server in this process on a free loopback port; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()

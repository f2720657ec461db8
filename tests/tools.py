"""Helpers that let the tests drive real tools: vnu, Chromium, an SMTP server, newsboat,
nginx.

Every outside program a test runs (itself, or through `publish`) is named in `TOOLS` and
declared, before it is used, with :func:`requires` in the test, a helper it calls or a
fixture it takes: a missing tool skips the test locally with the reason and fails it in CI
(``PUBLISH_REQUIRE_TOOLS=1``). :func:`tool_path` is the one place a tool is looked for, so
a machine without it (or a PATH cut down to a few programs) is honoured everywhere;
tests/test_tool_declarations.py checks that no test runs a program it did not declare.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIRE_TOOLS = os.environ.get("PUBLISH_REQUIRE_TOOLS") == "1"

VNU_JAR = REPO_ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
FEDIFY_DIR = REPO_ROOT / "tests" / "fedify"  # the Fedify peer: package.json, lock, peer.mjs

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

TOOL_TIMEOUT = 120  # seconds; generous for a cold JVM or a slow CI machine

Recorded = tuple[str, list[str], EmailMessage]


def need_tool(available: bool, reason: str) -> None:
    """Skip the current test when a tool is missing, or fail it when CI requires tools."""
    __tracebackhide__ = True  # report the caller's line, not this one
    if available:
        return
    if REQUIRE_TOOLS:
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class Tool:
    """An outside program (or file) the tests use, and how to install it."""

    program: str  # its name on PATH, or an absolute path when it is run from one
    install: str  # what .ci/run does to get it (tests/test_tool_declarations.py checks)
    system: str = ""  # where Debian puts one that is not on every user's PATH (/usr/sbin)
    is_file: bool = False  # a file read, not run (vnu.jar)


SYSTEM_BIN = "/usr/bin"  # on PATH on any ordinary machine; a PATH without it is cut down
TOOLS: dict[str, Tool] = {
    "chromium": Tool("chromium", "apt-get install chromium"),
    "java": Tool("java", "apt-get install default-jre-headless"),
    "vnu.jar": Tool(str(VNU_JAR), "npm install --no-save vnu-jar", is_file=True),
    "axe-core": Tool(str(AXE_JS), "npm install --no-save axe-core", is_file=True),
    "newsboat": Tool("newsboat", "apt-get install newsboat"),
    "node": Tool("node", "apt-get install nodejs"),
    "fedify": Tool(
        str(FEDIFY_DIR / "node_modules" / "@fedify" / "fedify" / "package.json"),
        "npm ci --prefix tests/fedify",
        is_file=True,
    ),
    "tmux": Tool("tmux", "apt-get install tmux"),
    "rsync": Tool("rsync", "apt-get install rsync"),
    "ssh": Tool("ssh", "apt-get install openssh-server"),
    "ssh-keygen": Tool("ssh-keygen", "apt-get install openssh-server"),
    "sshd": Tool("sshd", "apt-get install openssh-server", system="/usr/sbin/sshd"),
    "dovecot": Tool("dovecot", "apt-get install dovecot-imapd", system="/usr/sbin/dovecot"),
    "nginx": Tool("nginx", "apt-get install nginx-light", system="/usr/sbin/nginx"),
    "git": Tool("git", "apt-get install git"),
    "setpriv": Tool("setpriv", "apt-get install util-linux"),
    "sh": Tool("/bin/sh", "apt-get install dash"),
    "sleep": Tool("sleep", "apt-get install coreutils"),
    "false": Tool("false", "apt-get install coreutils"),
    "echo": Tool("echo", "apt-get install coreutils"),
    # run as another user, who may not read this interpreter: the system's own
    "system-python3": Tool("/usr/bin/python3", "apt-get install python3"),
}


def tool_path(name: str) -> str | None:
    """Where the declared tool `name` is, or None: the one place tests look for a program.

    A program is looked for on PATH. One Debian keeps off ordinary users' PATH (sshd in
    /usr/sbin) and one run from an absolute path count only while PATH holds /usr/bin: a
    PATH cut down to a few programs stands for a machine that has nothing else.
    """
    tool = TOOLS[name]
    if tool.is_file:
        return tool.program if os.path.isfile(tool.program) else None
    system_visible = SYSTEM_BIN in os.environ.get("PATH", "").split(os.pathsep)
    if os.path.isabs(tool.program):
        found = shutil.which(tool.program)
        return found if found and system_visible else None
    found = shutil.which(tool.program)
    if found is None and tool.system and system_visible:
        found = shutil.which(tool.system)
    return found


def requires(*names: str) -> dict[str, str]:
    """Declare the tools a test uses: skip it (or, in CI, fail it) naming each one missing and
    how to install it; return each tool's path by name."""
    __tracebackhide__ = True
    paths = {name: tool_path(name) for name in names}
    missing = [name for name, path in paths.items() if path is None]
    how = "; ".join(f"{name}: {TOOLS[name].install}" for name in missing)
    need_tool(not missing, f"needs {', '.join(missing)} ({how})")
    return {name: path for name, path in paths.items() if path is not None}


# --- Nu Html Checker ------------------------------------------------------


def validate_html(folder: Path) -> list[dict[str, Any]]:
    """Check every HTML file under ``folder`` with one vnu run; return its error messages.

    Each message is vnu's JSON dict (``url``, ``lastLine``, ``message``, ...);
    an empty list means every page is valid.
    """
    java = requires("java", "vnu.jar")["java"]
    command = [
        java, "-jar", str(VNU_JAR),
        "--errors-only", "--format", "json", "--stdout", "--skip-non-html",
        str(folder),
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"vnu exited {result.returncode}: {result.stderr.strip()}")
    return json.loads(result.stdout)["messages"]


# --- Network ----------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- SMTP ---------------------------------------------------------------------


class RecordingSMTPServer:
    """A real aiosmtpd server on 127.0.0.1 that records what it receives.

    Use it as a context manager. It is its own aiosmtpd handler: the
    ``handle_*`` coroutines run in the controller's thread, so shared state is
    guarded by ``lock``. Faults are injected per recipient address:

    * ``fail_first_rcpt[address] = n``: answer the first ``n`` RCPT attempts
      with ``451 4.3.0 try again``, then accept;
    * ``reject_rcpt``: answer every RCPT for these addresses with
      ``550 5.1.1 no such user``;
    * ``refuse_every_rcpt``: answer every RCPT with this reply (a relay that denies);
    * ``hang_up_after_data``: for these addresses take and record the whole message, then
      close the connection without answering;
    * ``per_connection_limit = n``: after ``n`` messages on one connection, answer RCPT with
      ``limit_reply`` (``452 4.5.3 too many messages``, or a ``421`` that also hangs up).

    ``smtputf8=True`` makes the server offer SMTPUTF8; ``mail_options`` lists, for each
    recorded message, the options its MAIL FROM carried, and ``connections`` counts sessions.
    """

    TEMPFAIL = "451 4.3.0 try again"
    REJECT = "550 5.1.1 no such user"

    def __init__(self, host: str = "127.0.0.1", *, smtputf8: bool = False) -> None:
        """Prepare the server on a free port; it listens once started."""
        self.host = host
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[Recorded] = []
        self.mail_options: list[list[str]] = []
        self.fail_first_rcpt: dict[str, int] = {}
        self.reject_rcpt: set[str] = set()
        self.refuse_every_rcpt: str | None = None
        self.hang_up_after_data: set[str] = set()
        self.per_connection_limit = 0
        self.limit_reply = "452 4.5.3 too many messages in this connection"
        self.rcpt_attempts: dict[str, int] = {}
        self.connections = 0
        self._controller = Controller(self, hostname=host, port=self.port, enable_SMTPUTF8=smtputf8)

    def start(self) -> RecordingSMTPServer:
        """Start listening; return self."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening and join the server thread."""
        self._controller.stop()

    def __enter__(self) -> RecordingSMTPServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def messages_to(self, address: str) -> list[Recorded]:
        """Return the recorded messages whose envelope includes ``address``."""
        wanted = address.lower()
        with self.lock:
            return [m for m in self.messages if wanted in (r.lower() for r in m[1])]

    def wait_for(self, address: str, timeout: float = 30) -> list[Recorded]:
        """The messages to ``address`` once at least one arrived (another process sends
        them); an empty list when none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not (found := self.messages_to(address)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def _rcpt_verdict(self, address: str, session: Session | None = None) -> str | None:
        """Count an RCPT attempt; return the fault to answer with, or None to accept."""
        key = address.lower()
        with self.lock:
            attempt = self.rcpt_attempts.get(key, 0) + 1
            self.rcpt_attempts[key] = attempt
            if self.refuse_every_rcpt is not None:
                return self.refuse_every_rcpt
            taken = getattr(session, "messages_taken", 0)
            if self.per_connection_limit and taken >= self.per_connection_limit:
                return self.limit_reply
            if key in {a.lower() for a in self.reject_rcpt}:
                return self.REJECT
            failures = {a.lower(): n for a, n in self.fail_first_rcpt.items()}
            if attempt <= failures.get(key, 0):
                return self.TEMPFAIL
        return None

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept the recipient unless a fault is configured for it."""
        verdict = self._rcpt_verdict(address, session)
        if verdict is not None:
            if verdict.startswith("421"):
                server.transport.close()
            return verdict
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Parse and record the message, with CRLF line ends turned into LF as on delivery."""
        content = envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        data = data.replace(b"\r\n", b"\n")
        if "SMTPUTF8" in envelope.mail_options:  # UTF-8 headers: read as text, as an MDA would
            message = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
        else:
            message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos), message))
            self.mail_options.append(list(envelope.mail_options))
            session.messages_taken = getattr(session, "messages_taken", 0) + 1
            hang_up = {a.lower() for a in self.hang_up_after_data}
        if hang_up & {r.lower() for r in envelope.rcpt_tos}:
            server.transport.close()  # the reply below is never written
        return "250 Message accepted for delivery"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Count the connection (each client greets once per connection) and answer as usual."""
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses


# --- newsboat -----------------------------------------------------------------


def newsboat_items(feed_url: str, workdir: Path) -> list[tuple[str, str, int]]:
    """Let newsboat fetch ``feed_url`` and return its ``(title, url, pubDate)`` items.

    ``feed_url`` is a ``file://`` or ``http://127.0.0.1`` URL. Each call uses its
    own cache under ``workdir``; pubDate is newsboat's Unix timestamp. newsboat
    always exits 0 and parses leniently, so callers assert on these items.
    """
    newsboat = requires("newsboat")["newsboat"]
    run_dir = Path(tempfile.mkdtemp(prefix="newsboat-", dir=workdir))
    urls, cache = run_dir / "urls", run_dir / "cache.db"
    urls.write_text(feed_url + "\n", encoding="utf-8")
    command = [
        newsboat, "-u", str(urls), "-c", str(cache), "-C", "/dev/null",
        "-x", "reload", "print-unread",
    ]  # fmt: skip
    subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=False,
        env={**os.environ, "HOME": str(run_dir)},
    )
    return _read_cache(cache)


def _read_cache(cache: Path) -> list[tuple[str, str, int]]:
    """Read the items newsboat stored in its sqlite cache, in insertion order."""
    if not cache.exists():
        return []
    with closing(sqlite3.connect(cache)) as db:
        rows = db.execute("select title, url, pubDate from rss_item order by id").fetchall()
    return [(title, url, pub_date) for title, url, pub_date in rows]


# --- nginx ----------------------------------------------------------------------


@contextmanager
def running_nginx(folder: Path, server_block: str) -> Iterator[None]:
    """Run Debian's nginx in the foreground with `server_block` as its only server, every
    file of its own (configuration, pid, logs, temporary files) under `folder`; stop it
    afterwards. The block's `listen` names the loopback port it answers on."""
    nginx = requires("nginx")["nginx"]
    folder.mkdir(parents=True, exist_ok=True)
    temporary = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = folder / "nginx.conf"
    config.write_text(
        f"""daemon off;
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    access_log {folder / "access.log"};
{temporary}
{server_block}
}}
""",
        encoding="utf-8",
    )
    command = [nginx, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_file(folder / "nginx.pid", process, folder / "error.log")
        yield
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown of master and workers
        process.wait(timeout=30)


def _wait_for_file(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until a starting server writes `path` (nginx: its pid, once it listens)."""
    deadline = time.monotonic() + 30
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not start: {log.read_text(errors='replace')}")
        time.sleep(0.05)


class RawServer(RecordingSMTPServer):
    """The recording server, keeping also the exact bytes of each message as it arrived
    (after the server undid the dot-stuffing)."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.raw.append(bytes(content))
        return await super().handle_DATA(server, session, envelope)

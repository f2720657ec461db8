"""A small fixture site for the email tests, built once, and what the sending tests share: a
recording SMTP server that can hold, drop or ask for a login, readers, the ledger, the CLI."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections import Counter
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from click.testing import CliRunner

from publish.cli.main import cli
from publish.content.settings import load_settings
from publish.pipeline.build import BuildOptions, build
from publish.state import db
from publish.state.imports import import_csv
from tests.sitebuilder import due_since_long_ago, make_site, site_files, site_settings
from tests.tools import RecordingSMTPServer

SLUG = "on-margins"
BUILD_DAY = date(2027, 1, 1)

SETTINGS = site_settings("mail")  # the default site's, with a [schedule] and an [email] table
ESSAYS = site_files("mail", "essays")  # "01-on-margins" (every kind of block) and "02-second"


def make_mail_site(
    root: Path, essays: dict[str, str] | None = None, settings: str = SETTINGS
) -> Path:
    """Write and build the email fixture site under `root`; return `root`.

    The site had its first run before its essays were dated, so they are not back issues:
    on BUILD_DAY they are what the next run mails, and the build makes their emails."""
    make_site(root, ESSAYS if essays is None else essays, settings=settings, site="mail")
    due_since_long_ago(root)
    images = root / "essays" / "images"
    images.mkdir(exist_ok=True)
    (images / "pencil.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    build(root, BuildOptions(today=BUILD_DAY))
    return root


def copy_site(source: Path, target: Path) -> Path:
    """A fresh copy of a built site (without its state), for a test that sends."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("state"))
    return target


SECRET = "test-secret-0123456789"


PASSWORD = "s3cret-Pa55word-xyz"


class Server(RecordingSMTPServer):
    """The recording server, also noting each client connection, able to hold every DATA
    until `gate` is set, and to hang up during the message after the `drop_after`-th."""

    def __init__(self, drop_after: int = 0, authenticate: bool = False) -> None:
        super().__init__()
        self.peers: set[Any] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.drop_after = drop_after
        self.drop_next = False
        if authenticate:
            self._controller = Controller(
                self,
                hostname=self.host,
                port=self.port,
                authenticator=self._authenticate,
                auth_require_tls=False,
                auth_exclude_mechanism=["LOGIN"],
            )

    @staticmethod
    def _authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.peers.add(session.peer)
            count = len(self.messages)
        if self.drop_after and count == self.drop_after:
            self.drop_next = True
        return reply

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Hang up when a drop is due; otherwise answer as the recording server does."""
        if self.drop_next:  # hang up on the message after the `drop_after`-th
            self.drop_next = False
            server.transport.close()
            return "421 4.4.2 closing"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    def count(self) -> int:
        """How many messages arrived so far."""
        with self.lock:
            return len(self.messages)

    def recipients(self) -> Counter[str]:
        """How many copies each envelope recipient received."""
        with self.lock:
            return Counter(r.lower() for _, rcpts, _ in self.messages for r in rcpts)


def address(number: int) -> str:
    """The address of fixture subscriber `number`."""
    return f"reader{number:04d}@example.net"


def subscribe(root: Path, count: int, first: int = 1) -> list[str]:
    """Import `count` active subscribers named 'Reader N'; return their addresses."""
    path = root / f"subscribers-{first}.csv"
    rows = [f"{address(n)},Reader {n}" for n in range(first, first + count)]
    path.write_text("email,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with closing(connect(root)) as conn:
        import_csv(conn, path)
    return [address(n) for n in range(first, first + count)]


def connect(root: Path) -> sqlite3.Connection:
    """The site's state database."""
    return db.connect(db.database_path(root, load_settings(root)))


def ledger(root: Path, slug: str = SLUG) -> Counter[str]:
    """How many deliveries of a send have each status."""
    with closing(connect(root)) as conn:
        rows = conn.execute("SELECT status FROM deliveries WHERE slug = ?", (slug,)).fetchall()
    return Counter(row[0] for row in rows)


def use_server(monkeypatch: pytest.MonkeyPatch, smtp: RecordingSMTPServer) -> None:
    """Point PUBLISH_SMTP_URL at a local test server (no TLS, no login)."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")


def run_cli(root: Path, *args: str) -> Any:
    """Run `publish --root ROOT ARGS…` in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def assert_clean_exit(result: Any, code: int) -> None:
    """The command exited with `code` by itself, not through an uncaught exception."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output

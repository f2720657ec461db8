"""The sending benchmark: `publish send` to many subscribers on a local aiosmtpd server.

The server only counts what it accepts, so its own memory stays flat; the measured process
is `publish send` alone, with the ledger in its real SQLite file.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.generate import generate
from publish.state import db, ledger

SEND_ESSAYS = 10


class CountingHandler:
    """An aiosmtpd handler that accepts every message and counts messages and recipients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages = 0
        self.recipients = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Count the message and its recipients; accept it."""
        with self.lock:
            self.messages += 1
            self.recipients += len(envelope.rcpt_tos)
        return "250 OK"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def subscriber_csv(path: Path, count: int) -> Path:
    """A CSV of `count` made-up subscribers."""
    lines = ["email,name"] + [f"reader{n:05d}@bench.example.org,Reader {n}" for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ledger_counts(root: Path, slug: str) -> dict[str, int]:
    """How many deliveries of `slug` the state database holds, by status."""
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        return ledger.ledger_counts(conn, slug)


def run_send_benchmark(
    root: Path,
    subscribers: int,
    measure: Callable[..., Any],
    publish_command: Callable[..., list[str]],
) -> str:
    """Build a small site, import subscribers, then time one `publish send`."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return "sending: skipped (aiosmtpd is not installed: pip install -e '.[test]')"
    generate(SEND_ESSAYS, root)
    for args in (
        ("build", "--today", "2030-01-01"),
        ("subscribers", "import", str(subscriber_csv(root / "readers.csv", subscribers))),
    ):
        setup = measure(publish_command(root, *args))
        if setup.status != 0:
            return f"sending: skipped (`publish {args[0]}` failed: {setup.output[-500:]})"
    slug = f"essay-{SEND_ESSAYS:05d}"
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        env = {**os.environ, "PUBLISH_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"}
        result = measure(publish_command(root, "send", slug), env=env)
    finally:
        controller.stop()
    if result.status != 0:
        print(result.output[-2000:], file=sys.stderr)
    ledger = ledger_counts(root, slug)
    rate = handler.messages / result.seconds if result.seconds else 0.0
    return (
        "| subscribers | wall | peak RSS | messages received | per second | ledger |\n"
        "|---:|---:|---:|---:|---:|---|\n"
        f"| {subscribers:,} | {result.seconds:.1f} s | {result.peak_mb:.0f} MB "
        f"| {handler.messages:,} | {rate:.0f} | "
        f"{', '.join(f'{k} {v:,}' for k, v in sorted(ledger.items()))} |"
    )

"""The sending benchmark: `publish send` to many subscribers on a local aiosmtpd server.

The server runs in a process of its own (`python -m bench.sending --serve`), so neither its
CPU nor its memory is charged to `publish send`; its handler waits `latency` seconds before
accepting each message, as a relay does, and counts the copies each recipient gets.

    python -m bench.sending                          # 10,000 readers, 10 connections, 50 ms
    python -m bench.sending --latency 0              # the same against an instant server
    python -m bench.sending --subscribers 100000 --latency 0   # ledger and memory at scale
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.generate import generate
from publish.state import db, ledger

SEND_ESSAYS = 10
SLUG = f"essay-{SEND_ESSAYS:05d}"
LEDGER_SAMPLE = 2000  # rows whose ledger steps are timed after the send


class CountingHandler:
    """An aiosmtpd handler that waits `latency` seconds, then accepts and counts the message
    by recipient; `sessions` and `most_sessions` count connections open at once."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.messages = 0
        self.copies: Counter[str] = Counter()
        self.sessions = 0
        self.most_sessions = 0

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Count the connection as open (a client greets once per connection)."""
        with self.lock:
            self.sessions += 1
            self.most_sessions = max(self.most_sessions, self.sessions)
        session.host_name = hostname
        return responses

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """The connection ends."""
        with self.lock:
            self.sessions -= 1
        return "221 Bye"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Wait as a relay does, then count the message and its recipients; accept it."""
        if self.latency:
            await asyncio.sleep(self.latency)
        with self.lock:
            self.messages += 1
            self.copies.update(r.lower() for r in envelope.rcpt_tos)
        return "250 OK"

    def counts(self) -> dict[str, Any]:
        """What arrived: messages, distinct recipients, the most copies of one, sessions."""
        with self.lock:
            return {
                "messages": self.messages,
                "recipients": len(self.copies),
                "most_copies": max(self.copies.values(), default=0),
                "most_sessions": self.most_sessions,
            }


def serve(port: int, latency: float) -> None:
    """Run the counting server until SIGTERM, then print its counts as JSON."""
    from aiosmtpd.controller import Controller

    handler = CountingHandler(latency)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("ready", flush=True)
    stopped.wait()
    controller.stop()
    print(json.dumps(handler.counts()), flush=True)


def start_server(latency: float) -> tuple[subprocess.Popen[str], int]:
    """The counting server in its own process, listening; and its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sending", "--serve", str(port), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the benchmark's SMTP server did not start")
    return process, port


def stop_server(process: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop the server process; what it counted."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def subscriber_csv(path: Path, count: int) -> Path:
    """A CSV of `count` made-up subscribers."""
    lines = ["email,name"] + [f"reader{n:06d}@bench.example.org,Reader {n}" for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def database(root: Path) -> Path:
    """The benchmark site's state database."""
    return root / "state" / "publish.db"


def ledger_counts(root: Path, slug: str) -> dict[str, int]:
    """How many deliveries of `slug` the state database holds, by status."""
    with closing(db.connect(database(root))) as conn:
        return ledger.ledger_counts(conn, slug)


def ledger_ms_per_message(root: Path, slug: str) -> float:
    """Milliseconds of ledger work per message (read the batch, look up the reader, claim,
    mark sent), timed on LEDGER_SAMPLE rows of the real ledger after the send."""
    with closing(db.connect(database(root))) as conn:
        conn.execute(
            "UPDATE deliveries SET status = 'pending' WHERE slug = ? AND subscriber_id IN"
            " (SELECT subscriber_id FROM deliveries WHERE slug = ?"
            " ORDER BY subscriber_id DESC LIMIT ?)",
            (slug, slug, LEDGER_SAMPLE),
        )
        started, after, done = time.perf_counter(), 0, 0
        while batch := ledger.pending_batch(conn, slug, after):
            for row in batch:
                ledger.current_subscriber(conn, row)
                ledger.claim(conn, slug, row.subscriber_id)
                ledger.mark(conn, slug, row.subscriber_id, "sent")
                done += 1
            after = batch[-1].subscriber_id
        return 1000 * (time.perf_counter() - started) / max(done, 1)


def with_connections(root: Path, connections: int) -> None:
    """Set `[email] connections` (and the service_url a send to a list needs)."""
    path = root / "publish.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text + f'service_url = "https://subs.bench.example.org/"\nconnections = {connections}\n',
        encoding="utf-8",
    )


@dataclass(frozen=True)
class SendRow:
    """One measured send."""

    subscribers: int
    connections: int
    latency: float
    seconds: float
    peak_mb: float
    cpu: float
    arrived: dict[str, Any]
    ledger: dict[str, int]
    ledger_ms: float
    status: int


def prepare_site(root: Path, subscribers: int, measure: Callable[..., Any], command: Any) -> str:
    """Build a small site and import the subscribers; '' or why it could not."""
    generate(SEND_ESSAYS, root)
    for args in (
        ("build", "--today", "2030-01-01"),
        ("subscribers", "import", str(subscriber_csv(root / "readers.csv", subscribers))),
    ):
        setup = measure(command(root, *args))
        if setup.status != 0:
            return f"`publish {args[0]}` failed: {setup.output[-500:]}"
    return ""


def send_once(
    root: Path,
    subscribers: int,
    connections: int,
    latency: float,
    measure: Callable[..., Any],
    command: Any,
) -> SendRow:
    """One measured `publish send` of a prepared site (its ledger reset first)."""
    state = database(root)
    with closing(db.connect(state)) as conn:
        conn.execute("DELETE FROM deliveries")
        conn.execute("DELETE FROM sends")
    text = (root / "publish.toml").read_text(encoding="utf-8").split("service_url =")[0]
    (root / "publish.toml").write_text(text, encoding="utf-8")
    with_connections(root, connections)
    server, port = start_server(latency)
    try:
        env = {**os.environ, "PUBLISH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
        result = measure(command(root, "send", SLUG), env=env)
    finally:
        arrived = stop_server(server)
    if result.status != 0:
        print(result.output[-2000:], file=sys.stderr)
    counts = ledger_counts(root, SLUG)
    return SendRow(
        subscribers,
        connections,
        latency,
        result.seconds,
        result.peak_mb,
        result.cpu,
        arrived,
        counts,
        ledger_ms_per_message(root, SLUG),
        result.status,
    )


def format_sends(rows: list[SendRow]) -> str:
    """The sends as a Markdown table."""
    lines = [
        "| subscribers | connections | server latency | wall | per second | CPU ms/message "
        "| peak RSS "
        "| messages received | readers reached | most copies of one | most sessions at once "
        "| ledger | ledger ms/message |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        rate = row.arrived["messages"] / row.seconds if row.seconds else 0.0
        states = ", ".join(f"{k} {v:,}" for k, v in sorted(row.ledger.items()))
        lines.append(
            f"| {row.subscribers:,} | {row.connections} | {1000 * row.latency:.0f} ms "
            f"| {row.seconds:.1f} s | {rate:.0f} | {1000 * row.cpu / row.subscribers:.2f} "
            f"| {row.peak_mb:.0f} MB "
            f"| {row.arrived['messages']:,} | {row.arrived['recipients']:,} "
            f"| {row.arrived['most_copies']} | {row.arrived['most_sessions']} | {states} "
            f"| {row.ledger_ms:.3f} |"
        )
    return "\n".join(lines)


def run_send_benchmark(
    root: Path,
    subscribers: int,
    measure: Callable[..., Any],
    publish_command: Callable[..., list[str]],
    runs: tuple[tuple[int, float], ...] = ((10, 0.05), (10, 0.0)),
) -> str:
    """Build a small site, import subscribers, then time one `publish send` per
    (connections, latency) of `runs`."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return "sending: skipped (aiosmtpd is not installed: pip install -e '.[test]')"
    problem = prepare_site(root, subscribers, measure, publish_command)
    if problem:
        return f"sending: skipped ({problem})"
    rows = [
        send_once(root, subscribers, connections, latency, measure, publish_command)
        for connections, latency in runs
    ]
    return format_sends(rows)


def main(argv: list[str] | None = None) -> None:
    """Command line: one sending benchmark, or (`--serve`) the benchmark's server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per message")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.latency)
        return
    from bench.measure import WORK_DIR, measure, publish_command

    root = WORK_DIR / f"send-{args.subscribers}"
    if root.exists():
        shutil.rmtree(root)
    runs = ((args.connections, args.latency),)
    print(run_send_benchmark(root, args.subscribers, measure, publish_command, runs))


if __name__ == "__main__":
    main()

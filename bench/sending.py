"""The sending benchmark: `publish send` to many subscribers on a local aiosmtpd server,
unsigned and DKIM-signed, against the protocol floor measured in the same run.

The server runs in a process of its own (`python -m bench.sending --serve`), so neither its
CPU nor its memory is charged to `publish send`; its handler waits `latency` seconds before
accepting each message, as a relay does, and counts the copies each recipient gets.

The floor is what the protocol alone costs: as many plain `smtplib` connections as the send
uses, in a process of their own (`python -m bench.sending --floor`), sending one fixed copy
of the same message (a test copy `publish send --to` wrote) to the same kind of server, as
many times as there are readers. Each send's wall time is printed over the floor's.

    python -m bench.sending                          # 10,000 readers, 10 connections, 50 ms
    python -m bench.sending --latency 0              # the same against an instant server
    python -m bench.sending --subscribers 2000 --repeat 3    # interleaved, medians (min-max)
    python -m bench.sending --subscribers 100000 --latency 0   # ledger and memory at scale
    python -m bench.sending --ledger 10000,100000,1000000      # the ledger alone (bench/ledger.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path
from typing import Any

from bench.generate import generate
from bench.signing import KEY_FILE, SELECTOR, signing_cost, with_dkim
from publish.state import db, ledger

SEND_ESSAYS = 10
SLUG = f"essay-{SEND_ESSAYS:05d}"
LEDGER_SAMPLE = 2000  # rows whose ledger steps are timed after the send
KINDS = ("floor", "unsigned", "signed")  # what each run measures, in this order
FLOOR_COPY = "floor-copy.eml"  # the fixed copy the floor sends, in the benchmark site


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


def reader_address(n: int) -> str:
    """The made-up address of the benchmark's reader `n`."""
    return f"reader{n:06d}@bench.example.org"


def subscriber_csv(path: Path, count: int) -> Path:
    """A CSV of `count` made-up subscribers."""
    lines = ["email,name"] + [f"{reader_address(n)},Reader {n}" for n in range(count)]
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


def configure(root: Path, connections: int, *, signed: bool) -> None:
    """Set `[email] connections`, the service_url a send to a list needs and, when `signed`,
    the DKIM selector and key (replacing what an earlier run set)."""
    path = root / "publish.toml"
    text = path.read_text(encoding="utf-8").split("service_url =")[0]
    text += f'service_url = "https://subs.bench.example.org/"\nconnections = {connections}\n'
    if signed:
        text += f'dkim_selector = "{SELECTOR}"\ndkim_key_file = "{KEY_FILE}"\n'
    path.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class SendRow:
    """One measured send (`kind` "unsigned" or "signed"), or the floor's run ("floor")."""

    kind: str
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
    """Build a small site, import the subscribers, write the DKIM key and the floor's copy
    (a test copy in the outbox); '' or why it could not."""
    generate(SEND_ESSAYS, root)
    with_dkim(root)
    for args in (
        ("build", "--today", "2030-01-01"),
        ("subscribers", "import", str(subscriber_csv(root / "readers.csv", subscribers))),
        ("send", SLUG, "--to", reader_address(0), "--outbox"),
    ):
        configure(root, 1, signed=False)
        setup = measure(command(root, *args))
        if setup.status != 0:
            return f"`publish {args[0]}` failed: {setup.output[-500:]}"
    [copy] = (root / "state" / "outbox" / SLUG).glob("*.eml")
    copy.rename(root / FLOOR_COPY)
    return ""


def send_once(
    root: Path,
    subscribers: int,
    connections: int,
    latency: float,
    measure: Callable[..., Any],
    command: Any,
    kind: str = "unsigned",
) -> SendRow:
    """One measured `publish send` of a prepared site (its ledger reset first), signed or
    not; or (`kind` "floor") the floor's plain connections sending as many copies."""
    state = database(root)
    with closing(db.connect(state)) as conn:
        conn.execute("DELETE FROM deliveries")
        conn.execute("DELETE FROM sends")
    configure(root, connections, signed=kind == "signed")
    server, port = start_server(latency)
    try:
        if kind == "floor":
            result = measure(floor_command(root, port, connections, subscribers))
        else:
            env = {**os.environ, "PUBLISH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
            result = measure(command(root, "send", SLUG), env=env)
    finally:
        arrived = stop_server(server)
    if result.status != 0:
        print(result.output[-2000:], file=sys.stderr)
    floor = kind == "floor"
    return SendRow(
        kind,
        subscribers,
        connections,
        latency,
        result.seconds,
        result.peak_mb,
        result.cpu,
        arrived,
        {} if floor else ledger_counts(root, SLUG),
        0.0 if floor else ledger_ms_per_message(root, SLUG),
        result.status,
    )


def floor_command(root: Path, port: int, connections: int, messages: int) -> list[str]:
    """The floor's process: `connections` plain smtplib connections, `messages` copies."""
    return [
        sys.executable,
        "-m",
        "bench.sending",
        "--floor",
        str(port),
        "--connections",
        str(connections),
        "--subscribers",
        str(messages),
        "--copy",
        str(root / FLOOR_COPY),
    ]


def send_floor(port: int, connections: int, messages: int, copy: Path) -> None:
    """Send `messages` times the same bytes over `connections` smtplib connections at once,
    each to the next reader's address: the protocol's cost, nothing composed or recorded."""
    data = copy.read_bytes()
    numbers = count()  # shared by the threads; next() on it is atomic under the GIL

    def connection() -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            while (n := next(numbers)) < messages:
                smtp.sendmail("letters@bench.example.org", [reader_address(n)], data)

    threads = [threading.Thread(target=connection) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def median_row(rows: list[SendRow]) -> tuple[SendRow, float, float]:
    """The run of median wall time among repeats of one kind, and the fastest and slowest."""
    ordered = sorted(rows, key=lambda row: row.seconds)
    middle = ordered[(len(ordered) - 1) // 2]
    return replace(middle, seconds=statistics.median(r.seconds for r in rows)), *(
        ordered[0].seconds,
        ordered[-1].seconds,
    )


def format_sends(rows: list[SendRow]) -> str:
    """The runs as a Markdown table: medians of repeats, each send's wall over the floor's."""
    lines = [
        "| run | subscribers | connections | server latency | wall (min–max) | × floor "
        "| per second | CPU ms/message | peak RSS "
        "| messages received | readers reached | most copies of one | most sessions at once "
        "| ledger | ledger ms/message |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    groups: dict[tuple[int, float], dict[str, list[SendRow]]] = {}
    for row in rows:
        groups.setdefault((row.connections, row.latency), {}).setdefault(row.kind, []).append(row)
    for kinds in groups.values():
        floor = median_row(kinds["floor"])[0].seconds if "floor" in kinds else 0.0
        for kind in KINDS:
            if kind in kinds:
                lines.append(format_row(*median_row(kinds[kind]), floor, len(kinds[kind])))
    return "\n".join(lines)


def format_row(row: SendRow, fastest: float, slowest: float, floor: float, runs: int) -> str:
    """One table row: a run's median (its spread when repeated) and its ratio to the floor."""
    rate = row.arrived["messages"] / row.seconds if row.seconds else 0.0
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(row.ledger.items())) or "–"
    spread = f" ({fastest:.1f}–{slowest:.1f})" if runs > 1 else ""
    ratio = f"{row.seconds / floor:.2f}×" if floor else "–"
    ledger_ms = f"{row.ledger_ms:.3f}" if row.ledger else "–"
    failed = "" if row.status == 0 else f" (exit {row.status})"
    return (
        f"| {row.kind}{failed} | {row.subscribers:,} | {row.connections} "
        f"| {1000 * row.latency:.0f} ms | {row.seconds:.1f} s{spread} | {ratio} | {rate:.0f} "
        f"| {1000 * row.cpu / row.subscribers:.2f} | {row.peak_mb:.0f} MB "
        f"| {row.arrived['messages']:,} | {row.arrived['recipients']:,} "
        f"| {row.arrived['most_copies']} | {row.arrived['most_sessions']} | {states} "
        f"| {ledger_ms} |"
    )


def run_send_benchmark(
    root: Path,
    subscribers: int,
    measure: Callable[..., Any],
    publish_command: Callable[..., list[str]],
    runs: tuple[tuple[int, float], ...] = ((10, 0.05), (10, 0.0)),
    repeat: int = 1,
) -> str:
    """Build a small site, import subscribers, then for each (connections, latency) of
    `runs` measure the floor, an unsigned and a signed `publish send`, `repeat` times
    interleaved (floor, unsigned, signed, floor, …) so that load moves them all alike."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return "sending: skipped (aiosmtpd is not installed: pip install -e '.[test]')"
    problem = prepare_site(root, subscribers, measure, publish_command)
    if problem:
        return f"sending: skipped ({problem})"
    rows = [
        send_once(root, subscribers, connections, latency, measure, publish_command, kind)
        for connections, latency in runs
        for _ in range(repeat)
        for kind in KINDS
    ]
    cost = signing_cost(root / FLOOR_COPY, root / KEY_FILE)
    return f"{format_sends(rows)}\n\n{cost}"


def main(argv: list[str] | None = None) -> None:
    """Command line: one sending benchmark, or (`--serve`, `--floor`) its server or floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per message")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind, interleaved")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--copy", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--ledger",
        metavar="SIZES",
        help="instead of sending: the ledger's claim and mark per message and its memory at "
        "these reader counts (comma-separated; bench/ledger.py)",
    )
    args = parser.parse_args(argv)
    if args.ledger:
        from bench.ledger import run_ledger_benchmark

        print(run_ledger_benchmark(tuple(int(s) for s in args.ledger.split(","))))
        return
    if args.serve:
        serve(args.serve, args.latency)
        return
    if args.floor:
        send_floor(args.floor, args.connections, args.subscribers, args.copy)
        return
    from bench.measure import WORK_DIR, measure, publish_command

    root = WORK_DIR / f"send-{args.subscribers}"
    if root.exists():
        shutil.rmtree(root)
    runs = ((args.connections, args.latency),)
    print(run_send_benchmark(root, args.subscribers, measure, publish_command, runs, args.repeat))


if __name__ == "__main__":
    main()

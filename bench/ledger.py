"""The send ledger at scale: claiming and marking per message, and memory, at 10,000 to
1,000,000 readers, in a real SQLite state database filled through publish's own state API.

One database (`bench/work/ledger/publish.db`, kept between runs: filling is the slow part)
grows to each size in turn: readers are added with `subscribers.add_subscriber`, 10,000
to a transaction, and each size gets a send of its own (`ledger.start_send` fixes its
list), so the deliveries table holds the earlier sizes' rows too (1,110,000 at 1,000,000).

Each size is then measured in a fresh process (`--measure`), so its peak RSS is that of the
ledger work alone: the send's per-run steps (fixing the list, recovering claims, counting)
and, on SAMPLE readers from the middle of the list, the per-message path a send takes
(`publish/mail/rounds.py`): read the batch, look the reader up (twice, as the composer
and the dispatcher do), and one committed transaction that marks the previous message sent
and claims the next. Every statement those steps ran is explained (EXPLAIN QUERY PLAN);
a table scan is reported.

    python -m bench.ledger                       # 10,000, 100,000 and 1,000,000 readers
    python -m bench.ledger --sizes 10000,100000  # chosen sizes
    python -m bench.ledger --import 1000000      # `publish subscribers import` of that many
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publish.state import db, ledger, subscribers

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
SAMPLE = 2000  # messages whose ledger steps are timed at each size
FILL_CHUNK = 10_000  # readers added per transaction
SINCE_EVER = "0000-01-01"  # `sent_since` from the start of time: every row of every send


def reader_address(n: int) -> str:
    """The made-up address of reader `n` (as bench/sending.py's)."""
    return f"reader{n:07d}@bench.example.org"


def slug_for(size: int) -> str:
    """The send measured at `size` readers."""
    return f"ledger-{size}"


def fill(path: Path, size: int, report: Callable[[str], None]) -> float:
    """Add readers until the database holds `size`; the seconds it took."""
    started = time.perf_counter()
    with closing(db.connect(path)) as conn:
        have = conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0]
        for first in range(have, size, FILL_CHUNK):
            with db.transaction(conn):
                for n in range(first, min(first + FILL_CHUNK, size)):
                    subscribers.add_subscriber(conn, reader_address(n), f"Reader {n}")
            report(f"  {min(first + FILL_CHUNK, size):,} readers")
    return time.perf_counter() - started


@dataclass(frozen=True)
class LedgerRow:
    """The figures of one size, as the measuring process prints them."""

    readers: int
    deliveries: int
    start_ms: float  # -1: the send was started by an earlier run
    count_ms: float
    ms_per_message: float
    first_half_ms: float
    second_half_ms: float
    cpu_ms_per_message: float
    peak_mb: float
    rss_before_mb: float
    scans: list[str]


class Statements:
    """Every distinct statement run on a connection (literals folded), with one real text."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, sql: str) -> None:
        shape = re.sub(r"'[^']*'|\b\d+(\.\d+)?\b", "?", sql)
        if re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE)", sql, re.IGNORECASE):
            self.seen.setdefault(shape, sql)

    def scans(self, conn: sqlite3.Connection) -> list[str]:
        """Each statement's plan lines that read a whole table ('SCAN' without an index)."""
        found = []
        for shape, sql in self.seen.items():
            for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
                detail = row[-1]
                if detail.startswith("SCAN") and "INDEX" not in detail:
                    found.append(f"{detail}: {shorten(shape)}")
        return found


def shorten(sql: str, width: int = 110) -> str:
    """One line of a statement, cut to `width`."""
    line = " ".join(sql.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def measure_size(path: Path, size: int) -> LedgerRow:
    """In this process: the send of `size` readers started (once), then SAMPLE messages
    from the middle of its list claimed and marked as a send does; the figures."""
    slug = slug_for(size)
    statements = Statements()
    with closing(db.connect(path)) as conn:
        conn.set_trace_callback(statements)
        started = time.perf_counter()
        started_now = ledger.start_send(conn, slug)
        start_ms = 1000 * (time.perf_counter() - started) if started_now else -1.0
        middle = size // 2
        reset_sample(conn, slug, middle)
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        ledger.recover_claims(conn, slug)
        ledger.ledger_counts(conn, slug)
        ledger.count_pending(conn, slug)
        ledger.sent_since(conn, SINCE_EVER)
        count_ms = 1000 * (time.perf_counter() - started)
        figures = claim_and_mark(conn, slug, middle)
        ledger.finish_send(conn, slug)
        conn.set_trace_callback(None)
        deliveries = conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        scans = statements.scans(conn)
    per_message = (figures[0] + figures[1]) / 2
    return LedgerRow(
        size,
        deliveries,
        start_ms,
        count_ms,
        per_message,
        *figures,
        peak_rss_mb(),
        rss_before,
        scans,
    )


def reset_sample(conn: sqlite3.Connection, slug: str, middle: int) -> None:
    """Make the SAMPLE rows after the middle pending again (an earlier run marked them)."""
    with db.transaction(conn):
        conn.execute(
            "UPDATE deliveries SET status = 'pending' WHERE slug = ? AND subscriber_id IN"
            " (SELECT subscriber_id FROM deliveries WHERE slug = ? AND subscriber_id > ?"
            " ORDER BY subscriber_id LIMIT ?)",
            (slug, slug, middle, SAMPLE),
        )


def claim_and_mark(conn: sqlite3.Connection, slug: str, after: int) -> tuple[float, float, float]:
    """Claim and mark up to SAMPLE messages from reader id `after` on, as `SendRun` does:
    the batch read, the reader looked up twice, and per message one committed transaction
    marking the previous one sent and claiming it. Milliseconds per message in the first
    half of the sample and in the second (flat if they match), and CPU milliseconds per
    message (what the disk's fsync does not blur)."""
    previous, stamps, cpu_started = None, [time.perf_counter()], time.process_time()
    while len(stamps) <= SAMPLE and (batch := ledger.pending_batch(conn, slug, after)):
        for delivery in batch[: SAMPLE + 1 - len(stamps)]:
            ledger.current_subscriber(conn, delivery)
            ledger.current_subscriber(conn, delivery)
            with db.transaction(conn):
                if previous is not None:
                    ledger.mark(conn, slug, previous, "sent")
                ledger.claim(conn, slug, delivery.subscriber_id)
            previous = delivery.subscriber_id
            stamps.append(time.perf_counter())
        after = batch[-1].subscriber_id
    if previous is not None:
        with db.transaction(conn):
            ledger.mark(conn, slug, previous, "sent")
    cpu = time.process_time() - cpu_started
    done, middle = len(stamps) - 1, len(stamps) // 2
    first, second = stamps[middle] - stamps[0], stamps[-1] - stamps[middle]
    return (
        1000 * first / max(middle, 1),
        1000 * second / max(done - middle, 1),
        1000 * cpu / max(done, 1),
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_in_process(path: Path, size: int) -> LedgerRow:
    """`measure_size` in a fresh process of its own; its figures."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.ledger", "--measure", str(size), "--database", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"measuring the ledger at {size:,} readers failed:\n{result.stderr[-3000:]}")
    return LedgerRow(**json.loads(result.stdout.splitlines()[-1]))


def format_ledger(rows: list[LedgerRow], fill_seconds: dict[int, float]) -> str:
    """The sizes as a Markdown table, and every table scan found."""
    lines = [
        "| readers | ledger rows | fill (add_subscriber) | start send | per-run counts "
        f"| claim + mark ms/message ({SAMPLE:,}) | first half | second half "
        "| CPU ms/message | peak RSS | RSS before the sample |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        filled = fill_seconds.get(row.readers)
        shown = f"{filled:.0f} s" if filled else "kept"
        start = f"{row.start_ms:,.0f} ms" if row.start_ms >= 0 else "earlier run"
        lines.append(
            f"| {row.readers:,} | {row.deliveries:,} | {shown} | {start} "
            f"| {row.count_ms:,.0f} ms | {row.ms_per_message:.3f} | {row.first_half_ms:.3f} "
            f"| {row.second_half_ms:.3f} | {row.cpu_ms_per_message:.3f} "
            f"| {row.peak_mb:.0f} MB | {row.rss_before_mb:.0f} MB |"
        )
    scans = sorted({scan for row in rows for scan in row.scans})
    lines.append("")
    lines.append("Table scans (EXPLAIN QUERY PLAN of every statement run):")
    lines.extend(f"- {scan}" for scan in scans) if scans else lines.append("- none")
    return "\n".join(lines)


def run_ledger_benchmark(
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    folder: Path | None = None,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> str:
    """Fill the database to each size in turn and measure it there; the table."""
    from bench.measure import WORK_DIR

    path = (folder or WORK_DIR / "ledger") / "publish.db"
    rows, fill_seconds = [], {}
    for size in sorted(sizes):
        report(f"ledger: filling to {size:,} readers...")
        seconds = fill(path, size, report)
        if seconds > 1:
            fill_seconds[size] = seconds
        report(f"ledger: measuring at {size:,} readers...")
        rows.append(measure_in_process(path, size))
    return format_ledger(rows, fill_seconds)


def measure_import(rows: int) -> str:
    """`publish subscribers import` of a CSV of `rows` readers into a fresh state database,
    in a measured process of its own; its wall, CPU and peak RSS in words."""
    from bench.generate import generate
    from bench.measure import WORK_DIR, measure, publish_command

    root = generate(10, WORK_DIR / f"import-{rows}")
    shutil.rmtree(root / "state", ignore_errors=True)
    csv = root / "readers.csv"
    lines = "".join(f"{reader_address(n)},Reader {n}\n" for n in range(rows))
    csv.write_text("email,name\n" + lines, encoding="utf-8")
    result = measure(publish_command(root, "subscribers", "import", str(csv)))
    if result.status != 0:
        sys.exit(f"the import failed:\n{result.output[-3000:]}")
    return (
        f"publish subscribers import, {rows:,} rows: {result.seconds:.1f} s of wall, "
        f"{result.cpu:.1f} s of CPU, peak RSS {result.peak_mb:.0f} MB"
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: the ledger benchmark, or (`--measure N`) one size's measuring process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated reader counts (default 10k,100k,1M)")
    parser.add_argument(
        "--import", dest="import_rows", type=int, help="measure importing this many readers"
    )
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        row: Any = measure_size(args.database, args.measure)
        print(json.dumps(row.__dict__))
        return
    if args.import_rows:
        print(measure_import(args.import_rows))
        return
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else DEFAULT_SIZES
    print(run_ledger_benchmark(sizes))


if __name__ == "__main__":
    main()

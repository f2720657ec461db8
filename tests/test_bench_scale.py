"""The scale benchmark's own instruments: the process-tree memory sampler and the ledger
benchmark's table-scan finder (what they report, never how fast anything is)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from bench.ledger import Statements, measure_size
from bench.measure import TreeSampler, descendants, pss_kb
from publish.state import db, subscribers

CHILD_HOLDS_MB = 64
# A parent that forks a child; the child touches CHILD_HOLDS_MB of its own and says so,
# then both wait until their standard input closes.
FORKING_PARENT = f"""
import os, sys
pid = os.fork()
if pid == 0:
    block = bytearray({CHILD_HOLDS_MB} * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print("ready", flush=True)
    sys.stdin.read()
    os._exit(0)
sys.stdin.read()
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="Linux /proc only")
def test_tree_sampler_counts_a_forked_workers_memory() -> None:
    """The sampled peak of a process tree includes what a forked child allocated."""
    process = subprocess.Popen(
        [sys.executable, "-c", FORKING_PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        assert process.stdout.readline().strip() == "ready"
        sampler = TreeSampler(process.pid, interval=0.01)
        deadline = time.monotonic() + 60  # a bound on failure only: it passes far sooner
        while sampler.peak_kb < CHILD_HOLDS_MB * 1024 and time.monotonic() < deadline:
            time.sleep(0.01)
        peak = sampler.stop()
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert peak >= CHILD_HOLDS_MB


def test_descendants_and_pss_of_this_process() -> None:
    """This process is its own first descendant, and has some PSS; an ended one has none."""
    assert descendants(os.getpid())[0] == os.getpid()
    assert pss_kb(os.getpid()) > 0 or not Path("/proc/self/smaps_rollup").exists()
    assert pss_kb(2**22 + 12345) == 0


def test_statements_report_a_table_scan_and_not_an_indexed_lookup() -> None:
    """Only the statement that reads the whole table is reported."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, colour TEXT)")
    statements = Statements()
    conn.set_trace_callback(statements)
    conn.execute("SELECT colour FROM t WHERE id = ?", (3,)).fetchall()
    conn.execute("SELECT id FROM t WHERE colour = ?", ("red",)).fetchall()
    conn.set_trace_callback(None)
    scans = statements.scans(conn)
    assert len(scans) == 1
    assert scans[0].startswith("SCAN t") and "colour = ?" in scans[0]


def test_ledger_measure_claims_and_marks_the_sample(tmp_path: Path) -> None:
    """One size measured on a real state database: every delivery row exists, the sample
    is marked sent, and the only table scan is the one that fixes the list."""
    path = tmp_path / "publish.db"
    with closing(db.connect(path)) as conn, db.transaction(conn):
        for n in range(50):
            subscribers.add_subscriber(conn, f"reader{n}@example.org")
    row = measure_size(path, 50)
    assert row.readers == 50 and row.deliveries == 50
    with closing(db.connect(path)) as conn:
        sent = conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'").fetchone()
    assert sent[0] == 25  # the rows after the middle of the list
    assert [scan.split(":")[0] for scan in row.scans] == ["SCAN subscribers"]

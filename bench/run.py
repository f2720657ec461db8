"""`make bench`: time cold and warm builds of generated sites, and sends to many subscribers
(10 connections, to a server that waits 50 ms per message and to one that does not, each
as the protocol floor, an unsigned send and a DKIM-signed one; see bench/sending.py, which
also runs alone: `python -m bench.sending --help`).

Every measured build runs `python -m publish --root SITE build --today 2030-01-01` in its own
process; wall time is taken around it, CPU and peak memory (max RSS, the largest single
process) from its resource usage, so the figures are those of the whole command a writer
would run. A cold build's memory is also sampled over its whole process tree (the build and
its forked workers together, by PSS: bench/measure.py). The last column times a rebuild
inside one long-lived process, as `publish serve` does (bench/warm.py). Then the search index
of 1,000 essays and a site of 200 photos (bench/media.py, which also runs alone).

    python -m bench.run                    # 100, 1,000 and 10,000 essays, and sending
    python -m bench.run --sizes 100,1000   # chosen sizes
    python -m bench.run --quick            # 100 and 1,000 essays, 1,000 subscribers
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.generate import generate
from bench.measure import TODAY, WORK_DIR, Measure, measure, publish_command

DEFAULT_SIZES = (100, 1000, 10000)
QUICK_SIZES = (100, 1000)


@dataclass(frozen=True)
class BuildRow:
    """One site size: its cold build, a rebuild with nothing changed, one after an edit, and
    the seconds of an edit's rebuild inside a long-lived process (as `publish serve` does)."""

    essays: int
    files: int
    cold: Measure
    unchanged: Measure
    warm: Measure
    in_process: float


def build_once(root: Path, tree: bool = False) -> Measure:
    """One measured `publish build` (with `tree`, its workers' memory sampled too); stops
    the benchmark if the build fails."""
    result = measure(publish_command(root, "build", "--today", TODAY), tree=tree)
    if result.status != 0:
        sys.exit(f"build of {root} failed:\n{result.output[-3000:]}")
    return result


def edit_one_essay(root: Path, words: str = "One more sentence, added while revising.") -> None:
    """Append `words` to the essay in the middle of the site, as a writer revising would."""
    paths = sorted((root / "essays").glob("*.md"))
    path = paths[len(paths) // 2]
    path.write_text(path.read_text(encoding="utf-8") + f"\n{words}\n", encoding="utf-8")


def count_files(folder: Path) -> int:
    """How many files a build wrote."""
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def bench_size(count: int) -> BuildRow:
    """Generate a site of `count` essays, then build it cold, unchanged and after one edit."""
    root = generate(count, WORK_DIR / f"site-{count}")
    cold = build_once(root, tree=True)
    unchanged = build_once(root)
    edit_one_essay(root)
    warm = build_once(root)
    files = count_files(root / "build" / "site") + count_files(root / "build" / "email")
    return BuildRow(count, files, cold, unchanged, warm, in_process_rebuild(root))


def in_process_rebuild(root: Path) -> float:
    """Seconds of a rebuild after one edit inside one process (`bench/warm.py`)."""
    result = measure(
        [sys.executable, "-m", "bench.warm", str(root)], cwd=Path(__file__).parent.parent
    )
    if result.status != 0:
        sys.exit(f"in-process rebuild of {root} failed:\n{result.output[-3000:]}")
    return float(result.output.split()[-1])


def format_builds(rows: list[BuildRow]) -> str:
    """The build results as a Markdown table."""
    lines = [
        "| essays | files | cold wall | cold CPU | cold ms/essay | cold peak RSS "
        "| cold peak, all processes (PSS) "
        "| unchanged rebuild | rebuild after 1 edit | warm peak RSS "
        "| in-process rebuild after 1 edit |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.essays:,} | {row.files:,} | {row.cold.seconds:.2f} s "
            f"| {row.cold.cpu:.2f} s "
            f"| {1000 * row.cold.seconds / row.essays:.2f} | {row.cold.peak_mb:.0f} MB "
            f"| {row.cold.tree_peak_mb:.0f} MB "
            f"| {row.unchanged.seconds:.2f} s | {row.warm.seconds:.2f} s "
            f"| {row.warm.peak_mb:.0f} MB | {row.in_process:.2f} s |"
        )
    return "\n".join(lines)


def has_send_command() -> bool:
    """Whether this publish has a `send` command yet."""
    result = subprocess.run(
        [sys.executable, "-m", "publish", "send", "--help"], capture_output=True, text=True
    )
    return result.returncode == 0


def bench_send(subscribers: int) -> str:
    """Send the newest essay of a small site to many subscribers on a local SMTP server."""
    if not has_send_command():
        return "sending: skipped (`publish send` does not exist yet)"
    from bench.sending import run_send_benchmark

    return run_send_benchmark(WORK_DIR / "send-site", subscribers, measure, publish_command)


def main(argv: list[str] | None = None) -> None:
    """Command line: run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description="Time publish builds of generated sites.")
    parser.add_argument("--sizes", help="comma-separated essay counts (default 100,1000,10000)")
    parser.add_argument(
        "--quick", action="store_true", help="100 and 1,000 essays and 1,000 subscribers"
    )
    parser.add_argument("--subscribers", type=int, help="how many subscribers to send to")
    parser.add_argument("--no-send", action="store_true", help="skip the sending benchmark")
    parser.add_argument(
        "--no-media", action="store_true", help="skip the search index and images benchmark"
    )
    args = parser.parse_args(argv)
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else QUICK_SIZES
        if args.quick
        else DEFAULT_SIZES
    )
    subscribers = args.subscribers or (1000 if args.quick else 10000)
    WORK_DIR.mkdir(exist_ok=True)
    rows = []
    for count in sizes:
        print(f"building {count:,} essays...", file=sys.stderr, flush=True)
        rows.append(bench_size(count))
    print(f"\npublish build on {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print(format_builds(rows))
    if not args.no_send:
        print()
        print(bench_send(subscribers))
    if not args.no_media:
        from bench.media import run_media_benchmark

        print()
        print(run_media_benchmark())


if __name__ == "__main__":
    main()

"""The goals of `make bench-compare` as ratios: medians of interleaved runs, with min–max.

`bench.compare` measures each tool several times, in turn, and hands the measures here; this
module only summarises them and says how each goal stands (the issue "Fast again" set them:
publish's cold CPU at most half Pelican's, its cold wall at most twice Hugo's, a fresh-process
rebuild with nothing changed within 0.25 s and with one essay edited within 0.3 s).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.measure import Measure

CPU_VS_PELICAN = 0.5  # publish's cold CPU at most this share of Pelican's
WALL_VS_HUGO = 2.0  # publish's cold wall at most this multiple of Hugo's
UNCHANGED_REBUILD = 0.25  # seconds, a fresh process with nothing changed
EDITED_REBUILD = 0.30  # seconds, a fresh process after one essay was edited


@dataclass(frozen=True)
class Spread:
    """The median of some figures with their smallest and largest."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of a non-empty list of figures."""
        return cls(statistics.median(values), min(values), max(values))

    def show(self, unit: str = " s", digits: int = 2) -> str:
        """`1.23 s (1.20–1.31)`."""
        return f"{self.median:.{digits}f}{unit} ({self.low:.{digits}f}–{self.high:.{digits}f})"


@dataclass(frozen=True)
class Runs:
    """Every measured run of one tool on one corpus, in the order they ran."""

    tool: str
    essays: int
    measures: tuple[Measure, ...]

    def spread(self, figure: Callable[[Measure], float]) -> Spread:
        """One figure (wall, CPU, memory) over the runs."""
        return Spread.of([figure(m) for m in self.measures])


def wall(m: Measure) -> float:
    """Wall seconds."""
    return m.seconds


def cpu(m: Measure) -> float:
    """CPU seconds of the process and the workers it forked."""
    return m.cpu


def memory(m: Measure) -> float:
    """Peak resident memory in MB."""
    return m.peak_mb


def ratio(ours: Spread, theirs: Spread) -> float:
    """Median against median."""
    return ours.median / theirs.median if theirs.median else float("inf")


def cold_table(runs: Sequence[Runs]) -> str:
    """A Markdown table of every tool's cold builds: wall, CPU and memory, medians (min–max)."""
    lines = [
        "| essays | tool | runs | cold wall | cold CPU | CPU/wall | peak RSS |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        w, c = r.spread(wall), r.spread(cpu)
        lines.append(
            f"| {r.essays:,} | {r.tool} | {len(r.measures)} | {w.show()} | {c.show()} "
            f"| {c.median / w.median:.2f} | {r.spread(memory).show(' MB', 0)} |"
        )
    return "\n".join(lines)


def goal_lines(runs: Sequence[Runs], rebuilds: dict[int, tuple[Runs, Runs]]) -> list[str]:
    """Each goal with its figure and whether it is met, for every corpus size measured."""
    by = {(r.tool, r.essays): r for r in runs}
    lines = []
    for essays in sorted({r.essays for r in runs}):
        ours, pelican, hugo = (by.get((tool, essays)) for tool in ("publish", "Pelican", "Hugo"))
        if ours and pelican:
            share = ratio(ours.spread(cpu), pelican.spread(cpu))
            lines.append(verdict(f"{essays:,} essays: cold CPU vs Pelican", share, CPU_VS_PELICAN))
        if ours and hugo:
            times = ratio(ours.spread(wall), hugo.spread(wall))
            lines.append(verdict(f"{essays:,} essays: cold wall vs Hugo", times, WALL_VS_HUGO))
    for essays, (unchanged, edited) in sorted(rebuilds.items()):
        for label, found, goal in (
            ("fresh rebuild, nothing changed", unchanged, UNCHANGED_REBUILD),
            ("fresh rebuild, one essay edited", edited, EDITED_REBUILD),
        ):
            spread = found.spread(wall)
            lines.append(verdict(f"{essays:,} essays: {label}", spread.median, goal, spread))
    return lines


def verdict(label: str, figure: float, goal: float, spread: Spread | None = None) -> str:
    """`label: 0.61× (goal ≤ 0.5×): not yet`, or with seconds for a spread."""
    shown = spread.show() if spread else f"{figure:.2f}×"
    bound = f"{goal:.2f} s" if spread else f"{goal:.2f}×"
    state = "met" if figure <= goal else "not yet"
    return f"- {label}: {shown} (goal ≤ {bound}): {state}"

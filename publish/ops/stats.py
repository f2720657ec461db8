"""`publish stats`: the list month by month and every send's outcome, as a terminal table and
as an SVG chart (drawn here, in Python, with no script) for the preview index.

Every number comes from the state database (`publish.state.stats`): no tracking pixel, no
rewritten link.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import msgspec
from lxml import etree

from publish.model import Settings
from publish.state.db import connect, database_path
from publish.state.followers import follower_count
from publish.state.replies import list_replies, reaction_counts
from publish.state.stats import MonthCounts, SendCounts, monthly_counts, send_counts

MONTH_FIELDS = ("new", "confirmed", "unsubscribed", "bounced", "complained")
SEND_FIELDS = ("delivered", "failed", "bounced", "unsubscribed")  # the chart's bars
# The table's columns: the chart's, and the deliveries a rerun may still make.
TABLE_SEND_FIELDS = ("delivered", "failed", "deferred", "unknown", "bounced", "unsubscribed")
# One colour per series, told apart also by the legend's words (never by colour alone).
COLOURS = {
    "new": "#3b6ea8",
    "confirmed": "#2e8b57",
    "unsubscribed": "#b8860b",
    "bounced": "#a0522d",
    "complained": "#8b1a1a",
    "delivered": "#2e8b57",
    "failed": "#8b1a1a",
}
SVG = "http://www.w3.org/2000/svg"
WIDTH = 640
PANEL_HEIGHT = 220
CHART_STYLE = "text { font: 12px sans-serif; fill: #222; } .heading { font-weight: bold; }"
PLOT_TOP, PLOT_BOTTOM, PLOT_LEFT, PLOT_RIGHT = 48, 72, 40, 12
CHART_GROUPS = 12  # the latest months and sends a chart shows
CHAR_WIDTH = 7  # about how wide a character of the labels is, in pixels
SLANTED_CHARS = 12  # a slanted label is cut to this many characters


class Stats(msgspec.Struct, frozen=True):
    """The numbers: subscriber events per month and each send, oldest first."""

    months: tuple[MonthCounts, ...] = ()
    sends: tuple[SendCounts, ...] = ()
    followers: int = 0  # who follows the site's fediverse actor
    reactions: tuple[tuple[str, int, int, int], ...] = ()  # essay, likes, boosts, replies


def read_stats(root: Path, settings: Settings) -> Stats:
    """The site's numbers; none when there is no state database yet (it is not created). An
    existing one is brought up to the current schema first, as every command that opens it
    does, so a database from an older publish has the columns counted here."""
    path = database_path(root, settings)
    if not path.is_file():
        return Stats()
    with closing(connect(path)) as connection:
        followers, reactions = (
            fediverse_counts(connection) if settings.fediverse.enabled else (0, ())
        )
        return Stats(
            tuple(monthly_counts(connection)), tuple(send_counts(connection)), followers, reactions
        )


def fediverse_counts(
    connection: sqlite3.Connection,
) -> tuple[int, tuple[tuple[str, int, int, int], ...]]:
    """Followers, and each essay's likes, boosts and replies, as the servers sent them."""
    counts = reaction_counts(connection)
    replies: dict[str, int] = {}
    for reply in list_replies(connection):
        replies[reply.slug] = replies.get(reply.slug, 0) + 1
    rows = tuple(
        (slug, *counts.get(slug, (0, 0)), replies.get(slug, 0))
        for slug in sorted(counts.keys() | replies.keys())
    )
    return follower_count(connection), rows


# --- The terminal table -----------------------------------------------------------------


def stats_table(stats: Stats) -> str:
    """Two plain-text tables: subscribers per month, then each send."""
    fediverse = _fediverse_table(stats)
    if not stats.months and not stats.sends:
        return fediverse or "No subscribers and no sends yet.\n"
    months = _table(
        ("month", *MONTH_FIELDS),
        [(m.month, *(getattr(m, name) for name in MONTH_FIELDS)) for m in stats.months],
    )
    sends = _table(
        ("essay", "started", *TABLE_SEND_FIELDS),
        [
            (s.slug, s.started_at[:10], *(getattr(s, name) for name in TABLE_SEND_FIELDS))
            for s in stats.sends
        ],
    )
    return f"Subscribers per month\n{months}\nSends\n{sends}" + (
        f"\n{fediverse}" if fediverse else ""
    )


def _fediverse_table(stats: Stats) -> str:
    """The fediverse's figures (followers; likes, boosts and replies per essay), or ''."""
    if not stats.followers and not stats.reactions:
        return ""
    table = _table(("essay", "likes", "boosts", "replies"), stats.reactions)
    return f"Fediverse: {stats.followers} follower(s)\n{table}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns lined up: text to the left, numbers to the right."""
    if not rows:
        return "  (none)\n"
    cells = [list(map(str, header)), *[[str(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(header))]
    lines = []
    for row in cells:
        padded = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  " + "  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


# --- The SVG chart ----------------------------------------------------------------------


class Panel(msgspec.Struct, frozen=True):
    """One chart: a title, the series shown, and one group of bars per label."""

    title: str
    series: tuple[str, ...]
    groups: tuple[tuple[str, tuple[int, ...]], ...]  # (label, one value per series)


def stats_chart_svg(
    stats: Stats, title: str = "Subscribers and sends", recent: int = CHART_GROUPS
) -> str:
    """An SVG of two bar charts (the list per month, each send; the `recent` latest of each),
    with a title and a text description for screen readers, every bar labelled with its
    number."""
    stats = Stats(stats.months[-recent:], stats.sends[-recent:])
    panels = (
        Panel(
            "Subscribers per month",
            MONTH_FIELDS,
            tuple((m.month, tuple(getattr(m, f) for f in MONTH_FIELDS)) for m in stats.months),
        ),
        Panel(
            "Each send",
            SEND_FIELDS,
            tuple((s.slug, tuple(getattr(s, f) for f in SEND_FIELDS)) for s in stats.sends),
        ),
    )
    height = PANEL_HEIGHT * len(panels)
    root = etree.Element(
        f"{{{SVG}}}svg",
        nsmap={None: SVG},
        width=str(WIDTH),
        height=str(height),
        viewBox=f"0 0 {WIDTH} {height}",
        role="img",
    )
    root.set("aria-labelledby", "stats-title stats-desc")
    _child(root, "title", title, id="stats-title")
    _child(root, "desc", _description(stats), id="stats-desc")
    _child(root, "style", CHART_STYLE)
    for index, panel in enumerate(panels):
        _draw_panel(root, panel, index * PANEL_HEIGHT)
    return etree.tostring(root, encoding="unicode")


def _description(stats: Stats) -> str:
    """The chart in words, for those who cannot see it."""
    months = "; ".join(
        f"{m.month}: " + ", ".join(f"{getattr(m, f)} {f}" for f in MONTH_FIELDS)
        for m in stats.months
    )
    sends = "; ".join(
        f"{s.slug}: " + ", ".join(f"{getattr(s, f)} {f}" for f in SEND_FIELDS) for s in stats.sends
    )
    return f"Subscribers per month: {months or 'none'}. Sends: {sends or 'none'}."


def _draw_panel(root: etree._Element, panel: Panel, top: int) -> None:
    """One bar chart, its heading and legend, `top` pixels down the image."""
    group = _child(root, "g", None, transform=f"translate(0 {top})")
    group.set("class", "panel")
    heading = _child(group, "text", panel.title, x=str(PLOT_LEFT), y="18")
    heading.set("class", "heading")
    _legend(group, panel.series)
    plot_height = PANEL_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    baseline = PLOT_TOP + plot_height
    _child(
        group,
        "line",
        None,
        x1=str(PLOT_LEFT),
        x2=str(WIDTH - PLOT_RIGHT),
        y1=str(baseline),
        y2=str(baseline),
        stroke="#888",
    )
    if not panel.groups:
        _child(group, "text", "Nothing yet", x=str(PLOT_LEFT + 8), y=str(baseline - 8))
        return
    largest = max(1, *(value for _, values in panel.groups for value in values))
    slot = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / len(panel.groups)
    bar = max(2.0, min(24.0, (slot - 8) / len(panel.series)))
    for number, (label, values) in enumerate(panel.groups):
        left = PLOT_LEFT + number * slot + (slot - bar * len(values)) / 2
        for offset, (series, value) in enumerate(zip(panel.series, values, strict=True)):
            _bar(
                group,
                series,
                label,
                value,
                left + offset * bar,
                bar,
                value / largest * plot_height,
                baseline,
            )
        _group_label(group, label, PLOT_LEFT + (number + 0.5) * slot, baseline + 16, slot)


def _group_label(group: etree._Element, label: str, x: float, y: float, room: float) -> None:
    """A group's name under its bars: level when it fits, else slanted (and cut short)."""
    if len(label) * CHAR_WIDTH <= room:
        _child(group, "text", label, x=f"{x:.1f}", y=f"{y:.1f}", **{"text-anchor": "middle"})
        return
    shown = label if len(label) <= SLANTED_CHARS else label[: SLANTED_CHARS - 1] + "…"
    y -= 4  # a slanted label hangs down from its end: start it a little higher
    text = _child(group, "text", shown, x=f"{x:.1f}", y=f"{y:.1f}", **{"text-anchor": "end"})
    text.set("transform", f"rotate(-45 {x:.1f} {y:.1f})")


def _bar(
    group: etree._Element,
    series: str,
    label: str,
    value: int,
    x: float,
    width: float,
    height: float,
    baseline: float,
) -> None:
    """One bar with its number above it and a tooltip naming what it counts."""
    rect = _child(
        group,
        "rect",
        None,
        x=f"{x:.1f}",
        y=f"{baseline - height:.1f}",
        width=f"{width - 1:.1f}",
        height=f"{height:.1f}",
        fill=COLOURS.get(series, "#555"),
    )
    rect.set("class", f"bar {series}")
    rect.set("data-series", series)
    rect.set("data-label", label)
    rect.set("data-value", str(value))
    _child(rect, "title", f"{label}: {value} {series}")
    _child(
        group,
        "text",
        str(value),
        x=f"{x + width / 2:.1f}",
        y=f"{baseline - height - 3:.1f}",
        **{"text-anchor": "middle", "font-size": "10"},
    )


def _legend(group: etree._Element, series: Sequence[str]) -> None:
    """A swatch and the name of each series, in a row under the heading."""
    x = PLOT_LEFT
    for name in series:
        _child(
            group,
            "rect",
            None,
            x=str(x),
            y="26",
            width="10",
            height="10",
            fill=COLOURS.get(name, "#555"),
        )
        _child(group, "text", name, x=str(x + 14), y="35")
        x += 14 + 8 * len(name) + 12


def _child(parent: etree._Element, tag: str, text: str | None, **attributes: str) -> etree._Element:
    """A new SVG element under `parent`, with its text and attributes."""
    element = etree.SubElement(parent, f"{{{SVG}}}{tag}", **attributes)
    if text is not None:
        element.text = text
    return element

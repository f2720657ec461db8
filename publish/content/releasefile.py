"""`releases.toml`: the site's own record of what it released, kept beside publish.toml.

The state database can be lost (a new machine, a restore); this small file is meant to be
committed with the essays, so the record of what went out travels with the site. `publish
run` rewrites it atomically whenever it records a release (and when it finds the file
behind the database); `run`, `schedule` and `build` read it, and where it and the database
disagree about a release, the file wins.

It also keeps `first_run`, the moment of the site's first `publish run`: before the first
release, essays dated before that day are back issues, and are mailed only when asked.

Whatever is wrong in it is an error at its line, never read as "no releases" (that would
mail everything again): an unresolved merge conflict, a `release` key that is not a list
of tables, an entry of the wrong shape, a moment outside the days a release can have. The
writer checks its own text with the same reader before it writes, so no command writes a
file that another cannot read.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from publish.content.essays import MIN_YEAR, SLUG_PATTERN
from publish.content.positions import line_of, toml_key_line
from publish.errors import Problem, PublishError, did_you_mean, error
from publish.model import Release
from publish.schedule.rules import FIRST_DAY, LAST_DAY
from publish.support.atomic import write_atomically

RELEASES_FILE = "releases.toml"
UTC_ZONE = ZoneInfo("UTC")
HEADER = """\
# The essays this site has released, written by `publish run`. Commit this file with the
# essays: on a new machine, or after state/ is lost, it is how `publish run` knows what was
# already mailed, so nobody is mailed twice. Edit it only to correct a record.
"""
FILE_KEYS = ("first_run", "release")
ENTRY_KEYS = ("slug", "source", "slot", "released_at", "content_hash")
# A release went out on a day publish can run as; its slot (an essay's date, for a back issue
# or an import) is no later than that, and no earlier than the first year an essay may name.
EARLIEST_SLOT = datetime(MIN_YEAR, 1, 1, tzinfo=UTC) - timedelta(days=1)
EARLIEST_RUN = datetime.combine(FIRST_DAY, datetime.min.time(), UTC) - timedelta(days=1)
LATEST_RUN = datetime.combine(LAST_DAY, datetime.max.time(), UTC) + timedelta(days=1)


# The patterns below are compiled on first use: only a site with a releases file reads one.


@cache
def table_header() -> re.Pattern[str]:
    """A `[[release]]` table's header line."""
    return re.compile(r"^[ \t]*\[\[[ \t]*release[ \t]*\]\]", re.MULTILINE)


@cache
def release_key() -> re.Pattern[str]:
    """The line that starts the `release` key: a `release =` or a `[release]` table."""
    return re.compile(r"^[ \t]*(release[ \t]*=|\[[ \t]*release[ \t]*\])", re.MULTILINE)


@cache
def toml_position() -> re.Pattern[str]:
    """Where tomllib's message says the text went wrong."""
    return re.compile(r"\(at line (\d+), column (\d+)\)")


@cache
def conflict_marker() -> re.Pattern[str]:
    """A line that marks a merge conflict: `<<<<<<<`, `|||||||`, `=======` or `>>>>>>>`."""
    return re.compile(r"^(<{7}|\|{7}|={7}|>{7})(?:[ \t].*)?$")


@cache
def slug_line() -> re.Pattern[str]:
    """A `slug = "..."` line (the essay a side of a merge conflict released)."""
    return re.compile(r"^[ \t]*slug[ \t]*=[ \t]*[\"']([^\"']*)[\"']")


class ReleasesFile(msgspec.Struct, frozen=True):
    """What `releases.toml` holds: releases by their released slug, and the first run."""

    releases: dict[str, Release] = msgspec.field(default_factory=dict)
    first_run: datetime | None = None
    lines: dict[str, int] = msgspec.field(default_factory=dict)  # slug -> its line (not compared)

    def __eq__(self, other: object) -> bool:
        """The same releases and first run, wherever their lines stand in the file."""
        if type(other) is not ReleasesFile:
            return NotImplemented
        return (self.releases, self.first_run) == (other.releases, other.first_run)

    __hash__ = None  # type: ignore[assignment]  # its releases are a dict


def releases_file_path(root: Path) -> Path:
    """Where a site's releases file lives."""
    return root / RELEASES_FILE


def read_releases_file(root: Path, timezone: str) -> ReleasesFile:
    """The releases file of a site (empty when there is none), or a PublishError."""
    path = releases_file_path(root)
    if not path.is_file():
        return ReleasesFile()
    return parse_releases(path.read_text(encoding="utf-8"), ZoneInfo(timezone))


def parse_releases(text: str, zone: ZoneInfo) -> ReleasesFile:
    """The text of a releases file, read and checked; a PublishError naming every problem."""
    conflicts = _conflicts(text)
    if conflicts:
        raise PublishError(conflicts)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = toml_position().search(str(exc))
        line, col = (int(position[1]), int(position[2])) if position else (1, 1)
        message = toml_position().sub("", str(exc)).strip()
        raise PublishError.single(RELEASES_FILE, line, col, f"not valid TOML: {message}") from None
    return _parse(data, text, zone)


def _conflicts(text: str) -> list[Problem]:
    """An error for each unresolved merge conflict (`<<<<<<<` … `=======` … `>>>>>>>`), at its
    first marker, naming the released essays on both sides (a stray marker is one too)."""
    problems: list[Problem] = []
    start, side, sides = 0, 0, ([], [], [])  # ours, theirs, and a diff3 common ancestor
    marker_of, slug_of = conflict_marker().match, slug_line().match
    for number, line in enumerate(text.splitlines(), start=1):
        marker = marker_of(line)
        if marker is None:
            slug = slug_of(line)
            if start and slug:
                sides[side].append(slug[1])
            continue
        if marker[1][0] == "<" and start:  # the previous conflict never ended
            problems.append(_conflict_error(start, number - 1, *sides[:2]))
        if marker[1][0] == "<" or not start:
            start, side, sides = number, 0, ([], [], [])
        side = {"<": 0, "|": 2, "=": 1}.get(marker[1][0], side)
        if marker[1][0] == ">":
            problems.append(_conflict_error(start, number, *sides[:2]))
            start = 0
    if start:
        problems.append(_conflict_error(start, start, *sides[:2]))
    return problems


def _conflict_error(start: int, end: int, ours: list[str], theirs: list[str]) -> Problem:
    """The error for one merge conflict in the releases file."""
    named = [", ".join(f"'{slug}'" for slug in side) or "no release" for side in (ours, theirs)]
    return error(
        RELEASES_FILE,
        start,
        1,
        f"an unresolved merge conflict (lines {start} to {end}) between {named[0]} and "
        f"{named[1]}: keep the record of every essay that was mailed, one release a slot, "
        "and delete the <<<<<<<, ======= and >>>>>>> lines",
    )


def _parse(data: dict[str, Any], text: str, zone: ZoneInfo) -> ReleasesFile:
    """Check and convert the parsed file; every problem is reported at once."""
    problems = [
        error(
            RELEASES_FILE,
            toml_key_line(text, key),
            1,
            f"unknown key '{key}'{did_you_mean(key, FILE_KEYS)}",
        )
        for key in data
        if key not in FILE_KEYS
    ]
    first_run = data.get("first_run")
    if first_run is not None and not _moment_in(first_run, zone, EARLIEST_RUN, LATEST_RUN):
        problems.append(
            error(
                RELEASES_FILE,
                toml_key_line(text, "first_run"),
                1,
                f"'first_run' must be a date and time from {FIRST_DAY} to {LAST_DAY}, "
                "the moment of the site's first `publish run`",
            )
        )
        first_run = None
    entries = data.get("release", [])
    if not isinstance(entries, list):
        problems.append(
            error(
                RELEASES_FILE,
                line_of(text, release_key()),
                1,
                "'release' must be a list of [[release]] tables",
            )
        )
        entries = []
    tables = [match.start() for match in table_header().finditer(text)]
    releases: dict[str, Release] = {}
    lines: dict[str, int] = {}
    for index, entry in enumerate(entries):
        release, key, message = _release(entry, zone)
        if release is not None and release.slug in releases:
            key, message = "slug", f"'{release.slug}' is recorded twice"
        line = _entry_line(text, tables, index, key)
        if message:
            problems.append(error(RELEASES_FILE, line, 1, f"release {index + 1}: {message}"))
        elif release is not None:
            releases[release.slug] = release
            lines[release.slug] = line
    if problems:
        raise PublishError(problems)
    return ReleasesFile(releases, _aware(first_run, zone) if first_run else None, lines)


def _release(entry: Any, zone: ZoneInfo) -> tuple[Release | None, str, str]:
    """One [[release]] table as a Release, or the key at fault and an error message."""
    if not isinstance(entry, dict):
        return None, "", "must be a [[release]] table"
    unknown = [key for key in entry if key not in ENTRY_KEYS]
    if unknown:
        hint = did_you_mean(unknown[0], ENTRY_KEYS)
        return None, unknown[0], f"unknown key '{unknown[0]}'{hint}"
    slug, source = entry.get("slug"), entry.get("source", "")
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        return None, "slug", "'slug' must be a slug such as \"on-margins\""
    if not isinstance(source, str):
        return None, "source", "'source' must be the essay's file, such as \"essays/a.md\""
    released_at, slot = entry.get("released_at"), entry.get("slot")
    if not _moment_in(released_at, zone, EARLIEST_SLOT, LATEST_RUN):
        example = "such as 2027-01-05T09:00:00Z"
        return (
            None,
            "released_at",
            f"'released_at' must be a date and time up to {LAST_DAY}, {example}",
        )
    if not _moment_in(slot, zone, EARLIEST_SLOT, _aware(released_at, zone)):
        return (
            None,
            "slot",
            (
                f"'slot' must be a date and time from the year {MIN_YEAR} up to its "
                "'released_at', such as 2027-01-05T09:00:00Z"
            ),
        )
    content_hash = entry.get("content_hash", "")
    if not isinstance(content_hash, str):
        return None, "content_hash", "'content_hash' must be text"
    return (
        Release(slug, _aware(slot, zone), _aware(released_at, zone), content_hash, source),
        "",
        "",
    )


def _moment_in(value: Any, zone: ZoneInfo, earliest: datetime, latest: datetime) -> bool:
    """Whether a TOML value is a date and time from `earliest` to `latest`."""
    return isinstance(value, datetime) and earliest <= _aware(value, zone) <= latest


def _entry_line(text: str, tables: list[int], index: int, key: str) -> int:
    """The line of `key` in the index-th [[release]] table, else of the table's header (the
    `release` key's line for an inline list)."""
    if index >= len(tables):
        return line_of(text, release_key())
    end = tables[index + 1] if index + 1 < len(tables) else len(text)
    name = re.escape(key or "\0")  # no key: the table's own line
    pattern = re.compile(
        rf"^[ \t]*({name}[ \t]*=|\[[ \t]*release[ \t]*\.[ \t]*{name}[ \t]*\])", re.MULTILINE
    )
    return line_of(text, pattern, tables[index], end)


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    """A moment in the site's zone; a time without an offset is the site's local time."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def write_releases_file(root: Path, record: ReleasesFile) -> None:
    """Write the releases file atomically: a reader sees the old file or the new, never half.

    The text is read back first, as the next command will read it: a record it could not
    read (a moment outside the days a release can have) is a PublishError, and nothing is
    written.
    """
    text = releases_text(record)
    parse_releases(text, UTC_ZONE)
    write_atomically(releases_file_path(root), text.encode("utf-8"))


def releases_text(record: ReleasesFile) -> str:
    """The releases file's text for a record."""
    data: dict[str, Any] = {}
    if record.first_run is not None:
        data["first_run"] = _writable(record.first_run)
    ordered = sorted(record.releases.values(), key=lambda r: (r.slot, r.slug))
    data["release"] = [
        {
            "slug": r.slug,
            "source": r.source,
            "slot": _writable(r.slot),
            "released_at": _writable(r.released_at),
            "content_hash": r.content_hash,
        }
        for r in ordered
    ]
    import tomli_w  # loaded by `run` and `import`, which write the file; a build only reads it

    return HEADER + "\n" + tomli_w.dumps(data)


def _writable(moment: datetime) -> datetime:
    """A moment TOML can hold: in its own offset when that is whole minutes (a local mean
    time, before a zone's standard time, is not), else in UTC."""
    offset = moment.utcoffset()
    return moment.astimezone(UTC) if offset is None or offset.seconds % 60 else moment

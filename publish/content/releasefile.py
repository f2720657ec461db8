"""`releases.toml`: the site's own record of what it released, kept beside publish.toml.

The state database can be lost (a new machine, a restore); this small file is meant to be
committed with the essays, so the record of what went out travels with the site. `publish
run` rewrites it atomically whenever it records a release (and when it finds the file
behind the database); `run`, `schedule` and `build` read it, and where it and the database
disagree about a release, the file wins.

It also keeps `first_run`, the moment of the site's first `publish run`: before the first
release, essays dated before that day are back issues, and are mailed only when asked.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import tomli_w

from publish.atomic import write_atomically
from publish.content.essays import SLUG_PATTERN
from publish.errors import PublishError, error
from publish.model import Release

RELEASES_FILE = "releases.toml"
HEADER = """\
# The essays this site has released, written by `publish run`. Commit this file with the
# essays: on a new machine, or after state/ is lost, it is how `publish run` knows what was
# already mailed, so nobody is mailed twice. Edit it only to correct a record.
"""
TABLE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*release[ \t]*\]\]", re.MULTILINE)
TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class ReleasesFile:
    """What `releases.toml` holds: releases by their released slug, and the first run."""

    releases: dict[str, Release] = field(default_factory=dict)
    first_run: datetime | None = None


def releases_file_path(root: Path) -> Path:
    """Where a site's releases file lives."""
    return root / RELEASES_FILE


def read_releases_file(root: Path, timezone: str) -> ReleasesFile:
    """The releases file of a site (empty when there is none), or a PublishError."""
    path = releases_file_path(root)
    if not path.is_file():
        return ReleasesFile()
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = TOML_POSITION.search(str(exc))
        line, col = (int(position[1]), int(position[2])) if position else (1, 1)
        message = TOML_POSITION.sub("", str(exc)).strip()
        raise PublishError.single(RELEASES_FILE, line, col, f"not valid TOML: {message}") from None
    return _parse(data, text, ZoneInfo(timezone))


def _parse(data: dict[str, Any], text: str, zone: ZoneInfo) -> ReleasesFile:
    """Check and convert the parsed file; every problem is reported at once."""
    problems = []
    tables = [match.start() for match in TABLE_HEADER.finditer(text)]
    first_run = data.get("first_run")
    if first_run is not None and not isinstance(first_run, datetime):
        problems.append(
            error(
                RELEASES_FILE,
                _key_line(text, "first_run"),
                1,
                "'first_run' must be a date and time",
            )
        )
        first_run = None
    entries = data.get("release", [])
    if not isinstance(entries, list):
        problems.append(
            error(RELEASES_FILE, 1, 1, "'release' must be a list of [[release]] tables")
        )
        entries = []
    releases: dict[str, Release] = {}
    for index, entry in enumerate(entries):
        release, key, message = _release(entry, zone)
        if release is not None and release.slug in releases:
            key, message = "slug", f"'{release.slug}' is recorded twice"
        if message:
            line = _entry_line(text, tables, index, key)
            problems.append(error(RELEASES_FILE, line, 1, f"release {index + 1}: {message}"))
        elif release is not None:
            releases[release.slug] = release
    if problems:
        raise PublishError(problems)
    return ReleasesFile(releases, _aware(first_run, zone) if first_run else None)


def _release(entry: Any, zone: ZoneInfo) -> tuple[Release | None, str, str]:
    """One [[release]] table as a Release, or the key at fault and an error message."""
    if not isinstance(entry, dict):
        return None, "", "must be a table"
    slug, source = entry.get("slug"), entry.get("source", "")
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        return None, "slug", "'slug' must be a slug such as \"on-margins\""
    if not isinstance(source, str):
        return None, "source", "'source' must be the essay's file, such as \"essays/a.md\""
    times = {}
    for key in ("slot", "released_at"):
        value = entry.get(key)
        if not isinstance(value, datetime):
            return None, key, f"'{key}' must be a date and time, such as 2027-01-05T09:00:00Z"
        times[key] = _aware(value, zone)
    content_hash = entry.get("content_hash", "")
    if not isinstance(content_hash, str):
        return None, "content_hash", "'content_hash' must be text"
    return Release(slug, times["slot"], times["released_at"], content_hash, source), "", ""


def _entry_line(text: str, tables: list[int], index: int, key: str) -> int:
    """The line of `key` in the index-th [[release]] table, else of the table's header."""
    if index >= len(tables):
        return 1
    end = tables[index + 1] if index + 1 < len(tables) else len(text)
    match = (
        re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.MULTILINE).search(
            text, tables[index], end
        )
        if key
        else None
    )
    return text[: match.start() if match else tables[index]].count("\n") + 1


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    """A moment in the site's zone; a time without an offset is the site's local time."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _key_line(text: str, key: str) -> int:
    """The line where a top-level key is set, or 1."""
    match = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text, re.MULTILINE)
    return text[: match.start()].count("\n") + 1 if match else 1


def write_releases_file(root: Path, record: ReleasesFile) -> None:
    """Write the releases file atomically: a reader sees the old file or the new, never half."""
    data: dict[str, Any] = {}
    if record.first_run is not None:
        data["first_run"] = record.first_run
    ordered = sorted(record.releases.values(), key=lambda r: (r.slot, r.slug))
    data["release"] = [
        {
            "slug": r.slug,
            "source": r.source,
            "slot": r.slot,
            "released_at": r.released_at,
            "content_hash": r.content_hash,
        }
        for r in ordered
    ]
    text = HEADER + "\n" + tomli_w.dumps(data)
    write_atomically(releases_file_path(root), text.encode("utf-8"))

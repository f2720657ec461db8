"""Which essay went out in which slot, and when: the `releases` table and `releases.toml`.

A release is written once and never changed, except for the essay's source file, which
follows a renamed file: it is what fixes an undated essay's date and, with the released
slug, what the essay is across edits.

An essay's identity is its source file (relative to the site); a renamed file whose slug is
unchanged is found by its slug. Once released, its slug is frozen: a changed title (the
slug comes from the title when front matter has no `slug`) keeps the released slug and URL.
An explicit `slug:` change moves the page, and the old address gets a redirect page; the
released slug stays the release's name in the send ledger, so nobody is mailed again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import msgspec

from publish.content.releasefile import RELEASES_FILE, read_releases_file
from publish.content.source import read_document
from publish.errors import Problem, PublishError, error
from publish.model import Essay, Release, Settings, Site
from publish.state import db
from publish.state.db import database_error, database_path, transaction

if TYPE_CHECKING:  # loaded when a database is opened: a site without state never loads it
    import sqlite3


def record_releases(connection: sqlite3.Connection, releases: Iterable[Release]) -> None:
    """Record releases in one transaction; a slug already recorded keeps its first record."""
    rows = [
        (r.slug, r.slot.isoformat(), r.released_at.isoformat(), r.content_hash, r.source)
        for r in releases
    ]
    with transaction(connection):
        connection.executemany(
            "INSERT OR IGNORE INTO releases (slug, slot, released_at, "
            "content_hash, source) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def update_sources(connection: sqlite3.Connection, releases: Iterable[Release]) -> None:
    """Bring the recorded source file of each release up to date (a renamed essay file)."""
    rows = [(r.source, r.slug, r.source) for r in releases]
    with transaction(connection):
        connection.executemany(
            "UPDATE releases SET source = ? WHERE slug = ? AND source != ?", rows
        )


def read_releases(connection: sqlite3.Connection, timezone: str) -> dict[str, Release]:
    """Every recorded release by slug, its times in the site's time zone."""
    zone = ZoneInfo(timezone)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(releases)")}
    source = "source" if "source" in columns else "''"  # a database not yet migrated
    rows = connection.execute(
        f"SELECT slug, slot, released_at, content_hash, {source} FROM releases ORDER BY slot, slug"
    ).fetchall()
    return {
        row[0]: Release(
            slug=row[0],
            slot=datetime.fromisoformat(row[1]).astimezone(zone),
            released_at=datetime.fromisoformat(row[2]).astimezone(zone),
            content_hash=row[3],
            source=row[4],
        )
        for row in rows
    }


def merge_releases(
    database: Mapping[str, Release], file: Mapping[str, Release]
) -> dict[str, Release]:
    """Every release either source knows; for a release both know, the file's record wins."""
    return {**database, **file}


def unfinished_sends(connection: sqlite3.Connection, slugs: Iterable[str]) -> list[str]:
    """The slugs among `slugs` whose send in the ledger has not finished (or not started)."""
    finished = {
        row[0] for row in connection.execute("SELECT slug FROM sends WHERE finished_at IS NOT NULL")
    }
    return [slug for slug in slugs if slug not in finished]


def open_read_only(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to an existing state database, or None when there is none yet."""
    if not path.is_file():
        return None
    import sqlite3

    connection = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=db.BUSY_TIMEOUT
    )
    try:
        connection.execute("SELECT 1 FROM releases LIMIT 1")
    except sqlite3.DatabaseError as exc:
        connection.close()
        if "no such table" in str(exc):  # a database from before the releases table
            return None
        raise database_error(path, exc, "read") from None
    return connection


def recorded_releases(root: Path, settings: Settings) -> Known:
    """What a site released (the database merged with releases.toml), read once, without
    creating or changing anything; the database's unfinished sends come with it, and what
    the send ledger still needs an email for."""
    on_file = read_releases_file(root, settings.site.timezone)
    connection = open_read_only(database_path(root, settings))
    database: dict[str, Release] = {}
    unfinished: list[str] = []
    ledger: set[str] = set()
    if connection is not None:
        with closing(connection):
            database = read_releases(connection, settings.site.timezone)
            unfinished = unfinished_sends(connection, database)
            ledger = ledger_needs(connection, settings)
    return Known(
        database,
        on_file.releases,
        frozenset(unfinished),
        on_file.first_run,
        on_file.lines,
        frozenset(ledger),
    )


def ledger_needs(connection: sqlite3.Connection, settings: Settings) -> set[str]:
    """What the send ledger still needs an email for: every send started and not finished
    (a `publish send SLUG` of any essay, not only the releases), and the essay new readers
    are welcomed with."""
    rows = connection.execute("SELECT slug FROM sends WHERE finished_at IS NULL")
    open_sends = {row[0] for row in rows}
    if settings.email.welcome == "none":
        return open_sends
    # Loaded here: only a site with a state database asks it, and a build forks its parse
    # workers sooner without the welcomes' module and the statuses' enums.
    from publish.state.welcomes import latest_sent_slug

    slug = latest_sent_slug(connection)
    return open_sends | ({slug} if slug is not None else set())


class Known(msgspec.Struct, frozen=True):
    """What the state database and the releases file say was released."""

    database: dict[str, Release]
    file: dict[str, Release]
    unfinished: frozenset[str]  # database releases whose ledger send has not finished
    first_run: datetime | None
    lines: Mapping[str, int] = msgspec.field(default_factory=dict)  # slug -> its line in the file
    ledger: frozenset[str] = frozenset()  # what the send ledger still needs an email for

    @property
    def releases(self) -> dict[str, Release]:
        """Every release, by released slug; the file wins where both hold one."""
        return merge_releases(self.database, self.file)

    def bind(self, site: Site) -> Binding:
        """These releases matched to the essays of `site` (see `bind_releases`)."""
        return bind_releases(site, self.releases, self.unfinished, self.lines)

    def address(self, root: Path, essay: Essay) -> str:
        """The address the binding gives `essay` as far as the essay alone shows it (a
        retitled released essay keeps its released slug): what its bodies are rendered
        for as it is parsed."""
        for released, found in _match([essay], self.releases).items():
            return _address(root, found, released, released in self.unfinished)[0].slug
        return essay.slug


class Binding(msgspec.Struct, frozen=True):
    """Releases matched to the essays they released.

    `site` has each released essay at its address (its frozen slug, or its new explicit
    slug with a redirect from the released one); `releases` is keyed by that address, for
    planning and dating; `records` is keyed by released slug (the ledger's name), with each
    source file brought up to date; `notes` say what changed since the release.
    """

    site: Site
    releases: dict[str, Release]
    records: dict[str, Release]
    notes: tuple[str, ...]


def bind_releases(
    site: Site,
    records: Mapping[str, Release],
    unfinished: frozenset[str] = frozenset(),
    lines: Mapping[str, int] | None = None,
) -> Binding:
    """Match every release to its essay and give each released essay its address.

    A move to a new explicit slug waits while the release's send is `unfinished`, so the
    send resumes under the name its ledger knows. Two undated essays released in one slot
    are an error at the line of the releases file (`lines`) that records the later one.
    """
    matched = _match(site.essays, records)
    _refuse_shared_slots(site, matched, records, lines or {})
    essays = {essay.path: essay for essay in site.essays}
    releases: dict[str, Release] = {}
    bound: dict[str, Release] = {}
    redirects: list[tuple[str, str]] = []
    notes: list[str] = []
    for slug, record in records.items():
        essay = matched.get(slug)
        if essay is None:  # deleted, or both renamed and retitled: it keeps its slot
            releases[slug] = bound[slug] = record
            continue
        if record.source and record.source != essay.path:
            notes.append(
                f"{record.source} was renamed to {essay.path}: it is still the "
                f"released essay '{slug}'"
            )
        bound[slug] = msgspec.structs.replace(record, source=essay.path)
        current, note = _address(site.root, essay, slug, slug in unfinished)
        if note:
            notes.append(note)
        if current.slug != slug:
            redirects.append((slug, current.slug))
        essays[essay.path] = current
        releases[current.slug] = msgspec.structs.replace(
            record, slug=current.slug, source=essay.path
        )
    _refuse_reused_slugs(essays.values(), matched, records)
    site = msgspec.structs.replace(
        site, essays=tuple(essays[e.path] for e in site.essays), redirects=tuple(redirects)
    )
    return Binding(site, releases, bound, tuple(notes))


def _match(essays: Iterable[Essay], records: Mapping[str, Release]) -> dict[str, Essay]:
    """The essay of each release: by source file, else (a renamed file) by the same slug."""
    essays = list(essays)
    by_path = {essay.path: essay for essay in essays}
    matched = {slug: by_path[r.source] for slug, r in records.items() if r.source in by_path}
    taken = {essay.path for essay in matched.values()}
    for essay in essays:
        if essay.slug in records and essay.slug not in matched and essay.path not in taken:
            matched[essay.slug] = essay
            taken.add(essay.path)
    return matched


def _address(root: Path, essay: Essay, released: str, unfinished: bool) -> tuple[Essay, str]:
    """The released essay at its address, and a note when that is not its slug of today."""
    if essay.slug == released:
        return essay, ""
    if not _has_explicit_slug(root, essay):
        return (
            msgspec.structs.replace(essay, slug=released),
            f"{essay.path}: its title changed after its release; it keeps its released "
            f"address {released}/ (add `slug: {released}` to its front matter to say so)",
        )
    if unfinished:
        return (
            msgspec.structs.replace(essay, slug=released),
            f"{essay.path}: the new slug '{essay.slug}' waits until the send of "
            f"'{released}' has finished; until then the page stays at {released}/",
        )
    return essay, (
        f"{essay.path}: its slug changed after its release, so its page moved "
        f"from {released}/ to {essay.slug}/; the old address redirects there and "
        "it is not mailed again"
    )


def _refuse_shared_slots(
    site: Site,
    matched: Mapping[str, Essay],
    records: Mapping[str, Release],
    lines: Mapping[str, int],
) -> None:
    """An error for each slot (a day) recorded as releasing two undated essays.

    The queue gives each slot one essay, so two undated releases in one slot mean a record
    that is wrong, such as a bad merge of releases.toml: the one never mailed here would be
    taken for mailed. Dated essays may share a day (their date is their slot).
    """
    zone = ZoneInfo(site.settings.site.timezone)
    by_day: dict[date, list[Release]] = defaultdict(list)
    for slug, record in records.items():
        essay = matched.get(slug)
        if essay is not None and essay.date is None:
            by_day[record.slot.astimezone(zone).date()].append(record)
    problems = [
        _shared_slot_error(site, matched, sorted(shared, key=lambda r: lines.get(r.slug, 0)), lines)
        for shared in by_day.values()
        if len(shared) > 1
    ]
    if problems:
        raise PublishError(problems)


def _shared_slot_error(
    site: Site, matched: Mapping[str, Essay], shared: list[Release], lines: Mapping[str, int]
) -> Problem:
    """The error for releases sharing one slot, at the releases file's line of the last."""
    *others, last = shared
    path, line = (
        (RELEASES_FILE, lines[last.slug])
        if last.slug in lines
        else (
            str(database_path(site.root, site.settings)),
            1,
        )
    )
    slot = last.slot.astimezone(ZoneInfo(site.settings.site.timezone))
    names = " and ".join(f"'{r.slug}' ({matched[r.slug].path})" for r in others)
    return error(
        path,
        line,
        1,
        f"'{last.slug}' ({matched[last.slug].path}) and {names} are recorded as released in "
        f"the same slot, {slot:%Y-%m-%d %H:%M}: a slot releases one queued essay, so one "
        f"record is wrong (a bad merge of {RELEASES_FILE}?); keep the release that was "
        "mailed and delete the other",
    )


def _has_explicit_slug(root: Path, essay: Essay) -> bool:
    """Whether the essay's front matter sets `slug` (else it came from the title)."""
    document, _ = read_document(root / essay.path, root)
    return document is not None and "slug" in document.metadata


def _refuse_reused_slugs(
    essays: Iterable[Essay], matched: Mapping[str, Essay], records: Mapping[str, Release]
) -> None:
    """An error for an essay whose address is a slug released for another essay."""
    problems = []
    for essay in essays:
        owner = matched.get(essay.slug)
        if essay.slug in records and (owner is None or owner.path != essay.path):
            released = owner.path if owner else records[essay.slug].source or "another essay"
            problems.append(
                error(
                    essay.path,
                    1,
                    1,
                    f"slug '{essay.slug}' was released for "
                    f"{released} ({RELEASES_FILE} records it); "
                    "give this essay another slug",
                )
            )
    if problems:
        raise PublishError(problems)

"""`publish import`: read an export, convert it, propose the glossary, plan the essays,
images, glossary entries, release records and readers, then commit them whole (nothing with
--dry-run)."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import frontmatter
import msgspec
import yaml

from publish.content.releasefile import (
    RELEASES_FILE,
    ReleasesFile,
    read_releases_file,
    write_releases_file,
)
from publish.content.settings import load_settings
from publish.errors import Problem, PublishError, warning
from publish.importers import ghost, substack, wordpress
from publish.importers.commit import Changes, commit
from publish.importers.convert import ConvertedPost, convert_post
from publish.importers.essayfiles import EssayFile, plan_essays, settle_slugs
from publish.importers.model import Archive, ImportOptions
from publish.importers.repeats import (
    Candidate,
    cite_glossary,
    find_candidates,
    settle_keys,
)
from publish.layout import ESSAYS_DIR, GLOSSARY_DIR
from publish.model import Settings
from publish.schedule.slots import Release
from publish.state.db import database_path
from publish.state.imports import ImportPlan, read_import
from publish.state.imports import ImportReport as SubscriberReport
from publish.support.locks import SITE_BUSY, folder_lock

Reader = Callable[[Path, ImportOptions], Archive]
SOURCES: dict[str, Reader] = {
    "substack": substack.read,
    "wordpress": wordpress.read,
    "ghost": ghost.read,
}


class ImportReport(msgspec.Struct):
    """What an import did (or, with --dry-run, would do)."""

    source: str
    dry_run: bool
    written: list[str] = msgspec.field(default_factory=list)
    existing: list[str] = msgspec.field(default_factory=list)
    drafts: int = 0
    footnotes: int = 0
    images_copied: int = 0
    images_missing: int = 0
    embeds: int = 0
    attachments: int = 0
    candidates: list[Candidate] = msgspec.field(default_factory=list)
    glossary: bool = False  # repeated notes cited by their glossary key
    uploads: bool = False  # an uploads folder was given to copy images from
    glossary_written: list[str] = msgspec.field(default_factory=list)
    glossary_present: list[str] = msgspec.field(default_factory=list)  # there before this import
    released: int = 0
    subscribers: list[str] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)
    warnings: list[Problem] = msgspec.field(default_factory=list)

    def lines(self) -> list[str]:
        """The report, one line per figure, for the command line."""
        would = "would be " if self.dry_run else ""
        lines = [
            f"{self.source}: {len(self.written)} post(s) {would}imported as essays "
            f"({self.drafts} as drafts), {len(self.existing)} already there",
            f"footnotes converted: {self.footnotes}",
            f"images {would}copied: {self.images_copied}, not in the export: {self.images_missing}",
            f"embeds replaced by links: {self.embeds}",
            f"releases {would}recorded (never mailed again): {self.released}",
        ]
        if self.attachments:
            hint = (
                ""
                if self.uploads
                else (
                    " (give --uploads DIR, the old uploads folder, to "
                    "copy the images the posts show)"
                )
            )
            lines.append(f"attachments listed in the export: {self.attachments}{hint}")
        lines.append(f"glossary candidates: {len(self.candidates)}")
        for candidate in self.candidates:
            path = f"{GLOSSARY_DIR}/{candidate.key}.md"
            done = (
                "written"
                if path in self.glossary_written
                else "already in the glossary"
                if path in self.glossary_present
                else f"{would}cited by key"
                if self.glossary and self.dry_run
                else "not written: its essays were already there"
                if self.glossary
                else "proposed"
            )
            lines.append(
                f"  [^{candidate.key}] {candidate.term} ({done}; in {', '.join(candidate.slugs)})"
            )
        if self.candidates and not self.glossary:
            lines.append(
                "  --glossary writes them and cites them by key in the essays it "
                "imports"
                + (
                    ""
                    if self.dry_run
                    else " (these essays are now in essays/, and an import never rewrites an essay)"
                )
            )
        lines += self.subscribers + self.notes
        return lines


def run_import(root: Path, source: str, path: Path, options: ImportOptions) -> ImportReport:
    """Import an export into the site at `root`; raises PublishError on a bad export.

    Everything is read, converted and checked first; then the import is written whole
    (`commit`): a failure at any point leaves the site as it was. A real import holds the
    lock on the site's folder from before it reads `releases.toml` until it has written
    it, so it never overlaps a `publish run` or another import (it refuses at once).
    """
    lock = nullcontext() if options.dry_run else folder_lock(root, SITE_BUSY)
    with lock:
        return _import(root, source, path, options)


def _import(root: Path, source: str, path: Path, options: ImportOptions) -> ImportReport:
    """The import itself (see run_import)."""
    settings = load_settings(root)
    archive = SOURCES[source](path, options)
    zone = ZoneInfo(settings.site.timezone)
    for post in archive.posts:  # a time the export gives without a zone is the site's
        if post.date is not None and post.date.tzinfo is None:
            post.date = post.date.replace(tzinfo=zone)
    report = ImportReport(
        source=archive.source,
        dry_run=options.dry_run,
        glossary=options.glossary,
        uploads=options.uploads is not None,
        attachments=len(archive.attachments),
        notes=list(archive.notes),
        warnings=list(archive.warnings),
    )
    report.notes += settle_slugs(archive.posts)
    converted = [convert_post(post) for post in archive.posts]
    report.candidates = settle_keys(root, find_candidates(converted))
    report.glossary_present = [
        p for c in report.candidates if (root / (p := f"{GLOSSARY_DIR}/{c.key}.md")).is_file()
    ]
    if options.glossary:
        cite_glossary(converted, report.candidates)
    files = plan_essays(root, converted)
    _count(report, files, converted)
    changes = Changes(readers=_read_readers(archive, options))  # every row checked first
    _plan_essays(root, files, changes)
    new = {f.post.slug for f in files if not f.exists}
    used = [c for c in report.candidates if new & set(c.slugs)]
    report.glossary_written = _plan_glossary(root, used, options.glossary, changes)
    report.released = _plan_releases(root, settings, files, changes)
    if options.dry_run:
        report.glossary_written = []
        report.subscribers = _dry_run_lines(changes.readers)
        return report
    merged = commit(root, changes, database_path(root, settings))
    report.subscribers = _reader_lines(merged)
    return report


def _count(report: ImportReport, files: list[EssayFile], converted: list[ConvertedPost]) -> None:
    """The figures of the report, and a warning per missing image and per embed."""
    new = {f.post.slug for f in files if not f.exists}
    paths = {f.post.slug: f.path for f in files}
    for file in files:
        (report.existing if file.exists else report.written).append(file.path)
    for item in converted:
        post = item.post
        if post.slug not in new:
            continue
        report.drafts += post.draft
        report.footnotes += len(post.footnotes)
        report.images_copied += len(post.images)
        report.images_missing += len(post.missing_images) + len(post.dropped_images)
        report.embeds += len(post.embeds)
        where = paths[post.slug]
        if post.missing_images:
            listed = ", ".join(post.missing_images)
            report.warnings.append(
                warning(
                    where, 1, 1, f"images not in the export, kept at their old addresses: {listed}"
                )
            )
        if post.dropped_images:
            listed = ", ".join(post.dropped_images)
            report.warnings.append(
                warning(
                    where,
                    1,
                    1,
                    "images not in the export and with no "
                    f"address readers can reach, shown as their alt "
                    f"text (give --uploads DIR to copy them): {listed}",
                )
            )
        for url in post.embeds:
            report.warnings.append(warning(where, 1, 1, f"embed replaced by a link: {url}"))


def _plan_essays(root: Path, files: list[EssayFile], changes: Changes) -> None:
    """Each new essay and its images; nothing that exists is touched."""
    for file in files:
        if file.exists:
            continue
        for image in file.post.images:
            target = f"{ESSAYS_DIR}/{PurePosixPath(image.target)}"
            if not (root / target).exists():
                changes.add(target, image.data)
        changes.add(file.path, file.text.encode("utf-8"))


def _plan_glossary(
    root: Path, candidates: list[Candidate], wanted: bool, changes: Changes
) -> list[str]:
    """Each candidate's `footnotes/<key>.md` (when asked, and not there yet); return the
    paths planned."""
    written = []
    for candidate in candidates if wanted else []:
        path = f"{GLOSSARY_DIR}/{candidate.key}.md"
        if not (root / path).exists() and changes.add(path, candidate.file_text().encode()):
            written.append(path)
    return written


def _releasable(file: EssayFile) -> bool:
    """Whether a post went out on the old platform and has a date to record."""
    return file.post.released and not file.post.draft and file.post.date is not None


def _plan_releases(root: Path, settings: Settings, files: list[EssayFile], changes: Changes) -> int:
    """Plan `releases.toml` with every post that went out recorded as released, so
    `publish run` never mails it: the essays this import writes, and those an earlier,
    interrupted import wrote without recording. Records already there stay as they are.
    Returns how many are new."""
    record = read_releases_file(root, settings.site.timezone)
    releases = dict(record.releases)
    for file in files:
        post = file.post
        if not _releasable(file) or post.slug in releases:
            continue
        if file.exists and not _written_by_an_import(root, file):
            continue
        assert post.date is not None
        releases[post.slug] = Release(
            slug=post.slug,
            slot=post.date,
            released_at=post.date,
            content_hash=hashlib.sha256(file.text.encode("utf-8")).hexdigest(),
            source=file.path,
        )
    if releases != record.releases:
        changes.releases = releases_bytes(msgspec.structs.replace(record, releases=releases))
    return len(releases) - len(record.releases)


def releases_bytes(record: ReleasesFile) -> bytes:
    """`releases.toml` as `write_releases_file` writes it (in a scratch folder: the
    import puts it in place only when it commits)."""
    with tempfile.TemporaryDirectory() as folder:
        write_releases_file(Path(folder), record)
        return (Path(folder) / RELEASES_FILE).read_bytes()


def _written_by_an_import(root: Path, file: EssayFile) -> bool:
    """Whether the essay already at the post's path is this post, as an import wrote it:
    the same slug and the same moment in its front matter."""
    try:
        meta = frontmatter.loads((root / file.path).read_text(encoding="utf-8")).metadata
        written = datetime.fromisoformat(str(meta.get("date", "")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError):
        return False
    post = file.post
    if post.date is None or meta.get("slug") != post.slug:
        return False
    if written.tzinfo is None:  # an earlier version wrote local times without their zone
        written = written.replace(tzinfo=post.date.tzinfo)
    return written == post.date


def _read_bytes(path: Path) -> bytes:
    """A subscriber file's bytes, or a PublishError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PublishError.single(str(path), 1, 1, f"cannot read the CSV file: {exc}") from None


def _read_readers(archive: Archive, options: ImportOptions) -> list[tuple[str, ImportPlan]]:
    """Every subscriber file of the export (and --subscribers), read and checked."""
    csv_files = list(archive.subscriber_files)
    if options.subscribers is not None:
        csv_files.append((str(options.subscribers), _read_bytes(options.subscribers)))
    plans = []
    for name, data in csv_files:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / PurePosixPath(name).name
            path.write_bytes(data)
            try:
                plans.append((name, read_import(path)))
            except PublishError as exc:
                raise PublishError(
                    [msgspec.structs.replace(p, path=name) for p in exc.problems]
                ) from None
    return plans


def _dry_run_lines(plans: list[tuple[str, ImportPlan]]) -> list[str]:
    """What each subscriber file would do."""
    lines = []
    for name, plan in plans:
        skipped = sum(len(lines) for lines in plan.skipped.values())
        lines.append(
            f"subscribers in {name} ({plan.format}): {len(plan.rows)} would be imported, "
            f"{skipped} skipped"
        )
        lines += [f"  skipped, {reason}: {len(rows)}" for reason, rows in plan.skipped.items()]
    return lines


def _reader_lines(merged: list[tuple[str, SubscriberReport]]) -> list[str]:
    """What each subscriber file did."""
    lines = []
    for name, report in merged:
        lines.append(f"subscribers in {name} ({report.format}): {report.message}")
        lines += [f"  {line}" for line in report.skip_lines()]
    return lines

"""`publish import`: read an export, convert it, propose the glossary, then write the
essays, images, glossary entries, release records and readers (nothing with --dry-run)."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from publish.content.releasefile import read_releases_file, write_releases_file
from publish.content.settings import load_settings
from publish.content.source import ESSAYS_DIR
from publish.errors import Problem, PublishError, warning
from publish.importers import ghost, substack, wordpress
from publish.importers.convert import ConvertedPost, convert_post
from publish.importers.essayfiles import EssayFile, plan_essays, settle_slugs, write_new
from publish.importers.model import Archive, ImportOptions
from publish.importers.repeats import (
    GLOSSARY_DIR,
    Candidate,
    cite_glossary,
    find_candidates,
    settle_keys,
)
from publish.model import Settings
from publish.schedule import Release
from publish.state.db import connect, database_path
from publish.state.imports import import_csv, read_import

Reader = Callable[[Path, ImportOptions], Archive]
SOURCES: dict[str, Reader] = {
    "substack": substack.read,
    "wordpress": wordpress.read,
    "ghost": ghost.read,
}


@dataclass
class ImportReport:
    """What an import did (or, with --dry-run, would do)."""

    source: str
    dry_run: bool
    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    drafts: int = 0
    footnotes: int = 0
    images_copied: int = 0
    images_missing: int = 0
    embeds: int = 0
    attachments: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    glossary: bool = False  # repeated notes cited by their glossary key
    uploads: bool = False  # an uploads folder was given to copy images from
    glossary_written: list[str] = field(default_factory=list)
    glossary_present: list[str] = field(default_factory=list)  # there before this import
    released: int = 0
    subscribers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

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
    """Import an export into the site at `root`; raises PublishError on a bad export."""
    settings = load_settings(root)
    archive = SOURCES[source](path, options)
    report = ImportReport(
        source=archive.source,
        dry_run=options.dry_run,
        glossary=options.glossary,
        uploads=options.uploads is not None,
        attachments=len(archive.attachments),
        notes=list(archive.notes),
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
    csv_files = list(archive.subscriber_files)
    if options.subscribers is not None:
        csv_files.append((str(options.subscribers), _read_bytes(options.subscribers)))
    _import_readers(root, settings, csv_files, dry_run=True)  # every row checked first
    if not options.dry_run:
        _write_essays(root, files)
        new = {f.post.slug for f in files if not f.exists}
        used = [c for c in report.candidates if new & set(c.slugs)]
        report.glossary_written = _write_glossary(root, used, options.glossary)
        _record_releases(root, settings, files)
    report.released = sum(1 for f in files if not f.exists and _releasable(f))
    report.subscribers = _import_readers(root, settings, csv_files, options.dry_run)
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


def _write_essays(root: Path, files: list[EssayFile]) -> None:
    """Write each new essay and its images; nothing that exists is touched."""
    for file in files:
        if file.exists:
            continue
        for image in file.post.images:
            write_new(root / ESSAYS_DIR / PurePosixPath(image.target), image.data)
        write_new(root / file.path, file.text.encode("utf-8"))


def _write_glossary(root: Path, candidates: list[Candidate], wanted: bool) -> list[str]:
    """Write each candidate's `footnotes/<key>.md` (when asked, and not there yet); return
    the paths written."""
    written = []
    for candidate in candidates if wanted else []:
        path = f"{GLOSSARY_DIR}/{candidate.key}.md"
        if write_new(root / path, candidate.file_text().encode("utf-8")):
            written.append(path)
    return written


def _releasable(file: EssayFile) -> bool:
    """Whether a post went out on the old platform and has a date to record."""
    return file.post.released and not file.post.draft and file.post.date is not None


def _record_releases(root: Path, settings: Settings, files: list[EssayFile]) -> None:
    """Record every new essay that went out as released in releases.toml, so `publish run`
    never mails it; records already there stay as they are."""
    record = read_releases_file(root, settings.site.timezone)
    releases = dict(record.releases)
    for file in files:
        post = file.post
        if file.exists or not _releasable(file) or post.slug in releases:
            continue
        releases[post.slug] = Release(
            slug=post.slug,
            slot=post.date,
            released_at=post.date,
            content_hash=hashlib.sha256(file.text.encode("utf-8")).hexdigest(),
            source=file.path,
        )
    if releases != record.releases:
        write_releases_file(root, dataclasses.replace(record, releases=releases))


def _read_bytes(path: Path) -> bytes:
    """A subscriber file's bytes, or a PublishError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PublishError.single(str(path), 1, 1, f"cannot read the CSV file: {exc}") from None


def _import_readers(
    root: Path, settings: Settings, csv_files: list[tuple[str, bytes]], dry_run: bool
) -> list[str]:
    """Import each subscriber CSV through `subscribers import`; one line per file, and one
    per reason rows were skipped."""
    lines = []
    for name, data in csv_files:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / PurePosixPath(name).name
            path.write_bytes(data)
            try:
                lines += _import_one(root, settings, path, name, dry_run)
            except PublishError as exc:
                raise PublishError(
                    [dataclasses.replace(p, path=name) for p in exc.problems]
                ) from None
    return lines


def _import_one(root: Path, settings: Settings, path: Path, name: str, dry_run: bool) -> list[str]:
    """One subscriber CSV: imported, or with --dry-run only read and checked."""
    if dry_run:
        plan = read_import(path)
        skipped = sum(len(lines) for lines in plan.skipped.values())
        head = (
            f"subscribers in {name} ({plan.format}): {len(plan.rows)} would be imported, "
            f"{skipped} skipped"
        )
        reasons = [f"  skipped, {reason}: {len(rows)}" for reason, rows in plan.skipped.items()]
        return [head, *reasons]
    with closing(connect(database_path(root, settings))) as connection:
        report = import_csv(connection, path)
    return [
        f"subscribers in {name} ({report.format}): {report.message}",
        *(f"  {line}" for line in report.skip_lines()),
    ]

"""`publish build`: the web site, feeds and emails into build/, or, when nothing the build
reads has changed since the last one, that build's report again (`publish.pipeline.unchanged`)."""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from publish.cli.common import STRICT_OPTION, TODAY_OPTION, parse_today, problem_lines, today_in
from publish.pipeline import unchanged
from publish.support.collector import loading

if TYPE_CHECKING:
    from publish.pipeline.build import BuildReport
    from publish.pipeline.place import BuildProgress

PREVIEW_NOTE = (
    "This is a preview: deploy, send and run never read build/preview/ "
    "(a build without --future makes what they use)"
)
Lines = list[tuple[str, bool]]  # each line printed, and whether to stderr
GC_THRESHOLDS = (50_000, 20, 100)  # a young collection every 50,000 new objects, not 700


@click.command("build")
@TODAY_OPTION
@click.option("--drafts", is_flag=True, help="Include drafts.")
@click.option(
    "--future",
    is_flag=True,
    help="A preview in build/preview/: queued essays at their planned slots and essays "
    "dated after today, each with a banner.",
)
@STRICT_OPTION
@click.pass_obj
def build_command(
    root: Path, today_text: str | None, drafts: bool, future: bool, strict: bool
) -> None:
    """Build the web site, feeds and emails into build/."""
    given = parse_today(today_text)
    options = (drafts, future, strict)
    manifest = unchanged.load(root, future)  # read once: to answer, or to stamp the database
    seen: dict[str, unchanged.Stamp | None] = {}  # each stamp read to answer, read once
    if unchanged.enabled() and manifest is not None:
        key = unchanged.command_key(options, given or today_in(manifest.timezone))
        if unchanged.holds(root, manifest, key, seen):
            _echo(manifest.lines)
            return
    before = unchanged.Snapshot.take(root, unchanged.previous_database(manifest), seen)
    today = given or _site_today(root)
    modules: dict[str, unchanged.Stamp | None] = {}  # stamped as the build runs
    with _fewer_collections():
        report = _full_build(root, today, (drafts, future, strict), before.stamps, modules)
    lines = _report_lines(report, future)
    _echo(lines)
    if unchanged.enabled() and report.site is not None:
        settings = report.site.settings
        found = (settings.site.timezone, settings.state.database)
        key = unchanged.command_key(options, given or today)
        out = unchanged.Outputs(report.site_dir.parent, report.left)
        unchanged.keep(root, future, key, before, found, out, lines, modules)


def _site_today(root: Path) -> date:
    """Today in the site's time zone (read from its settings)."""
    from publish.cli.common import site_today

    return site_today(root)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect garbage less often during one build, which makes many objects that live
    until it ends and few cycles (`GC_THRESHOLDS`); as before once it has ended."""
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _full_build(
    root: Path,
    today: date | datetime,
    flags: tuple[bool, bool, bool],
    stamped: dict[str, unchanged.Stamp | None],
    modules: dict[str, unchanged.Stamp | None] | None = None,
) -> BuildReport:
    """The whole build (`flags`: drafts, future, strict), with a progress bar on a terminal;
    the files `stamped` just before it (the package's among them) are not listed or stat'ed
    again to key the essays, and the modules loaded are stamped into `modules` as it runs
    (for the manifest)."""
    with loading():  # the modules just loaded live as long as the process: never scan them
        from publish.cache.fingerprint import code_fingerprint
        from publish.cache.store import BuildCache
        from publish.pipeline.build import BuildOptions, build

    drafts, future, strict = flags
    options = BuildOptions(today=today, drafts=drafts, future=future, strict=strict)
    cache = BuildCache.for_site(root)
    cache.stamped = {p: s[1:] for p, s in stamped.items() if s is not None and s[0] == 1}
    cache.module_stamps = modules
    if cache.enabled:  # made now from the snapshot's listing and stamps of the package
        code_fingerprint(cache.stamped)
    with _BuildProgressBar() as bar:
        return build(root, options, progress=bar.update if bar.shown else None, cache=cache)


def _report_lines(report: BuildReport, future: bool) -> Lines:
    """What a build prints: its warnings (to stderr), then what it made and where."""
    lines: Lines = [(line, True) for line in problem_lines(report.warnings)]
    built = f"Built {len(report.published)} essay(s), {report.files} file(s) into"
    lines.append((f"{built} {report.site_dir}", False))
    lines.append(
        (
            f"Emails (HTML, text, .eml) of the {report.emails} essay(s) a send could still "
            f"need are in {report.email_dir}; 'publish send SLUG' makes any other when it "
            "is sent",
            False,
        )
    )
    if future:
        lines.append((PREVIEW_NOTE, False))
    if report.left_out.message:
        lines.append((report.left_out.message, False))
    return lines


def _echo(lines: Lines) -> None:
    """Print the lines, each to stdout or stderr."""
    for text, to_stderr in lines:
        click.echo(text, err=to_stderr)


class _BuildProgressBar:
    """A bar on stderr per output folder the build writes, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.shown = sys.stderr.isatty()
        self.bar: Any = None
        self.folder = ""

    def __enter__(self) -> _BuildProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def update(self, event: BuildProgress) -> None:
        """Move the bar on by one file; a new folder starts a new bar."""
        if self.bar is None or event.folder != self.folder:
            self._close()
            self.folder = event.folder
            label = f"Writing {event.folder if event.folder != 'all' else 'files'}"
            self.bar = click.progressbar(length=event.total, label=label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def _close(self) -> None:
        """Finish the bar on screen, if one is showing."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

"""The whole build, in the order it runs: load, plan, decide what to render, render,
pre-flight, write.

`build()` writes `build/site/` and `build/email/` (the emails a send could still need, see
`publish.state.unsent`) in one atomic commit; `check()` is it without the write, covering the
queued essays at their planned slots. Every output is a row of `FORMATS`, a pure function
from a `Site` to `{path: content}` that knows nothing of the cache. Here the build cache is
wired in: the load parses each essay once and renders, in the same worker, every body the
rows declare (kept for later builds); every output key is computed here, and decides which
files are made at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path

from jinja2 import Environment

from publish.cache import parses
from publish.cache.outputs import Keyed, OutputKeys, OutputMemo
from publish.cache.parses import entry_fingerprint
from publish.cache.store import PROCESS, cache_enabled, read_only
from publish.content import essays
from publish.content.essaylinks import unpublished_link_problems, with_link_targets
from publish.content.site import essay_folder, select_published
from publish.content.site import load_site as load_site_files
from publish.content.source import ESSAYS_DIR
from publish.errors import Problem, PublishError
from publish.layout import BUILD_DIR
from publish.mail.mime import preview_message
from publish.model import Site
from publish.outputs import feeds, mail, web
from publish.outputs.bodies import essay_bodies
from publish.outputs.files import Content, Deferred, OutputFiles, as_bytes
from publish.outputs.templates import folder_stamp, template_environment
from publish.pipeline.checker import CheckMemo, check_trees
from publish.pipeline.previewing import (
    PREVIEW_FOLDER,
    LeftOut,
    banners,
    date_drafts,
    left_out,
    with_banners,
    with_planned_slots,
)
from publish.pipeline.writer import OutputFolder, build_lock, write_trees
from publish.schedule.slots import apply_release_dates
from publish.state.releases import site_with_releases
from publish.state.unsent import emails_wanted
from publish.support.parallel import fork_workers, in_forked_runs

PARALLEL_THRESHOLD = 96  # contents below which forking workers costs more than it saves
MAX_RUN = 48  # contents a worker makes per task: small results keep the parent's memory flat


@dataclass(frozen=True)
class BuildOptions:
    """What to build: `today` decides what is published; drafts, future and queued essays
    (at their planned slots) on request; `strict` makes every warning an error."""

    today: date | datetime
    drafts: bool = False
    future: bool = False
    queued: bool = False
    strict: bool = False
    sandbox: bool = False  # written to build/preview/ even without `future` (publish serve)
    emails: frozenset[str] = frozenset()  # emails to make besides those a send could need

    @property
    def preview(self) -> bool:
        """Whether this is a preview: it may show essays before their time (queued or dated
        later), so it is written to `build/preview/`, never where deploy, send and run read."""
        return self.future or self.queued or self.sandbox


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote (or, for `check`, would write) and what it warned about."""

    site_dir: Path
    email_dir: Path
    published: tuple[str, ...]
    warnings: list[Problem] = field(default_factory=list)
    files: int = 0
    site: Site | None = None  # the site as loaded (every essay, drafts and queued included)
    left_out: LeftOut = LeftOut()  # the essays of `site` this build did not show


Render = Callable[..., Mapping[str, Content | Deferred]]  # (site, templates[, chosen slugs])


@dataclass(frozen=True)
class BuildProgress:
    """How far the build has got making one output folder's new files (for a progress bar:
    the build itself never prints)."""

    folder: str  # "site", "email", or "all" when `check` makes every folder's files at once
    done: int
    total: int


Progress = Callable[[BuildProgress], None]


@dataclass(frozen=True)
class OutputFormat:
    """One row of the output table: a format, where its files go and what makes them."""

    name: str  # how a clash of two formats on one path names it
    folder: str  # under build/
    paths: str  # the path pattern of its files
    render: Render
    reads: str  # what its files depend on (each file's `Deferred` says exactly)
    bodies: tuple[str, ...] = ()  # the essay bodies it shows of every essay (bodies.CHANNELS)
    chosen: bool = False  # made only for the essays the build names (see `gather`)


def _feeds(site: Site, templates: Environment) -> OutputFiles:
    """The feeds (they need no templates)."""
    return feeds.render_feeds(site)


def _assets(site: Site, templates: Environment) -> OutputFiles:
    """Files beside the essays that are not Markdown (images and such), at the site's root;
    hidden and editor files and links out of `essays/` are left out (see `essay_folder`)."""
    assets = OutputFiles()
    for relative, path in essay_folder(site.root).assets:
        assets.add(relative, path.read_bytes(), f"{ESSAYS_DIR}/{relative}")
    return assets


def _emails(
    site: Site, templates: Environment, slugs: Collection[str] | None = None
) -> OutputFiles:
    return mail.render_emails(site, templates, preview_message, slugs)


FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat(
        "the web pages",
        "site",
        "index.html, <slug>/index.html, page/<n>/, archive/, "
        "tags/<tag>/, glossary/, 404.html, sitemap.xml, robots.txt, style.css",
        web.render_site,
        "the published essays, the glossary, the templates",
        ("web",),
    ),
    OutputFormat(
        "the feeds",
        "site",
        "feed.xml, atom.xml, feed.json, tags/<tag>/feed.xml",
        _feeds,
        "the newest essays",
        ("feed",),
    ),
    OutputFormat(
        "the files beside the essays",
        "site",
        "<path under essays/>",
        _assets,
        "the files in essays/ that are not Markdown",
    ),
    OutputFormat(
        "the emails",
        "email",
        "<slug>.html, <slug>.txt, <slug>.eml",
        _emails,
        "each essay, the email templates",
        chosen=True,
    ),
)
FOLDERS = tuple(dict.fromkeys(row.folder for row in FORMATS))
BODIES = tuple(dict.fromkeys(name for row in FORMATS for name in row.bodies))


def build(
    root: Path,
    options: BuildOptions,
    site: Site | None = None,
    warnings: list[Problem] | None = None,
    write: bool = True,
    progress: Progress | None = None,
) -> BuildReport:
    """Build the web site and feeds into `build/site/` and the emails into `build/email/`,
    both folders replaced in one atomic commit under the site's build lock; with `write`
    off, do everything but the write (the build cache left as it was, but for check's memo).

    Contents are rendered as the writer stages them (so memory stays flat however large the
    site); the pre-flight checks run on what was rendered, before the commit.
    """
    out = output_dir(root, options)
    guard = build_lock(out) if write else read_only()
    with guard:
        if site is None:
            site, warnings = load_site(root)
        published = plan(site, options)
        refuse_unpublished_links(site, published, options, warnings)
        gathered = gather(published, emails_wanted(site, options.today) | options.emails)
        if options.preview:
            gathered["site"] = with_banners(
                gathered["site"], banners(site, published, options.today)
            )
        folders = decide(root, published, gathered, cache_enabled(), out, options.preview)
        rendering = Rendering(folders, progress)
        problems = list(warnings or [])

        def preflight_checks() -> None:
            problems.extend(preflight(published, rendering.email_sizes()))
            if options.strict:
                refuse_warnings(problems)

        if write:
            write_trees(folders, rendering.make, before_commit=preflight_checks)
            for folder in folders:
                if folder.memo is not None:
                    folder.memo.save()
        else:  # made and measured, never kept; what a memo vouches for is not even made
            memo = CheckMemo(root) if cache_enabled() else None
            rendering.sizes.update(check_trees(folders, rendering.make, memo)["email"])
            preflight_checks()
    site_dir, email_dir = (out / name for name in FOLDERS)
    return BuildReport(
        site_dir=site_dir,
        email_dir=email_dir,
        published=tuple(e.slug for e in published.essays),
        warnings=problems,
        files=len(folders[0].files),
        site=site,
        left_out=left_out(site, published, options.drafts),
    )


def output_dir(root: Path, options: BuildOptions) -> Path:
    """Where a build writes its folders: `build/`, or `build/preview/` for a preview."""
    return root / BUILD_DIR / PREVIEW_FOLDER if options.preview else root / BUILD_DIR


def check(root: Path, options: BuildOptions, progress: Progress | None = None) -> BuildReport:
    """The build without the write, drafts, future and queued essays included: every problem
    a build of any day would meet (a PublishError for errors); `progress` hears of each
    content made (none a memo vouches for, see `publish.pipeline.checker`)."""
    every = dataclasses.replace(options, drafts=True, future=True, queued=True)
    return build(root, every, write=False, progress=progress)


# --- Load and plan ----------------------------------------------------------------------


def read_site(root: Path) -> tuple[Site, list[Problem]]:
    """Every file of the site read, the essays' parses and bodies kept in the build cache;
    the site (drafts and undated essays included) and its warnings."""
    plan = partial(essay_bodies, channels=BODIES)
    reader = partial(parses.read_essays, parse=essays.read_essay, plan=plan)
    return load_site_files(root, reader)


def load_site(root: Path) -> tuple[Site, list[Problem]]:
    """`read_site`, with the released essays at their released addresses and dates."""
    site, warnings = read_site(root)
    return with_release_dates(site), warnings


def with_release_dates(site: Site) -> Site:
    """The site with each released essay at its released address and, if undated, dated by
    its release (the state DB merged with releases.toml)."""
    binding, _ = site_with_releases(site)
    return apply_release_dates(binding.site, binding.releases)


def plan(site: Site, options: BuildOptions) -> Site:
    """The essays this build shows, newest first: published on `options.today`, and in a
    preview the queued essays too, dated at the slots they are planned for (and undated
    drafts, with `options.drafts`, dated today)."""
    if options.preview:
        site = with_planned_slots(site, options.today)
        if options.drafts:
            site = date_drafts(site, options.today)
    shown = select_published(site, options.today, options.drafts, options.future or options.queued)
    return with_link_targets(shown)


def refuse_unpublished_links(
    site: Site, published: Site, options: BuildOptions, warnings: Sequence[Problem] | None
) -> None:
    """Stop before rendering when a shown essay links to one that would not be out yet."""
    problems = unpublished_link_problems(site, published, options.today)
    if problems:
        raise PublishError([*(warnings or []), *problems])


# --- Decide what to render, render ------------------------------------------------------


def gather(published: Site, emails: Collection[str]) -> dict[str, OutputFiles]:
    """Every row's files by folder (emails only for `emails`); a path twice is refused."""
    templates = shared_templates(published.templates_dir)
    gathered = {name: OutputFiles() for name in FOLDERS}
    for row in FORMATS:
        chosen = (emails,) if row.chosen else ()  # made only where a send could need them
        gathered[row.folder].add_all(row.render(published, templates, *chosen), row.name)
    return gathered


def shared_templates(folder: Path) -> Environment:
    """The templates environment, kept in `PROCESS` between builds of one process (as
    `publish serve` rebuilds), so templates compile once; made afresh whenever a file of the
    site's template folder appears, disappears or changes (Jinja reloads an edited template
    itself, but would not notice a new override of a packaged one)."""
    stamp = folder_stamp(folder)
    found = PROCESS.template_environments.get(folder)
    if found is None or found[0] != stamp:
        found = PROCESS.template_environments[folder] = (stamp, template_environment(folder))
    return found[1]


def decide(
    root: Path,
    published: Site,
    gathered: Mapping[str, OutputFiles],
    caching: bool,
    out: Path,
    preview: bool = False,
) -> list[OutputFolder]:
    """Each folder's files (to go under `out`), every deferred one keyed (when caching) from
    what it reads; a preview's folders keep memos of their own."""
    keys = (
        OutputKeys(published.settings, published.templates_dir, published.glossary)
        if caching
        else None
    )
    folders = []
    for name, files in gathered.items():
        memo_name = f"{PREVIEW_FOLDER}-{name}" if preview else name
        memo = OutputMemo.for_folder(root, memo_name) if caching else None
        decided: dict[str, Content | Keyed] = {}
        for path, value in files.items():
            if isinstance(value, Deferred):
                key = output_key(keys, value) if keys is not None else None
                decided[path] = Keyed(key, value.make)
            else:
                decided[path] = value
        folders.append(OutputFolder(decided, out / name, memo))
    return folders


def output_key(keys: OutputKeys, value: Deferred) -> str | None:
    """The key of a deferred content: its kind and everything it says it reads."""
    reads = value.reads
    return keys.key(
        reads.kind,
        reads.essay,
        *reads.values,
        *[keys.essay(essay) for essay in reads.essays],
        *[entry_fingerprint(entry) for entry in reads.entries],
    )


class Rendering:
    """The build's maker of contents, handed to the writer: it renders what the writer must
    write (across the cores when there is much) and notes each email's HTML size."""

    def __init__(self, folders: Sequence[OutputFolder], progress: Progress | None = None):
        self.emails = next(f for f in folders if f.target.name == "email")
        self.progress = progress
        self.folder_of = (
            {id(v): f.target.name for f in folders for v in f.files.values()} if progress else {}
        )
        self.watched = {
            id(value): path for path, value in self.emails.files.items() if path.endswith(".html")
        }
        self.sizes: dict[str, int] = {}

    def make(self, values: Sequence[Content | Keyed]) -> Iterator[Content]:
        """Each value's content, in order."""
        folder = self._folder(values)
        for done, (value, content) in enumerate(
            zip(values, made_contents(values), strict=True), start=1
        ):
            path = self.watched.get(id(value))
            if path is not None:
                self.sizes[path] = len(as_bytes(content))
            if self.progress is not None:
                self.progress(BuildProgress(folder, done, len(values)))
            yield content

    def _folder(self, values: Sequence[Content | Keyed]) -> str:
        """Which folder's files the writer asks for (every folder's, for `check`)."""
        if not values:
            return "all"
        names = {self.folder_of.get(id(values[0])), self.folder_of.get(id(values[-1]))}
        return (names.pop() or "all") if len(names) == 1 else "all"

    def email_sizes(self) -> dict[str, int]:
        """The size of every email's HTML: as rendered, or the previous build's kept file."""
        sizes = dict(self.sizes)
        for path in self.watched.values():
            if path not in sizes:
                with contextlib.suppress(OSError):
                    sizes[path] = (self.emails.target / path).stat().st_size
        return sizes


def made_contents(values: Sequence[Content | Keyed]) -> Iterator[Content]:
    """Each value made, in order; forked workers (sharing the loaded site) make them when
    there are enough keyed ones to pay for the workers, each a run of neighbouring values."""
    workers = fork_workers(sum(isinstance(v, Keyed) for v in values), PARALLEL_THRESHOLD)
    if not workers:
        yield from map(_made, values)
        return
    step = max(1, min(MAX_RUN, -(-len(values) // (workers * 8))))
    yield from in_forked_runs(values, _made_bytes, workers, step)


def _made(value: Content | Keyed) -> Content:
    """One value's content, made now if it is keyed."""
    return value.content() if isinstance(value, Keyed) else value


def _made_bytes(value: Content | Keyed) -> bytes:
    """One value's content as bytes (what a worker sends back: a long page's text may take
    2-4 bytes a character)."""
    return as_bytes(_made(value))


# --- Pre-flight -------------------------------------------------------------------------


def preflight(published: Site, email_sizes: Mapping[str, int]) -> list[Problem]:
    """Problems the rendered files show before anything is committed: an email past the
    size at which Gmail clips it."""
    return mail.oversize_problems(published, email_sizes)


def refuse_warnings(problems: Sequence[Problem]) -> None:
    """Strict mode: every warning becomes an error, and the build stops before writing."""
    if problems:
        raise PublishError([dataclasses.replace(p, severity="error") for p in problems])

"""The whole build, in the order it runs: load, plan, decide what to render, render,
pre-flight, write.

`build()` writes `build/site/` and `build/email/` (the emails a send could still need, see
`publish.state.unsent`) in one atomic commit; `check()` is it without the write, covering the
queued essays at their planned slots. Every output is a row of `FORMATS`, a pure function
from a `Site` to `{path: content}` whose files are made later, if at all (`Deferred`). The
build makes the one `BuildCache` and passes it in: the load parses each essay once and
renders, in the same worker, every body the rows declare (kept for later builds); here each
deferred file is keyed, and the key decides whether it is made at all. Between staged and
committed the finishers (`publish.pipeline.finishers`) see each folder as it will be.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment

from publish.cache.outputs import FileStamp, OutputKeys, OutputMemo
from publish.cache.store import BuildCache
from publish.content.essaylinks import unpublished_link_problems, with_link_targets
from publish.content.glossary import uncited_terms
from publish.content.images import avif_problems
from publish.content.site import select_published
from publish.errors import Problem, PublishError
from publish.i18n.words import one_build
from publish.layout import BUILD_DIR
from publish.model import Site
from publish.outputs.files import Content, Deferred, OutputFiles, as_bytes, made
from publish.outputs.templates import folder_stamp, load_rendered, template_environment
from publish.pipeline import finishers
from publish.pipeline.checker import CheckMemo, check_trees
from publish.pipeline.finishers import StagedView, run_finishers
from publish.pipeline.formats import FOLDERS, FORMATS, load_libraries
from publish.pipeline.load import Loaded, load
from publish.pipeline.previewing import (
    PREVIEW_FOLDER,
    LeftOut,
    banners,
    date_drafts,
    left_out,
    with_banners,
    with_planned_slots,
)
from publish.pipeline.search import require_pagefind, search_finisher
from publish.pipeline.writer import OutputFolder, Placing, build_lock, place, write_trees
from publish.state.releases import Known
from publish.state.unsent import emails_wanted
from publish.support.parallel import RUNS_AHEAD, fork_workers, in_forked_runs, weighed_runs

PARALLEL_THRESHOLD = 96  # contents below which forking workers costs more than it saves
MAX_RUN = 48  # contents a worker makes per task (at most): small results, flat memory


class BuildOptions(msgspec.Struct, frozen=True):
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


class BuildReport(msgspec.Struct, frozen=True):
    """What a build wrote (or, for `check`, would write) and what it warned about."""

    site_dir: Path
    email_dir: Path
    published: tuple[str, ...]
    warnings: list[Problem] = msgspec.field(default_factory=list)
    files: int = 0
    site: Site | None = None  # the site as loaded (every essay, drafts and queued included)
    left_out: LeftOut = LeftOut()  # the essays of `site` this build did not show
    known: Known | None = None  # what the site released, as the load read it
    # the status of everything in each output folder the commit updated in place, by path
    left: Mapping[str, Mapping[str, os.stat_result]] = msgspec.field(default_factory=dict)


class BuildProgress(msgspec.Struct, frozen=True):
    """How far the build has got making one output folder's new files (for a progress bar:
    the build itself never prints)."""

    folder: str  # "site", "email", or "all" when `check` makes every folder's files at once
    done: int
    total: int


Progress = Callable[[BuildProgress], None]


def build(
    root: Path,
    options: BuildOptions,
    loaded: Loaded | None = None,
    write: bool = True,
    progress: Progress | None = None,
    cache: BuildCache | None = None,
) -> BuildReport:
    """Build the web site and feeds into `build/site/` and the emails into `build/email/`,
    both folders replaced in one atomic commit under the site's build lock; with `write`
    off, do everything but the write (the build cache left as it was, but for check's memo).

    Contents are rendered as the writer stages them (so memory stays flat however large the
    site); the finishers run on the staged folders, before the commit. `loaded` is the site
    as loaded (`publish run` passes the one it has bound to this run's releases), else it is
    loaded here; `cache` is the build cache to use (a long-lived process passes its own,
    kept between builds).
    """
    cache = cache or BuildCache.for_site(root)
    if not write:
        cache = cache.reading()
    out = output_dir(root, options)
    with build_lock(out) if write else contextlib.nullcontext(), one_build():
        loaded = loaded or load(root, cache, load_libraries)
        site, known, warnings = loaded.site, loaded.known, loaded.warnings
        require_pagefind(root, site.settings)
        published = plan(site, known, options)
        refuse_unpublished_links(site, published, options, warnings)
        emails = emails_wanted(site, known, options.today) | options.emails
        templates = shared_templates(published.templates_dir, cache)
        gathered = gather(published, emails, cache, templates)
        if options.preview:
            gathered["site"] = with_banners(
                gathered["site"], banners(site, published, options.today)
            )
        folders = decide(published, gathered, cache, out, options.preview)
        rendering = Rendering(
            folders, progress, partial(load_rendered, published, templates, emails)
        )
        problems = list(warnings)

        def finish(staged: Mapping[str, StagedView]) -> Mapping[str, Mapping[str, Content]]:
            finished = run_finishers(
                published, staged, (*finishers.FINISHERS, search_finisher(cache))
            )
            problems.extend(finished.problems)
            refuse_problems(problems, options.strict)
            return finished.files

        left: Mapping[str, Mapping[str, os.stat_result]] = {}
        if write:
            left = write_trees(folders, rendering.place, finish)
            for folder in folders:
                if folder.memo is not None:
                    folder.memo.save()
        else:  # made and measured, never kept; what a memo vouches for is not even made
            memo = CheckMemo(root) if cache.enabled else None
            finish(check_trees(folders, rendering.make, memo))
    site_dir, email_dir = (out / name for name in FOLDERS)
    return BuildReport(
        site_dir=site_dir,
        email_dir=email_dir,
        published=tuple(e.slug for e in published.essays),
        warnings=problems,
        files=len(folders[0].files),
        site=site,
        left_out=left_out(site, published, options.drafts),
        known=known,
        left=left,
    )


def output_dir(root: Path, options: BuildOptions) -> Path:
    """Where a build writes its folders: `build/`, or `build/preview/` for a preview."""
    return root / BUILD_DIR / PREVIEW_FOLDER if options.preview else root / BUILD_DIR


def check(
    root: Path,
    options: BuildOptions,
    progress: Progress | None = None,
    cache: BuildCache | None = None,
) -> BuildReport:
    """The build without the write, drafts, future and queued essays included: every problem
    a build of any day would meet (a PublishError for errors), and a hint when this Pillow
    cannot write AVIF; `progress` hears of each content made (none a memo vouches for, see
    `publish.pipeline.checker`)."""
    every = msgspec.structs.replace(options, drafts=True, future=True, queued=True)
    report = build(root, every, write=False, progress=progress, cache=cache)
    site = report.site
    hints = uncited_terms(site.glossary, site.essays) if site is not None else []
    hints += avif_problems(site.essays) if site is not None else []
    return msgspec.structs.replace(report, warnings=[*report.warnings, *hints])


# --- Load and plan ----------------------------------------------------------------------


def plan(site: Site, known: Known, options: BuildOptions) -> Site:
    """The essays this build shows, newest first: published on `options.today`, and in a
    preview the queued essays too, dated at the slots they are planned for (and undated
    drafts, with `options.drafts`, dated today)."""
    if options.preview:
        site = with_planned_slots(site, known, options.today)
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


def gather(
    published: Site, emails: Collection[str], cache: BuildCache, templates: Environment
) -> dict[str, OutputFiles]:
    """Every row's files by folder (emails only for `emails`; what check need not make left
    out when the cache is only read); a path twice is refused."""
    gathered = {name: OutputFiles() for name in FOLDERS}
    for row in (row for row in FORMATS if row.checked or not cache.read_only):
        chosen = (emails,) if row.chosen else ()  # made only where a send could need them
        gathered[row.folder].add_all(row.render(published, templates, *chosen), row.name)
    return gathered


def shared_templates(folder: Path, cache: BuildCache) -> Environment:
    """The templates environment, kept in `cache` between builds of one process (as
    `publish serve` rebuilds), so templates compile once; made afresh whenever a file of the
    site's template folder appears, disappears or changes (Jinja would check an edited template
    itself on every use, at a stat of the template file each time; it is told not to)."""
    stamp = folder_stamp(folder)
    kept = cache.template_environments
    found = kept.get(folder)
    if found is None or found[0] != stamp:
        environment = template_environment(folder, cache.compiled_templates(), auto_reload=False)
        found = kept[folder] = (stamp, environment)
    return found[1]


def decide(
    published: Site,
    gathered: Mapping[str, OutputFiles],
    cache: BuildCache,
    out: Path,
    preview: bool = False,
) -> list[OutputFolder]:
    """Each folder's files (to go under `out`), every deferred one keyed (when the cache is
    on) from what it reads; a preview's folders keep memos of their own."""
    if not cache.enabled:
        return [OutputFolder(files, out / name) for name, files in gathered.items()]
    keys = OutputKeys(published.settings, published.templates_dir, published.glossary)
    folders = []
    for name, files in gathered.items():
        memo_name = f"{PREVIEW_FOLDER}-{name}" if preview else name
        memo = OutputMemo.for_folder(cache.root, memo_name)
        decided = {
            path: keyed(keys, value) if isinstance(value, Deferred) else value
            for path, value in files.items()
        }
        folders.append(OutputFolder(decided, out / name, memo))
    return folders


def keyed(keys: OutputKeys, value: Deferred) -> Deferred:
    """A deferred content with its key (see `output_key`)."""
    return Deferred(value.reads, value.make, output_key(keys, value), value.loads)


def output_key(keys: OutputKeys, value: Deferred) -> str | None:
    """The key of a deferred content: its kind and everything it says it reads."""
    reads = value.reads
    return keys.key(
        reads.kind,
        reads.essay,
        *reads.values,
        *[keys.essay(essay) for essay in reads.essays],
        *[entry.fingerprint for entry in reads.entries],
    )


class Rendering:
    """The build's maker of contents, handed to the writer: it renders what the writer must
    write (across the cores when there is much), telling `progress` how far it got; before
    it forks workers it calls `before_fork` (which loads every template they may render, so
    that none of them compiles one)."""

    def __init__(
        self,
        folders: Sequence[OutputFolder],
        progress: Progress | None = None,
        before_fork: Callable[[], None] | None = None,
    ):
        self.progress = progress
        self.before_fork = before_fork
        self.folder_of = (
            {id(v): f.target.name for f in folders for v in f.files.values()} if progress else {}
        )

    def make(self, values: Sequence[Content | Deferred]) -> Iterator[Content]:
        """Each value's content, in order."""
        return self._told(values, made_contents(values, self.before_fork))

    def place(self, placings: Sequence[Placing]) -> Iterator[FileStamp]:
        """Each file made and written where it is staged, the heaviest first (see
        `heaviest_first`); the stamp of each, in the order given, once all are written."""
        ordered = heaviest_first(placings)
        told = self._told([p.content for p in ordered], placed_files(ordered, self.before_fork))
        stamps = {id(placing): stamp for placing, stamp in zip(ordered, told, strict=True)}
        yield from (stamps[id(placing)] for placing in placings)

    def _told(self, values: Sequence[Content | Deferred], made: Iterator[Any]) -> Iterator[Any]:
        """What `made` yields for `values`, `progress` told after each."""
        if self.progress is None:
            yield from made
            return
        folder = self._folder(values)
        for done, result in enumerate(made, start=1):
            self.progress(BuildProgress(folder, done, len(values)))
            yield result

    def _folder(self, values: Sequence[Content | Deferred]) -> str:
        """Which folder's files the writer asks for (every folder's, for `check`)."""
        if not values:
            return "all"
        names = {self.folder_of.get(id(values[0])), self.folder_of.get(id(values[-1]))}
        return (names.pop() or "all") if len(names) == 1 else "all"


def made_contents(
    values: Sequence[Content | Deferred], before_fork: Callable[[], None] | None = None
) -> Iterator[Content]:
    """Each value made, in order (see `shared_out`)."""
    return shared_out(values, values, made, _made_bytes, True, before_fork)


def heaviest_first(placings: Sequence[Placing]) -> list[Placing]:
    """The placings with the pages that list the most essays or glossary entries first (the
    archive, the glossary, the tags), the others in their order: made last, one such page
    would leave a worker making it alone while the others wait."""
    return sorted(placings, key=lambda placing: -_listed(placing.content))


def _listed(content: Content | Deferred) -> int:
    """How many essays and glossary entries a content lists (0 for one given as it is)."""
    if not isinstance(content, Deferred):
        return 0
    return len(content.reads.essays) + len(content.reads.entries)


def placed_files(
    placings: Sequence[Placing], before_fork: Callable[[], None] | None = None
) -> Iterator[FileStamp]:
    """Each file made and written where it is staged, in order (see `shared_out`): the
    workers write what they make, so only each file's stamp comes back here."""
    contents = [p.content for p in placings]
    return shared_out(placings, contents, place, place, False, before_fork)


def shared_out(
    tasks: Sequence[Any],
    values: Sequence[Content | Deferred],
    here: Callable[[Any], Any],
    forked: Callable[[Any], Any],
    bounded: bool,
    before_fork: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """`here(task)` for each task, in order; forked workers (sharing the loaded site, what
    `before_fork` loads and what making the values loads, see `Deferred.loads`) do
    `forked(task)` instead when enough `values` are deferred to pay for the workers, each
    worker a run of neighbouring tasks (see `weighed_runs`), and with `bounded` only a few
    runs ahead of what the caller has taken (what comes back is large: contents, not
    stamps)."""
    workers = fork_workers(sum(isinstance(v, Deferred) for v in values), PARALLEL_THRESHOLD)
    if not workers:
        yield from map(here, tasks)
        return
    if before_fork is not None:
        before_fork()
    for loads in {v.loads for v in values if isinstance(v, Deferred) and v.loads is not None}:
        loads()  # once here rather than once in each worker
    longest = max(1, min(MAX_RUN, -(-len(tasks) // (workers * 8))))
    runs = weighed_runs([1 + _listed(value) for value in values], workers, longest)
    yield from in_forked_runs(tasks, forked, workers, runs, RUNS_AHEAD if bounded else None)


def _made_bytes(value: Content | Deferred) -> bytes:
    """One value's content as bytes (what a worker sends back: a long page's text may take
    2-4 bytes a character)."""
    return as_bytes(made(value))


# --- Refusing ---------------------------------------------------------------------------


def refuse_problems(problems: Sequence[Problem], strict: bool) -> None:
    """Stop the build before anything is committed when a problem is an error, or (strict
    mode) when there is any: every warning then becomes an error."""
    if any(p.is_error for p in problems):
        raise PublishError(list(problems))
    if strict:
        refuse_warnings(problems)


def refuse_warnings(problems: Sequence[Problem]) -> None:
    """Strict mode: every warning becomes an error, and the build stops before writing."""
    if problems:
        raise PublishError([msgspec.structs.replace(p, severity="error") for p in problems])

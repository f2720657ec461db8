"""The place phase of a build: from the planned site to its folders made, finished and
committed (or, for `check`, made and measured).

Every row of the output table (`publish.pipeline.formats`) gives its files; each deferred
one is keyed, and the key decides whether it is made at all; the writer stages what must
be written, made across the cores when there is much; between staged and committed the
finishers (`publish.pipeline.finishers`) see each folder as it will be. `publish.pipeline.build`
imports this module while its workers parse (a cold build never loads Jinja or the rows'
modules before it forks them).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment

from publish.cache.outputs import OutputKeys, OutputMemo
from publish.cache.store import BuildCache
from publish.errors import Problem, refuse_problems
from publish.i18n.templates import localized
from publish.i18n.words import words_for
from publish.layout import EMAIL_FOLDER, TEMPLATES_DIR
from publish.model import Settings, Site
from publish.outputs.files import Content, Deferred, OutputFiles, as_bytes, made
from publish.outputs.templates import (
    folder_stamp,
    load_rendered,
    load_templates,
    template_environment,
)
from publish.pipeline import finishers
from publish.pipeline.checker import CheckMemo, check_trees
from publish.pipeline.finishers import StagedView, run_finishers
from publish.pipeline.formats import FOLDERS, FORMATS
from publish.pipeline.previewing import PREVIEW_FOLDER, banners, with_banners
from publish.pipeline.search import require_pagefind, search_finisher
from publish.pipeline.writer import OutputFolder, Placing, place, write_trees
from publish.support.parallel import RUNS_AHEAD, in_forked_runs, weighed_runs, workers_beside

PARALLEL_THRESHOLD = 96  # contents below which forking workers costs more than it saves
MAX_RUN = 48  # contents a worker makes per task (at most): small results, flat memory


class BuildProgress(msgspec.Struct, frozen=True):
    """How far the build has got making one output folder's new files (for a progress bar:
    the build itself never prints)."""

    folder: str  # "site", "email", or "all" when `check` makes every folder's files at once
    done: int
    total: int


Progress = Callable[[BuildProgress], None]


class Placed(msgspec.Struct, frozen=True):
    """What the place phase made: how many files the web folder holds, every problem met
    (the load's warnings first), the status of everything in each output folder the commit
    updated in place, by path (empty for `check`), and how many emails it made."""

    files: int
    problems: list[Problem]
    left: Mapping[str, Mapping[str, os.stat_result]] = msgspec.field(default_factory=dict)
    emails: int = 0  # the `.eml` files of the email folder


def place_site(
    site: Site,
    published: Site,
    emails: Collection[str],
    cache: BuildCache,
    out: Path,
    *,
    today: date | datetime,
    preview: bool,
    strict: bool,
    write: bool,
    progress: Progress | None,
    warnings: Sequence[Problem],
) -> Placed:
    """Make `published`'s folders under `out` (the emails only of `emails`, a preview with
    its banners for `site`'s essays not yet out on `today`), finish them and, with `write`,
    commit them in one atomic step; without `write`, make and measure them only (what a
    memo vouches for is not even made). A PublishError, before anything is committed, for
    any error (any problem at all when `strict`), or when the search index needs Pagefind
    and it is missing."""
    require_pagefind(cache.root, published.settings)
    templates = shared_templates(published.templates_dir, cache)
    gathered = gather(published, emails, cache, templates)
    if preview:
        gathered["site"] = with_banners(gathered["site"], banners(site, published, today))
    folders = decide(published, gathered, cache, out, preview)
    rendering = Rendering(folders, progress, partial(load_rendered, published, templates, emails))
    problems = list(warnings)

    def finish(staged: Mapping[str, StagedView]) -> Mapping[str, Mapping[str, Content]]:
        finished = run_finishers(published, staged, (*finishers.FINISHERS, search_finisher(cache)))
        problems.extend(finished.problems)
        refuse_problems(problems, strict)
        return finished.files

    left: Mapping[str, Mapping[str, os.stat_result]] = {}
    if write:
        left = write_trees(folders, rendering.place, finish)
        for folder in folders:
            if folder.memo is not None:
                folder.memo.save()
    else:
        memo = CheckMemo(cache.root) if cache.enabled else None
        finish(check_trees(folders, rendering.make, memo))
    mailed = [folder.files for folder in folders if folder.target.name == EMAIL_FOLDER]
    emails = sum(path.endswith(".eml") for files in mailed for path in files)
    return Placed(len(folders[0].files), problems, left, emails)


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


def preload_templates(root: Path, cache: BuildCache, settings: Settings) -> None:
    """Make the site's templates environment (kept in `cache`, see `shared_templates`) and
    load every page template in the site's language: what the place phase renders most,
    loaded while the essays are parsed (a build takes it as a step then) rather than after
    them, alone. The templates of essays in other languages, and the emails', are loaded
    before the place phase forks its workers (`load_rendered`)."""
    templates = shared_templates(root / TEMPLATES_DIR, cache)
    load_templates(localized(templates, words_for(settings.site.language, root)), ".html")


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
    return msgspec.structs.replace(value, key=output_key(keys, value))


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

    def place(self, placings: Sequence[Placing]) -> Iterator[os.stat_result]:
        """Each file made and written where it is staged, the heaviest first (see
        `heaviest_first`); the status of each, in the order given, once all are written."""
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
    would leave a worker making it alone while the others wait. Contents that share what
    they make (`Deferred.shares`: the feeds) come first of all, together, in their order
    (one run, see `shared_runs`)."""
    sharing = {id(shares): number for number, shares in enumerate(_shares_of(placings))}

    def weight(placing: Placing) -> tuple[int, int]:
        content = placing.content
        shares = content.shares if isinstance(content, Deferred) else None
        if shares is not None:
            return (0, sharing[id(shares)])
        return (1, -_listed(content))

    return sorted(placings, key=weight)


def _shares_of(placings: Sequence[Placing]) -> list[object]:
    """What the placings' contents share (`Deferred.shares`), each once, in order."""
    found = (p.content.shares for p in placings if isinstance(p.content, Deferred))
    return list({id(shares): shares for shares in found if shares is not None}.values())


def shared_runs(values: Sequence[Content | Deferred], participants: int, longest: int) -> list[int]:
    """The lengths of the runs `values` are made in (see `weighed_runs`), each stretch of
    neighbouring contents that share what they make (`Deferred.shares`) one run, so that one
    process makes them all (making what they share once, not once in each process)."""
    runs: list[int] = []
    for shares, stretch in itertools.groupby(values, key=_shares):
        values_in = list(stretch)
        if shares is not None:
            runs.append(len(values_in))
            continue
        weights = [1 + _listed(value) for value in values_in]
        runs += weighed_runs(weights, participants, longest)
    return runs


def _shares(value: Content | Deferred) -> object:
    """What a content shares with others (`Deferred.shares`), if anything."""
    return value.shares if isinstance(value, Deferred) else None


def _listed(content: Content | Deferred) -> int:
    """How many essays and glossary entries a content lists (0 for one given as it is)."""
    if not isinstance(content, Deferred):
        return 0
    return len(content.reads.essays) + len(content.reads.entries)


def placed_files(
    placings: Sequence[Placing], before_fork: Callable[[], None] | None = None
) -> Iterator[os.stat_result]:
    """Each file made and written where it is staged, in order (see `shared_out`): the
    workers write what they make, so only each file's status comes back here."""
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
    `forked(task)` instead for some runs when enough `values` are deferred to pay for the
    workers (this process making the other runs), each a run of neighbouring tasks (see
    `weighed_runs`), and with `bounded` only a few runs ahead of what the caller has taken
    (what comes back is large: contents, not stamps)."""
    workers = workers_beside(sum(isinstance(v, Deferred) for v in values), PARALLEL_THRESHOLD)
    if not workers:
        yield from map(here, tasks)
        return
    if before_fork is not None:
        before_fork()
    for loads in {v.loads for v in values if isinstance(v, Deferred) and v.loads is not None}:
        loads()  # once here rather than once in each worker
    participants = workers + 1  # this process makes runs too
    longest = max(1, min(MAX_RUN, -(-len(tasks) // (participants * 8))))
    runs = shared_runs(values, participants, longest)
    ahead = RUNS_AHEAD if bounded else None
    yield from in_forked_runs(tasks, forked, workers, runs, ahead, here=here)


def _made_bytes(value: Content | Deferred) -> bytes:
    """One value's content as bytes (what a worker sends back: a long page's text may take
    2-4 bytes a character)."""
    return as_bytes(made(value))

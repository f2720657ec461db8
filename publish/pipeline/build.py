"""The whole build, in the order it runs: load, plan, decide what to render, render,
pre-flight, write.

`build()` writes `build/site/` and `build/email/` (the emails a send could still need, see
`publish.state.unsent`) in one atomic commit; `check()` is it without the write, covering the
queued essays at their planned slots. Every output is a row of `FORMATS`, a pure function
from a `Site` to `{path: content}` whose files are made later, if at all (`Deferred`). The
build makes the one `BuildCache` and passes it in: the load parses each essay once and
renders, in the same worker, every body the rows declare (kept for later builds); the place
phase (`publish.pipeline.place`, imported while the workers parse) keys each deferred file,
makes what the keys do not vouch for and commits; between staged and committed the
finishers (`publish.pipeline.finishers`) see each folder as it will be.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from publish.cache.store import BuildCache
from publish.content.essaylinks import unpublished_link_problems, with_link_targets
from publish.content.glossary import uncited_terms
from publish.content.images import avif_problems
from publish.content.site import select_published
from publish.errors import Problem, PublishError
from publish.i18n.words import one_build
from publish.layout import BUILD_DIR
from publish.model import Settings, Site
from publish.pipeline.formats import FOLDERS, loading_libraries, loading_makers
from publish.pipeline.load import Loaded, Step, load
from publish.pipeline.previewing import (
    PREVIEW_FOLDER,
    LeftOut,
    date_drafts,
    left_out,
    with_planned_slots,
)
from publish.pipeline.unchanged import stamp_modules
from publish.state.releases import Known
from publish.state.unsent import emails_wanted
from publish.support.locks import build_lock

if TYPE_CHECKING:
    from publish.pipeline.place import Progress

# The place phase's modules, imported while the workers parse (`loading_place_phase`), each a
# step of its own: Jinja first, then what the place phase and its finishers add.
PLACE_PHASE = (
    "jinja2",
    "jinja2.ext",  # the templates' i18n extension, loaded by name when they are set up
    "publish.outputs.templates",
    "publish.outputs.mail",
    "publish.pipeline.place",
)


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
    emails: int = 0  # the emails (`.eml`) it wrote into `email_dir`


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
        loaded = loaded or load(
            root, cache, loading_place_phase(), partial(settled_steps, root, cache)
        )
        from publish.pipeline.place import place_site  # see loading_place_phase

        site, known, warnings = loaded.site, loaded.known, loaded.warnings
        published = plan(site, known, options)
        refuse_unpublished_links(site, published, options, warnings)
        emails = emails_wanted(site, known, options.today) | options.emails
        placed = place_site(
            site,
            published,
            emails,
            cache,
            out,
            today=options.today,
            preview=options.preview,
            strict=options.strict,
            write=write,
            progress=progress,
            warnings=warnings,
        )
    site_dir, email_dir = (out / name for name in FOLDERS)
    return BuildReport(
        site_dir=site_dir,
        email_dir=email_dir,
        published=tuple(e.slug for e in published.essays),
        warnings=placed.problems,
        files=placed.files,
        site=site,
        left_out=left_out(site, published, options.drafts),
        known=known,
        left=placed.left,
        emails=placed.emails,
    )


def loading_place_phase() -> list[Step]:
    """Importing the place phase and the rows' makers and loading what making their files
    loads, step by step: taken while the workers parse, between their replies, so that this
    process, alone, does not do it after them, nor before it forks them (a build that forks
    no worker imports them when it places). The two largest steps come first, Jinja and the
    rows' libraries (feedgen and lxml), while the workers' first runs are long: a worker
    whose runs in hand end before a step does waits for it."""
    jinja, *modules = [partial(importlib.import_module, name) for name in PLACE_PHASE]
    return [jinja, *loading_libraries(), *modules, *loading_makers()]


def settled_steps(root: Path, cache: BuildCache, settings: Settings) -> list[Step]:
    """The last steps taken while the workers parse, once the settings are read: loading
    the templates the place phase renders most, in the site's language (see
    `publish.pipeline.place.preload_templates`: it needs Jinja and the place phase's module,
    the earlier steps' to import), then, where the command keeps a manifest of the build,
    stamping the modules loaded so far (`publish.pipeline.unchanged.stamp_modules`)."""
    steps: list[Step] = [partial(_preloaded_templates, root, cache, settings)]
    if cache.module_stamps is not None:
        steps.append(partial(stamp_modules, cache.module_stamps))
    return steps


def _preloaded_templates(root: Path, cache: BuildCache, settings: Settings) -> None:
    """`preload_templates`, from the place phase's module (imported by an earlier step)."""
    from publish.pipeline.place import preload_templates

    preload_templates(root, cache, settings)


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

"""The one loader: every file of a site read (each essay parsed once, through the build
cache), then what the state database and `releases.toml` say was released, read once and
applied. Build, check, run, status, send, serve and schedule all load a site here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import msgspec

from publish.cache import reading
from publish.cache.bodies import Rendering
from publish.cache.store import BuildCache
from publish.content import essays
from publish.content.images import ImageSizes
from publish.content.site import load_site as read_files
from publish.errors import Problem
from publish.model import Essay, Settings, Site
from publish.outputs.bodies import BODY_PAIRS, essay_bodies
from publish.pipeline.formats import BODIES, ROUTES
from publish.schedule.slots import apply_release_dates
from publish.state.releases import Binding, Known, recorded_releases
from publish.state.replies import with_replies


class Loaded(msgspec.Struct, frozen=True):
    """A site as loaded: `files` as its files say (drafts and undated essays included),
    `known` what was released, and `site`: the released essays at their released addresses
    and, if undated, dated by their release, with the fediverse replies approved for them."""

    files: Site
    known: Known
    site: Site
    warnings: list[Problem] = msgspec.field(default_factory=list)

    @property
    def binding(self) -> Binding:
        """The releases matched to the essays as their files say."""
        return self.known.bind(self.files)


Step = Callable[[], object]
# The steps a site's settings call for (`load`'s `settled`), made once they are read.
SettledSteps = Callable[[Settings], Sequence[Step]]


def load(
    root: Path,
    cache: BuildCache | None = None,
    meanwhile: Sequence[Step] = (),
    settled: SettledSteps | None = None,
) -> Loaded:
    """Read every file of the site at `root`, each essay's parse and the bodies the output
    table shows kept in `cache` (the site's own when none is given), an essay taking a
    built-in address refused; then the releases, read once and applied. While worker
    processes parse the essays (when there are many), this one takes the steps of
    `meanwhile`, then those `settled` gives for the site's settings, one at a time between
    the workers' replies. A PublishError for any error in the files or the releases."""
    cache = cache or BuildCache.for_site(root)
    read_first: list[Known] = []  # read by the plan, once the settings are known
    steps = list(meanwhile)  # the settled steps added by the plan, before any is taken

    def plan(root: Path, settings: Settings) -> Callable[[Essay], Sequence[Rendering]]:
        known = recorded_releases(root, settings)
        read_first.append(known)
        steps.extend(settled(settings) if settled is not None else ())
        address = partial(known.address, root)
        return essay_bodies(root, settings, BODIES, ImageSizes(root, cache), address)

    reader = partial(
        reading.read_essays,
        parse=essays.read_essay,
        plan=plan,
        build_cache=cache,
        meanwhile=steps,
        pairs=BODY_PAIRS,
    )
    files, warnings = read_files(root, reader, cache, ROUTES)
    known = read_first[0] if read_first else recorded_releases(root, files.settings)
    binding = known.bind(files)
    site = with_replies(apply_release_dates(binding.site, binding.releases))
    return Loaded(files, known, site, warnings)

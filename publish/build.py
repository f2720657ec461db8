"""The whole build, in order: load every file, select what is published, render, then write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from publish.cache.outputs import OutputKeys, OutputMemo
from publish.cache.store import cache_enabled
from publish.content.essays import ESSAYS_DIR
from publish.content.site import essay_folder, load_site, select_published
from publish.errors import Problem
from publish.model import Site
from publish.outputs import feeds, mail, web
from publish.outputs.files import Deferred, OutputFiles, resolve_all
from publish.outputs.templates import shared_template_environment
from publish.releases import site_with_releases
from publish.schedule import apply_release_dates
from publish.writer import OutputFolder, build_lock, write_trees

BUILD_DIR = "build"


@dataclass(frozen=True)
class BuildOptions:
    """What to build: `today` decides what is published; drafts and future essays on request."""

    today: date | datetime
    drafts: bool = False
    future: bool = False


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote and what it warned about."""

    site_dir: Path
    email_dir: Path
    published: tuple[str, ...]
    warnings: list[Problem] = field(default_factory=list)
    files: int = 0


def build(root: Path, options: BuildOptions, site: Site | None = None,
          warnings: list[Problem] | None = None) -> BuildReport:
    """Build the web site and feeds into `build/site/` and the emails into `build/email/`,
    both folders replaced in one atomic commit, under the site's build lock."""
    with build_lock(root / BUILD_DIR):
        if site is None:
            site, warnings = load_site(root)
            site = with_release_dates(site)
        published = select_published(site, options.today, options.drafts, options.future)
        caching = cache_enabled()
        outputs = render_outputs(published, deferred=caching)
        site_dir = root / BUILD_DIR / "site"
        email_dir = root / BUILD_DIR / "email"
        folders = [OutputFolder(files, folder, OutputMemo.for_folder(root, folder.name)
                                if caching else None)
                   for files, folder in ((outputs.site_files, site_dir),
                                         (outputs.email_files, email_dir))]
        write_trees(folders)
        for folder in folders:
            if folder.memo is not None:
                folder.memo.save()
    return BuildReport(site_dir=site_dir, email_dir=email_dir,
                       published=tuple(e.slug for e in published.essays),
                       warnings=list(warnings or []), files=len(outputs.site_files))


def with_release_dates(site: Site) -> Site:
    """The site with each released essay at its released address and, if undated, dated by
    its release (the state DB merged with releases.toml)."""
    binding, _ = site_with_releases(site)
    return apply_release_dates(binding.site, binding.releases)


@dataclass(frozen=True)
class Outputs:
    """Every file of a build: the web site (with feeds) and the emails, some maybe deferred."""

    site_files: dict[str, str | bytes | Deferred]
    email_files: dict[str, str | bytes | Deferred]


def render_outputs(published: Site, deferred: bool = False) -> Outputs:
    """Render every output of the published site, writing nothing.

    With `deferred`, essay pages and emails stay `Deferred` (keyed for the output memo) for
    the writer to make only when their previous file cannot be kept.
    """
    templates = shared_template_environment(published.templates_dir)
    keys = (OutputKeys(published.settings, published.templates_dir, published.glossary)
            if deferred else None)
    site_files = OutputFiles()
    site_files.add_all(web.render_site(published, templates, keys), "the web pages")
    site_files.add_all(feeds.render_feeds(published, keys), "the feeds")
    site_files.add_all(site_assets(published.root), "the files beside the essays")
    email_files = mail.render_emails(published, templates, keys)
    if not deferred:
        site_files, email_files = resolve_all(site_files), resolve_all(email_files)
    return Outputs(site_files=site_files, email_files=email_files)


def site_assets(root: Path) -> OutputFiles:
    """Files beside the essays that are not Markdown (images and such), at the site's root;
    hidden and editor files and links out of `essays/` are left out (see `essay_folder`)."""
    assets = OutputFiles()
    for relative, path in essay_folder(root).assets:
        assets.add(relative, path.read_bytes(), f"{ESSAYS_DIR}/{relative}")
    return assets

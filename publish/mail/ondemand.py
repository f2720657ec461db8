"""An essay's email made when a send, a test copy or the preview asks for one the build left out.

A build makes only the emails a send could still need (`publish.state.unsent`). Any other
shown essay's email (a back issue for `publish send SLUG` or `send --to`, an essay the
preview's `/__publish__/` links to) is made here on request: the site loaded and planned as
the build loads and plans it, and the files made by the build's own email row, so they are
byte for byte what a build that included the essay writes. They are added to the build's
email folder under its build lock, through the commit journal; the next build keeps them
only if a send could still need them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from publish.cache.store import BuildCache
from publish.errors import PublishError
from publish.model import Settings
from publish.outputs.files import made
from publish.pipeline.build import (
    BUILD_DIR,
    BuildOptions,
    plan,
    refuse_unpublished_links,
)
from publish.pipeline.formats import FORMATS
from publish.pipeline.load import load
from publish.pipeline.place import shared_templates
from publish.pipeline.writer import add_files
from publish.support.locks import build_lock


def make_email(
    root: Path,
    slug: str,
    email_dir: Path,
    options: BuildOptions | None = None,
    write: bool = True,
) -> bool:
    """Make `slug`'s email into `email_dir` (under `root`: `build/email/`, or the preview's
    `build/preview/email/`) as a build with `options` would; False, writing nothing, when
    that build does not show the essay. Without `options`, the build of today (for the
    preview's folder, with drafts, queued and later essays). Without `write`, only say
    whether it would be made (a dry run changes nothing)."""
    out = (root / email_dir).parent
    with build_lock(out):
        cache = BuildCache.for_site(root)
        loaded = load(root, cache)
        site = loaded.site
        options = options or default_options(site.settings, preview=out != root / BUILD_DIR)
        published = plan(site, loaded.known, options)
        if all(essay.slug != slug for essay in published.essays):
            return False
        refuse_unpublished_links(site, published, options, None)
        if not write:
            return True
        row = next(row for row in FORMATS if row.chosen)
        files = row.render(published, shared_templates(published.templates_dir, cache), {slug})
        made_files = {path: made(value) for path, value in files.items()}
        try:
            add_files(made_files, root / email_dir)
        except OSError as exc:  # a folder this process may not write, say
            reason = f"the email of '{slug}' could not be written: {exc.strerror or exc}"
            raise PublishError.single(str(email_dir), 1, 1, reason) from None
    return True


def default_options(settings: Settings, preview: bool) -> BuildOptions:
    """A build of today in the site's time zone: `publish build`, or for the preview
    `publish build --future --drafts` (queued essays at their planned slots)."""
    today = datetime.now(ZoneInfo(settings.site.timezone)).date()
    return BuildOptions(today=today, drafts=preview, future=preview, queued=preview)

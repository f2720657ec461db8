"""The output table: one row per format, where its files go, what makes them, which essay
bodies it shows and which addresses at the site's root it takes (its routes).

Adding a format is adding a row. An essay whose slug is one of the routes of a row writing
to `site/` is refused by the loader (its page would share the address of a built-in page).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import msgspec
from jinja2 import Environment

from publish.model import Essay, Settings, Site
from publish.outputs import activitypub, feeds, images, mail, web
from publish.outputs.files import Content, Deferred, OutputFiles

Render = Callable[..., Mapping[str, Content | Deferred]]  # (site, templates[, chosen slugs])


class OutputFormat(msgspec.Struct, frozen=True):
    """One row of the output table: a format, where its files go and what makes them."""

    name: str  # how a clash of two formats on one path names it
    folder: str  # under build/
    paths: str  # the path pattern of its files
    render: Render
    reads: str  # what its files depend on (each file's `Deferred` says exactly)
    bodies: tuple[str, ...] = ()  # the essay bodies it shows of every essay (bodies.CHANNELS)
    chosen: bool = False  # made only for the essays the build names (see `gather`)
    routes: tuple[str, ...] = ()  # the first part of each path it writes besides essay pages
    checked: bool = True  # made by `check` too (not files nothing in can fail: image copies)
    loads: Callable[[], object] | None = None  # what making its files loads (a library)


def _feeds(site: Site, templates: Environment) -> OutputFiles:
    """The feeds (they need no templates)."""
    return feeds.render_feeds(site)


def _emails(
    site: Site, templates: Environment, slugs: Collection[str] | None = None
) -> OutputFiles:
    """The emails of `slugs` (every shown essay's when None), each with its `.eml`."""
    return mail.render_emails(site, templates, _preview_message, slugs)


def _preview_message(settings: Settings, essay: Essay, text: str, html: str) -> bytes:
    """`publish.mail.mime.preview_message`, loaded when the first `.eml` is made (a build
    that makes no email never loads the MIME builder)."""
    from publish.mail.mime import preview_message

    return preview_message(settings, essay, text, html)


FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat(
        "the web pages",
        "site",
        "index.html, <slug>/index.html, page/<n>/, archive/, "
        "tags/<tag>/, glossary/, search/, 404.html, sitemap.xml, robots.txt, style.css",
        web.render_site,
        "the published essays, the glossary, the templates",
        ("web",),
        routes=(
            "index",
            "page",
            "archive",
            "tags",
            "glossary",
            "404",
            "style",
            "robots",
            "sitemap",
            "favicon",
            "feed",  # the feed stylesheet, feed.xsl
            "static",  # kept for packaged static files
            "search",  # the search page and its script, search.js
            "pagefind",  # the search index (publish.pipeline.search)
        ),
    ),
    OutputFormat(
        "the feeds",
        "site",
        "feed.xml, atom.xml, feed.json, tags/<tag>/feed.xml",
        _feeds,
        "the newest essays",
        ("feed",),
        routes=("feed", "atom", "tags"),
        loads=feeds.load_feed_libraries,
    ),
    OutputFormat(
        "the fediverse Articles",
        "site",
        "activitypub/articles/<slug>.json (only with [fediverse] enabled)",
        activitypub.render_articles,
        "each essay",
        ("feed",),  # the feeds' bodies: no rendering of their own
        routes=("activitypub",),
    ),
    OutputFormat(
        "the files beside the essays",
        "site",
        "<path under essays/>",
        images.render_assets,
        "the files in essays/ that are not Markdown",
    ),
    OutputFormat(
        "the published images",
        "site",
        "<image path>, <image path>.<width>w.<avif|webp|jpg|png>",
        images.render_images,
        "the content of each raster image in essays/",
        checked=False,
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


def load_libraries() -> None:
    """Load what making the rows' files loads (done while the essays are parsed, so that
    neither the build's later steps nor each of its workers load it)."""
    for row in FORMATS:
        if row.loads is not None:
            row.loads()


BODIES = tuple(dict.fromkeys(name for row in FORMATS for name in row.bodies))
ROUTES = frozenset(route for row in FORMATS if row.folder == "site" for route in row.routes)

"""The output table: one row per format, where its files go, what makes them, which essay
bodies it shows and which addresses at the site's root it takes (its routes).

Adding a format is adding a row. An essay whose slug is one of the routes of a row writing
to `site/` is refused by the loader (its page would share the address of a built-in page).
Each row names the function that makes its files (`module:function`, as an entry point
does), imported when first used: a cold build imports the rows' modules while its workers
parse (`loading_makers`), never before it forks them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from publish.model import Essay, Settings, Site
from publish.outputs.files import Content, Deferred, OutputFiles

if TYPE_CHECKING:
    from jinja2 import Environment


class OutputFormat(msgspec.Struct, frozen=True):
    """One row of the output table: a format, where its files go and what makes them."""

    name: str  # how a clash of two formats on one path names it
    folder: str  # under build/
    paths: str  # the path pattern of its files
    maker: str  # "module:function" making its files from (site, templates[, chosen slugs])
    reads: str  # what its files depend on (each file's `Deferred` says exactly)
    bodies: tuple[str, ...] = ()  # the essay bodies it shows of every essay (bodies.CHANNELS)
    chosen: bool = False  # made only for the essays the build names (see `gather`)
    routes: tuple[str, ...] = ()  # the first part of each path it writes besides essay pages
    checked: bool = True  # made by `check` too (not files nothing in can fail: image copies)
    loads: str | None = None  # "module:function": what making its files loads (a library)

    def render(
        self, site: Site, templates: Environment, *chosen: Any
    ) -> Mapping[str, Content | Deferred]:
        """The row's files (each made later, if at all: see `Deferred`)."""
        return named_function(self.maker)(site, templates, *chosen)


def named_function(reference: str) -> Callable[..., Any]:
    """The function a `module:function` reference names, its module imported if it was not."""
    module, _, name = reference.partition(":")
    function = getattr(importlib.import_module(module), name)
    assert callable(function), reference
    return function


def feed_files(site: Site, templates: Environment) -> OutputFiles:
    """The feeds (they need no templates)."""
    from publish.outputs import feeds

    return feeds.render_feeds(site)


def email_files(
    site: Site, templates: Environment, slugs: Collection[str] | None = None
) -> OutputFiles:
    """The emails of `slugs` (every shown essay's when None), each with its `.eml`."""
    from publish.outputs import mail

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
        "publish.outputs.web:render_site",
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
        "publish.pipeline.formats:feed_files",
        "the newest essays",
        ("feed",),
        routes=("feed", "atom", "tags"),
        loads="publish.outputs.feeds:load_feed_libraries",
    ),
    OutputFormat(
        "the fediverse Articles",
        "site",
        "activitypub/articles/<slug>.json (only with [fediverse] enabled)",
        "publish.outputs.activitypub:render_articles",
        "each essay",
        ("feed",),  # the feeds' bodies: no rendering of their own
        routes=("activitypub",),
    ),
    OutputFormat(
        "the files beside the essays",
        "site",
        "<path under essays/>",
        "publish.outputs.images:render_assets",
        "the files in essays/ that are not Markdown",
    ),
    OutputFormat(
        "the published images",
        "site",
        "<image path>, <image path>.<width>w.<avif|webp|jpg|png>",
        "publish.outputs.images:render_images",
        "the content of each raster image in essays/",
        checked=False,
    ),
    OutputFormat(
        "the emails",
        "email",
        "<slug>.html, <slug>.txt, <slug>.eml",
        "publish.pipeline.formats:email_files",
        "each essay, the email templates",
        chosen=True,
    ),
)
FOLDERS = tuple(dict.fromkeys(row.folder for row in FORMATS))


def loading_makers() -> list[Callable[[], object]]:
    """Importing every row's maker, step by step (a build takes them while the essays are
    parsed, so that neither its later steps nor each of its workers load them)."""
    return [partial(named_function, row.maker) for row in FORMATS]


def loading_libraries() -> list[Callable[[], object]]:
    """Loading what making each row's files loads (a library), step by step, as
    `loading_makers`."""
    return [partial(_load, row.loads) for row in FORMATS if row.loads is not None]


def _load(reference: str) -> None:
    """Call the loading function `reference` names (see `OutputFormat.loads`)."""
    named_function(reference)()


BODIES = tuple(dict.fromkeys(name for row in FORMATS for name in row.bodies))
ROUTES = frozenset(route for row in FORMATS if row.folder == "site" for route in row.routes)

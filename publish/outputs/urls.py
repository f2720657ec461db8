"""Every address the outputs print: essay and tag pages and their URLs, site-relative links,
the subscription service's links (unsubscribe, confirm) and the preview's unsubscribe link."""

from __future__ import annotations

import functools
import re

import msgspec

from publish.content.essays import slugify
from publish.errors import PublishError, error
from publish.model import Essay, Settings, Site

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
PREVIEW_TOKEN = "preview"


class TagGroup(msgspec.Struct, frozen=True):
    """One tag, the slug of its page and its published essays, newest first."""

    name: str
    slug: str
    essays: tuple[Essay, ...]


def resolve_url(url: str, base: str) -> str:
    """Make a site-relative URL (`images/a.png`, `/about/`) relative to `base`; others unchanged."""
    if not url or url.startswith(("#", "//", "?")) or SCHEME.match(url):
        return url
    return base + url.lstrip("/")


def essay_page_path(essay: Essay) -> str:
    """Where an essay's page goes in the site."""
    return f"{essay.slug}/index.html"


def page_url(path: str) -> str:
    """The site-relative URL of an output path: 'a/index.html' -> 'a/', 'index.html' -> ''."""
    return path.removesuffix("index.html")


def root_for(path: str) -> str:
    """The relative prefix from an output path back to the site's root ('./', '../', ...)."""
    depth = path.count("/")
    return "../" * depth if depth else "./"


def essay_url(site: Site, essay: Essay) -> str:
    """An essay's canonical, absolute URL."""
    return f"{site.settings.site.url}{essay.slug}/"


def service_link(settings: Settings, path: str, fallback: str = "") -> str:
    """`path` on the subscription service: `[email] service_url`, else `fallback`, else the
    site's URL."""
    base = settings.email.service_url or fallback or settings.site.url
    return f"{base.rstrip('/')}/{path}"


def unsubscribe_url(settings: Settings, token: str) -> str:
    """The link that unsubscribes the holder of `token`, on the subscription service."""
    return service_link(settings, f"unsubscribe/{token}")


def preview_unsubscribe_url(settings: Settings) -> str:
    """The unsubscribe link of the built preview copy (replaced per subscriber when sending)."""
    return unsubscribe_url(settings, PREVIEW_TOKEN)


@functools.lru_cache(maxsize=4096)
def tag_slug(tag: str) -> str:
    """The slug of a tag's page `tags/<slug>/`, transliterated from any script (each tag's
    once in a process: the pages and the feeds both ask for every tag's)."""
    return slugify(tag, fallback="tag")


def tag_groups(site: Site) -> list[TagGroup]:
    """Every tag of the published essays, by name; a PublishError when two tags share a slug."""
    names: dict[str, list[Essay]] = {}
    for essay in site.essays:
        for tag in essay.tags:
            names.setdefault(tag, []).append(essay)
    groups = [
        TagGroup(name, tag_slug(name), tuple(essays))
        for name, essays in sorted(names.items(), key=lambda item: item[0].lower())
    ]
    _refuse_tag_clashes(site, groups)
    return groups


def _refuse_tag_clashes(site: Site, groups: list[TagGroup]) -> None:
    """Raise when two different tags would write the same `tags/<slug>/` page."""
    by_slug: dict[str, TagGroup] = {}
    problems = []
    for group in groups:
        first = by_slug.setdefault(group.slug, group)
        if first is not group:
            essay = group.essays[0]
            problems.append(
                error(
                    essay.path,
                    1,
                    1,
                    f"tags '{first.name}' and '{group.name}' "
                    f"both make the page tags/{group.slug}/; use one spelling",
                )
            )
    if problems:
        raise PublishError(problems)

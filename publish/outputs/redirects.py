"""The old addresses of moved essays: a small HTML redirect page at each (for any host), and
`_redirects` (Netlify, Cloudflare Pages) with a 301 from each old address to the new one.
The docs (guide/deploying.md, "Old addresses") show the matching nginx rules.
"""

from __future__ import annotations

from collections.abc import Container
from urllib.parse import urlsplit

from markupsafe import escape

from publish.model import Essay, Site
from publish.outputs.urls import essay_page_path, page_url

REDIRECTS_FILE = "_redirects"


def redirects_file(site: Site, published: set[str]) -> dict[str, str]:
    """`{"_redirects": text}` for the old addresses of published essays (moved after release,
    or `aliases` in front matter), else nothing."""
    base = urlsplit(site.settings.site.url).path or "/"
    lines = []
    moves = [(old, new) for old, new in site.redirects if new in published]
    moves += [(alias, essay.slug) for essay in site.essays for alias in essay.aliases]
    for old, new in moves:
        if old not in published:
            lines += [f"{base}{old} {base}{new}/ 301", f"{base}{old}/* {base}{new}/ 301"]
    return {REDIRECTS_FILE: "\n".join(lines) + "\n"} if lines else {}


def redirect_pages(site: Site, pages: Container[str]) -> dict[str, str]:
    """A page at the old address of each released essay that moved, sending readers on."""
    published = {essay.slug: essay for essay in site.essays}
    redirects = {}
    for old, new in site.redirects:
        path = f"{old}/index.html"
        if new in published and path not in pages:
            redirects[path] = redirect_html(site, published[new], f"../{new}/")
    return redirects


def alias_pages(site: Site, pages: Container[str]) -> dict[str, str]:
    """A redirect page at each old address an essay's front matter lists (`aliases`)."""
    redirects = {}
    for essay in site.essays:
        for alias in essay.aliases:
            path = f"{alias}/index.html"
            if path not in pages and path not in redirects:
                relative = "../" * (alias.count("/") + 1) + page_url(essay_page_path(essay))
                redirects[path] = redirect_html(site, essay, relative)
    return redirects


def redirect_html(site: Site, essay: Essay, relative: str) -> str:
    """A small valid HTML page: a refresh, a canonical link and a plain link to `relative`."""
    canonical = escape(site.settings.site.url + page_url(essay_page_path(essay)))
    title, target = escape(essay.title), escape(relative)
    return f"""<!DOCTYPE html>
<html lang="{escape(site.settings.site.language)}">
<head>
<meta charset="utf-8">
<title>{title} has moved</title>
<link rel="canonical" href="{canonical}">
<meta http-equiv="refresh" content="0; url={target}">
<meta name="robots" content="noindex">
</head>
<body>
<p>This essay has moved: <a href="{target}">{title}</a>.</p>
</body>
</html>
"""

"""`_redirects` (Netlify, Cloudflare Pages): the old address of each moved essay, 301 to the new.

Plain hosts get the HTML redirect pages publish.outputs.web writes; the README shows nginx rules.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from publish.model import Site

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

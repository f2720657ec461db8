"""The web site: every page as `{relative path: HTML}`, rendered from the loaded site."""

from __future__ import annotations

from jinja2 import Environment

from publish.markdown import RenderContext, render_web
from publish.model import Essay, Site
from publish.rendering import PACKAGE_STATIC


def essay_page_path(essay: Essay) -> str:
    """Where an essay's page goes in the site."""
    return f"{essay.slug}/index.html"


def render_essay_body(essay: Essay, base: str) -> str:
    """An essay's body HTML with site-relative links resolved against `base`."""
    context = RenderContext(slug=essay.slug, base=base, glossary_url=f"{base}glossary/")
    return render_web(essay.tokens, context)


def render_site(site: Site, templates: Environment) -> dict[str, str | bytes]:
    """Every file of the web site: essay pages and the stylesheet."""
    pages: dict[str, str | bytes] = {}
    template = templates.get_template("essay.html")
    for essay in site.essays:
        body = render_essay_body(essay, "../")
        pages[essay_page_path(essay)] = template.render(
            site=site.settings.site, essay=essay, body=body, root="../")
    pages["style.css"] = (PACKAGE_STATIC / "style.css").read_bytes()
    return pages

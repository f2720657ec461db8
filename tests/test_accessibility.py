"""Every kind of page, and the email's HTML, checked by axe-core in Chromium: no serious or
critical violation, in light and dark mode, on a phone and on a desktop.

The page kinds are one table (`PAGE_KINDS`): a new kind of page is one more row.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load
from publish.service.app import create_app
from publish.service.subscriptions import page as service_page
from tests.test_browser import served_folder
from tests.test_service_browser import serve_site_from_build
from tests.tools import AXE_JS, requires
from tests.websites import example_site

TODAY = date(2026, 11, 23)
ESSAY = "the-case-for-reading-slowly"
SITE_URL = "https://example.org/slow-margin/"


@dataclasses.dataclass(frozen=True)
class Built:
    """The built example site: its folder, where it is served, and its service's pages."""

    root: Path
    served: str
    service_pages: dict[str, str]


# What each kind of page is: a path of the served site, or HTML made another way.
PAGE_KINDS: dict[str, Callable[[Built], str]] = {
    "essay": lambda built: f"{built.served}{ESSAY}/",
    "index": lambda built: built.served,
    "archive": lambda built: f"{built.served}archive/",
    "tags": lambda built: f"{built.served}tags/",
    "tag": lambda built: f"{built.served}tags/reading/",
    "glossary": lambda built: f"{built.served}glossary/",
    "404": lambda built: f"{built.served}404.html",
    "search": lambda built: f"{built.served}search/",
    "email": lambda built: (built.root / "build" / "email" / f"{ESSAY}.html").as_uri(),
    **{
        f"service {name}": functools.partial(lambda name, built: built.service_pages[name], name)
        for name in ("subscribed", "confirm", "confirmed", "unsubscribe", "unsubscribed", "error")
    },
}
SERVICE_PAGES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "subscribed": ("service_subscribed.html", "Check your inbox", {}),
    "confirm": ("service_confirm.html", "Confirm your subscription", {"token": "t0ken"}),
    "confirmed": ("service_confirmed.html", "You are subscribed", {}),
    "unsubscribe": ("service_unsubscribe.html", "Unsubscribe", {"token": "t0ken"}),
    "unsubscribed": ("service_unsubscribed.html", "You are unsubscribed", {}),
    "error": (
        "service_error.html",
        "This link has run out",
        {"status_code": 410, "detail": "The link is more than a week old."},
    ),
}


def service_html(root: Path) -> dict[str, str]:
    """Each page of the subscription service, as the running service renders it."""
    app = create_app(root)
    pages = {}
    with app.test_request_context("/"):
        for name, (template, title, values) in SERVICE_PAGES.items():
            response = service_page(template, title, **values)
            pages[name] = response.get_data(as_text=True)
    return pages


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Built]:
    """The example site built with its emails, served on 127.0.0.1, with its service pages."""
    monkeypatch_module.setenv("PUBLISH_SMTP_URL", "smtp://127.0.0.1:9")
    monkeypatch_module.delenv("PUBLISH_SECRET", raising=False)
    root = example_site(tmp_path_factory.mktemp("a11y") / "site")
    with_search(root)
    essays = load(root).files.essays
    build(root, BuildOptions(today=TODAY, emails=frozenset(e.slug for e in essays)))
    # served under the site URL's own path, as deployed: 404.html links to /slow-margin/...
    top = root.parent / "served"
    top.mkdir()
    (top / "slow-margin").symlink_to(root / "build" / "site")
    with served_folder(str(top)) as url:
        served = f"{url}slow-margin/"
        yield Built(root, served, service_html(root))


def with_search(root: Path) -> None:
    """The site's search page turned on (Pagefind is in the test extra)."""
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("[site]\n", "[site]\nsearch = true\n", 1), encoding="utf-8")


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch for a module's fixtures."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations of the open page, one line each."""
    page.add_script_tag(path=str(AXE_JS))
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("kind", sorted(PAGE_KINDS))
def test_every_page_kind_passes_axe(
    page: Page, built: Built, kind: str, width: int, scheme: str
) -> None:
    requires("axe-core")
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    where = PAGE_KINDS[kind](built)
    if where.startswith(("http:", "file:")):
        page.goto(where)
        if kind == "search":  # Pagefind's box is drawn by its script: axe the drawn page
            page.wait_for_selector(".pagefind-ui__search-input")
            page.fill(".pagefind-ui__search-input", "reading")
            page.wait_for_selector(".pagefind-ui__result")
    else:
        serve_site_from_build(page, built.root, SITE_URL)
        page.set_content(where)
        assert page.evaluate("document.styleSheets.length") > 0
    assert serious_violations(page) == []


def test_axe_finds_what_it_should(page: Page) -> None:
    """The check can fail: a page with an unlabelled field and grey-on-grey text does."""
    requires("axe-core")
    page.set_content(
        '<!DOCTYPE html><html lang="en"><title>t</title><main><input type="text">'
        '<p style="color:#aaa;background:#bbb">faint</p></main></html>'
    )
    found = serious_violations(page)
    assert any(line.startswith("label ") for line in found)
    assert any(line.startswith("color-contrast ") for line in found)

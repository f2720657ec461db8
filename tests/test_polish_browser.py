"""The page polish in headless Chromium: the subscribe box under the home page's title, archive
rows that line up, glossary dates on one line, the favicon, the feed read as a page and the
welcome email's first line; each screenshot is written into test-results/ (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from publish.content.settings import load_settings
from publish.mail.built import load_built_email
from publish.outputs.templates import template_environment
from publish.service.welcome import Mailing, with_welcome
from tests import test_browser
from tests.websites import build_site, example_site

RESULTS = test_browser.RESULTS
site_url = test_browser.site_url  # the fixture serving the built example site

NARROW, WIDE = 375, 1280
ESSAY = "the-case-for-reading-slowly"


def shoot(page: Page, name: str) -> None:
    """A full-page screenshot into test-results/."""
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_the_subscribe_box_sits_under_the_home_page_title(
    page: Page, site_url: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(site_url)
    shoot(page, f"polish-home-{width}")
    title = page.locator("main h1").bounding_box()
    box = page.locator(".subscribe").bounding_box()
    first = page.locator(".essay-summary").first.bounding_box()
    assert title["y"] < box["y"] < first["y"]
    assert page.locator(".subscribe input[type=email]").is_visible()
    assert page.locator("text=first Tuesday").count() == 1


def test_archive_rows_line_up(page: Page, site_url: str) -> None:
    page.set_viewport_size({"width": WIDE, "height": 900})
    page.goto(f"{site_url}archive/")
    shoot(page, "polish-archive-1280")
    dates = page.locator(".archive-list time").evaluate_all(
        "(all) => all.map((e) => [e.getBoundingClientRect().left, e.getClientRects().length])"
    )
    titles = page.locator(".archive-list .archive-title").evaluate_all(
        "(all) => all.map((e) => e.getBoundingClientRect().left)"
    )
    assert len(dates) >= 4 and len({left for left, _ in dates}) == 1
    assert all(lines == 1 for _, lines in dates)
    assert len(set(titles)) == 1 and titles[0] > dates[0][0]


def test_glossary_dates_do_not_wrap(page: Page, site_url: str) -> None:
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.goto(f"{site_url}glossary/")
    shoot(page, "polish-glossary-375")
    lines = page.locator(".cited-in-list time").evaluate_all(
        "(all) => all.map((e) => e.getClientRects().length)"
    )
    assert lines and all(count == 1 for count in lines)


def test_the_essay_shows_its_category_credit_and_favicon(page: Page, site_url: str) -> None:
    page.set_viewport_size({"width": WIDE, "height": 900})
    page.goto(f"{site_url}{ESSAY}/")
    shoot(page, "polish-essay-1280")
    assert page.locator(".essay-header .category").inner_text().lower() == "essays"
    assert page.locator(".essay-image figcaption").inner_text() == "Illustration by Ada Marsh"
    icon = page.locator('link[rel="icon"]').evaluate("(link) => link.href")
    answer = page.request.get(icon)
    assert answer.status == 200 and b"<svg" in answer.body()


def test_the_feed_link_opens_a_readable_page(page: Page, site_url: str) -> None:
    page.set_viewport_size({"width": WIDE, "height": 900})
    page.goto(site_url)
    page.locator("nav.site-nav a", has_text="Feed").click()
    assert page.url == f"{site_url}feed.xml"
    shoot(page, "polish-feed-1280")
    assert page.locator("h1").inner_text() == "The Slow Margin"
    assert page.locator("li a").count() == 4
    assert page.locator(".about").is_visible()


def test_the_welcome_line_sits_above_the_greeting(page: Page, tmp_path: Path) -> None:
    root = example_site(tmp_path / "site")
    build_site(root)
    settings = load_settings(root)
    templates = template_environment(root / "templates")
    built = load_built_email(root, "writing-in-the-dark-months")
    letter = with_welcome(built, Mailing(root, settings, b"unused", templates))
    page.set_viewport_size({"width": 600, "height": 900})
    page.set_content(letter.html)
    shoot(page, "polish-welcome-email-600")
    welcome = page.get_by_text("Welcome to The Slow Margin, and thank you for confirming.")
    greeting = page.get_by_text("Hello,", exact=True)
    assert welcome.is_visible() and greeting.is_visible()
    assert welcome.bounding_box()["y"] < greeting.bounding_box()["y"]

"""The preview in headless Chromium: from `/__publish__/` to the queued essay's page (with its
banner) and its email (greeting the sample reader), both reloading when the essay is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.previewserver import NEXT, NEXT_SLOT, SAMPLE_GREETING, SENT, preview_site, serving
from tests.tools import REPO_ROOT
from tests.websites import build_site

RESULTS = REPO_ROOT / "test-results"
RELOAD_LIMIT = 30_000  # ms to wait for a rebuild and the reload it causes; not a speed check


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot into test-results/."""
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"preview-{name}.png"), full_page=True)


def retitle(root: Path, old: str, new: str) -> None:
    """Save the queued essay with a new title, as an editor would."""
    essay = root / "essays" / "02-next.md"
    text = essay.read_text(encoding="utf-8").replace(f'title: "{old}"', f'title: "{new}"')
    essay.write_text(text, encoding="utf-8")


@pytest.mark.slow
def test_the_queued_essay_and_its_email_open_from_the_index_and_reload(
    page: Page, tmp_path: Path
) -> None:
    root = preview_site(tmp_path / "site")
    page.set_viewport_size({"width": 1000, "height": 900})
    with serving(root) as served:
        page.goto(f"{served.url}__publish__/")
        expect(page.locator("#next-slot")).to_contain_text(NEXT_SLOT)
        shot(page, "index")
        page.locator(f".next li[data-slug='{NEXT}'] a.page-link").click()
        page.wait_for_url(f"**/{NEXT}/")
        banner = page.locator(".preview-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(f"Scheduled for {NEXT_SLOT}")
        expect(page.locator("h1")).to_have_text("The Next Letter")
        shot(page, "queued-page")
        page.go_back()
        page.locator(f".next li[data-slug='{NEXT}'] a.email-link").click()
        page.wait_for_url(f"**/__publish__/email/{NEXT}/")
        expect(page.get_by_text(SAMPLE_GREETING)).to_be_visible()
        expect(page.locator(".preview-banner")).to_have_count(0)
        shot(page, "queued-email")
        retitle(root, "The Next Letter", "The Next Letter, Revised")
        expect(page.get_by_text("The Next Letter, Revised").first).to_be_visible(
            timeout=RELOAD_LIMIT
        )
        expect(page.get_by_text(SAMPLE_GREETING)).to_be_visible()
        shot(page, "queued-email-reloaded")
        page.goto(f"{served.url}{NEXT}/")
        expect(page.locator("h1")).to_have_text("The Next Letter, Revised")
        retitle(root, "The Next Letter, Revised", "The Next Letter, Again")
        expect(page.locator("h1")).to_have_text("The Next Letter, Again", timeout=RELOAD_LIMIT)
        expect(page.locator(".preview-banner")).to_be_visible()


def test_a_real_build_shows_no_banner_in_the_browser(page: Page, tmp_path: Path) -> None:
    root = preview_site(tmp_path / "site")
    report = build_site(root)
    assert NEXT not in report.published
    page.goto((root / "build" / "site" / SENT / "index.html").as_uri())
    expect(page.locator("h1")).to_have_text("A Letter Already Sent")
    expect(page.locator(".preview-banner")).to_have_count(0)
    shot(page, "real-build-page")

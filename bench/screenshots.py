"""Remake the two pictures of the docs' front page and the README: an essay's page and its
email, from the example site, in Debian's Chromium through Playwright.

Run `make screenshots` (or `python -m bench.screenshots`) after changing how pages or
emails look, and commit docs/images/*.png. The example site is copied and built in a
temporary folder; the checkout is not written to, except the two pictures.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, Route, sync_playwright

from publish.content.settings import load_settings
from publish.pipeline.build import BuildOptions, build

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES = REPO_ROOT / "docs" / "images"
ESSAY = "the-case-for-reading-slowly"
# The essay's own day: a first run would mail it, so the build makes its email.
BUILD_DAY = date(2026, 8, 4)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# (picture, page under build/, viewport width, height shown, element brought into view):
# the page wide enough for its notes to stand in the margin, scrolled to the first one.
SHOTS = (
    ("essay-page.png", f"site/{ESSAY}/index.html", 1240, 1000, ".margin-note"),
    ("essay-email.png", f"email/{ESSAY}.html", 620, 1100, None),
)


def built_example(folder: Path) -> Path:
    """A copy of the example site, built as of BUILD_DAY; its build/ folder."""
    for part in ("publish.toml", "essays", "footnotes", "templates"):
        source = REPO_ROOT / part
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, folder / part)
    build(folder, BuildOptions(today=BUILD_DAY))
    return folder / "build"


def serve_site_url(page: Page, site_url: str, site: Path) -> None:
    """Answer the email's absolute addresses (its images) from the built site."""

    def answer(route: Route) -> None:
        local = site / route.request.url.removeprefix(site_url).split("?")[0]
        if local.is_dir():
            local = local / "index.html"
        if local.is_file():
            route.fulfill(path=str(local))
        else:
            route.fulfill(status=404)

    page.route(f"{site_url}**", answer)


def small_png(path: Path) -> None:
    """Shrink a screenshot to a 64-colour palette: a fraction of the bytes, same look."""
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=64).save(path, optimize=True)


def main() -> None:
    """Build the example and photograph its essay page and the essay's email."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        built = built_example(Path(scratch))
        site_url = load_settings(Path(scratch)).site.url
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, page_path, width, height, into_view in SHOTS:
            page = browser.new_page(viewport={"width": width, "height": height})
            serve_site_url(page, site_url, built / "site")
            page.goto((built / page_path).as_uri())
            if into_view:
                top = page.locator(into_view).first.evaluate(
                    "note => note.getBoundingClientRect().top + window.scrollY"
                )
                page.evaluate(f"window.scrollTo(0, {max(0, top - 300)})")
            target = IMAGES / name
            page.screenshot(path=str(target))
            small_png(target)
            page.close()
            print(f"wrote {target.relative_to(REPO_ROOT)} ({target.stat().st_size // 1024} KB)")
        browser.close()


if __name__ == "__main__":
    sys.exit(main())

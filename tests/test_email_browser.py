"""The email HTML in headless Chromium: nothing overflows at 600px or 375px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, Route

from tests.mailsite import make_mail_site
from tests.sitebuilder import due_since_long_ago
from tests.tools import REPO_ROOT
from tests.websites import build_site, example_site

RESULTS = REPO_ROOT / "test-results"
WIDTHS = (600, 375)

# Elements sticking out of the viewport (hidden ones and those inside scrollers aside).
OVERFLOWING = """(width) => {
  return [...document.querySelectorAll("body *")].filter((element) => {
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (box.width === 0 || style.display === "none" || style.visibility === "hidden") {
      return false;
    }
    return box.right > width + 0.5 || box.left < -0.5;
  }).map((element) => element.tagName + "." + element.className);
}"""


@pytest.fixture(scope="module")
def email_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The built email HTML of the example site and of the email fixture site."""
    example = example_site(tmp_path_factory.mktemp("email-browser") / "example")
    build_site(due_since_long_ago(example))  # every essay due: each email is built
    fixture = make_mail_site(tmp_path_factory.mktemp("email-browser") / "fixture")
    files = [
        *sorted((example / "build" / "email").glob("*.html")),
        *sorted((fixture / "build" / "email").glob("*.html")),
    ]
    assert len(files) >= 3
    return files


def offline(route: Route) -> None:
    """Let file:// pages load but refuse every network request (images are remote URLs)."""
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        route.abort()


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_email_fits_the_viewport(page: Page, email_files: list[Path], width: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.route("**/*", offline)
    page.set_viewport_size({"width": width, "height": 900})
    for path in email_files:
        page.goto(path.as_uri())
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{path.name} scrolls sideways at {width}px"
        assert page.evaluate(OVERFLOWING, width) == [], f"{path.name} at {width}px"
        letter = page.locator("table.letter").bounding_box()
        assert letter is not None and letter["width"] <= 600
        page.screenshot(path=str(RESULTS / f"email-{path.stem}-{width}.png"), full_page=True)

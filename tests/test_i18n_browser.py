"""A right-to-left site in headless Chromium at a phone's and a desktop's width: text aligned
to the right, the notes list indented from the right, nothing overflowing (issue 22); each
screenshot is written into test-results/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.test_browser import OVERFLOWING, RESULTS, served_folder
from tests.test_i18n import site_in

WIDTHS = (390, 1280)
PAGES = ("essay-1/", "", "glossary/", "archive/", "lista/")

TEXT_SIDES = """(element) => {
  const range = document.createRange();
  range.selectNodeContents(element);
  const text = range.getClientRects()[0];
  const box = element.getBoundingClientRect();
  const style = getComputedStyle(element);
  const right = box.right - parseFloat(style.paddingRight);
  const left = box.left + parseFloat(style.paddingLeft);
  return {direction: style.direction, rightGap: right - text.right, leftGap: text.left - left};
}"""

LIST_SIDES = """(list) => {
  const outer = list.getBoundingClientRect();
  const item = list.querySelector("li").getBoundingClientRect();
  return {rightIndent: outer.right - item.right, leftIndent: item.left - outer.left};
}"""


@pytest.fixture(scope="module")
def arabic_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture site built in Arabic, served on a free port of 127.0.0.1."""
    root = site_in(tmp_path_factory.mktemp("rtl") / "site", "ar")
    with served_folder(str(root / "build" / "site")) as url:
        yield url


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_right_to_left_pages_align_right_and_fit(
    page: Page, arabic_url: str, path: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(arabic_url + path)
    RESULTS.mkdir(exist_ok=True)
    name = path.strip("/") or "home"
    page.screenshot(path=str(RESULTS / f"rtl-{name}-{width}.png"), full_page=True)
    heading = page.locator("main h1").first.evaluate(TEXT_SIDES)
    assert heading["direction"] == "rtl"
    assert abs(heading["rightGap"]) < 2 and heading["leftGap"] > heading["rightGap"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(OVERFLOWING, width) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_notes_list_is_indented_from_the_right(page: Page, arabic_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{arabic_url}essay-1/")
    sides = page.locator(".footnotes-list").evaluate(LIST_SIDES)
    assert sides["rightIndent"] > 10 and sides["leftIndent"] < 1
    paragraph = page.locator(".essay-body p").first.evaluate(TEXT_SIDES)
    assert paragraph["direction"] == "rtl" and abs(paragraph["rightGap"]) < 2

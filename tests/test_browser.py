"""Tests in a real browser: headless Chromium opens the built example site over http."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.tools import REPO_ROOT, free_port
from tests.websites import build_site, example_site

RESULTS = REPO_ROOT / "test-results"
ESSAY = "the-case-for-reading-slowly"
NARROW, WIDE = 375, 1280

OVERFLOWING = """(width) => {
  const inScroller = (element) => {
    for (let node = element.parentElement; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (["auto", "scroll", "hidden"].includes(style.overflowX)) return true;
    }
    return false;
  };
  return [...document.querySelectorAll("body *")].filter((element) => {
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (box.width === 0 || style.visibility === "hidden" || style.position === "absolute") {
      return false;
    }
    return (box.right > width + 0.5 || box.left < -0.5) && !inScroller(element);
  }).map((element) => element.tagName + "." + element.className);
}"""


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without logging each request."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Say nothing."""


@contextmanager
def served_folder(folder: str | Path) -> Iterator[str]:
    """Serve `folder` on a free port of 127.0.0.1 for the block; its URL, ending in "/"."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The built example site, served on a free port of 127.0.0.1 for this module."""
    root = example_site(tmp_path_factory.mktemp("browser") / "site")
    build_site(root)
    with served_folder(str(root / "build" / "site")) as url:
        yield url


def test_footnote_reference_three_and_its_back_link(page: Page, site_url: str) -> None:
    page.goto(f"{site_url}{ESSAY}/")
    reference = page.locator(f"#fnref-{ESSAY}-3")
    reference.locator("button").click()  # a glossary note: its definition opens in place
    assert page.locator(f"#pop-{ESSAY}-3").is_visible()
    page.keyboard.press("Escape")
    page.goto(f"{site_url}{ESSAY}/#fn-{ESSAY}-3")
    assert page.evaluate("document.querySelector(':target').id") == f"fn-{ESSAY}-3"
    assert page.locator(f"#fn-{ESSAY}-3").is_visible()
    page.locator(f"#fn-{ESSAY}-3 a.footnote-backref").first.click()
    assert page.evaluate("location.hash") == f"#fnref-{ESSAY}-3"
    assert page.evaluate("document.querySelector(':target').id") == f"fnref-{ESSAY}-3"
    assert reference.is_visible()


@pytest.mark.parametrize("path", [f"{ESSAY}/", "", "glossary/", "archive/"])
def test_nothing_overflows_a_narrow_phone_screen(page: Page, site_url: str, path: str) -> None:
    page.set_viewport_size({"width": NARROW, "height": 800})
    page.goto(site_url + path)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW
    assert page.evaluate(OVERFLOWING, NARROW) == []


TITLE = "The Case for Reading Slowly"

IN_VIEW = """(element) => {
  const box = element.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  return {width: box.width, height: box.height, left: box.left, top: box.top,
          right: box.right, bottom: box.bottom, viewWidth: innerWidth, viewHeight: innerHeight,
          onTop: element.contains(document.elementFromPoint(x, y))};
}"""


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_screenshots_at_phone_and_desktop_widths(page: Page, site_url: str, width: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site_url}{ESSAY}/")
    target = RESULTS / f"essay-{width}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("innerWidth")
    title = page.locator("h1")
    assert title.inner_text() == TITLE
    assert title.is_visible()
    box = title.evaluate(IN_VIEW)
    assert box["width"] > 0 and box["height"] > 0, box
    assert box["left"] >= 0 and box["top"] >= 0, box
    assert box["right"] <= box["viewWidth"] and box["bottom"] <= box["viewHeight"], box
    assert box["onTop"], "something covers the title"
    page.goto(f"{site_url}glossary/")
    page.screenshot(path=str(RESULTS / f"glossary-{width}.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("innerWidth")


SCRIPTED = "<p id='said'>as written</p><script>said.textContent = 'script ran'</script>"


def test_pages_read_without_javascript(browser: Browser, site_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_content(SCRIPTED)
        assert page.locator("#said").inner_text() == "as written", "JavaScript is not off"
        page.goto(site_url)
        page.locator("nav.site-nav a", has_text="Archive").click()
        assert page.url == f"{site_url}archive/"
        page.locator(f"main a[href*='{ESSAY}']").first.click()
        assert page.url == f"{site_url}{ESSAY}/"
        assert page.locator("h1").inner_text() == TITLE
        last = page.locator(".essay-body > p").filter(has_text="start with a pencil")
        assert last.is_visible()
        references = page.locator("sup.footnote-ref .note-link")
        notes = page.locator(".footnotes li")
        assert notes.count() == 8 and references.count() >= 8
        assert all(note.is_visible() and note.inner_text().strip() for note in notes.all())
        page.locator("sup.footnote-ref button").nth(2).click()  # popovers need no script
        assert page.locator(f"#pop-{ESSAY}-3").is_visible()
        page.keyboard.press("Escape")
        href = references.nth(2).get_attribute("href") or ""  # the link beneath the button
        page.goto(f"{site_url}{ESSAY}/{href}")
        assert page.url.endswith(f"#fn-{ESSAY}-3")
        assert page.locator(f"#fn-{ESSAY}-3").is_visible()
        page.locator(f"#fn-{ESSAY}-3 .note-term a").click()
        assert page.url == f"{site_url}glossary/#flow"
        assert page.locator("#flow").is_visible()
        assert "challenging but within reach" in page.locator("main").inner_text()
    finally:
        context.close()


MARKER_GAPS = """() => [...document.querySelectorAll("sup.footnote-ref")].map((marker) => {
  const before = marker.previousSibling;
  if (!before || before.nodeType !== Node.TEXT_NODE || !/\\S$/.test(before.data)) return null;
  const word = document.createRange();
  word.setStart(before, before.data.length - 1);
  word.setEnd(before, before.data.length);
  const digits = document.createRange();
  digits.selectNodeContents([...marker.children].find((shown) => shown.getClientRects().length));
  return digits.getBoundingClientRect().left - word.getBoundingClientRect().right;
}).filter((gap) => gap !== null)"""


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_a_footnote_marker_sits_tight_against_its_word(
    page: Page, site_url: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{site_url}{ESSAY}/")
    gaps = page.evaluate(MARKER_GAPS)
    assert len(gaps) >= 3
    assert all(-1 <= gap <= 1 for gap in gaps), gaps

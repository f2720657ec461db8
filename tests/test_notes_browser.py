"""Notes in place, in a real browser: margin notes on wide screens (never overlapping each
other, the text or the viewport; none on a phone) and glossary notes as native popovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from playwright.sync_api import Page

from tests.test_browser import served_folder
from tests.tools import validate_html
from tests.websites import build_site, essay_file, write_settings

GLOSSARY = {
    "flow": "---\nterm: Flow\nsource: Mihaly Csikszentmihalyi\n---\n"
    "Complete absorption in a task that is hard but [within reach](https://example.com/).\n",
    "marginalia": "---\nterm: Marginalia\n---\nNotes written in the margins of a book, "
    + "kept by readers across the centuries as a record of how they read. " * 4
    + "\n",
}
SENTENCE = "Reading slowly is a practice of attention that pays back what it costs"
EIGHT_NOTES = f"""\
A first paragraph cites flow[^flow] and a short note of its own[^a].

{SENTENCE}, and then a note with two paragraphs[^b] and the margins[^marginalia].

## A heading with a note[^c]

> A quotation that cites a long note[^d] and then, right away, another[^e].

- A list item with a note[^f]

Close to the end, flow again[^flow] and a note with a list[^g].

| A | B |
|---|---|
| cell with a note[^h] | x |

[^a]: Short.
[^b]: A first paragraph of a note.

    And its second paragraph, a little longer than the first one was.
[^c]: {"A long note that goes on and on about the heading it belongs to. " * 12}
[^d]: {"A note near the limit, long enough to run down the margin a while. " * 7}
[^e]: Right after the long one.
[^f]: From a list item.
[^g]: A note that holds a list:

    - one
    - two
[^h]: From a table cell, so an endnote only.
"""
WIDTHS = [1280, 1440, 1920]
GEOMETRY = """() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}; };
  const text = document.querySelector(".essay-body");
  const column = [...text.children].filter((e) => !e.matches(".note-popover"))
    .map((e) => box(e)).reduce((a, b) => ({left: Math.min(a.left, b.left),
      right: Math.max(a.right, b.right)}));
  const notes = [...document.querySelectorAll(".margin-note")].map((note) => {
    const ref = note.previousElementSibling;
    return {note: box(note), ref: box(ref), visible: getComputedStyle(note).display !== "none"};
  });
  const footer = document.querySelector(".site-footer").getBoundingClientRect().top;
  return {column, notes, footer, viewport: document.documentElement.clientWidth};
}"""


def every_sentence_essay(sentences: int = 60) -> str:
    """An essay citing a note in every sentence, each note of its own length."""
    body, notes = [], []
    for number in range(1, sentences + 1):
        body.append(f"Sentence {number} says a little about reading[^n{number}].")
        if number % 5 == 0:
            body.append("\n\n")
        notes.append(f"[^n{number}]: " + "Note text of varied length. " * (1 + number % 9))
    return " ".join(body) + "\n\n" + "\n".join(notes) + "\n"


@pytest.fixture(scope="module")
def notes_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A site with the two test essays, built and served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("notes") / "site"
    root.mkdir()
    write_settings(root, "https://example.org/")
    (root / "footnotes").mkdir()
    for key, text in GLOSSARY.items():
        (root / "footnotes" / f"{key}.md").write_text(text, encoding="utf-8")
    (root / "essays").mkdir()
    (root / "essays" / "eight.md").write_text(
        essay_file("Eight notes", "2026-01-06", EIGHT_NOTES, slug="eight"), encoding="utf-8"
    )
    (root / "essays" / "dense.md").write_text(
        essay_file("Dense", "2026-02-03", every_sentence_essay(), slug="dense"), encoding="utf-8"
    )
    build_site(root)
    site = root / "build" / "site"
    with served_folder(str(site)) as url:
        yield f"{url}", site


def intersect(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two boxes overlap by more than a rounding error."""
    return (
        min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
    )


@pytest.mark.parametrize("slug", ["eight", "dense"])
@pytest.mark.parametrize("width", WIDTHS)
def test_margin_notes_never_overlap_each_other_the_text_or_the_viewport(
    page: Page, notes_site: tuple[str, Path], slug: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{notes_site[0]}{slug}/")
    found = page.evaluate(GEOMETRY)
    notes = [n for n in found["notes"] if n["visible"]]
    assert len(notes) == (
        7 if slug == "eight" else 60
    )  # c (long), g (a list), h (a table): endnotes only
    column = found["column"]
    for index, item in enumerate(notes):
        note = item["note"]
        assert note["width"] > 150
        assert note["left"] >= column["right"] + 8, "a margin note crosses the text column"
        assert note["right"] <= found["viewport"], "a margin note crosses the viewport"
        assert note["top"] >= item["ref"]["top"] - 12, "a margin note stands above its citation"
        assert note["bottom"] <= found["footer"], "a margin note runs into the footer"
        for other in notes[index + 1 :]:
            assert not intersect(note, other["note"]), "two margin notes overlap"
            assert other["note"]["top"] >= note["bottom"], "margin notes out of citing order"


def test_a_margin_note_stands_beside_its_line_when_there_is_room(
    page: Page, notes_site: tuple[str, Path]
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{notes_site[0]}eight/")
    first = page.evaluate(GEOMETRY)["notes"][0]
    assert abs(first["note"]["top"] - first["ref"]["top"]) < 30


@pytest.mark.parametrize("slug", ["eight", "dense"])
def test_no_margin_note_on_a_phone(page: Page, notes_site: tuple[str, Path], slug: str) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{notes_site[0]}{slug}/")
    assert page.locator(".margin-note").count() > 0
    assert page.evaluate(GEOMETRY)["notes"] and not any(
        n["visible"] for n in page.evaluate(GEOMETRY)["notes"]
    )
    assert page.locator(".footnotes").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_print_keeps_endnotes_only(page: Page, notes_site: tuple[str, Path]) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    page.emulate_media(media="print")
    page.goto(f"{notes_site[0]}eight/")
    assert not page.locator(".margin-note").first.is_visible()
    assert page.locator(".note-link").first.is_visible()


@pytest.mark.parametrize("width", [390, 1280])
def test_a_popover_opens_on_screen_and_near_its_citation_where_there_is_room(
    page: Page, notes_site: tuple[str, Path], width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{notes_site[0]}eight/")
    for number in (1, 4):  # flow near the start of a line, marginalia near its end
        button = page.locator(f"#fnref-eight-{number} button")
        button.click()
        box = page.locator(f"#pop-eight-{number}").bounding_box()
        cited = button.bounding_box()
        assert box is not None and cited is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        assert box["y"] >= 0 and box["y"] + box["height"] <= 800
        if width > 700:  # just under (or over) the citation
            assert box["y"] - (cited["y"] + cited["height"]) < 12 or box["y"] < cited["y"]
        page.keyboard.press("Escape")


def test_a_glossary_citation_opens_its_definition_as_a_popover(
    page: Page, notes_site: tuple[str, Path]
) -> None:
    page.goto(f"{notes_site[0]}eight/")
    popover = page.locator("#pop-eight-1")
    assert not popover.is_visible()
    button = page.locator("#fnref-eight-1 button")
    button.click()
    assert popover.is_visible()
    assert "Complete absorption" in popover.inner_text()
    assert page.evaluate("location.hash") == ""  # opened in place, no jump
    page.keyboard.press("Escape")
    assert not popover.is_visible()
    # from the keyboard: Tab reaches the button, Enter opens, Escape closes
    page.locator("h1").click()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('popovertarget')") == "pop-eight-1":
            break
    else:
        pytest.fail("Tab never reached the glossary citation")
    page.keyboard.press("Enter")
    assert popover.is_visible()
    page.keyboard.press("Escape")
    assert not popover.is_visible()


def test_a_local_note_has_no_popover(page: Page, notes_site: tuple[str, Path]) -> None:
    page.goto(f"{notes_site[0]}eight/")
    assert page.locator("#fnref-eight-2 button").count() == 0
    page.locator("#fnref-eight-2 a").click()
    assert page.evaluate("location.hash") == "#fn-eight-2"


def test_without_popovers_the_citation_links_to_its_note(notes_site: tuple[str, Path]) -> None:
    document = lxml.html.parse(str(notes_site[1] / "eight" / "index.html")).getroot()
    buttons = document.cssselect("button[popovertarget]")
    assert len(buttons) == 3  # flow twice, marginalia once
    for button in buttons:
        link = button.getparent().cssselect("a.note-link")[0]
        target = document.get_element_by_id(link.get("href").removeprefix("#"))
        assert "footnote-item" in target.get("class")
        popover = document.get_element_by_id(button.get("popovertarget"))
        assert popover.get("popover") == "" and popover.tag == "div"


def test_a_screen_reader_meets_each_note_once(notes_site: tuple[str, Path]) -> None:
    document = lxml.html.parse(str(notes_site[1] / "eight" / "index.html")).getroot()
    copies = document.cssselect(".margin-note")
    assert len(copies) == 7
    for copy in copies:
        assert copy.get("aria-hidden") == "true"
        assert all(a.get("tabindex") == "-1" for a in copy.cssselect("a"))
    assert not document.cssselect(".footnotes .margin-note, .footnotes [popover]")


def test_feeds_carry_endnotes_only(notes_site: tuple[str, Path]) -> None:
    feed = (notes_site[1] / "feed.xml").read_text(encoding="utf-8")
    assert "margin-note" not in feed and "popover" not in feed
    assert "fn-eight-1" in feed


def test_pages_with_notes_in_place_are_valid_html(notes_site: tuple[str, Path]) -> None:
    assert validate_html(notes_site[1]) == []

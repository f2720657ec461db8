"""The page and the feeds as readers see them: category, the subscribe box and cadence line,
image credit, favicon, a feed stylesheet for browsers, and feed entries whose notes work in
every reader, newsboat included (issue 12)."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html

from publish.i18n.cadence import describe_rule
from tests.sitebuilder import due_since_long_ago
from tests.tools import requires, validate_html
from tests.websites import SVG, build_site, example_site, fixture_site

URL = "https://example.org/essays/"
CADENCE = describe_rule("FREQ=MONTHLY;BYDAY=+1TU")
MEDIA_NS = "http://search.yahoo.com/mrss/"
ATOM = "{http://www.w3.org/2005/Atom}"
NOTES_ESSAY = "writing-in-the-dark-months"  # the example site's newest essay, with notes


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture site (two essays, the first with a lead image) with a category, built."""
    site = fixture_site(tmp_path_factory.mktemp("polish") / "site", url=URL, essays=2)
    essay = site / "essays" / "02-essay.md"
    text = essay.read_text(encoding="utf-8")
    essay.write_text(text.replace("slug: essay-2", "slug: essay-2\ncategory: Field notes"))
    build_site(due_since_long_ago(site))  # both essays due: their emails are built
    return site


@pytest.fixture(scope="module")
def example_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example site, built."""
    site = example_site(tmp_path_factory.mktemp("polish-example") / "site")
    build_site(site)
    return site


def page(root: Path, path: str) -> html.HtmlElement:
    """A built page, parsed."""
    return html.fromstring((root / "build" / "site" / path).read_bytes())


def built(root: Path, path: str) -> bytes:
    """A built file's bytes."""
    return (root / "build" / "site" / path).read_bytes()


# --- The page ------------------------------------------------------------------------


def test_the_category_is_shown_on_the_page_and_in_the_archive(root: Path) -> None:
    essay = page(root, "essay-2/index.html")
    assert [e.text_content() for e in essay.cssselect(".essay-header .category")] == ["Field notes"]
    rows = page(root, "archive/index.html").cssselect(".archive-list li")
    shown = {r.cssselect("a")[0].text: [c.text for c in r.cssselect(".category")] for r in rows}
    assert shown == {"Essay 2": ["Field notes"], "Essay 1": []}
    listed = page(root, "index.html").cssselect(".essay-summary .category")
    assert [c.text for c in listed] == ["Field notes"]
    assert page(root, "essay-1/index.html").cssselect(".category") == []


def test_the_category_is_a_category_in_every_feed(root: Path) -> None:
    for name in ("feed.xml", "atom.xml"):
        feed = feedparser.parse(built(root, name))
        entry = next(e for e in feed.entries if e.link == f"{URL}essay-2/")
        assert [t.term for t in entry.tags] == ["Field notes", "reading"]
    rss = etree.fromstring(built(root, "feed.xml"))
    assert "Field notes" in rss.xpath("//item[link='" + URL + "essay-2/']/category/text()")
    atom = etree.fromstring(built(root, "atom.xml"))
    terms = atom.xpath("//a:entry/a:category/@term", namespaces={"a": ATOM[1:-1]})
    assert "Field notes" in terms
    items = json.loads(built(root, "feed.json"))["items"]
    assert next(i for i in items if i["url"] == f"{URL}essay-2/")["tags"][0] == "Field notes"


def cadence_count(document: html.HtmlElement) -> int:
    """How often the cadence sentence appears in a page's text."""
    return " ".join(document.text_content().split()).count(CADENCE)


def test_the_home_page_has_the_subscribe_box_under_its_title(root: Path) -> None:
    home = page(root, "index.html")
    intro = home.cssselect("main > .intro")[0]
    box = intro.getnext()
    assert box.tag == "aside" and "subscribe" in box.classes
    assert box.cssselect("form")[0].get("action") == "http://127.0.0.1:9/subscribe"
    assert len(home.cssselect(".subscribe")) == 1


PAGES = ("index.html", "archive/index.html", "glossary/index.html", "tags/index.html", "404.html")


@pytest.mark.parametrize("path", [*PAGES, "essay-1/index.html", "tags/reading/index.html"])
def test_the_cadence_line_appears_once_per_page(root: Path, path: str) -> None:
    assert cadence_count(page(root, path)) == 1


@pytest.mark.parametrize("path", [*PAGES, "the-case-for-reading-slowly/index.html"])
def test_the_cadence_line_appears_once_with_a_sites_own_footer(
    example_root: Path, path: str
) -> None:
    assert cadence_count(page(example_root, path)) == 1


def test_the_image_credit_reads_as_a_credit(root: Path) -> None:
    caption = page(root, "essay-1/index.html").cssselect(".essay-image figcaption")[0]
    assert caption.text == "Image: Drawn by the tests"
    entry = feedparser.parse(built(root, "feed.xml")).entries[-1]
    figure = html.fragment_fromstring(entry.content[0].value, create_parent="div")
    assert figure.cssselect("figcaption")[0].text == "Image: Drawn by the tests"
    email = html.fromstring((root / "build" / "email" / "essay-1.html").read_bytes())
    assert email.find_class("credit")[0].text == "Image: Drawn by the tests"


def test_a_credit_that_says_what_it_is_is_left_alone(example_root: Path) -> None:
    caption = page(example_root, "the-case-for-reading-slowly/index.html").cssselect("figcaption")
    assert caption[0].text == "Illustration by Ada Marsh"


def test_every_page_links_the_packaged_favicon(root: Path) -> None:
    for path in ("index.html", "essay-1/index.html", "tags/reading/index.html"):
        [icon] = page(root, path).cssselect('link[rel="icon"]')
        assert icon.get("type") == "image/svg+xml"
        target = (root / "build" / "site" / path).parent / icon.get("href")
        assert etree.fromstring(target.read_bytes()).tag == "{http://www.w3.org/2000/svg}svg"


def test_a_sites_own_favicon_replaces_the_packaged_one(tmp_path: Path) -> None:
    site = fixture_site(tmp_path / "site", essays=1)
    (site / "essays" / "favicon.svg").write_text(SVG, encoding="utf-8")
    build_site(site)
    assert built(site, "favicon.svg") == SVG.encode()


# --- The feed in a browser ---------------------------------------------------------------


def stylesheet_href(document: bytes) -> str:
    """The href of a feed's xml-stylesheet instruction."""
    tree = etree.fromstring(document).getroottree()
    [instruction] = [
        node
        for node in tree.getroot().itersiblings(preceding=True)
        if isinstance(node, etree._ProcessingInstruction) and node.target == "xml-stylesheet"
    ]
    assert instruction.get("type") == "text/xsl"
    return instruction.get("href")


def test_the_rss_feed_reads_as_a_page_in_a_browser(root: Path, tmp_path: Path) -> None:
    site = root / "build" / "site"
    for name in ("feed.xml", "tags/reading/feed.xml"):
        document = (site / name).read_bytes()
        assert feedparser.parse(document).bozo == 0
        stylesheet = (site / name).parent / stylesheet_href(document)
        assert stylesheet.resolve() == (site / "feed.xsl").resolve()
    transform = etree.XSLT(etree.parse(str(site / "feed.xsl")))
    result = transform(etree.parse(str(site / "feed.xml")))
    shown = html.fromstring(bytes(result))
    assert shown.findtext(".//h1") == "Fixture Letters"
    links = {a.text: a.get("href") for a in shown.cssselect("li a")}
    assert links == {"Essay 2": f"{URL}essay-2/", "Essay 1": f"{URL}essay-1/"}
    assert f"{URL}feed.xml" in shown.text_content()  # the address to copy into a reader
    (tmp_path / "feed.html").write_bytes(bytes(result))
    assert validate_html(tmp_path) == []


# --- Feed entries -------------------------------------------------------------------------


def test_feed_notes_jump_within_the_entry_and_have_no_back_arrows(root: Path) -> None:
    items = json.loads(built(root, "feed.json"))["items"]
    rss = feedparser.parse(built(root, "feed.xml")).entries
    atom = feedparser.parse(built(root, "atom.xml")).entries
    contents = [
        next(i["content_html"] for i in items if i["url"] == f"{URL}essay-1/"),
        next(e.content[0].value for e in rss if e.link == f"{URL}essay-1/"),
        next(e.content[0].value for e in atom if e.link == f"{URL}essay-1/"),
    ]
    for content in contents:
        fragment = html.fragment_fromstring(content, create_parent="div")
        references = fragment.cssselect("sup.footnote-ref a")
        assert [a.get("href") for a in references][:2] == ["#fn-essay-1-1", "#fn-essay-1-2"]
        assert all(fragment.get_element_by_id(a.get("href")[1:]) is not None for a in references)
        assert fragment.cssselect(".footnote-backref") == []
        assert "\u21a9" not in fragment.text_content()


def test_rss_and_atom_carry_the_lead_image(root: Path) -> None:
    size = str(len(SVG.encode()))
    image = f"{URL}images/square.svg"
    for name in ("feed.xml", "atom.xml"):
        tree = etree.fromstring(built(root, name))
        media = tree.xpath("//m:content", namespaces={"m": MEDIA_NS})
        assert [
            (m.get("url"), m.get("type"), m.get("medium"), m.get("fileSize")) for m in media
        ] == [(image, "image/svg+xml", "image", size)]
        entry = next(
            e for e in feedparser.parse(built(root, name)).entries if e.link.endswith("essay-1/")
        )
        assert entry.media_content[0]["url"] == image


def newsboat_article(feed_url: str, workdir: Path) -> str:
    """The text newsboat shows for the first article of a feed: newsboat runs in its own tmux
    server and hands the rendered article to a "pager" that copies it to a file."""
    tools = requires("newsboat", "tmux")
    folder = workdir / "newsboat"
    folder.mkdir()
    (folder / "urls").write_text(feed_url + "\n", encoding="utf-8")
    shown = folder / "article.txt"
    (folder / "config").write_text(f'pager "cp %f {shown}"\n', encoding="utf-8")
    command = shlex.join(
        [tools["newsboat"], "-r", "-u", str(folder / "urls"), "-c", str(folder / "cache.db")]
        + ["-C", str(folder / "config")]
    )
    tmux = [tools["tmux"], "-L", f"publish-test-{uuid.uuid4().hex[:12]}"]
    environment = {"HOME": str(folder), "PATH": "/usr/bin:/bin", "TERM": "xterm", "LANG": "C.UTF-8"}
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "100", "-y", "40", command], env=environment, check=True
    )
    try:
        for keys in ("Enter", "Enter"):
            screen = ""
            for _ in range(100):
                screen = subprocess.run(
                    [*tmux, "capture-pane", "-p"], capture_output=True, text=True
                ).stdout
                if "Fixture" in screen or "Slow Margin" in screen:
                    break
                time.sleep(0.1)
            subprocess.run([*tmux, "send-keys", keys], check=True)
            time.sleep(0.5)
        for _ in range(100):
            if shown.is_file() and shown.stat().st_size:
                return shown.read_text(encoding="utf-8")
            time.sleep(0.1)
        raise AssertionError("newsboat did not show the article")
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)


def test_newsboat_shows_notes_without_back_arrow_noise(example_root: Path, tmp_path: Path) -> None:
    text = newsboat_article((example_root / "build" / "site" / "feed.xml").as_uri(), tmp_path)
    assert "Writing in the Dark Months" in text
    assert "Notes" in text and "Mine is an old brass reading lamp" in text
    assert "\u21a9" not in text
    links = [line for line in text.splitlines() if line.startswith("[") and "#fnref-" in line]
    assert links == []

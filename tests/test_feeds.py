"""Tests for the feeds: RSS, Atom and JSON Feed, read by feedparser and by newsboat."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree, html

from tests.tools import newsboat_items
from tests.websites import build_site, essay_file, fixture_site

URL = "https://example.org/essays/"
FEEDS = ("feed.xml", "atom.xml")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture site with a feed limit of five, built."""
    site = fixture_site(tmp_path_factory.mktemp("feeds") / "site", url=URL, extra="feed_items = 5")
    build_site(site)
    return site


def read_feed(root: Path, name: str) -> Any:
    """Parse a built feed with feedparser, from bytes."""
    return feedparser.parse((root / "build" / "site" / name).read_bytes())


def entry_for(feed: Any, slug: str) -> Any:
    """The feed entry of one essay."""
    return next(e for e in feed.entries if e.link == f"{URL}{slug}/")


def absolute_links(content: str) -> list[str]:
    """Every href and src in an HTML fragment."""
    fragment = html.fragment_fromstring(content, create_parent="div")
    return [link for _element, _attribute, link, _pos in fragment.iterlinks()]


@pytest.mark.parametrize("name", FEEDS)
def test_feed_parses_cleanly_with_the_newest_essays(root: Path, name: str) -> None:
    feed = read_feed(root, name)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert [e.title for e in feed.entries] == [f"Essay {n}" for n in range(12, 7, -1)]
    assert feed.feed.title == "Fixture Letters"
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == [URL + name]
    assert feed.feed.link == URL


@pytest.mark.parametrize("name", FEEDS)
def test_entries_carry_full_content_with_notes_and_absolute_links(
    tmp_path: Path, name: str
) -> None:
    site = fixture_site(tmp_path / "site", url=URL, essays=2)
    build_site(site)
    entry = entry_for(read_feed(site, name), "essay-1")
    content = entry.content[0].value
    fragment = html.fragment_fromstring(content, create_parent="div")
    notes = fragment.cssselect("section.footnotes li")
    assert len(notes) == 4
    assert "This note is written in the essay itself." in notes[2].text_content()
    assert "A third paragraph" in fragment.text_content()
    links = absolute_links(content)
    assert f"{URL}glossary/#flow" in links
    assert f"{URL}essay-2/" in links
    assert f"{URL}images/square.svg" in links
    assert "#fn-essay-1-3" in links  # a note's link jumps within the entry
    jumps = [link for link in links if link.startswith("#")]
    assert jumps and all(fragment.get_element_by_id(link[1:]) is not None for link in jumps)
    others = [link for link in links if not link.startswith("#")]
    assert all(link.startswith(("https://", "http://")) for link in others), links


@pytest.mark.parametrize("name", FEEDS)
def test_entries_have_summary_author_tags_and_a_permalink_id(root: Path, name: str) -> None:
    entry = entry_for(read_feed(root, name), "essay-11")
    assert entry.id == f"{URL}essay-11/"
    assert entry.summary == "A plain paragraph of text for this essay."
    assert entry.author == "Fay Fixture"
    assert sorted(tag.term for tag in entry.tags) == ["notes", "reading"]
    assert entry.published_parsed[:3] == (2026, 9, 5)


def test_rss_guid_is_a_permalink_and_dates_are_rfc_822(root: Path) -> None:
    tree = etree.fromstring((root / "build" / "site" / "feed.xml").read_bytes())
    item = tree.find("channel/item")
    guid = item.find("guid")
    assert guid.get("isPermaLink") == "true"
    assert guid.text == item.findtext("link")
    assert parsedate_to_datetime(item.findtext("pubDate")).year == 2026
    last_build = parsedate_to_datetime(tree.findtext("channel/lastBuildDate"))
    assert last_build == parsedate_to_datetime(item.findtext("pubDate"))


def test_ids_stay_the_same_when_an_essay_is_edited(tmp_path: Path) -> None:
    site = fixture_site(tmp_path / "site", url=URL, essays=2)
    build_site(site)
    before = {name: entry_for(read_feed(site, name), "essay-2").id for name in FEEDS}
    (site / "essays" / "02-essay.md").write_text(
        essay_file("Essay 2, revised", "2025-03-03", "A rewritten body.\n", slug="essay-2")
    )
    build_site(site)
    after = {name: entry_for(read_feed(site, name), "essay-2") for name in FEEDS}
    assert {name: entry.id for name, entry in after.items()} == before
    assert after["feed.xml"].title == "Essay 2, revised"


def test_each_tag_has_its_own_rss_feed(root: Path) -> None:
    feed = read_feed(root, "tags/notes/feed.xml")
    assert feed.bozo == 0
    assert [e.title for e in feed.entries] == [f"Essay {n}" for n in (11, 9, 7, 5, 3)]
    assert feed.feed.link == f"{URL}tags/notes/"


def test_json_feed_follows_version_1_1(root: Path) -> None:
    feed = json.loads((root / "build" / "site" / "feed.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == f"{URL}feed.json"
    assert [item["id"] for item in feed["items"]] == [f"{URL}essay-{n}/" for n in range(12, 7, -1)]
    assert all(item["content_html"].startswith("<p>") for item in feed["items"])


@pytest.mark.parametrize("name", FEEDS)
def test_newsboat_reads_the_feed(root: Path, tmp_path: Path, name: str) -> None:
    feed_url = (root / "build" / "site" / name).as_uri()
    items = newsboat_items(feed_url, tmp_path)
    assert sorted((title, url) for title, url, _ in items) == sorted(
        (f"Essay {n}", f"{URL}essay-{n}/") for n in range(12, 7, -1)
    )
    assert all(pub_date > 0 for _, _, pub_date in items)


def test_every_feed_says_what_making_it_loads(tmp_path: Path) -> None:
    """So that a build loads feedgen once, before its workers fork (see `Deferred.loads`)."""
    from publish.outputs.feeds import load_feed_libraries, render_feeds
    from publish.outputs.files import Deferred
    from publish.pipeline.load import load

    site = load(fixture_site(tmp_path)).site
    feeds = render_feeds(site)
    assert feeds and all(
        isinstance(feed, Deferred) and feed.loads is load_feed_libraries for feed in feeds.values()
    )
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED_BY_FEED_LIBRARIES], capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr


LOADED_BY_FEED_LIBRARIES = """
import sys
from publish.outputs.feeds import load_feed_libraries
assert "feedgen.feed" not in sys.modules
load_feed_libraries()
assert "feedgen.feed" in sys.modules and "lxml.etree" in sys.modules
"""


# --- What making the feeds costs -------------------------------------------------------------

_imports: list[list[str]] = []  # while a list is here, each module looked for is added to it


def _note_imports(event: str, args: tuple[Any, ...]) -> None:
    if event == "import" and _imports:
        _imports[-1].append(str(args[0]))


sys.addaudithook(_note_imports)


def _feed_site(tmp_path: Path) -> Any:
    """The fixture site (feeds of five, its tags' feeds sharing essays with them), loaded."""
    from publish.pipeline.load import load

    return load(fixture_site(tmp_path / "site", url=URL, extra="feed_items = 5")).site


def _carried_links(files: dict[str, bytes]) -> list[str]:
    """The link of every item of every RSS feed among `files`, one for each feed carrying it."""
    return [
        link
        for path, data in files.items()
        if path.endswith("feed.xml")
        for link in etree.fromstring(data).xpath("//item/link/text()")
    ]


def _made_feeds(site: Any) -> dict[str, bytes]:
    """Every feed file of the site, made in this process in turn, as bytes."""
    from publish.outputs.feeds import render_feeds
    from publish.outputs.files import as_bytes, made

    return {path: as_bytes(made(content)) for path, content in render_feeds(site).items()}


def test_each_essays_entry_is_made_once_however_many_feeds_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedgen.entry import FeedEntry

    made_entries: list[FeedEntry] = []
    original = FeedEntry.__init__

    def counted(entry: FeedEntry) -> None:
        made_entries.append(entry)
        original(entry)

    monkeypatch.setattr(FeedEntry, "__init__", counted)
    files = _made_feeds(_feed_site(tmp_path))
    carried = [
        link
        for path, data in files.items()
        if path.endswith(".xml")
        for link in etree.fromstring(data).xpath(
            "//item/link/text() | //*[local-name()='entry']/*[local-name()='id']/text()"
        )
    ]
    assert len(carried) > len(set(carried)), "essays carried by several feeds"
    assert len(made_entries) == len(set(carried)), "one entry for each essay carried"


def test_each_essays_rss_item_is_made_once_however_many_feeds_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedgen.entry import FeedEntry

    made_items: list[object] = []
    original = FeedEntry.rss_entry

    def counted(entry: FeedEntry, extensions: bool = True) -> Any:
        made_items.append(entry)
        return original(entry, extensions)

    monkeypatch.setattr(FeedEntry, "rss_entry", counted)
    files = _made_feeds(_feed_site(tmp_path))
    carried = _carried_links(files)
    assert len(carried) > len(set(carried)), "essays carried by several RSS feeds"
    assert len(made_items) == len(set(carried)), "one RSS item made for each essay carried"


def test_feeds_sharing_entries_are_the_feeds_each_made_alone(tmp_path: Path) -> None:
    """Each feed made first, with no entry made before it (a fresh set of feeds each time),
    is byte for byte the feed made after the others, with the entries they made."""
    site = _feed_site(tmp_path)
    together = _made_feeds(site)
    from publish.outputs.feeds import render_feeds
    from publish.outputs.files import as_bytes, made

    alone = {path: as_bytes(made(render_feeds(site)[path])) for path in together}
    assert alone == together
    assert len(together) > 4, "the main feeds and the tags' feeds"


def test_making_a_feed_looks_for_no_module(tmp_path: Path) -> None:
    """Once `load_feed_libraries` has run (the build runs it before forking its workers),
    making every feed loads nothing and looks for nothing (feedgen's `load_extension` would
    look for an entry module of each extension, through the whole path, for every feed)."""
    from publish.outputs.feeds import load_feed_libraries

    site = _feed_site(tmp_path)
    load_feed_libraries()
    _imports.append([])
    try:
        _made_feeds(site)
        looked_for = _imports[-1]
    finally:
        _imports.pop()
    assert [name for name in looked_for if name.startswith("feedgen")] == []


def test_each_essays_rss_item_is_written_once_however_many_feeds_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lxml writes each essay's RSS item once in a process: a feed carrying items written
    before (the main feed's essays in their tags' feeds) takes their text as it was written."""
    from feedgen import feed as feedgen_feed

    written: list[str] = []
    real_tostring = feedgen_feed.etree.tostring

    def tostring(document: Any, *args: Any, **kwargs: Any) -> Any:
        written.extend(document.getroot().xpath("channel/item/link/text()"))
        return real_tostring(document, *args, **kwargs)

    monkeypatch.setattr(feedgen_feed.etree, "tostring", tostring)
    files = _made_feeds(_feed_site(tmp_path))
    monkeypatch.undo()
    carried = _carried_links(files)
    assert len(carried) > len(set(carried)), "essays carried by several RSS feeds"
    assert sorted(written) == sorted(set(carried)), "each item written once"


# Text that XML escapes, a line break, and letters of other scripts (Cyrillic, Han, Arabic
# with a right-to-left mark, an emoji beyond the BMP): each item is spliced as lxml wrote it.
FEED_TEXT = st.text(alphabet="ab <>&\"'é\nЖж中文عربي\u200f😀", min_size=1, max_size=12).filter(
    str.strip
)


@given(
    titles=st.lists(FEED_TEXT, min_size=1, max_size=4),
    summary=FEED_TEXT,
    tag_sets=st.lists(st.sets(st.sampled_from(["alpha", "beta", "gamma"])), min_size=4),
    items=st.integers(1, 4),
    hub=st.booleans(),
)
def test_feeds_taking_items_written_before_are_feedgens_documents(
    titles: list[str], summary: str, tag_sets: list[set[str]], items: int, hub: bool
) -> None:
    """Every feed made after others, with items of theirs, is byte for byte feedgen's own
    document of it made alone, whatever the essays' titles, summaries (text that XML escapes,
    an `<item>` line) and tags, the feeds' length and a WebSub hub."""
    from publish.outputs.feeds import render_feeds
    from publish.outputs.files import as_bytes, made
    from publish.pipeline.load import load

    with tempfile.TemporaryDirectory() as folder:
        extra = f"feed_items = {items}"
        if hub:
            extra += '\n[deploy]\ntarget = "dir:/nowhere"\nwebsub_hub = "https://hub.example.org/"'
        root = fixture_site(Path(folder) / "site", url=URL, essays=0, extra=extra)
        for number, title in enumerate(titles, start=1):
            tags = ", ".join(json.dumps(tag) for tag in sorted(tag_sets[number - 1]))
            text = essay_file(
                title,
                f"2025-0{number}-01",
                "A paragraph.\n\n    <item>\n\nAnother.\n",
                slug=f"essay-{number}",
                summary=json.dumps(summary),
                tags=f"[{tags}]",
            )
            (root / "essays" / f"{number:02d}.md").write_text(text, encoding="utf-8")
        site = load(root).site
        together = {p: as_bytes(made(c)) for p, c in render_feeds(site).items()}
        alone = {p: as_bytes(made(render_feeds(site)[p])) for p in together}
    assert alone == together
    assert (b'rel="hub"' in together["feed.xml"]) == hub
    feed_items = etree.fromstring(together["feed.xml"]).xpath("//item")
    assert len(feed_items) == min(items, len(site.essays))

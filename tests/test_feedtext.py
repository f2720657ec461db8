"""Tests for the feeds' contents escaped once (publish.outputs.feedtext) and the links of a
feed entry made absolute (publish.outputs.entries): each proven to give what the library
path gives, byte for byte, whatever the text."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from publish.outputs.entries import _OTHER_FRAGMENT, absolute_fragments
from publish.outputs.feedtext import PLACEHOLDER, FeedTexts, escaped_text
from tests.websites import essay_file, fixture_site

URL = "https://example.org/essays/"

# Text XML escapes, a carriage return, letters of other scripts, an emoji beyond the BMP and
# the placeholder's own words; now and then one thing lxml refuses in a text (a control
# character, a noncharacter, a lone surrogate).
ACCEPTED = st.lists(
    st.sampled_from(list("ab <>&\"'\r\n\t\x7f\x85éЖ中\u200f😀") + [PLACEHOLDER, "0"]),
    max_size=30,
).map("".join)
REFUSED = st.sampled_from(["\x00", "\x0b", "\x1f", "\ufffe", "\uffff", "\ud800"])
XML_TEXT = st.one_of(ACCEPTED, st.tuples(ACCEPTED, REFUSED, ACCEPTED).map("".join))


def lxml_text(text: str) -> bytes | None:
    """`text` as lxml writes an element's text in a UTF-8 document, or None if it refuses."""
    element = etree.Element("e")
    try:
        element.text = text
    except (ValueError, UnicodeEncodeError):
        return None
    written = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    if written == b"<e/>":
        return b""
    return written.removeprefix(b"<e>").removesuffix(b"</e>")


@given(text=XML_TEXT)
@example(text="<p>a &amp; b > c\r\n</p> é中😀")
@example(text="a\x0bb")
@example(text="\ufffe")
def test_a_content_is_escaped_as_lxml_writes_it_or_left_to_lxml(text: str) -> None:
    assert escaped_text(text) == lxml_text(text)


@given(text=XML_TEXT)
def test_a_placeholder_is_put_back_as_its_content_only_in_a_content_element(text: str) -> None:
    texts = FeedTexts()
    placed = texts.placeholder(text)
    escaped = lxml_text(text)
    if not text or escaped is None:
        assert placed == text, "an empty content, or one lxml refuses, is lxml's"
        return
    mark = placed.encode("ascii")
    document = b"".join(
        [
            b"<title>" + mark + b"</title>",
            b"<content:encoded>" + mark + b"</content:encoded>",
            b'<content type="html">' + mark + b"</content>",
            b"<content:encoded>" + mark + b"1</content:encoded>",
        ]
    )
    assert texts.put_back(document) == b"".join(
        [
            b"<title>" + mark + b"</title>",
            b"<content:encoded>" + escaped + b"</content:encoded>",
            b'<content type="html">' + escaped + b"</content>",
            b"<content:encoded>" + mark + b"1</content:encoded>",
        ]
    )


def _made_feeds(site: Any) -> dict[str, bytes]:
    """Every feed file of the site, made in this process in turn, as bytes (or the error)."""
    from publish.outputs.feeds import render_feeds
    from publish.outputs.files import as_bytes, made

    try:
        return {path: as_bytes(made(content)) for path, content in render_feeds(site).items()}
    except ValueError as error:  # lxml refusing a text
        return {"error": str(error).encode()}


BODY_TEXT = st.lists(
    st.sampled_from(list("ab <>&\r\té中😀*\n") + ["[^1]", PLACEHOLDER, "0"]),
    min_size=1,
    max_size=40,
).map("".join)


@given(
    bodies=st.lists(BODY_TEXT, min_size=1, max_size=3),
    titles=st.lists(st.sampled_from(["A & B", f"{PLACEHOLDER}0", "Plain"]), min_size=3),
    hub=st.booleans(),
)
def test_the_feeds_are_the_librarys_own_whatever_the_contents(
    bodies: list[str], titles: list[str], hub: bool
) -> None:
    """Every feed (RSS, Atom, JSON, the tags') is byte for byte the feed made with each
    content given to feedgen as it is, lxml checking and escaping it (or refusing it)."""
    from publish.pipeline.load import load

    with tempfile.TemporaryDirectory() as folder:
        extra = "feed_items = 2"
        if hub:
            extra += '\n[deploy]\ntarget = "dir:/nowhere"\nwebsub_hub = "https://hub.example.org/"'
        root = fixture_site(Path(folder) / "site", url=URL, essays=0, extra=extra)
        for number, body in enumerate(bodies, start=1):
            text = essay_file(
                titles[number - 1],
                f"2025-0{number}-01",
                f"{body}\n\n[^1]: A note.\n",
                slug=f"essay-{number}",
                tags=json.dumps(["alpha"]),
            )
            (root / "essays" / f"{number:02d}.md").write_bytes(text.encode("utf-8"))
        site = load(root).site
        escaped_once = _made_feeds(site)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(FeedTexts, "placeholder", lambda self, content: content)
            libraries = _made_feeds(site)
    assert escaped_once == libraries


def test_lxml_is_given_no_essays_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """feedgen is handed a placeholder for each essay's content, not the content: lxml never
    checks nor escapes a content's every byte, in any feed (most of what the feeds write)."""
    from feedgen.entry import FeedEntry

    from publish.pipeline.load import load

    given_contents: list[str] = []
    original = FeedEntry.content

    def content(entry: FeedEntry, content: str | None = None, **kwargs: Any) -> Any:
        if content is not None:
            given_contents.append(content)
        return original(entry, content, **kwargs)

    monkeypatch.setattr(FeedEntry, "content", content)
    site = load(fixture_site(tmp_path / "site", url=URL, extra="feed_items = 5")).site
    files = _made_feeds(site)
    assert given_contents, "entries made"
    assert all(given.startswith(PLACEHOLDER) for given in given_contents)
    assert b"<p>" not in b"".join(given.encode() for given in given_contents)
    rss = etree.fromstring(files["feed.xml"])
    encoded = rss.xpath("//*[local-name()='encoded']/text()")
    assert encoded and all(text.startswith("<") for text in encoded), "the contents put back"


FRAGMENT_TEXT = st.lists(
    st.sampled_from(['href="#', "fn-", "fnref-", "f", "n", "-", "x", '"', "#", "\\"]),
    max_size=20,
).map("".join)
URLS = st.sampled_from(
    [URL + "essay/", "https://e.org/a\\\\b/", 'https://e.org/"q"/', "https://e.org/#/", "", "h"]
)


@given(body=FRAGMENT_TEXT, url=URLS)
def test_fragments_are_made_absolute_as_the_pattern_makes_them(body: str, url: str) -> None:
    assert absolute_fragments(body, url) == _OTHER_FRAGMENT.sub(f'href="{url}#', body)

"""The feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 with full content, plus an RSS feed per tag.

Every link in a feed is absolute (bodies render against `site.url`), each entry's id is the
essay's canonical URL, and the feed's own dates come from its newest essay, never the clock,
so two builds of the same input are byte-identical.
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from html import escape
from typing import TYPE_CHECKING, Any

from publish.layout import ESSAYS_DIR
from publish.model import Essay, Site
from publish.outputs.entries import entry_id, feed_content
from publish.outputs.feedtext import FeedTexts
from publish.outputs.files import Deferred, OutputFiles, Reads
from publish.outputs.urls import essay_url, page_url, resolve_url, tag_groups
from publish.support.jsontext import indented_json

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry
    from feedgen.feed import FeedGenerator

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR = "publish"
ATOM_NS = "http://www.w3.org/2005/Atom"
STYLESHEET = "feed.xsl"  # shows the RSS feeds as a page in a browser (see web.py)
# How feedgen's pretty-printed RSS document begins each item and ends (items come last).
ITEM_START = b"    <item>\n"
CHANNEL_END = b"  </channel>\n</rss>\n"


def render_feeds(site: Site) -> OutputFiles:
    """`feed.xml`, `atom.xml`, `feed.json` and `tags/<slug>/feed.xml` for the published site.

    Each feed is deferred: made only when what it reads changed.
    """
    settings = site.settings.site
    newest = list(site.essays[: settings.feed_items])
    contents = FeedContents(site)

    def feed(path: str, essays: list[Essay], title: str, make: Callable[[], str]) -> Deferred:
        reads = Reads(path, values=(title,), essays=tuple(essays))
        return Deferred(reads, make, loads=load_feed_libraries, shares=contents)

    site_feeds = {
        "feed.xml": feed(
            "feed.xml",
            newest,
            settings.title,
            lambda: _rss(
                site, _rss_document(site, newest, contents, "feed.xml", "", settings.title)
            ),
        ),
        "atom.xml": feed(
            "atom.xml",
            newest,
            settings.title,
            lambda: contents.texts.put_back(
                _generator(site, newest, contents, "atom.xml", "", settings.title).atom_str(
                    pretty=True
                )
            ),
        ),
        "feed.json": feed(
            "feed.json",
            newest,
            settings.title,
            lambda: json_feed(site, newest, contents.of(newest)),
        ),
    }
    files = OutputFiles()  # refuses a path twice, naming both of its writers
    files.add_all(site_feeds, "the site's feeds")
    for group in tag_groups(site):
        essays = list(group.essays[: settings.feed_items])
        folder = f"tags/{group.slug}/"
        title = f"{settings.title}: {group.name}"
        files.add(
            f"{folder}feed.xml",
            feed(
                f"{folder}feed.xml",
                essays,
                title,
                partial(_tag_feed, site, essays, contents, folder, title),
            ),
            f"the feed of tag {group.name}",
        )
    return files


def _tag_feed(
    site: Site, essays: list[Essay], contents: FeedContents, folder: str, title: str
) -> bytes:
    """One tag's RSS feed."""
    document = _rss_document(site, essays, contents, f"{folder}feed.xml", folder, title)
    return _rss(site, document, "../" * folder.count("/") + STYLESHEET)


def _rss_document(
    site: Site,
    essays: Sequence[Essay],
    contents: FeedContents,
    feed_path: str,
    page_path: str,
    title: str,
) -> bytes:
    """feedgen's RSS document of `essays` (pretty-printed), each essay's item written by lxml
    once in a process: feedgen's document with entries only for the essays no feed carried
    before, then every item's text put in the feed's order (lxml writes each item of a feed
    on lines of its own, at one depth, the same in any feed)."""
    new = [essay for essay in essays if essay.slug not in contents.items]
    fg = _generator(site, essays, contents, feed_path, page_path, title, new)
    document = fg.rss_str(pretty=True)
    channel = contents.keep_items(new, document)
    if channel is None:  # not the shape lxml writes: feedgen's own document, whole
        fg = _generator(site, essays, contents, feed_path, page_path, title)
        return contents.texts.put_back(fg.rss_str(pretty=True))
    return b"".join([channel, *(contents.items[essay.slug] for essay in essays), CHANNEL_END])


class FeedContents:
    """Each essay's feed content, rendered once when a feed first needs it, and its feed
    entry, made once in a process and added to every feed that carries the essay (the main
    feeds and its tags' feeds: an entry holds nothing of the feed it is in), holding a
    placeholder for its content, escaped once (see `publish.outputs.feedtext`)."""

    def __init__(self, site: Site):
        self.site = site
        self.contents: dict[str, str] = {}
        self.entries: dict[str, FeedEntry] = {}
        self.items: dict[str, bytes] = {}  # each essay's RSS item as lxml wrote it in a feed
        self.texts = FeedTexts()  # the contents the entries hold placeholders for

    def of(self, essays: Sequence[Essay]) -> dict[str, str]:
        """The contents of `essays` (and of any rendered before), by slug."""
        for essay in essays:
            if essay.slug not in self.contents:
                self.contents[essay.slug] = feed_content(self.site, essay)
        return self.contents

    def keep_items(self, essays: Sequence[Essay], document: bytes) -> bytes | None:
        """Keep the text of each item of an RSS document of `essays` (in their order), each
        from its first line to the next item's (an item holds no `<item>` line of its own:
        lxml escapes every `<` of a text or an attribute); the document before its items
        (None, and nothing kept, if it holds other than exactly those items, last)."""
        if not document.endswith(CHANNEL_END):
            return None
        starts: list[int] = []
        start = document.find(ITEM_START)
        while start >= 0:
            starts.append(start)
            start = document.find(ITEM_START, start + len(ITEM_START))
        if len(starts) != len(essays):
            return None
        channel_end = len(document) - len(CHANNEL_END)
        bounds = [*starts, channel_end]
        for number, essay in enumerate(essays):
            item = document[bounds[number] : bounds[number + 1]]
            self.items[essay.slug] = self.texts.put_back(item)
        return document[: bounds[0]]

    def add_entry(self, fg: FeedGenerator, essay: Essay) -> None:
        """Add the essay's entry to a feed, first in it (made when first added, see
        `_add_entry`)."""
        kept = self.entries.get(essay.slug)
        if kept is not None:
            fg.add_entry(kept)
        else:
            content = self.of([essay])[essay.slug]
            placed = self.texts.placeholder(content)
            self.entries[essay.slug] = _add_entry(fg, self.site, essay, placed)


def load_feed_libraries() -> None:
    """Load feedgen (and lxml beneath it) and the two extensions the feeds use, as making a
    feed would."""
    import feedgen.feed  # noqa: F401  (first: it loads lxml.etree, which the extensions use)
    from feedgen.ext import dc, media  # noqa: F401


def _generator(
    site: Site,
    essays: Sequence[Essay],
    contents: FeedContents,
    feed_path: str,
    page_path: str,
    title: str,
    entries: Sequence[Essay] | None = None,
) -> FeedGenerator:
    """A FeedGenerator for `essays`, its self link at `feed_path`, its page at `page_path`,
    with the entries of `entries` (a part of `essays`, in their order; all of them if None)."""
    load_feed_libraries()  # feedgen.feed before its extensions, which need what it loads
    from feedgen.ext.dc import DcEntryExtension, DcExtension
    from feedgen.ext.media import MediaEntryExtension, MediaExtension
    from feedgen.feed import FeedGenerator

    settings = site.settings.site
    updated = _updated(essays)
    fg = FeedGenerator()
    # the extensions `load_extension` would load, by their classes: it would first look for
    # an entry module of each that feedgen lacks, a failed search of the whole path each time
    fg.register_extension("dc", DcExtension, DcEntryExtension)
    fg.register_extension("media", MediaExtension, MediaEntryExtension)
    fg.id(settings.url + page_url(page_path))
    fg.title(title)
    fg.subtitle(settings.description or title)
    fg.description(settings.description or title)
    fg.author({"name": settings.author})
    fg.language(settings.language)
    fg.generator(GENERATOR)
    if websub_hub(site):
        fg.link(href=websub_hub(site), rel="hub")
    fg.link(href=settings.url + feed_path, rel="self")
    fg.link(href=settings.url + page_path, rel="alternate")
    fg.updated(updated)
    fg.lastBuildDate(updated)
    contents.of(essays)  # every content first, newest first (the order kept bodies are read in)
    for essay in reversed(essays if entries is None else entries):
        contents.add_entry(fg, essay)
    return fg


def websub_hub(site: Site) -> str:
    """The WebSub hub the feeds declare (`[deploy] websub_hub`), or ''."""
    deploy = site.settings.deploy
    return deploy.websub_hub if deploy is not None else ""


def _rss(site: Site, document: bytes, stylesheet: str = STYLESHEET) -> bytes:
    """The RSS document, pointing browsers at `stylesheet` (a relative URL: browsers apply
    only a stylesheet of the feed's own origin), with `<atom:link rel="hub">` beside the self
    link when a hub is set (feedgen writes only the self link into RSS)."""
    return _with_stylesheet(_with_hub(site, document), stylesheet)


def _with_stylesheet(document: bytes, href: str) -> bytes:
    """The document with an `xml-stylesheet` instruction after its XML declaration."""
    declaration, _, rest = document.partition(b"?>\n")
    instruction = f'<?xml-stylesheet type="text/xsl" href="{escape(href)}"?>\n'
    return b"".join([declaration, b"?>\n", instruction.encode("utf-8"), rest])  # one copy


def _with_hub(site: Site, document: bytes) -> bytes:
    """The RSS document with the WebSub hub link, when a hub is set."""
    if not websub_hub(site):
        return document
    from lxml import etree

    root = etree.fromstring(document)
    channel = root.find("channel")
    link = etree.Element(f"{{{ATOM_NS}}}link", href=websub_hub(site), rel="hub")
    channel.insert(list(channel).index(channel.find(f"{{{ATOM_NS}}}link")) + 1, link)
    etree.indent(root)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _add_entry(fg: FeedGenerator, site: Site, essay: Essay, content: str) -> FeedEntry:
    """One essay as a feed entry, added first: canonical id, summary, full content, author
    and tags."""
    url = essay_url(site, essay)
    published = essay.date or EPOCH
    entry = fg.add_entry(_kept_item_entry()())
    entry.id(entry_id(site, essay))
    entry.guid(entry_id(site, essay), permalink=entry_id(site, essay) == url)
    entry.title(essay.title)
    entry.link(href=url, rel="alternate")
    entry.published(published)
    entry.updated(published)
    entry.author({"name": essay.author})
    entry.dc.dc_creator(essay.author)
    entry.summary(escape(essay.summary or essay.title), type="html")
    entry.content(content, type="html")
    for term in entry_categories(essay):
        entry.category(term=term, label=term)
    image = lead_image(site, essay)
    if image:
        entry.media.content(image, group=None)
    return entry


@functools.cache
def _kept_item_entry() -> type[FeedEntry]:
    """feedgen's feed entry, its RSS item made once (the class made when a feed is first
    made: feedgen loads lxml)."""
    from feedgen.entry import FeedEntry

    class KeptItemEntry(FeedEntry):
        """A feed entry whose RSS item is made once and then moved into each feed that
        carries it (one feed is made at a time, and a feed's tree is done with once its
        text is: lxml moves an element from one tree into another)."""

        item: Any = None

        def rss_entry(self, extensions: bool = True) -> Any:
            """The entry's RSS item, made when first asked for."""
            if self.item is None:
                self.item = super().rss_entry(extensions)
            return self.item

    return KeptItemEntry


def entry_categories(essay: Essay) -> list[str]:
    """An entry's categories: the essay's `category`, then its tags, each once."""
    return list(dict.fromkeys(t for t in (essay.category, *essay.tags) if t))


def lead_image(site: Site, essay: Essay) -> dict[str, str]:
    """The Media RSS `media:content` of an essay's lead image (its size when the file is the
    site's own), or an empty dict when it has none."""
    if not essay.image:
        return {}
    url = resolve_url(essay.image, site.settings.site.url)
    media = {"url": url, "medium": "image"}
    kind = mimetypes.guess_type(essay.image.split("?")[0].split("#")[0])[0]
    if kind:
        media["type"] = kind
    local = site.root / ESSAYS_DIR / essay.image
    if "://" not in essay.image and local.is_file():
        media["fileSize"] = str(local.stat().st_size)
    return media


def _updated(essays: Sequence[Essay]) -> datetime:
    """The feed's date: its newest essay's, so rebuilding never changes it."""
    dates = [essay.date for essay in essays if essay.date]
    return max(dates) if dates else EPOCH


def json_feed(site: Site, essays: Sequence[Essay], contents: dict[str, str]) -> str:
    """A JSON Feed 1.1 document of `essays`."""
    settings = site.settings.site
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": settings.title,
        "home_page_url": settings.url,
        "feed_url": f"{settings.url}feed.json",
        "description": settings.description,
        "language": settings.language,
        "authors": [{"name": settings.author}],
        "items": [_json_item(site, essay, contents[essay.slug]) for essay in essays],
    }
    if websub_hub(site):
        feed["hubs"] = [{"type": "WebSub", "url": websub_hub(site)}]
    return indented_json(feed, 2) + "\n"


def _json_item(site: Site, essay: Essay, content: str) -> dict[str, object]:
    """One essay as a JSON Feed item."""
    url = essay_url(site, essay)
    item: dict[str, object] = {
        "id": entry_id(site, essay),
        "url": url,
        "title": essay.title,
        "summary": essay.summary,
        "content_html": content,
        "date_published": (essay.date or EPOCH).isoformat(),
        "authors": [{"name": essay.author}],
        "tags": entry_categories(essay),
    }
    if essay.language and essay.language != site.settings.site.language:
        item["language"] = essay.language
    if essay.image:
        item["image"] = resolve_url(essay.image, site.settings.site.url)
    return item

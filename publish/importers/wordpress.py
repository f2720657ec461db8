"""WordPress's WXR export: posts, their footnotes (6.3+ post meta and plugin markups),
categories, tags, authors and attachments, read with an XXE-safe parser."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

from bs4 import BeautifulSoup
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import parse as parse_xml

from publish.errors import PublishError
from publish.importers import cleanup
from publish.importers.model import Archive, ImportedPost, ImportOptions

NS = {
    "wp": "http://wordpress.org/export/1.2/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
}
BLOCK_COMMENT = re.compile(r"<!--\s*/?wp:.*?-->", re.DOTALL)
BLOCK_TAG = re.compile(
    r"^\s*</?(p|h[1-6]|ul|ol|li|blockquote|figure|div|table|pre|hr|section|"
    r"dl|iframe|form|img|details|address)\b",
    re.IGNORECASE,
)
# Shortcode footnotes of the common plugins: Easy Footnotes, Modern Footnotes and others.
SHORTCODE_NOTE = re.compile(r"\[(efn_note|mfn|footnote|ref)\](.*?)\[/\1\]", re.DOTALL)
SHORTCODE = re.compile(r"\[/?[a-z_]+(?:\s[^\]]*)?\]")
DROPPED = (
    "script",
    "style",
    "form",
    "div.sharedaddy",
    "div.wp-block-buttons",
    "div.jp-relatedposts",
)
EMBEDS = ("figure.wp-block-embed", "div.wp-block-embed", "iframe", "blockquote.twitter-tweet")
FIGURES = ("figure.wp-block-image", "div.wp-caption", "figure")
UPLOADS = "/wp-content/uploads/"


def read(path: Path, options: ImportOptions) -> Archive:
    """Every post of a WXR file; images copied from `options.uploads` when given."""
    try:
        channel = parse_xml(path).getroot().find("channel")
    except (OSError, ParseError, DefusedXmlException) as exc:
        raise PublishError.single(
            str(path), *_position(exc), f"not a WordPress export (WXR) file: {exc}"
        ) from None
    if channel is None:
        raise PublishError.single(str(path), 1, 1, "not a WordPress export: no <channel>")
    authors = {
        _text(a, "wp:author_login"): _text(a, "wp:author_display_name")
        for a in channel.findall("wp:author", NS)
    }
    result = Archive(source="WordPress")
    items = channel.findall("item")
    result.attachments = [
        _text(i, "wp:attachment_url") for i in items if _text(i, "wp:post_type") == "attachment"
    ]
    find = cleanup.folder_finder(options.uploads, UPLOADS)
    for item in items:
        if _text(item, "wp:post_type") in ("post", "page") and _text(item, "wp:status") not in (
            "trash",
            "auto-draft",
            "inherit",
        ):
            result.posts.append(_post(item, authors, find, path))
    return result


def _position(exc: Exception) -> tuple[int, int]:
    """Line and column of an XML parse error (1, 1 when it has none)."""
    line, col = getattr(exc, "position", (1, 0))
    return line, col + 1


def _text(element: Element, name: str) -> str:
    """The text of a child element ('' when absent)."""
    child = element.find(name, NS)
    return (child.text or "").strip() if child is not None else ""


def _post(
    item: Element, authors: dict[str, str], find: cleanup.FindImage, path: Path
) -> ImportedPost:
    """One WXR item as a post."""
    slug = _text(item, "wp:post_name") or _text(item, "wp:post_id")
    status = _text(item, "wp:status")
    kind = _text(item, "wp:post_type")
    categories = [(c.get("domain"), (c.text or "").strip()) for c in item.findall("category")]
    post = ImportedPost(
        title=_text(item, "title") or slug,
        slug=slug,
        body_html="",
        date=_date(item),
        old_paths=_old_paths(_text(item, "link"), slug),
        tags=tuple(name for domain, name in categories if domain == "post_tag"),
        category=next((n for d, n in categories if d == "category" and n != "Uncategorized"), ""),
        author=authors.get(_text(item, "dc:creator"), _text(item, "dc:creator")),
        draft=status != "publish" or kind == "page",
        origin=f"{path.name}: post {slug}",
    )
    post.released = not post.draft
    html = autop(BLOCK_COMMENT.sub("", _text(item, "content:encoded")))
    html, shortcode_notes = _shortcode_notes(html)
    soup = cleanup.parse(html)
    notes = shortcode_notes + _meta_notes(soup, item, len(shortcode_notes))
    post.footnotes = notes + cleanup.list_footnotes(soup, len(notes))
    cleanup.drop(soup, DROPPED)
    cleanup.replace_embeds(soup, EMBEDS, post)
    cleanup.tidy_figures(soup, FIGURES)
    cleanup.gather_images(soup, post, find)
    post.body_html = str(soup)
    return post


def _date(item: Element) -> datetime | None:
    """The post's moment: `post_date_gmt` in UTC, else the local `post_date`."""
    for name, zone in (("wp:post_date_gmt", UTC), ("wp:post_date", None)):
        value = _text(item, name)
        if value and not value.startswith("0000"):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            return moment.replace(tzinfo=zone) if zone else moment
    return None


def _old_paths(link: str, slug: str) -> tuple[str, ...]:
    """The post's old permalink path (a dated one, say) when it is not just `<slug>/`."""
    path = unquote(urlsplit(link).path).strip("/")
    return (path,) if path and path != slug and not urlsplit(link).query else ()


def autop(html: str) -> str:
    """`wpautop` as WordPress does it, in short: blank lines part paragraphs, a single line
    break inside one is a `<br>`; block elements stay as they are."""
    chunks = re.split(r"\n\s*\n", html.replace("\r\n", "\n"))
    out = []
    for chunk in chunks:
        if not chunk.strip():
            continue
        if BLOCK_TAG.match(chunk):
            out.append(chunk.strip())
        else:
            out.append("<p>" + chunk.strip().replace("\n", "<br />\n") + "</p>")
    return "\n\n".join(out)


def _meta_notes(soup: BeautifulSoup, item: Element, start: int) -> list[tuple[str, str]]:
    """WordPress 6.3+ footnotes: `<sup data-fn="id">` citations, text in the `footnotes`
    post meta (a JSON list of {id, content})."""
    by_id = {}
    for meta in item.findall("wp:postmeta", NS):
        if _text(meta, "wp:meta_key") == "footnotes":
            try:
                entries = json.loads(_text(meta, "wp:meta_value") or "[]")
            except ValueError:
                entries = []
            by_id = {
                str(e.get("id")): str(e.get("content", "")) for e in entries if isinstance(e, dict)
            }
    notes: dict[str, str] = {}
    for sup in soup.select("sup[data-fn]"):
        note_id = str(sup["data-fn"])
        if note_id not in by_id:
            continue
        label = notes.setdefault(note_id, str(start + len(notes) + 1))
        cleanup.cite(soup, sup, label)
    for block in soup.select("ol.wp-block-footnotes"):
        block.decompose()
    return [(label, by_id[note_id]) for note_id, label in notes.items()]


def _shortcode_notes(html: str) -> tuple[str, list[tuple[str, str]]]:
    """`[efn_note]…[/efn_note]`, `[mfn]…[/mfn]` and `[footnote]…[/footnote]` notes become
    citations; every other shortcode is removed."""
    notes: list[tuple[str, str]] = []

    def marker(match: re.Match[str]) -> str:
        label = str(len(notes) + 1)
        notes.append((label, match[2].strip()))
        return f'<sup data-footnote="{label}"></sup>'

    html = SHORTCODE_NOTE.sub(marker, html)
    return SHORTCODE.sub("", html), notes

"""WordPress's WXR export: posts, their footnotes (6.3+ post meta and plugin markups),
categories, tags, authors and attachments, read with lxml's recovering parser kept as safe
as defusedxml (no entity expansion, no network, no huge nodes, no declared entities): a
broken spot (a bare `&`, say) is a warning at its line, and the rest is imported."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup
from lxml import etree

from publish.errors import Problem, PublishError, warning
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
# A `&` that starts no reference, outside the sections where a bare one is allowed.
BARE_AMPERSAND = re.compile(rb"&(?!(?:[A-Za-z_][\w.-]*|#[0-9]+|#x[0-9A-Fa-f]+);)")
VERBATIM = re.compile(rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|<\?.*?\?>", re.DOTALL)
SHOWN_WARNINGS = 20
Element = etree._Element


def safe_parser() -> etree.XMLParser:
    """lxml's recovering parser with defusedxml's protections."""
    return etree.XMLParser(
        recover=True,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
    )


def read(path: Path, options: ImportOptions) -> Archive:
    """Every post of a WXR file; images copied from `options.uploads` when given."""
    root, warnings = parse_wxr(path)
    channel = root.find("channel")
    if channel is None:
        raise PublishError.single(str(path), 1, 1, "not a WordPress export: no <channel>")
    authors = {
        _text(a, "wp:author_login"): _text(a, "wp:author_display_name")
        for a in channel.findall("wp:author", NS)
    }
    result = Archive(source="WordPress", warnings=warnings)
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


def parse_wxr(path: Path) -> tuple[Element, list[Problem]]:
    """The WXR file's root element, and a warning at each spot the parser read past; a
    file with nothing to read, or one that declares entities, is refused."""
    label = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PublishError.single(label, 1, 1, f"cannot read the WXR file: {exc}") from None
    data, warnings = _escape_bare_ampersands(data, label)
    parser = safe_parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, col = exc.position
        message = f"not a WordPress export (WXR) file: {exc.msg}"
        raise PublishError.single(label, line or 1, max(col, 1), message) from None
    if root is None:
        first = next(iter(parser.error_log), None)
        line, col = (first.line, first.column) if first else (1, 1)
        reason = first.message if first else "nothing to read"
        message = f"not a WordPress export (WXR) file: {reason}"
        raise PublishError.single(label, max(line, 1), max(col, 1), message)
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        message = "not a WordPress export (WXR) file: it declares entities, which no export does"
        raise PublishError.single(label, 1, 1, message)
    warnings += [
        warning(label, max(e.line, 1), max(e.column, 1), f"broken XML read past: {e.message}")
        for e in parser.error_log
    ]
    return root, _capped(warnings, label)


def _escape_bare_ampersands(data: bytes, label: str) -> tuple[bytes, list[Problem]]:
    """Each `&` that starts no reference (outside CDATA, comments and processing
    instructions) read as `&amp;`, with a warning at its line: the text keeps it."""
    warnings, parts, start = [], [], 0
    line, counted = 1, 0  # lines counted up to `counted` (once over the file, not per '&')
    for verbatim in [*VERBATIM.finditer(data), None]:
        end = verbatim.start() if verbatim else len(data)
        for match in BARE_AMPERSAND.finditer(data, start, end):
            line += data.count(b"\n", counted, match.start())
            counted = match.start()
            col = match.start() - data.rfind(b"\n", 0, match.start())
            warnings.append(warning(label, line, col, "a bare '&' (not valid XML), read as '&'"))
        parts.append(BARE_AMPERSAND.sub(b"&amp;", data[start:end]))
        if verbatim:
            parts.append(verbatim[0])
            start = verbatim.end()
    return b"".join(parts), warnings


def _capped(warnings: list[Problem], label: str) -> list[Problem]:
    """The first warnings, and a count of the rest."""
    if len(warnings) <= SHOWN_WARNINGS:
        return warnings
    rest = len(warnings) - SHOWN_WARNINGS
    last = warnings[SHOWN_WARNINGS - 1]
    more = warning(label, last.line, last.col, f"and {rest} more spots of broken XML")
    return [*warnings[:SHOWN_WARNINGS], more]


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

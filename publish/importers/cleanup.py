"""Shared HTML clean-up for every importer: drop widgets, turn embeds into links, tidy
figures, mark footnotes and gather images, so the converter sees plain, regular HTML."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup, Tag

from publish.importers.model import ImageFile, ImportedPost

FindImage = Callable[[str], bytes | None]
SIZE_SUFFIX = re.compile(r"-\d+x\d+(?=\.[A-Za-z]+$)")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif")
# Backlinks from a note to its citation, in the markups the importers meet.
BACKLINKS = (
    "a.footnote-backref",
    "a.reversefootnote",
    "a.footnote-back",
    'a[href^="#fnref"]',
    'a[href^="#footnote-anchor"]',
    "a.footnote-number",
)


def parse(html: str) -> BeautifulSoup:
    """A fragment of HTML as a tree."""
    return BeautifulSoup(html or "", "html.parser")


def drop(soup: BeautifulSoup, selectors: Iterable[str]) -> int:
    """Remove every element matching any selector; return how many went."""
    found = [el for selector in selectors for el in soup.select(selector)]
    for element in found:
        element.decompose()
    return len(found)


def embed_url(element: Tag) -> str:
    """The address an embed (tweet, video, embedded post) points at, or ''."""
    attrs = _data_attrs(element)
    if attrs.get("url"):
        return str(attrs["url"])
    if attrs.get("videoId"):
        return f"https://www.youtube.com/watch?v={attrs['videoId']}"
    for link in element.select("a[href]"):
        href = str(link["href"])
        if href.startswith(("http://", "https://")):
            return href
    frame = element if element.name == "iframe" else element.find("iframe")
    if isinstance(frame, Tag) and str(frame.get("src", "")).startswith(("http", "//")):
        src = str(frame["src"])
        return "https:" + src if src.startswith("//") else src
    return ""


def _data_attrs(element: Tag) -> dict:
    """Substack's `data-attrs` JSON of an element, or {}."""
    try:
        value = json.loads(str(element.get("data-attrs", "") or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def replace_embeds(soup: BeautifulSoup, selectors: Iterable[str], post: ImportedPost) -> None:
    """Each embed becomes a paragraph with a link to what it showed (noted on the post)."""
    for selector in selectors:
        for element in soup.select(selector):
            if element.decomposed:
                continue
            url = embed_url(element)
            post.embeds.append(url or f"an embed without an address ({element.name})")
            if not url:
                element.decompose()
                continue
            paragraph = soup.new_tag("p")
            link = soup.new_tag("a", href=url)
            link.string = url
            paragraph.append(link)
            element.replace_with(paragraph)


def tidy_figures(soup: BeautifulSoup, selectors: Iterable[str]) -> None:
    """Each image container becomes `<figure><img><figcaption>`: links, `<picture>`
    sources and expand buttons around the image go."""
    for selector in selectors:
        for container in soup.select(selector):
            image = container.find("img")
            if not isinstance(image, Tag):
                continue
            caption = container.find("figcaption")
            figure = soup.new_tag("figure")
            figure.append(
                soup.new_tag("img", src=_best_src(image), alt=str(image.get("alt", "") or ""))
            )
            if isinstance(caption, Tag) and caption.get_text(strip=True):
                new_caption = soup.new_tag("figcaption")
                for child in list(caption.contents):
                    new_caption.append(child.extract())
                figure.append(new_caption)
            container.replace_with(figure)


def _best_src(image: Tag) -> str:
    """An image's address (the first of srcset when src is absent)."""
    src = str(image.get("src", "") or "")
    if not src and image.get("srcset"):
        src = str(image["srcset"]).split(",")[0].split()[0]
    return src


def gather_images(soup: BeautifulSoup, post: ImportedPost, find: FindImage) -> None:
    """Point each image found in the archive at its copy under essays/images/<slug>/; keep
    the others as absolute addresses, listed as missing."""
    taken: set[str] = set()
    for image in soup.find_all("img"):
        src = str(image.get("src", "") or "")
        data = find(src) if src else None
        if data is None and src.startswith(("http://", "https://", "//")):
            post.missing_images.append(src)
            continue
        if data is None:
            post.dropped_images.append(src or "(an image without a source)")
            image.replace_with(f"(image: {image.get('alt') or src})")
            continue
        name = _unique(file_name(src), taken)
        target = f"images/{post.slug}/{name}"
        post.images.append(ImageFile(target=target, data=data))
        image["src"] = target


def file_name(url: str) -> str:
    """A safe file name from the last part of an address."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    name = SAFE_NAME.sub("-", name).strip("-.") or "image"
    return name if name.lower().endswith(IMAGE_SUFFIXES) else name + ".img"


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name` with a counter when a post already has an image of that name."""
    stem, dot, suffix = name.rpartition(".")
    candidate, counter = name, 2
    while candidate in taken:
        candidate = f"{stem}-{counter}{dot}{suffix}"
        counter += 1
    taken.add(candidate)
    return candidate


def cite(soup: BeautifulSoup, element: Tag, label: str) -> None:
    """Replace a footnote citation (its anchor or `<sup>`) with the converter's marker."""
    marker = soup.new_tag("sup", attrs={"data-footnote": label})
    element.replace_with(marker)


def note_html(element: Tag) -> str:
    """A note's content as HTML, without its backlinks."""
    for selector in BACKLINKS:
        for link in element.select(selector):
            link.decompose()
    return element.decode_contents().strip()


def list_footnotes(soup: BeautifulSoup, start: int = 0) -> list[tuple[str, str]]:
    """Footnotes in the common list markup (markdown-it, Pandoc, kramdown, many WordPress
    plugins): `<sup><a href="#fn1">` citations and an `<li id="fn1">` list at the end."""
    notes: dict[str, str] = {}
    holders = soup.select(
        "section.footnotes, div.footnotes, ol.footnotes, div.footnotes-list, ol.footnotes-list"
    )
    items = {str(li["id"]): li for holder in holders for li in holder.select("li[id]")}
    for link in soup.select('a[href^="#fn"], a[href^="#footnote-"]'):
        target = str(link["href"])[1:]
        if target not in items or link.find_parent("li", id=target):
            continue
        label = notes.get(target) or str(start + len(notes) + 1)
        notes.setdefault(target, label)
        holder = link.parent if link.parent and link.parent.name == "sup" else link
        cite(soup, holder, label)
    found = [(label, note_html(items[target])) for target, label in notes.items()]
    for holder in holders:
        previous = holder.find_previous_sibling()
        if isinstance(previous, Tag) and previous.name == "hr":
            previous.decompose()
        holder.decompose()
    return found


def folder_finder(folder: Path | None, marker: str) -> FindImage:
    """Finds an image in an uploads folder by its address: the part after `marker`
    (`/wp-content/uploads/`, say), or the full-size file when it names a resized copy."""

    def find(src: str) -> bytes | None:
        path = unquote(urlsplit(src).path)
        if folder is None or marker not in path:
            return None
        relative = path.split(marker, 1)[1]
        for candidate in (relative, SIZE_SUFFIX.sub("", relative)):
            target = (folder / candidate).resolve()
            if target.is_relative_to(folder.resolve()) and target.is_file():
                return target.read_bytes()
        return None

    return find

"""Substack's export zip: posts.csv, posts/<post_id>.html and email_list.*.csv."""

from __future__ import annotations

import csv
import html
import io
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

from publish.errors import PublishError
from publish.importers import cleanup
from publish.importers.model import Archive, ImportedPost, ImportOptions
from publish.importers.ziplimits import BoundedZip

# Subscribe and share buttons, paywall markers and widgets: nothing a reader of the new
# site can use.
DROPPED = (
    "p.button-wrapper",
    "div.button-wrapper",
    "div.subscription-widget-wrap",
    "div.subscription-widget-wrap-editor",
    "div.subscribe-widget",
    "div.paywall-jump",
    "div.paywall",
    "div.install-substack-app-embed",
    "div.share-dialog",
    "div.captioned-button-wrap",
    "div.community-chat",
    "div.poll-embed",
    "div.image-link-expand",
    "form",
    "script",
    "style",
)
EMBEDS = (
    "div.tweet",
    "div.twitter-embed",
    "div.youtube-wrap",
    "div.vimeo-wrap",
    "div.spotify-wrap",
    "div.embedded-post-wrap",
    "div.embedded-publication-wrap",
    "div.digest-post-embed",
    "div.instagram",
    "div.bluesky-wrap",
    "div.apple-podcast-container",
    "div.soundcloud-wrap",
    "iframe",
)
FIGURES = ("div.captioned-image-container", "figure")
REQUIRED_COLUMNS = ("post_id", "title")


def read(path: Path, options: ImportOptions) -> Archive:
    """Every post, image and email list in a Substack export zip (read within the limits:
    a zip bomb or a hostile name is refused before anything is unpacked)."""
    with BoundedZip(path, options.limits, "Substack export") as archive:
        names = archive.namelist()
        rows = _rows(archive, path, names)
        images = _image_index(names)
        result = Archive(source="Substack")
        for row in rows:
            post = _post(archive, row, names, images, path)
            if post is not None:
                result.posts.append(post)
                if row.get("audience", "everyone") not in ("everyone", "") and not post.draft:
                    result.notes.append(
                        f"'{post.slug}' was for {row['audience']} readers on "
                        "Substack; it is public here"
                    )
        for name in names:
            base = PurePosixPath(name).name
            if base.startswith("email_list") and base.endswith(".csv"):
                result.subscriber_files.append((name, archive.read(name)))
    return result


def _rows(archive: BoundedZip, path: Path, names: list[str]) -> list[dict[str, str]]:
    """The rows of posts.csv (wherever the zip keeps it), checked for its columns."""
    csv_name = next((n for n in names if PurePosixPath(n).name == "posts.csv"), None)
    if csv_name is None:
        raise PublishError.single(
            str(path),
            1,
            1,
            "no posts.csv in this zip; is it the export from Substack's Settings > Exports?",
        )
    text = archive.read(csv_name).decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PublishError.single(
            f"{path}:{csv_name}", 1, 1, f"posts.csv has no column {', '.join(missing)}"
        )
    return list(reader)


def _image_index(names: list[str]) -> dict[str, str]:
    """Image files in the zip by their file name."""
    return {PurePosixPath(n).name: n for n in names if n.lower().endswith(cleanup.IMAGE_SUFFIXES)}


def _post(
    archive: BoundedZip,
    row: dict[str, str],
    names: list[str],
    images: dict[str, str],
    path: Path,
) -> ImportedPost | None:
    """One row of posts.csv with its HTML, or None when the export holds no body."""
    post_id = row.get("post_id", "").strip()
    html_name = next((n for n in names if n.endswith(f"posts/{post_id}.html")), None)
    if not post_id or html_name is None:
        return None
    slug = post_id.split(".", 1)[1] if "." in post_id else post_id
    published = _truth(row.get("is_published", ""))
    emailed = bool(row.get("email_sent_at", "").strip())
    kind = (row.get("type") or "newsletter").strip().lower()
    draft = kind != "newsletter" or not published
    post = ImportedPost(
        title=_plain(row.get("title")) or slug.replace("-", " ").capitalize(),
        subtitle=_plain(row.get("subtitle")),
        slug=slug,
        body_html="",
        date=_moment(row.get("post_date", "")),
        old_paths=(f"p/{slug}",),
        draft=draft,
        released=not draft and (published or emailed),
        origin=f"{path.name}:{html_name}",
    )
    soup = cleanup.parse(archive.read(html_name).decode("utf-8", "replace"))
    post.footnotes = _footnotes(soup)
    cleanup.drop(soup, DROPPED)
    cleanup.replace_embeds(soup, EMBEDS, post)
    cleanup.tidy_figures(soup, FIGURES)
    cleanup.gather_images(soup, post, lambda src: _find(archive, images, src))
    post.body_html = str(soup)
    return post


def _footnotes(soup: BeautifulSoup) -> list[tuple[str, str]]:
    """Substack's notes: `a.footnote-anchor` citations and `div.footnote` definitions."""
    notes: dict[str, str] = {}
    for anchor in soup.select("a.footnote-anchor"):
        number = anchor.get_text(strip=True) or str(len(notes) + 1)
        cleanup.cite(soup, anchor, number)
        notes.setdefault(number, "")
    for note in soup.select("div.footnote"):
        number_link = note.select_one("a.footnote-number")
        number = number_link.get_text(strip=True) if number_link else str(len(notes) + 1)
        content = note.select_one("div.footnote-content") or note
        notes[number] = cleanup.note_html(content)
        note.decompose()
    return [(label, text) for label, text in notes.items() if text]


def _find(archive: BoundedZip, images: dict[str, str], src: str) -> bytes | None:
    """The bytes of an image the zip holds under the same file name, or None."""
    name = images.get(PurePosixPath(unquote(urlsplit(src).path)).name)
    return archive.read(name) if name else None


def _plain(value: str | None) -> str:
    """A title or subtitle as text: posts.csv keeps their HTML entities (`&#x201C;`)."""
    return html.unescape((value or "").strip())


def _truth(value: str) -> bool:
    """A CSV boolean."""
    return value.strip().lower() in ("true", "t", "1", "yes")


def _moment(value: str) -> datetime | None:
    """An ISO 8601 moment (Substack writes `...Z`), or None."""
    try:
        return datetime.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None

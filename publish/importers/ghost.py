"""Ghost's JSON export: posts and pages with their html, tags, authors, feature image,
status and visibility (the members CSV goes through the subscriber import)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from publish.errors import PublishError
from publish.importers import cleanup
from publish.importers.model import Archive, ImageFile, ImportedPost, ImportOptions

DROPPED = (
    "script",
    "style",
    "form",
    "div.kg-signup-card",
    "div.kg-button-card",
    "div.kg-cta-card",
    "div.kg-header-card",
    "div.kg-product-card",
)
EMBEDS = (
    "figure.kg-embed-card",
    "figure.kg-bookmark-card",
    "div.kg-video-card",
    "div.kg-audio-card",
    "iframe",
)
FIGURES = ("figure.kg-image-card", "figure")
GHOST_URL = "__GHOST_URL__"
VISIBILITY = {"members": "members", "paid": "paying members", "tiers": "some tiers' members"}
IMAGES = "/content/images/"


def read(path: Path, options: ImportOptions) -> Archive:
    """Every post and page of a Ghost JSON export."""
    data = _data(path)
    tags = {t.get("id"): t.get("name", "") for t in data.get("tags", [])}
    users = {u.get("id"): u.get("name", "") for u in data.get("users", [])}
    meta = {m.get("post_id"): m for m in data.get("posts_meta", [])}
    post_tags = _links(data.get("posts_tags", []), "tag_id", tags)
    post_authors = _links(data.get("posts_authors", []), "author_id", users)
    find = cleanup.folder_finder(options.uploads, IMAGES)
    result = Archive(source="Ghost")
    for record in data.get("posts", []):
        if not isinstance(record, dict) or record.get("status") == "sent":
            continue  # an email-only newsletter has no page to carry over
        post = _post(record, meta.get(record.get("id"), {}), post_tags, post_authors, path)
        _images(post, find)
        result.posts.append(post)
        visibility = record.get("visibility") or "public"
        if visibility != "public" and not post.draft:
            readers = VISIBILITY.get(visibility, f"'{visibility}' readers")
            result.notes.append(f"'{post.slug}' was for {readers} only on Ghost; it is public here")
    return result


def _data(path: Path) -> dict[str, Any]:
    """`db[0].data` of the export (or `data` of an older one)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PublishError.single(str(path), 1, 1, f"cannot read the Ghost export: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PublishError.single(
            str(path), exc.lineno, exc.colno, f"not valid JSON: {exc.msg}"
        ) from None
    try:
        data = document["db"][0]["data"] if "db" in document else document["data"]
    except (KeyError, IndexError, TypeError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
        raise PublishError.single(str(path), 1, 1, "not a Ghost export: no db[0].data.posts")
    return data


def _links(rows: list[dict[str, Any]], column: str, names: dict[Any, str]) -> dict[Any, list[str]]:
    """Names linked to each post id, in the export's sort order."""
    linked: dict[Any, list[tuple[int, str]]] = {}
    for row in rows:
        name = names.get(row.get(column))
        if name:
            linked.setdefault(row.get("post_id"), []).append((row.get("sort_order") or 0, name))
    return {post: [n for _, n in sorted(pairs)] for post, pairs in linked.items()}


def _post(
    record: dict[str, Any],
    meta: dict[str, Any],
    tags: dict[Any, list[str]],
    authors: dict[Any, list[str]],
    path: Path,
) -> ImportedPost:
    """One Ghost post (or page) as a post; pages become drafts."""
    slug = str(record.get("slug") or record.get("id"))
    published = record.get("status") == "published"
    post_tags = [t for t in tags.get(record.get("id"), []) if not t.startswith("#")]
    post = ImportedPost(
        title=str(record.get("title") or slug),
        slug=slug,
        body_html="",
        date=_moment(record.get("published_at") or record.get("created_at")),
        subtitle=str(record.get("custom_excerpt") or ""),
        tags=tuple(post_tags),
        author=", ".join(authors.get(record.get("id"), [])),
        draft=not published or record.get("type") == "page",
        image=str(record.get("feature_image") or ""),
        image_alt=str(record.get("feature_image_alt") or meta.get("feature_image_alt") or ""),
        image_credit=_plain(
            record.get("feature_image_caption") or meta.get("feature_image_caption") or ""
        ),
        origin=f"{path.name}: post {slug}",
    )
    post.released = not post.draft
    soup = cleanup.parse(str(record.get("html") or ""))
    post.footnotes = cleanup.list_footnotes(soup)
    cleanup.drop(soup, DROPPED)
    cleanup.replace_embeds(soup, EMBEDS, post)
    cleanup.tidy_figures(soup, FIGURES)
    for link in soup.select(f'a[href^="{GHOST_URL}"]'):
        link["href"] = ".." + str(link["href"])[len(GHOST_URL) :]  # the old site's own pages
    post.body_html = str(soup)
    return post


def _images(post: ImportedPost, find: cleanup.FindImage) -> None:
    """Copy the body's and the feature image from the uploads folder when it has them."""
    soup = cleanup.parse(post.body_html)
    cleanup.gather_images(soup, post, find)
    post.body_html = str(soup)
    if not post.image:
        return
    data = find(post.image)
    if data is not None:
        target = f"images/{post.slug}/feature-{cleanup.file_name(post.image)}"
        post.images.append(ImageFile(target=target, data=data))
        post.image = target
    elif post.image.startswith(("http://", "https://")):
        post.missing_images.append(post.image)
    else:
        post.dropped_images.append(post.image)
        post.image = post.image_alt = ""


def _plain(html: str) -> str:
    """A caption's text without its markup."""
    return cleanup.parse(str(html)).get_text(" ", strip=True)


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 moment, or None."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None

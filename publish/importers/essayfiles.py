"""Turns converted posts into essay files: front matter, body and notes, each at a path
no existing file holds (an import never overwrites an essay)."""

from __future__ import annotations

import re
from pathlib import Path

import frontmatter
import msgspec
import yaml

from publish.content.essays import MAX_SLUG_LENGTH, SLUG_PATTERN, cap_slug, slugify
from publish.importers.convert import ConvertedPost, note_definition
from publish.importers.model import ImportedPost
from publish.layout import ESSAYS_DIR

ALIAS_SEGMENT = re.compile(r"^[^/\\\s?#<>\"'`]+$")


class EssayFile(msgspec.Struct, frozen=True):
    """One essay the import would write, or found already there."""

    post: ImportedPost
    path: str  # relative to the site root
    text: str
    exists: bool


def settle_slugs(posts: list[ImportedPost]) -> list[str]:
    """Make every post's slug valid and unique; a changed slug keeps the old one as an
    address. Returns a note for each change."""
    notes, taken = [], set()
    for post in posts:
        slug = post.slug
        if not SLUG_PATTERN.match(slug) or len(slug) > MAX_SLUG_LENGTH:
            slug = cap_slug(slugify(slug or post.title))
        base, counter = slug, 2
        while slug in taken:
            slug = f"{cap_slug(base, MAX_SLUG_LENGTH - 4)}-{counter}"
            counter += 1
        taken.add(slug)
        if slug != post.slug:
            notes.append(f"{post.origin}: slug '{post.slug}' became '{slug}'")
            if valid_alias(post.slug):
                post.old_paths = (*post.old_paths, post.slug)
            post.slug = slug
    return notes


def valid_alias(path: str) -> bool:
    """Whether an old address can carry a redirect page (plain path segments)."""
    parts = path.strip("/").split("/")
    return bool(path.strip("/")) and all(
        ALIAS_SEGMENT.match(p) and p not in (".", "..") for p in parts
    )


def plan_essays(root: Path, posts: list[ConvertedPost]) -> list[EssayFile]:
    """The essay file of each post; a post whose file or slug already exists is marked."""
    declared = _declared_slugs(root)
    files = []
    for converted in posts:
        post = converted.post
        path = f"{ESSAYS_DIR}/{post.slug}.md"
        exists = (root / path).exists() or declared.get(post.slug, path) != path
        files.append(EssayFile(post, path, essay_text(converted), exists))
    return files


def _declared_slugs(root: Path) -> dict[str, str]:
    """The slug of each essay already in essays/ (explicit, or from its title), to its
    path; a file whose front matter does not parse is left to `publish check`."""
    folder = root / ESSAYS_DIR
    slugs = {}
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        try:
            meta = frontmatter.loads(path.read_text(encoding="utf-8")).metadata
        except (UnicodeDecodeError, yaml.YAMLError, ValueError):
            continue
        slug = meta.get("slug") or cap_slug(slugify(str(meta.get("title") or "")))
        slugs[str(slug)] = f"{ESSAYS_DIR}/{path.name}"
    return slugs


def essay_text(converted: ConvertedPost) -> str:
    """An essay file: YAML front matter, the Markdown body, then the notes."""
    post = converted.post
    meta: dict[str, object] = {"title": post.title}
    if post.subtitle:
        meta["subtitle"] = post.subtitle
    if post.date is not None:
        meta["date"] = post.date.isoformat(timespec="minutes")
    meta["slug"] = post.slug
    aliases = [p.strip("/") for p in post.old_paths if valid_alias(p)]
    if aliases:
        meta["aliases"] = aliases
    for key in ("author", "category", "image", "image_alt", "image_credit"):
        if getattr(post, key):
            meta[key] = getattr(post, key)
    if post.tags:
        meta["tags"] = list(post.tags)
    if post.draft:
        meta["draft"] = True
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    notes = "\n\n".join(note_definition(label, text) for label, text in converted.notes)
    body = converted.body + ("\n\n" + notes if notes else "")
    return f"---\n{front}---\n\n{body.strip()}\n"

"""Loads a whole site, gathering every problem before failing, and selects what is published."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from datetime import date, datetime
from pathlib import Path

import msgspec

from publish.cache.store import BuildCache
from publish.content.essaylinks import missing_link_problems
from publish.content.essays import EssayReader, read_essays
from publish.content.glossary import load_glossary, shadowed_terms
from publish.content.images import ImageSizes, measure_images
from publish.content.links import glossary_image_problems, image_problems
from publish.content.markdown import build_parser
from publish.content.settings import load_settings
from publish.content.source import read_document
from publish.content.specialfiles import special_file_problems
from publish.errors import Problem, PublishError, error
from publish.layout import ESSAYS_DIR
from publish.model import Essay, Site

# Editors' swap files; names starting with "." or "#" or ending with "~" are skipped too.
EDITOR_SUFFIXES = (".swp", ".swo", ".swx")


def load_site(
    root: Path,
    read: EssayReader = read_essays,
    cache: BuildCache | None = None,
    routes: Collection[str] = frozenset(),
) -> tuple[Site, list[Problem]]:
    """Load settings, glossary and every essay; raise PublishError if any error was found.

    Returns the site (drafts and undated essays included) and its warnings. `read` parses the
    essay files (the build passes one that keeps parses in `cache`, which keeps the image
    sizes too). An essay whose slug is one of the built-in `routes` (the output table's,
    see `publish.pipeline.formats`) is an error. A FIFO, socket or device among the sources
    stops it before any file is opened.
    """
    special = special_file_problems(root)
    if special:
        raise PublishError(special)
    settings = load_settings(root)
    glossary, problems = load_glossary(root, build_parser())
    problems += glossary_image_problems(glossary, root)
    essays: list[Essay] = []
    files = essay_folder(root)
    problems += files.problems
    paths = files.essays
    if not paths:
        problems.append(
            error(
                f"{ESSAYS_DIR}/",
                1,
                1,
                "no essays found (add essays/*.md, or run 'publish new \"Title\"')",
            )
        )
    sizes = ImageSizes(root, cache)
    for essay, found in read(paths, root, settings, glossary):
        problems += found
        if essay is not None:
            problems += image_problems(essay, root)
            essay, large = measure_images(essay, sizes)
            problems += large
            essays.append(essay)
    sizes.save()
    problems += _duplicate_slugs(essays)
    problems += missing_link_problems(essays)
    problems += _built_in_slugs(essays, root, files.folders, routes)
    problems += shadowed_terms(glossary, essays, root)
    if any(p.is_error for p in problems):
        raise PublishError(problems)
    site = Site(root, settings, glossary, tuple(essays), assets=tuple(files.assets))
    return site, problems


def is_private_name(name: str) -> bool:
    """Whether a file or folder name is hidden or an editor's lock, backup or swap file
    (`.env`, `.#a.md`, `#a.md#`, `a.md~`, `.a.md.swp`): never an essay, never published."""
    return name.startswith((".", "#")) or name.endswith("~") or name.endswith(EDITOR_SUFFIXES)


class EssayFolder(msgspec.Struct):
    """What `essays/` holds that may be read or published, and the links refused in it."""

    essays: list[Path] = msgspec.field(default_factory=list)  # top-level *.md files, by name
    assets: list[tuple[str, Path]] = msgspec.field(default_factory=list)  # other files, by path
    folders: set[str] = msgspec.field(default_factory=set)  # top-level folders holding assets
    problems: list[Problem] = msgspec.field(default_factory=list)


def essay_folder(root: Path) -> EssayFolder:
    """Walk `essays/`: hidden and editor files at any depth are skipped; a symbolic link is
    followed only when it stays inside `essays/` (and out of its hidden parts), and one that
    points elsewhere is an error naming it, so nothing outside the folder is ever published.
    A folder named like an essay (`x.md/`) is a folder."""
    found = EssayFolder()
    folder = root / ESSAYS_DIR
    if folder.is_dir():
        _walk(folder, "", folder.resolve(), found, frozenset())
    found.essays.sort()
    return found


def _walk(folder: Path, prefix: str, top: Path, found: EssayFolder, above: frozenset[Path]) -> None:
    """Gather one folder of `essays/` into `found` (`prefix` is its relative path + "/";
    `above` the real paths of the folders holding it, so a link to one of them is no loop)."""
    above = above | {folder.resolve()}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        relative, path = prefix + entry.name, Path(entry.path)
        if is_private_name(entry.name) or (
            entry.is_symlink() and not _link_holds(path, relative, top, found)
        ):
            continue
        if entry.is_dir():
            if path.resolve() not in above:
                _walk(path, f"{relative}/", top, found, above)
        elif entry.is_file() and not prefix and entry.name.endswith(".md"):
            found.essays.append(path)
        elif entry.is_file() and not entry.name.endswith(".md"):
            found.assets.append((relative, path))
            if prefix:
                found.folders.add(relative.split("/", 1)[0])


def _link_holds(path: Path, relative: str, top: Path, found: EssayFolder) -> bool:
    """Whether a symbolic link points inside `essays/` (outside its hidden parts); if not,
    an error naming the link is added to `found`."""
    target = path.resolve()
    inside = target.is_relative_to(top) and not any(
        is_private_name(part) for part in target.relative_to(top).parts
    )
    if not inside:
        found.problems.append(
            error(
                f"{ESSAYS_DIR}/{relative}",
                1,
                1,
                f"symbolic link to {target} points outside {ESSAYS_DIR}/; "
                "links are not followed out of it (nothing outside may "
                "be published): copy the file in instead",
            )
        )
    return inside


def _built_in_slugs(
    essays: Iterable[Essay], root: Path, folders: set[str], routes: Collection[str]
) -> list[Problem]:
    """An error for each essay whose page would share its address with a built-in page or
    a folder of files beside the essays, at its slug line (or its title line)."""
    problems = []
    for essay in essays:
        if essay.slug in routes:
            clash = f"the built-in page {essay.slug}"
        elif essay.slug in folders:
            clash = f"the folder {ESSAYS_DIR}/{essay.slug}/ of files beside the essays"
        else:
            continue
        problems.append(
            error(
                essay.path,
                _slug_line(root / essay.path, root),
                1,
                f"slug '{essay.slug}' would take the address of {clash}; "
                "set another 'slug:' (or change the title)",
            )
        )
    return problems


def _slug_line(path: Path, root: Path) -> int:
    """The line of an essay's `slug:` key, or of its `title:` key when it has none."""
    document, _ = read_document(path, root)
    if document is None:
        return 1
    line = document.key_line("slug")
    return line if line != 1 or "slug" in document.metadata else document.key_line("title")


def _duplicate_slugs(essays: list[Essay]) -> list[Problem]:
    """An error for each essay whose slug an earlier essay already took, naming both files."""
    seen: dict[str, Essay] = {}
    problems = []
    for essay in essays:
        first = seen.setdefault(essay.slug, essay)
        if first is not essay:
            problems.append(
                error(essay.path, 1, 1, f"duplicate slug '{essay.slug}': {first.path} has it too")
            )
    return problems


def is_published(
    essay: Essay, today: date | datetime, drafts: bool = False, future: bool = False
) -> bool:
    """Whether an essay belongs on the site on `today` (a day, or a moment for `run`)."""
    if essay.draft and not drafts:
        return False
    if essay.date is None:
        return future
    if future:
        return True
    if isinstance(today, datetime):
        return essay.date <= today
    return essay.date.date() <= today


def select_published(
    site: Site, today: date | datetime, drafts: bool = False, future: bool = False
) -> Site:
    """The site holding only the essays published on `today`, newest first."""
    chosen = [e for e in site.essays if is_published(e, today, drafts, future) and e.date]
    chosen.sort(key=lambda e: (e.date, e.slug), reverse=True)
    return msgspec.structs.replace(site, essays=tuple(chosen))

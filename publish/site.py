"""Loads a whole site, gathering every problem before failing, and selects what is published."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

from publish.cache import read_essays
from publish.errors import Problem, PublishError, error
from publish.essays import ESSAYS_DIR, glossary_image_problems, image_problems
from publish.glossary import load_glossary
from publish.markdown import build_parser
from publish.model import Essay, Site
from publish.settings import load_settings


def load_site(root: Path) -> tuple[Site, list[Problem]]:
    """Load settings, glossary and every essay; raise PublishError if any error was found.

    Returns the site (drafts and undated essays included) and its warnings.
    """
    settings = load_settings(root)
    glossary, problems = load_glossary(root, build_parser())
    problems += glossary_image_problems(glossary, root)
    essays: list[Essay] = []
    paths = essay_paths(root)
    if not paths:
        problems.append(error(f"{ESSAYS_DIR}/", 1, 1, "no essays found (add essays/*.md, "
                                                      "or run 'publish new \"Title\"')"))
    for essay, found in read_essays(paths, root, settings, glossary):
        problems += found
        if essay is not None:
            problems += image_problems(essay, root)
            essays.append(essay)
    problems += _duplicate_slugs(essays)
    if any(p.is_error for p in problems):
        raise PublishError(problems)
    site = Site(root=root, settings=settings, glossary=glossary, essays=tuple(essays))
    return site, problems


def essay_paths(root: Path) -> list[Path]:
    """Every essay file, in queue (file name) order."""
    folder = root / ESSAYS_DIR
    return sorted(folder.glob("*.md")) if folder.is_dir() else []


def _duplicate_slugs(essays: list[Essay]) -> list[Problem]:
    """An error for each essay whose slug an earlier essay already took, naming both files."""
    seen: dict[str, Essay] = {}
    problems = []
    for essay in essays:
        first = seen.setdefault(essay.slug, essay)
        if first is not essay:
            problems.append(error(essay.path, 1, 1, f"duplicate slug '{essay.slug}': "
                                                    f"{first.path} has it too"))
    return problems


def is_published(essay: Essay, today: date | datetime, drafts: bool = False,
                 future: bool = False) -> bool:
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


def select_published(site: Site, today: date | datetime, drafts: bool = False,
                     future: bool = False) -> Site:
    """The site holding only the essays published on `today`, newest first."""
    chosen = [e for e in site.essays if is_published(e, today, drafts, future) and e.date]
    chosen.sort(key=lambda e: (e.date, e.slug), reverse=True)
    return dataclasses.replace(site, essays=tuple(chosen))

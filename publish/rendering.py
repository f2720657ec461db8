"""The Jinja2 environment: a site's `templates/` overrides the packaged defaults file by file."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
PACKAGE_STATIC = Path(__file__).parent / "static"


def template_environment(site_templates: Path) -> Environment:
    """A Jinja2 environment with autoescape on, looking in the site's folder first."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(site_templates)),
                             PackageLoader("publish", "templates")]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["long_date"] = long_date
    env.filters["iso"] = lambda moment: moment.isoformat() if moment else ""
    return env


_SHARED: dict[Path, tuple[tuple[tuple[str, int, int], ...], Environment]] = {}


def shared_template_environment(site_templates: Path) -> Environment:
    """The environment of `template_environment`, kept between builds in one process (as
    `publish serve` rebuilds), so templates compile once; made afresh whenever a file in the
    site's template folder appears, disappears or changes (Jinja itself reloads an edited
    template, but would not notice a new override of a packaged one)."""
    stamp = _folder_stamp(site_templates)
    found = _SHARED.get(site_templates)
    if found is None or found[0] != stamp:
        found = _SHARED[site_templates] = (stamp, template_environment(site_templates))
    return found[1]


def _folder_stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Each file under a folder with its size and modification time."""
    stamps = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        status = path.stat()
        stamps.append((path.relative_to(folder).as_posix(), status.st_size, status.st_mtime_ns))
    return tuple(stamps)


def long_date(moment: datetime | None) -> str:
    """A date as readers write it: '3 November 2026'."""
    return f"{moment.day} {moment:%B %Y}" if moment else ""


def joined(pieces: Iterable[str], batch: int = 8192) -> str:
    """Rendered pieces as one string, joined a batch at a time (a page listing every essay
    is hundreds of thousands of pieces: never hold them all at once)."""
    chunks: list[str] = []
    pending: list[str] = []
    for piece in pieces:
        pending.append(piece)
        if len(pending) >= batch:
            chunks.append("".join(pending))
            pending.clear()
    chunks.append("".join(pending))
    return "".join(chunks)

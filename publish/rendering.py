"""The Jinja2 environment: a site's `templates/` overrides the packaged defaults file by file."""

from __future__ import annotations

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


def long_date(moment: datetime | None) -> str:
    """A date as readers write it: '3 November 2026'."""
    return f"{moment.day} {moment:%B %Y}" if moment else ""

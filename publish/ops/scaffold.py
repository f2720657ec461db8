"""`publish init`: a new working site made from the scaffold folder beside this module."""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from email.headerregistry import Address
from itertools import takewhile
from pathlib import Path
from zoneinfo import ZoneInfo

import tomli_w

from publish.content.settings import SETTINGS_FILE, load_settings
from publish.errors import PublishError
from publish.layout import TEMPLATES_DIR
from publish.mail.setup import PLACEHOLDER_FROM_ADDRESS
from publish.support.safetext import fold_controls

SCAFFOLD = Path(__file__).parent.parent / "scaffold"


def create_site(directory: Path, title: str, author: str) -> None:
    """Write the scaffold into `directory` with this title and author; PublishError if the
    folder already holds anything (nothing is written then)."""
    if directory.exists() and any(directory.iterdir()):
        raise PublishError.single(str(directory), 1, 1, "is not empty; choose a new folder")
    values = {"today": _scaffold_today().isoformat()}
    for source in sorted(SCAFFOLD.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(SCAFFOLD).as_posix().replace("gitignore", ".gitignore")
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if relative == SETTINGS_FILE:
            target.write_text(scaffold_settings(text, title, author), encoding="utf-8")
        else:
            target.write_text(_fill(text, values), encoding="utf-8")
    (directory / TEMPLATES_DIR).mkdir(exist_ok=True)


def _scaffold_today() -> date:
    """Today in the scaffold's time zone: the date its first essay gets."""
    return datetime.now(ZoneInfo(load_settings(SCAFFOLD).site.timezone)).date()


def scaffold_settings(text: str, title: str, author: str) -> str:
    """The scaffold's publish.toml with this title and author, written by a TOML writer
    (any text, emoji included, stays a valid TOML string); its leading comments are kept."""
    settings = tomllib.loads(text)
    settings["site"]["title"] = title
    settings["site"]["author"] = author
    sender = Address(display_name=fold_controls(author), addr_spec=PLACEHOLDER_FROM_ADDRESS)
    settings["email"]["from"] = str(sender)
    comments = "".join(
        f"{line}\n" for line in takewhile(lambda x: x.startswith("#"), text.splitlines())
    )
    return f"{comments}\n{tomli_w.dumps(settings)}"


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace `{name}` placeholders in a scaffold file."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


NUMBERED = re.compile(r"^(\d+)-")


def new_essay_name(existing: list[str], slug: str, number: int | None = None) -> str:
    """The file name `publish new` gives an essay: numbered after the highest numbered file
    of `existing` (`06-slug.md` after `05-…`, zero-padded to at least two digits), or with
    `number` when given; unnumbered (`slug.md`) when no file is numbered, since `01-` would
    put it ahead of every unnumbered essay in the queue's file-name order."""
    numbers = [(int(m[1]), len(m[1])) for name in existing if (m := NUMBERED.match(name))]
    if number is None and not numbers:
        return f"{slug}.md"
    if number is None:
        number = max(value for value, _ in numbers) + 1
    width = max([2, *(digits for _, digits in numbers)])
    return f"{number:0{width}d}-{slug}.md"


def same_slug_file(existing: list[str], slug: str) -> str | None:
    """An existing file named for this slug, numbered or not (`slug.md`, `04-slug.md`)."""
    return next((name for name in existing if NUMBERED.sub("", name) == f"{slug}.md"), None)


def files_after(existing: list[str], name: str) -> list[str]:
    """The files that come after `name` in file-name order (the queue's order)."""
    return sorted(other for other in existing if other > name)

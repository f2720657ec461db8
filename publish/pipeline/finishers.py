"""Finishers: what runs on each output folder as it will be, between staged and committed.

A finisher is a function of the planned site and the staged folders (by name: "site",
"email"), each a read-only view of path -> bytes holding new and unchanged files alike; it
returns problems (a warning is shown, an error stops the build before anything changes)
and extra files to add to a folder (a search index, say). `publish check` runs the same
finishers on what it made, and writes nothing. Adding one is adding an entry to `FINISHERS`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

import msgspec

from publish.errors import Problem
from publish.i18n.check import language_problems
from publish.model import Site
from publish.outputs.files import Content, OutputFiles
from publish.outputs.mail import oversize_problems


class StagedView(Protocol):
    """One output folder as it will be: each path's bytes, and its size without reading it."""

    def __getitem__(self, path: str) -> bytes: ...

    def __iter__(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...

    def __contains__(self, path: object) -> bool: ...

    def size(self, path: str) -> int: ...


class Finished(msgspec.Struct, frozen=True):
    """What a finisher found: problems, and files to add by folder ({"site": {path: bytes}})."""

    problems: list[Problem] = msgspec.field(default_factory=list)
    files: Mapping[str, Mapping[str, Content]] = msgspec.field(default_factory=dict)


Finisher = Callable[[Site, Mapping[str, StagedView]], Finished]


def email_sizes(site: Site, staged: Mapping[str, StagedView]) -> Finished:
    """The pre-flight of the emails: a warning for each email HTML past the size at which
    Gmail clips it (the new emails and those kept from the previous build alike)."""
    emails = staged["email"]
    sizes = {path: emails.size(path) for path in emails if path.endswith(".html")}
    return Finished(problems=oversize_problems(site, sizes))


def language_catalogs(site: Site, staged: Mapping[str, StagedView]) -> Finished:
    """A warning for each language the pages are written in that has no catalog, or a
    catalog lacking strings (they fall back to English)."""
    return Finished(problems=language_problems(site))


FINISHERS: tuple[Finisher, ...] = (email_sizes, language_catalogs)


@contextlib.contextmanager
def as_folder(view: StagedView) -> Iterator[Path]:
    """The staged folder written out as a real one, for a tool that reads a folder (an
    external indexer); removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="publish-staged-") as folder:
        for path in view:
            target = Path(folder, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(view[path])
        yield Path(folder)


def run_finishers(
    site: Site,
    staged: Mapping[str, StagedView],
    finishers: tuple[Finisher, ...] | None = None,
) -> Finished:
    """Every finisher run on the staged folders, in order: their problems and files joined
    (a path two finishers add is refused as written twice)."""
    problems: list[Problem] = []
    files: dict[str, OutputFiles] = {}
    for finisher in FINISHERS if finishers is None else finishers:
        found = finisher(site, staged)
        problems += found.problems
        for folder, added in found.files.items():
            files.setdefault(folder, OutputFiles()).add_all(added, finisher.__name__)
    return Finished(problems, files)

"""The site's search index: Pagefind run over the essay pages of the finished site folder,
giving the files of `pagefind/` (its script, styles, WebAssembly and index fragments).

A finisher: a function of the site folder as it will be, run once every page is in it.
Pagefind indexes only what carries `data-pagefind-body` (the essays' articles, when `[site]
search` is on), one index per language (each page's `<html lang>`), and the search page uses
the one of its own language. The index is kept under `build/.cache/search/` by a fingerprint
of the essay pages and the Pagefind binary, so a build whose essays did not change gives the
kept files again without running Pagefind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from publish.cache.store import BuildCache
from publish.content.settings import setting_line
from publish.errors import Problem, PublishError, error
from publish.layout import SETTINGS_FILE, SITE_FOLDER
from publish.model import Settings, Site
from publish.outputs.urls import essay_page_path
from publish.pipeline.finishers import Finished, Finisher, StagedView

INDEX_FOLDER = "pagefind"  # where the index goes in the site
SEARCH_FOLDER = "search"  # in the cache folder
KEPT_INDEXES = 4  # a build's and a preview's, and the ones before
COMPLETE = ".complete"  # written last into a kept index: one without it is unfinished
INSTALL = "pip install 'pagefind[bin]' (the 'search' extra of publish)"
TIMEOUT = 600  # seconds: Pagefind indexes thousands of pages in a few seconds


def pagefind_binary() -> Path | None:
    """The Pagefind program the `pagefind` package brings (its `bin` extra), or None."""
    try:
        from pagefind.service import get_executable
    except ImportError:
        return None
    found = get_executable()
    return found if found is not None and found.is_file() else None


def search_problems(root: Path, settings: Settings) -> list[Problem]:
    """An error at `search = true` when Pagefind is not installed."""
    if not settings.site.search or pagefind_binary() is not None:
        return []
    line = setting_line(root, "site", "search")
    message = f"'site.search' is on, but Pagefind is not installed: {INSTALL}"
    return [error(SETTINGS_FILE, line, 1, message)]


def require_pagefind(root: Path, settings: Settings) -> None:
    """Stop a build or check of a site with `search = true` when Pagefind is missing."""
    problems = search_problems(root, settings)
    if problems:
        raise PublishError(problems)


def search_finisher(cache: BuildCache) -> Finisher:
    """The finisher that adds the search index to the site folder, kept in `cache`."""

    def search_index(site: Site, staged: Mapping[str, StagedView]) -> Finished:
        """With `[site] search`, the index of the staged essay pages as files to add under
        `pagefind/` (none at `check`, which only makes sure Pagefind is there)."""
        if not site.settings.site.search:
            return Finished()
        folder = staged[SITE_FOLDER]
        paths = [essay_page_path(essay) for essay in site.essays]
        pages = {path: folder[path] for path in paths if path in folder}
        return Finished(files={SITE_FOLDER: index_files(pages, cache)})

    return search_index


def index_files(pages: Mapping[str, bytes], cache: BuildCache) -> dict[str, bytes]:
    """The files of the search index of `pages` (path in the site: HTML), as `{path in the
    site: content}`: kept in the cache from an earlier run over the same pages, else made by
    Pagefind now (nothing when the cache is only read, as by `check`)."""
    binary = pagefind_binary()
    if binary is None:
        raise PublishError.single(SETTINGS_FILE, 1, 1, f"Pagefind is not installed: {INSTALL}")
    folder = cache.folder / SEARCH_FOLDER
    kept = folder / _fingerprint(pages, binary)
    if cache.enabled and (kept / COMPLETE).is_file():
        return _index_of(kept)
    if cache.read_only:
        return {}
    with tempfile.TemporaryDirectory(prefix="publish-search-") as work:
        made = _indexed(binary, pages, Path(work))
        if not cache.writable:
            return _index_of(made)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(kept, ignore_errors=True)
        shutil.move(made, kept)
    _prune(folder, kept)
    return _index_of(kept)


def _index_of(index: Path) -> dict[str, bytes]:
    """The files of an index folder, by their path in the site."""
    return {
        f"{INDEX_FOLDER}/{path.relative_to(index).as_posix()}": path.read_bytes()
        for path in sorted(index.rglob("*"))
        if path.is_file() and path.name != COMPLETE
    }


def _fingerprint(pages: Mapping[str, bytes], binary: Path) -> str:
    """What the index is made from: each essay page's path and bytes, and the program."""
    status = binary.stat()
    digest = hashlib.sha256(f"{binary}|{status.st_size}|{status.st_mtime_ns}".encode())
    for path in sorted(pages):
        digest.update(path.encode() + b"\0")
        digest.update(hashlib.sha256(pages[path]).digest())
    return digest.hexdigest()[:32]


def _indexed(binary: Path, pages: Mapping[str, bytes], work: Path) -> Path:
    """The pages written into `work`/pages, indexed by Pagefind; its output folder."""
    site = work / "pages"
    for path, data in pages.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
    output = work / "index"
    _run_pagefind(binary, site, output)
    return output


def _run_pagefind(binary: Path, site: Path, output: Path) -> None:
    """Index the folder `site` into `output` (marked complete once Pagefind succeeded)."""
    import subprocess  # loaded only by a site with search

    command = [str(binary), "--site", str(site), "--output-path", str(output), "--silent"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise PublishError.single(
            INDEX_FOLDER, 1, 1, f"Pagefind did not finish indexing in {TIMEOUT} s"
        ) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        message = f"Pagefind could not index the site: {said[0]}"
        raise PublishError.single(INDEX_FOLDER, 1, 1, message)
    (output / COMPLETE).write_bytes(b"")


def _prune(cache: Path, kept: Path) -> None:
    """Remove all but the newest kept indexes (this one among them)."""
    others = sorted(
        (p for p in cache.iterdir() if p.is_dir() and p != kept and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    os.utime(kept)
    for old in others[KEPT_INDEXES - 1 :]:
        shutil.rmtree(old, ignore_errors=True)

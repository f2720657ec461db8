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
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from publish.content.settings import setting_line
from publish.errors import Problem, PublishError, error
from publish.layout import CACHE_DIR, PREVIEW_FOLDER, SETTINGS_FILE, SITE_FOLDER
from publish.model import Settings, Site
from publish.outputs.urls import essay_page_path
from publish.pipeline.writer import add_files

INDEX_FOLDER = "pagefind"  # where the index goes in the site
SEARCH_CACHE = CACHE_DIR / "search"
KEPT_INDEXES = 2  # a build's and a preview's
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


def finish_search(root: Path, site_dir: Path, published: Site, preview: bool) -> None:
    """With `[site] search`, add the search index of the written essay pages to the site
    folder `site_dir` (in one commit; the caller holds the build lock)."""
    if published.settings.site.search:
        cache = root / SEARCH_CACHE / (PREVIEW_FOLDER if preview else SITE_FOLDER)
        pages = [essay_page_path(essay) for essay in published.essays]
        add_files(search_index(site_dir, pages, cache), site_dir)


def search_index(site_dir: Path, pages: Sequence[str], cache: Path) -> dict[str, bytes]:
    """The files of the search index of `pages` (paths in the site folder `site_dir`), as
    `{path in the site: content}`: kept in `cache` from an earlier run over the same pages,
    else made by Pagefind now."""
    binary = pagefind_binary()
    if binary is None:
        raise PublishError.single(SETTINGS_FILE, 1, 1, f"Pagefind is not installed: {INSTALL}")
    kept = cache / _fingerprint(site_dir, pages, binary)
    if not (kept / COMPLETE).is_file():
        _run_pagefind(binary, site_dir, kept)
    _prune(cache, kept)
    return {
        f"{INDEX_FOLDER}/{path.relative_to(kept).as_posix()}": path.read_bytes()
        for path in sorted(kept.rglob("*"))
        if path.is_file() and path.name != COMPLETE
    }


def _fingerprint(site_dir: Path, pages: Sequence[str], binary: Path) -> str:
    """What the index is made from: each essay page's path and bytes, and the program."""
    status = binary.stat()
    digest = hashlib.sha256(f"{binary}|{status.st_size}|{status.st_mtime_ns}".encode())
    for page in sorted(pages):
        digest.update(page.encode() + b"\0")
        digest.update(hashlib.sha256((site_dir / page).read_bytes()).digest())
    return digest.hexdigest()[:32]


def _run_pagefind(binary: Path, site_dir: Path, kept: Path) -> None:
    """Index the site folder into `kept` (written beside it, then moved into place)."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".index-", dir=kept.parent))
    command = [str(binary), "--site", str(site_dir), "--output-path", str(staging), "--silent"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PublishError.single(
                str(site_dir), 1, 1, f"Pagefind could not index the site: {said[0]}"
            )
        (staging / COMPLETE).write_bytes(b"")
        shutil.rmtree(kept, ignore_errors=True)
        os.replace(staging, kept)
    except subprocess.TimeoutExpired:
        raise PublishError.single(
            str(site_dir), 1, 1, f"Pagefind did not finish indexing in {TIMEOUT} s"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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

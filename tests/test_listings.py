"""The listing of an output folder kept from the last build (`publish.pipeline.listings`):
a rebuild lists again only the folders whose stamp moved, and finds exactly what a full
listing finds."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from publish.pipeline import listings
from publish.pipeline.journal import Listing, listed_tree

OLD = 1_000_000_000  # a modification time long past (seconds)


def tree_of(folder: Path) -> Path:
    """A small output tree: pages in folders, two levels deep, and files at its top."""
    for name in ("index.html", "feed.xml", "a/index.html", "b/index.html", "b/c/index.html"):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return folder


def aged(folder: Path) -> None:
    """Set every folder's modification time long past (so that one a change touches shows
    a new one, whatever the file system clock's tick)."""
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        os.utime(path, (OLD, OLD))


def kept(folder: Path, at: Path) -> None:
    """Keep the listing of `folder` as a build's writer does."""
    found = listed_tree(folder)
    listings.keep(folder, found.status, found.taken, at)


def same(left: Listing, right: Listing) -> bool:
    """Whether two listings name the same files and folders with the same statuses."""
    stamps = [
        {p: (s.st_ino, s.st_size, s.st_mtime_ns, s.st_mode) for p, s in found.status.items()}
        for found in (left, right)
    ]
    return (left.files, left.folders) == (right.files, right.folders) and stamps[0] == stamps[1]


def scanned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders a listing reads the names of (rather than taking the kept ones)."""
    seen: list[str] = []
    real = listings._listed_names

    def spy(path: str):
        seen.append(path)
        return real(path)

    monkeypatch.setattr(listings, "_listed_names", spy)
    return seen


# each change, and the folders whose names it changes (read again; the others are not)
CHANGES: dict[str, tuple[Callable[[Path], object], list[str]]] = {
    "nothing": (lambda site: None, []),
    "a file added": (lambda site: (site / "a" / "new.html").write_text("new"), ["a"]),
    "a file removed": (lambda site: (site / "b" / "c" / "index.html").unlink(), ["b/c"]),
    "a file rewritten": (lambda site: (site / "a" / "index.html").write_text("longer"), []),
    "a file renamed": (
        lambda site: (site / "a" / "index.html").rename(site / "a" / "i.html"),
        ["a"],
    ),
    "a folder added": (lambda site: (site / "b" / "d").mkdir(), ["b", "b/d"]),
    "a folder removed": (lambda site: shutil.rmtree(site / "b" / "c"), ["b"]),
    "a file now a folder": (
        lambda site: (
            (site / "a" / "index.html").unlink(),
            (site / "a" / "index.html").mkdir(),
        ),
        ["a", "a/index.html"],
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_kept_listing_finds_what_a_full_listing_finds(tmp_path, monkeypatch, change) -> None:
    site = tree_of(tmp_path / "site")
    aged(site)
    at = tmp_path / "site.listing"
    kept(site, at)
    make, moved = CHANGES[change]
    make(site)
    folders = scanned(monkeypatch)
    found = listings.listed(site, at, racy=0)
    assert same(found, listed_tree(site))
    assert sorted(folders) == [str(site / name) for name in moved]


def test_a_rebuild_lists_only_the_folders_whose_stamp_moved(tmp_path, monkeypatch) -> None:
    site = tree_of(tmp_path / "site")
    aged(site)
    at = tmp_path / "site.listing"
    kept(site, at)
    (site / "a" / "new.html").write_text("new")
    folders = scanned(monkeypatch)
    assert same(listings.listed(site, at, racy=0), listed_tree(site))
    assert folders == [str(site / "a")]


def test_names_read_too_close_to_a_change_are_read_again(tmp_path, monkeypatch) -> None:
    site = tree_of(tmp_path / "site")  # its folders' times are now: within RACY_NS
    at = tmp_path / "site.listing"
    kept(site, at)
    (site / "b" / "new.html").write_text("new")
    folders = scanned(monkeypatch)
    assert same(listings.listed(site, at), listed_tree(site))
    assert len(folders) == 4  # every folder: none old enough to vouch for its names


@pytest.mark.parametrize("damage", [b"", b"not a listing", None])
def test_a_missing_or_damaged_listing_lists_the_whole_tree(tmp_path, damage) -> None:
    site = tree_of(tmp_path / "site")
    aged(site)
    at = tmp_path / "site.listing"
    kept(site, at)
    if damage is None:
        at.unlink()
    else:
        at.write_bytes(damage)
    (site / "a" / "new.html").write_text("new")
    assert same(listings.listed(site, at, racy=0), listed_tree(site))


def test_a_link_in_the_tree_lists_the_whole_tree(tmp_path) -> None:
    site = tree_of(tmp_path / "site")
    (site / "linked").symlink_to(site / "a")
    aged(site)
    at = tmp_path / "site.listing"
    kept(site, at)
    assert not at.exists()
    assert same(listings.listed(site, at, racy=0), listed_tree(site))


# Slugs and files in any script, a long name, and a name whose bytes are not UTF-8 (kept by
# the file system as it is: a listing that cannot hold it is not kept, and the tree is listed)
NAMES = ["очерк", "随筆", "مقالة", "ένα-δοκίμιο", "café", "e\u0301t\u00e9", "🦉-notes", "x" * 200]


@pytest.mark.parametrize("odd_bytes", [False, True], ids=["scripts", "not-utf-8"])
def test_names_in_any_script_are_found_as_a_full_listing_finds_them(tmp_path, odd_bytes) -> None:
    site = tree_of(tmp_path / "site")
    for name in NAMES:
        (site / name).mkdir()
        (site / name / "index.html").write_text(name)
    if odd_bytes:
        (site / os.fsdecode(b"caf\xe9.html")).write_text("latin-1 name")
    aged(site)
    at = tmp_path / "site.listing"
    kept(site, at)
    assert at.exists() != odd_bytes  # a name JSON cannot hold: no listing kept
    (site / NAMES[1] / "new.html").write_text("new")
    assert same(listings.listed(site, at, racy=0), listed_tree(site))

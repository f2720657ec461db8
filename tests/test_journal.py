"""The writer's ground (publish.pipeline.journal): the listing of an output tree, one listing
of each folder and no stat but of a link, finds what `os.walk` finds."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from publish.pipeline.journal import tree_listing

NAMES = st.sampled_from(["a", "b", "essay-1", "index.html", "x.xml", "deep"])
ENTRIES = st.lists(
    st.tuples(st.lists(NAMES, min_size=1, max_size=4), st.sampled_from(["file", "folder", "link"])),
    max_size=14,
)


def walked(target: Path) -> tuple[set[str], set[str]]:
    """Every file and folder under `target`, as `os.walk` lists them."""
    files: set[str] = set()
    folders: set[str] = {"."}
    for folder, subfolders, names in os.walk(target):
        relative = os.path.relpath(folder, target).replace(os.sep, "/")
        prefix = "" if relative == "." else f"{relative}/"
        folders.update(prefix + name for name in subfolders)
        files.update(prefix + name for name in names)
    return files, folders


def make(root: Path, entries: list[tuple[list[str], str]]) -> None:
    """Files, folders and links (to a folder, a file or nothing) at the paths given, those
    that clash with what is already there left out."""
    for number, (parts, kind) in enumerate(entries):
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                path.write_text("x")
            elif kind == "folder":
                path.mkdir()
            else:
                path.symlink_to([root, root / "a", root / "gone"][number % 3])
        except OSError:
            continue


@settings(max_examples=60)
@given(entries=ENTRIES)
def test_the_listing_of_a_tree_is_what_os_walk_finds(entries):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "site"
        root.mkdir()
        make(root, entries)
        assert tree_listing(root) == walked(root)

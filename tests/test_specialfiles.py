"""Finding special files among the sources (`publish.content.specialfiles`): the same errors,
in the same order, as a walk that stats every entry, without a file-system call per
regular file (a rebuild of a large site walks every source)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from publish.content import specialfiles
from publish.content.specialfiles import SOURCE_FILES, special_file_problems
from publish.errors import Problem
from publish.layout import SOURCE_FOLDERS


def stat_every_entry(root: Path) -> list[Problem]:
    """The full path: `os.walk` each source folder and check every entry with lstat
    (through a link, stat), in the order the walk meets them."""
    paths = [root / name for name in SOURCE_FILES]
    for name in SOURCE_FOLDERS:
        paths.append(root / name)
        for folder, subfolders, files in os.walk(root / name):
            subfolders.sort()
            paths += [Path(folder) / entry for entry in sorted(subfolders + files)]
    return [problem for path in paths for problem in specialfiles._check(root, path)]


KIND = st.sampled_from(["file", "folder", "fifo", "link to file", "link to fifo", "dangling"])
NAMES = st.text(alphabet="abc.-_", min_size=1, max_size=4).filter(lambda n: n not in {".", ".."})
TREE = st.recursive(
    st.dictionaries(NAMES, KIND, max_size=4),
    lambda children: st.dictionaries(NAMES, KIND | children, max_size=4),
    max_leaves=12,
)


def make_tree(folder: Path, tree: dict, outside: Path) -> None:
    """Make the entries `tree` names under `folder` (links point at files in `outside`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, kind in tree.items():
        path = folder / name
        if isinstance(kind, dict):
            make_tree(path, kind, outside)
        elif kind == "file":
            path.write_text("text")
        elif kind == "folder":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "link to file":
            path.symlink_to(outside / "file")
        elif kind == "link to fifo":
            path.symlink_to(outside / "fifo")
        else:
            path.symlink_to(outside / "missing")


@given(st.fixed_dictionaries({name: TREE for name in SOURCE_FOLDERS[:2]}))
def test_the_errors_are_those_of_a_walk_that_stats_every_entry(trees: dict) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        root, outside = Path(temporary) / "site", Path(temporary) / "outside"
        outside.mkdir()
        (outside / "file").write_text("text")
        os.mkfifo(outside / "fifo")
        for name, tree in trees.items():
            make_tree(root / name, tree, outside)
        assert special_file_problems(root) == stat_every_entry(root)


def test_regular_files_and_folders_cost_no_call_of_their_own(tmp_path, monkeypatch) -> None:
    root = tmp_path / "site"
    for number in range(30):
        (root / "essays" / f"folder-{number}").mkdir(parents=True)
        (root / "essays" / f"essay-{number}.md").write_text("text")
    os.mkfifo(root / "essays" / "pipe.md")
    looked: list[str] = []
    real_lstat = os.lstat

    def counting_lstat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        looked.append(Path(str(path)).relative_to(root).as_posix())
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(specialfiles.os, "lstat", counting_lstat)
    problems = special_file_problems(root)
    monkeypatch.undo()
    assert [p.path for p in problems] == ["essays/pipe.md"]
    assert stat.S_ISFIFO(os.lstat(root / "essays" / "pipe.md").st_mode)
    assert sorted(looked) == sorted(["essays/pipe.md", *SOURCE_FILES, *SOURCE_FOLDERS]), (
        "only the named sources and what a listing cannot place are looked at"
    )

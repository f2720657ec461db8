"""Tests for the writer: checked paths, refused duplicates, and the atomic swap."""

from __future__ import annotations

from pathlib import Path

import pytest

from publish import writer
from publish.errors import PublishError
from publish.writer import merge_outputs, write_tree


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under folder, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_writes_exactly_the_files_given(tmp_path: Path) -> None:
    target = tmp_path / "build" / "site"
    write_tree({"index.html": "<p>é</p>", "a/b/c.bin": b"\x00\x01"}, target)
    write_tree({"index.html": "new"}, target)
    assert tree(target) == {"index.html": b"new"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["site"], "no staging left"


def test_duplicate_paths_are_refused() -> None:
    with pytest.raises(PublishError) as caught:
        merge_outputs({"a/index.html": "1", "b.html": "2"}, {"a/index.html": "3"})
    [problem] = caught.value.problems
    assert problem.path == "a/index.html" and "two outputs write this path" in problem.message


@pytest.mark.parametrize("path", ["../outside.html", "/etc/passwd", "a/../../x", "a\\..\\x", ""])
def test_paths_escaping_the_root_are_refused(tmp_path: Path, path: str) -> None:
    target = tmp_path / "site"
    write_tree({"old.html": "old"}, target)
    with pytest.raises(PublishError):
        write_tree({"fine.html": "x", path: "bad"}, target)
    assert tree(target) == {"old.html": b"old"}
    assert not (tmp_path / "outside.html").exists()


def test_failure_mid_write_leaves_the_old_tree(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_tree({"index.html": "old", "a/page.html": "old page"}, target)
    files = {"index.html": "new", "clash": "a file", "clash/inside.html": "cannot be written"}
    with pytest.raises(OSError):
        write_tree(files, target)
    assert tree(target) == {"index.html": b"old", "a/page.html": b"old page"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"], "staging removed"


def test_interrupted_swap_is_recovered(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_tree({"index.html": "old"}, target)
    target.rename(writer._old_path(target))  # a crash after setting the old tree aside
    writer.recover_interrupted_swap(target)
    assert tree(target) == {"index.html": b"old"}
    target.rename(writer._old_path(target))
    write_tree({"index.html": "new"}, target)  # the next build recovers, then swaps
    assert tree(target) == {"index.html": b"new"}
    assert not writer._old_path(target).exists()


def test_left_over_old_tree_beside_a_new_one_is_cleared(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_tree({"index.html": "current"}, target)
    writer._old_path(target).mkdir()
    (writer._old_path(target) / "stale.html").write_text("stale")
    write_tree({"index.html": "next"}, target)
    assert tree(target) == {"index.html": b"next"}
    assert not writer._old_path(target).exists()

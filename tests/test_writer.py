"""Tests for the writer: checked paths, refused duplicates, and the atomic swap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publish import writer
from publish.errors import PublishError
from publish.memo import Deferred, OutputMemo
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
    assert problem.path == "a/index.html" and "written twice" in problem.message


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


# --- Updating in place, with the output memo -----------------------------------------


def memo_for(tmp_path: Path) -> OutputMemo:
    """An output memo kept beside the trees of a test."""
    return OutputMemo(tmp_path / "memo" / "site.manifest")


def keyed(content: str, key: str = "k") -> Deferred:
    """A deferred content with a fixed key."""
    return Deferred(key, lambda: content)


def write_with_memo(files: dict, target: Path, tmp_path: Path) -> None:
    """One build's write: the memo loaded, the tree written, the memo saved."""
    memo = memo_for(tmp_path)
    write_tree(files, target, memo)
    memo.save()


def test_update_in_place_writes_exactly_the_files_given(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"a/index.html": keyed("a"), "b/index.html": "b", "c/d/e.html": "e"},
                    target, tmp_path)
    (target / "stray.html").write_text("left by hand")
    write_with_memo({"a/index.html": keyed("a"), "f/index.html": keyed("f", "f")},
                    target, tmp_path)
    assert tree(target) == {"a/index.html": b"a", "f/index.html": b"f"}
    assert sorted(p.name for p in target.iterdir()) == ["a", "f"], "emptied folders removed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo", "site"], "nothing left over"


def test_update_in_place_keeps_vouched_files_and_rewrites_edited_ones(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"kept.html": keyed("one"), "edited.html": keyed("two")}, target, tmp_path)
    inode = (target / "kept.html").stat().st_ino
    with (target / "edited.html").open("a") as edited:
        edited.write(" and a hand edit")

    def refuse() -> str:
        raise AssertionError("a vouched-for file was made again")

    write_with_memo({"kept.html": Deferred("k", refuse), "edited.html": keyed("two")},
                    target, tmp_path)
    assert tree(target) == {"kept.html": b"one", "edited.html": b"two"}
    assert (target / "kept.html").stat().st_ino == inode


def test_failure_while_making_leaves_the_tree_untouched(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"index.html": keyed("old"), "a/page.html": "old page"}, target, tmp_path)

    def broken() -> str:
        raise PublishError.single("templates/essay.html", 1, 1, "template error: broken")

    with pytest.raises(PublishError):
        write_tree({"index.html": Deferred("new", broken), "b/new.html": "new"}, target,
                   memo_for(tmp_path))
    assert tree(target) == {"index.html": b"old", "a/page.html": b"old page"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo", "site"], "staging removed"


def test_interrupted_commit_is_finished(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"index.html": "old", "gone.html": "old"}, target, tmp_path)
    staging = tmp_path / ".site-new-test"
    staging.mkdir()
    (staging / "0").write_text("new")
    writer._write_journal(tmp_path, {"changes": [
        {"kind": "update", "folder": "site", "staging": staging.name,
         "moves": ["a/index.html"], "removes": ["gone.html"]}]})
    writer.recover_interrupted_commit(tmp_path)  # as the next build does first
    assert tree(target) == {"index.html": b"old", "a/index.html": b"new"}
    assert not staging.exists() and not writer._journal_path(tmp_path).exists()


@pytest.mark.parametrize("change", [{"kind": "update", "folder": "site", "staging": "..",
                                     "moves": [], "removes": []},
                                    {"kind": "update", "folder": "site",
                                     "staging": ".site-new-x", "removes": ["index.html"]},
                                    {"kind": "swap", "folder": "..", "staging": ".site-new-x"},
                                    ["not", "a", "change"]])
def test_damaged_commit_journal_is_dropped_untouched(tmp_path: Path, change: object) -> None:
    target = tmp_path / "site"
    write_with_memo({"index.html": "old"}, target, tmp_path)
    writer._journal_path(tmp_path).write_text(json.dumps({"changes": [change]}))
    writer.recover_interrupted_commit(tmp_path)
    assert tree(target) == {"index.html": b"old"}
    assert tmp_path.exists() and not writer._journal_path(tmp_path).exists()


def test_file_becoming_a_folder_swaps_a_new_tree(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"tags": "a file", "index.html": "x"}, target, tmp_path)
    write_with_memo({"tags/index.html": keyed("a folder now"), "index.html": "x"}, target,
                    tmp_path)
    assert tree(target) == {"tags/index.html": b"a folder now", "index.html": b"x"}

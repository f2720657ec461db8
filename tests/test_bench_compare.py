"""Where `make bench-compare` builds: in memory where the system has a tmpfs (so that no tool
pays for the file system skipping the inodes the last builds deleted), else on the disk, or
wherever it is told."""

from __future__ import annotations

from pathlib import Path

from bench.compare import IN_MEMORY, _is_tmpfs, work_folder
from bench.measure import WORK_DIR


def test_the_comparison_builds_where_it_is_told(tmp_path: Path) -> None:
    assert work_folder(tmp_path / "here") == tmp_path / "here"


def test_it_builds_in_memory_where_there_is_a_tmpfs_else_in_bench_work() -> None:
    chosen = work_folder()
    if _is_tmpfs(IN_MEMORY):
        assert chosen.parent == IN_MEMORY
    else:
        assert chosen == WORK_DIR


def test_a_mount_of_another_kind_is_not_taken_for_memory() -> None:
    assert not _is_tmpfs(Path("/proc"))  # a proc file system
    assert not _is_tmpfs(Path(__file__).parent)  # not a mount point at all

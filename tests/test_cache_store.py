"""The code fingerprint (`publish.cache.store`): it reads exactly the files, in exactly the
order, that a walk of `rglob` with a path object per file reads (so every record and output
key stays as it was), from one listing of each folder."""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish.cache.store import PACKAGE, code_fingerprint, fingerprinted_files, installed_version


def rglob_files(package: Path) -> list[tuple[str, str]]:
    """The full path: every path `rglob` finds, sorted as paths sort, kept when it is a file
    of the fingerprint."""
    found = []
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package).as_posix()
        if path.is_file() and (
            path.suffix == ".py"
            or relative.split("/")[0] in ("templates", "static")
            or relative.startswith("i18n/catalogs/")
        ):
            found.append((relative, str(path)))
    return found


def test_the_package_is_read_as_rglob_reads_it() -> None:
    files = fingerprinted_files(PACKAGE)
    assert files == rglob_files(PACKAGE)
    assert ("model.py", str(PACKAGE / "model.py")) in files


NAMES = st.sampled_from(
    [".py", "..py", "a.py", "a..py", "a.py.", "a.pyc", "b-c.py", "b", "b.c", "a-b", "a.b"]
)
FOLDERS = st.sampled_from(["templates", "static", "i18n", "catalogs", "a", "a-b", "a.b", "b"])
TREES = st.recursive(
    st.dictionaries(NAMES, st.just("file"), max_size=4),
    lambda children: st.dictionaries(FOLDERS, children, max_size=3),
    max_leaves=16,
)


def make_tree(folder: Path, tree: dict) -> None:
    """The files and folders `tree` names, under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, child in tree.items():
        if isinstance(child, dict):
            make_tree(folder / name, child)
        else:
            (folder / name).write_text(name)


@given(TREES)
def test_any_tree_is_read_as_rglob_reads_it(tree: dict) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        package = Path(temporary) / "package"
        make_tree(package, tree)
        (package / "link.py").symlink_to(package / "missing.py")  # dangling: not a file
        assert fingerprinted_files(package) == rglob_files(package)


def test_the_fingerprint_stats_no_file_of_its_own(monkeypatch) -> None:
    stats = []
    real_stat = os.stat

    def counting_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        stats.append(path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    fingerprint = code_fingerprint.__wrapped__()
    monkeypatch.undo()
    assert fingerprint == code_fingerprint()
    assert stats == [], "each folder's listing tells the files apart"


@pytest.mark.parametrize(
    ("library", "distribution"),
    [("css_inline", None), ("feedgen", None), ("jinja2", None), ("yaml", "PyYAML")],
)
def test_a_librarys_version_is_read_without_importing_it(
    library: str, distribution: str | None
) -> None:
    expected = importlib.metadata.version(distribution or library)
    assert installed_version(library, distribution) == expected
    assert installed_version("no_such_library") == ""


def test_the_fingerprint_lists_the_libraries_folder_once(monkeypatch) -> None:
    """The versions it hashes are read from one listing of the folder the libraries are
    installed in, not one listing for each."""
    from publish.cache import store

    listed = []
    real_listdir = os.listdir

    def counting_listdir(path: object) -> list[str]:
        listed.append(path)
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", counting_listdir)
    store._installed.cache_clear()
    fingerprint = code_fingerprint.__wrapped__()
    monkeypatch.undo()
    assert fingerprint == code_fingerprint()
    assert len(listed) == len(set(listed)) == 1

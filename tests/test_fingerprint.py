"""The code fingerprint (`publish.cache.fingerprint`): it reads exactly the files, in exactly
the order, that a walk of `rglob` with a path object per file reads (so every record and
output key stays as it was), from one listing of each folder; kept with the package, it is
served for the same stamps without reading a file, and never for a file written since."""

from __future__ import annotations

import builtins
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish.cache.fingerprint import (
    KEPT_MAGIC,
    KEPT_NAME,
    PACKAGE,
    code_fingerprint,
    content_fingerprint,
    fingerprint_of,
    fingerprinted_files,
    installed_version,
    keep_code_fingerprint,
    library_versions,
    read_kept,
    stamped_files,
    stamps_key,
)
from publish.pipeline import unchanged
from publish.support.stamps import RACY_NS
from tests.sitebuilder import essay_text, make_site, site_settings


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


def snapshot_files(package: Path) -> dict[str, tuple[int, int, int, int]]:
    """The stamps of `package`'s files as a build's snapshot takes them (its walk, its
    stamps) and hands them to the build: every regular file, by path."""
    found = {path: unchanged.stamp_of(path) for path in unchanged._tree(package, ("__pycache__",))}
    return {path: stamp[1:] for path, stamp in found.items() if stamp and stamp[0] == 1}


@given(TREES)
def test_the_files_a_snapshot_stamped_are_those_the_walk_lists(tree: dict) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        package = Path(temporary) / "package"
        make_tree(package, {**tree, "__pycache__": {"a.py": "file", "b.pyc": "file"}})
        (package / "link.py").symlink_to(package / "missing.py")  # dangling: not a file
        (package / "linked").symlink_to(package, target_is_directory=True)  # not walked
        stamped = snapshot_files(package)
        files = fingerprinted_files(package)
        assert stamped_files(package, stamped) == files
        assert stamps_key(files, VERSIONS, stamped) == stamps_key(files, VERSIONS)


def test_the_installed_package_as_a_snapshot_stamped_it(tmp_path: Path) -> None:
    before = unchanged.Snapshot.take(tmp_path, "state/publish.db")  # as `publish build` does
    stamped = {p: s[1:] for p, s in before.stamps.items() if s is not None and s[0] == 1}
    files = fingerprinted_files(PACKAGE)
    assert stamped_files(PACKAGE, stamped) == files
    versions = library_versions()
    made = fingerprint_of(PACKAGE, versions, PACKAGE / "no-such-kept", keep=False)
    assert made == code_fingerprint() == content_fingerprint(files, versions)
    assert fingerprint_of(PACKAGE, versions, PACKAGE / "none", keep=False, stamped=stamped) == made
    # a snapshot that holds none of the package's files (it could not list it): walked here
    assert fingerprint_of(PACKAGE, versions, PACKAGE / "none", keep=False, stamped={}) == made


# Counted in a build run by a fresh process: each os.stat of one module of publish, and each
# listing of the package's own folder (os.scandir, which os.walk uses too).
STAMP_PROBE = """
import atexit, os, sys
from pathlib import Path
import publish

package = str(Path(publish.__file__).resolve().parent)
module, counts = os.path.join(package, "layout.py"), {"stat": 0, "scandir": 0}
real_stat, real_scandir = os.stat, os.scandir

def stat(path, *args, **kwargs):
    counts["stat"] += str(path) == module
    return real_stat(path, *args, **kwargs)

def scandir(path=".", *args, **kwargs):
    counts["scandir"] += str(path) == package
    return real_scandir(path, *args, **kwargs)

os.stat, os.scandir = stat, scandir
atexit.register(lambda: print("counted:", counts["stat"], counts["scandir"]))
from publish.cli.main import cli
try:
    cli(["--root", sys.argv[1], "build", "--today", "2026-12-01"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""


def test_a_build_lists_and_stamps_the_package_once_before_it(tmp_path: Path) -> None:
    """The snapshot of what a build reads stamps publish's files; the code fingerprint is
    made from that listing and those stamps, not from a second walk of the package."""
    essays = {"one": essay_text("One", date="2026-01-01")}
    root = make_site(tmp_path / "site", essays, None, site_settings("minimal"))
    result = subprocess.run(
        [sys.executable, "-c", STAMP_PROBE, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},  # no fingerprint kept
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # stamped once, before the build (not again after it: see `unchanged.keep`); listed once
    assert result.stdout.splitlines()[-1] == "counted: 1 1"
    assert (root / "build" / "site" / "one" / "index.html").is_file()


def test_the_listing_stats_no_file_of_its_own(monkeypatch) -> None:
    stats = []
    real_stat = os.stat

    def counting_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        stats.append(path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    files = fingerprinted_files(PACKAGE)
    monkeypatch.undo()
    assert files == fingerprinted_files(PACKAGE)
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
    from publish.cache import fingerprint as fingerprints

    listed = []
    real_listdir = os.listdir

    def counting_listdir(path: object) -> list[str]:
        listed.append(path)
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", counting_listdir)
    fingerprints._installed.cache_clear()
    fingerprint = fingerprint_of(PACKAGE, library_versions(), fingerprints.KEPT, keep=False)
    monkeypatch.undo()
    assert fingerprint == code_fingerprint()
    assert len(listed) == len(set(listed)) == 1


# --- The kept fingerprint ------------------------------------------------------------------

VERSIONS = ("format", "1.0")
LATER = 10 * RACY_NS  # a moment this far ahead of now sees every file written so far settled


def settled_now() -> int:
    """A `now` at which every file written so far is settled (its times RACY_NS old)."""
    return time.time_ns() + LATER


def small_package(folder: Path) -> Path:
    """A package of a few modules and a packaged template."""
    package = folder / "package"
    make_tree(package, {"a.py": "file", "b.py": "file", "templates": {"t.html": "file"}})
    return package


def opened_under(package: Path, monkeypatch) -> list[str]:
    """The paths under `package` that `open` is asked for from now on (the calls pass)."""
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(path, *args, **kwargs):  # noqa: ANN001, ANN202
        if str(path).startswith(str(package)):
            opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    return opened


def test_a_kept_fingerprint_is_served_without_reading_a_file(tmp_path: Path, monkeypatch) -> None:
    package = small_package(tmp_path)
    kept = package / "__pycache__" / KEPT_NAME
    files = fingerprinted_files(package)
    made = fingerprint_of(package, VERSIONS, kept, now=settled_now())
    assert made == content_fingerprint(files, VERSIONS)
    assert kept.is_file()
    opened = opened_under(package, monkeypatch)
    assert fingerprint_of(package, VERSIONS, kept, now=settled_now()) == made
    assert opened == [str(kept)], "only the kept fingerprint is read"


def test_files_written_within_the_racy_time_are_read_not_kept(tmp_path: Path) -> None:
    """A file written again within a tick of a coarse clock may keep all its times: while a
    file is that new, the fingerprint is made from the bytes every time and never kept."""
    package = small_package(tmp_path)
    kept = package / "__pycache__" / KEPT_NAME
    first = fingerprint_of(package, VERSIONS, kept)  # the files were just written
    assert not kept.exists()
    (package / "a.py").write_text("b.py")  # the same size, within the same tick, maybe
    second = fingerprint_of(package, VERSIONS, kept)
    assert second == content_fingerprint(fingerprinted_files(package), VERSIONS) != first


EDITS = st.sampled_from(["append", "replace", "add", "remove"])


@given(TREES, EDITS, st.randoms(use_true_random=False))
def test_any_change_to_a_file_is_fingerprinted(tree: dict, edit: str, random) -> None:
    """Whatever the files and whichever way one changes (grown, replaced by other bytes of
    the same size and modification time, joined by a new one, removed), the fingerprint
    served is that of the files' bytes now, never the one kept before."""
    with tempfile.TemporaryDirectory() as temporary:
        package = Path(temporary) / "package"
        make_tree(package, {**tree, "a.py": "file"})
        kept = package / "__pycache__" / KEPT_NAME
        before = fingerprint_of(package, VERSIONS, kept, now=settled_now())
        path = Path(random.choice(fingerprinted_files(package))[1])
        if edit == "append":
            with open(path, "a") as file:
                file.write("#")
        elif edit == "replace":
            status, old = path.stat(), path.read_bytes()
            replacement = path.with_name(".replacement")
            replacement.write_bytes(b"x" * len(old) if old != b"x" * len(old) else b"y" * len(old))
            os.utime(replacement, ns=(status.st_atime_ns, status.st_mtime_ns))
            os.replace(replacement, path)
        elif edit == "add":
            path.with_name("added.py").write_text("added")
        else:
            path.unlink()
        after = fingerprint_of(package, VERSIONS, kept, now=settled_now())
        assert after == content_fingerprint(fingerprinted_files(package), VERSIONS) != before


@pytest.mark.parametrize(
    "damage",
    [b"", b"publish code fingerprint 1\n", b"garbage" * 20, "cut", "other key", "longer"],
)
def test_a_damaged_kept_fingerprint_is_never_served(tmp_path: Path, damage) -> None:
    package = small_package(tmp_path)
    kept = package / "__pycache__" / KEPT_NAME
    right = fingerprint_of(package, VERSIONS, kept, now=settled_now())
    data = kept.read_bytes()
    wrong = bytes(32)
    if damage == "cut":
        kept.write_bytes(data[:-1])
    elif damage == "other key":
        kept.write_bytes(data[: len(KEPT_MAGIC)] + bytes(32) + wrong)
    elif damage == "longer":
        kept.write_bytes(data[:-32] + wrong + b"\0")
    else:
        kept.write_bytes(damage)
    assert fingerprint_of(package, VERSIONS, kept, now=settled_now()) == right
    assert kept.read_bytes() == data, "kept again, whole"


def test_nothing_is_kept_where_python_writes_no_bytecode(tmp_path: Path, monkeypatch) -> None:
    """Nothing is written, but what installing kept (`keep_code_fingerprint`) is read."""
    package = small_package(tmp_path)
    kept = package / "__pycache__" / KEPT_NAME
    made = fingerprint_of(package, VERSIONS, kept, keep=False, now=settled_now())
    assert made == content_fingerprint(fingerprinted_files(package), VERSIONS)
    assert not kept.exists()
    fingerprint_of(package, VERSIONS, kept, now=settled_now())
    opened = opened_under(package, monkeypatch)
    assert fingerprint_of(package, VERSIONS, kept, keep=False, now=settled_now()) == made
    assert opened == [str(kept)]


def test_a_folder_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    package = small_package(tmp_path)
    (package / "__pycache__").write_text("a file where the folder would be")
    kept = package / "__pycache__" / KEPT_NAME
    made = fingerprint_of(package, VERSIONS, kept, now=settled_now())
    assert made == content_fingerprint(fingerprinted_files(package), VERSIONS)


def test_the_installed_fingerprint_is_that_of_the_files_bytes() -> None:
    files = fingerprinted_files(PACKAGE)
    assert code_fingerprint() == content_fingerprint(files, library_versions())


def test_installing_keeps_the_fingerprint_that_later_processes_read(tmp_path: Path) -> None:
    kept = tmp_path / KEPT_NAME  # not the package's own __pycache__
    keep_code_fingerprint(kept, now=settled_now())
    key, _ = stamps_key(fingerprinted_files(PACKAGE), library_versions())
    assert read_kept(kept, key) == code_fingerprint()

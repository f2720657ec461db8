"""A rebuild with nothing changed prints the last build's report without building
(`publish.pipeline.unchanged`); any change to anything a build reads or left runs the whole
build, which then writes exactly what a build without the fast path writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import publish.cli.build as build_cli
from bench.generate import generate
from publish.cache.reading import PARALLEL_THRESHOLD as PARSE_THRESHOLD
from publish.pipeline import unchanged
from publish.support import parallel
from tests.sitebuilder import due_since_long_ago, essay_text, invoke, make_site

TODAY = "2026-03-01"
LATER = "2026-03-20"  # the day the third essay comes out


def small_site(root: Path) -> Path:
    """Three essays (the third dated after TODAY), one citing the glossary, and an image."""
    essays = {
        "01-first": essay_text("First", "Hello [[flow]].\n", date="2026-01-05"),
        "02-second": essay_text("Second", "Second body.\n", date="2026-02-02"),
        "03-third": essay_text("Third", "Third body.\n", date=LATER),
    }
    make_site(root, essays=essays)
    (root / "essays" / "picture.txt").write_text("a file beside the essays\n", encoding="utf-8")
    return root


def edit(path: Path, more: str) -> None:
    """Append text to a file."""
    path.write_text(path.read_text(encoding="utf-8") + more, encoding="utf-8")


def retitle(settings: Path) -> None:
    """Give the site another title."""
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('title = "Test Letters"', 'title = "Other"'), "utf-8")


def override_template(root: Path) -> None:
    """A site template that overrides the packaged footer."""
    packaged = Path(build_cli.__file__).parent.parent / "templates" / "footer.html"
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "footer.html").write_text(
        packaged.read_text(encoding="utf-8") + "<!-- the site's own footer -->\n", encoding="utf-8"
    )


CHANGES: dict[str, Callable[[Path], None]] = {
    "essay edited": lambda root: edit(root / "essays" / "02-second.md", "\nOne more line.\n"),
    "essay added": lambda root: (root / "essays" / "04-fourth.md").write_text(
        essay_text("Fourth", "New.\n", date="2026-02-20"), encoding="utf-8"
    ),
    "essay removed": lambda root: (root / "essays" / "02-second.md").unlink(),
    "glossary term edited": lambda root: edit(root / "footnotes" / "flow.md", "\nMore flow.\n"),
    "template added": override_template,
    "settings edited": lambda root: retitle(root / "publish.toml"),
    "static file edited": lambda root: edit(root / "essays" / "picture.txt", "changed\n"),
    "static file added": lambda root: (root / "essays" / "new.txt").write_text("new\n"),
    "releases written": due_since_long_ago,
    "output removed": lambda root: (root / "build" / "site" / "index.html").unlink(),
    "output edited": lambda root: edit(root / "build" / "site" / "index.html", "tampered"),
    "output added": lambda root: (root / "build" / "site" / "stray.html").write_text("x"),
    "output folder removed": lambda root: shutil.rmtree(root / "build" / "site"),
}


def in_order(changes: list[str]) -> list[str]:
    """The changes in an order each can be made in: an essay edited before it is removed,
    a file of the output changed before the whole output folder is removed."""
    return sorted(changes, key=lambda change: (change == "output folder removed", change))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def outputs(root: Path) -> dict[str, dict[str, bytes]]:
    """What the build folders hold (the cache aside)."""
    return {name: tree(root / "build" / name) for name in ("site", "email")}


class Counter:
    """Counts the full builds the command runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = 0
        original = build_cli._full_build

        def counted(*args: object, **kwargs: object) -> object:
            self.full += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(build_cli, "_full_build", counted)


def built(root: Path, today: str = TODAY) -> str:
    """`publish build --today DAY`'s output, which must succeed."""
    result = invoke(root, "build", "--today", today)
    assert result.exit_code == 0, result.output
    return result.output


def test_nothing_changed_prints_the_last_report_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_site(tmp_path / "site")
    counter = Counter(monkeypatch)
    first = built(root)
    second = built(root)
    before = outputs(root)
    third = built(root)
    assert counter.full == 1
    assert first == second == third
    assert outputs(root) == before


def test_a_file_whose_name_is_not_utf_8_is_published_and_rebuilt_without_a_traceback(
    tmp_path: Path,
) -> None:
    """A file beside the essays whose name's bytes are not UTF-8 (as a Latin-1 archive
    leaves them) is published; the manifest of an unchanged rebuild cannot hold its name in
    JSON, so none is kept and each rebuild is a whole one, which is only slower."""
    root = small_site(tmp_path / "site")
    odd = os.fsdecode(b"caf\xe9-menu.txt")
    (root / "essays" / odd).write_text("soup", encoding="utf-8")
    first = built(root)
    assert built(root) == first
    assert (root / "build" / "site" / odd).read_text(encoding="utf-8") == "soup"
    assert not unchanged.manifest_path(root, False).exists()


@settings(max_examples=20)
@given(
    changes=st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=2, unique=True),
    today=st.sampled_from([TODAY, LATER]),
)
def test_any_change_builds_in_full_as_without_the_fast_path(
    tmp_path_factory: pytest.TempPathFactory, changes: list[str], today: str
) -> None:
    root = small_site(tmp_path_factory.mktemp("site"))
    built(root)
    built(root)  # keeps the manifest
    assert unchanged.load(root, preview=False) is not None
    for change in in_order(changes):
        CHANGES[change](root)
    fast_output, fast_files = built(root, today), outputs(root)
    unchanged.manifest_path(root, preview=False).unlink(missing_ok=True)
    assert built(root, today) == fast_output
    assert outputs(root) == fast_files


def test_an_input_changed_while_building_keeps_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_site(tmp_path / "site")
    built(root)
    original = build_cli._full_build

    def edited_meanwhile(*args: object, **kwargs: object) -> object:
        report = original(*args, **kwargs)
        edit(root / "essays" / "02-second.md", "\nWritten while the build ran.\n")
        return report

    monkeypatch.setattr(build_cli, "_full_build", edited_meanwhile)
    edit(root / "essays" / "01-first.md", "\nAn edit: the next build runs in full.\n")
    built(root)
    monkeypatch.setattr(build_cli, "_full_build", original)
    assert unchanged.load(root, preview=False) is None
    built(root)
    assert b"Written while the build ran." in (root / "build/site/second/index.html").read_bytes()


def test_the_cache_switched_off_always_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_site(tmp_path / "site")
    built(root)
    built(root)
    counter = Counter(monkeypatch)
    monkeypatch.setenv("PUBLISH_NO_CACHE", "1")
    built(root)
    assert counter.full == 1


PROBE = """
import sys
from publish.cli.main import cli
try:
    cli(["--root", sys.argv[1], "build", "--today", sys.argv[2]])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
heavy = ("jinja2", "markdown_it", "feedgen", "yaml", "publish.pipeline.build")
print("loaded:", *sorted(name for name in heavy if name in sys.modules))
"""


def test_a_rebuild_with_nothing_changed_loads_neither_templates_nor_markdown(
    tmp_path: Path,
) -> None:
    root = small_site(tmp_path / "site")
    runs = [
        subprocess.run(
            [sys.executable, "-c", PROBE, str(root), TODAY],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        for _ in range(3)
    ]
    assert "jinja2" in runs[0].stdout.splitlines()[-1]
    assert runs[2].stdout.splitlines()[-1] == "loaded:"
    assert runs[2].stdout == runs[1].stdout.replace(runs[1].stdout.splitlines()[-1], "loaded:")


def test_a_database_elsewhere_is_stamped_from_the_build_after_it_is_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_site(tmp_path / "site")
    edit(root / "publish.toml", '\n[state]\ndatabase = "data/letters.db"\n')
    counter = Counter(monkeypatch)
    built(root)  # learns where the database is: keeps no report yet
    built(root)  # stamps it before building
    built(root)
    assert counter.full == 2
    (root / "data").mkdir()  # where the database will be: a build must look again
    built(root)
    assert counter.full == 3


def test_another_checkout_of_publish_builds_in_full(tmp_path: Path) -> None:
    """The same site built by another copy of publish (another checkout, another version)
    is built by that copy, never answered from the other's report."""
    root = small_site(tmp_path / "site")
    package = Path(build_cli.__file__).parent.parent
    other = tmp_path / "other"
    shutil.copytree(package, other / "publish", ignore=shutil.ignore_patterns("__pycache__"))
    marker = other / "publish" / "pipeline" / "build.py"
    marker.write_text(marker.read_text() + "\nprint('the other checkout built it')\n")

    def run(path: Path) -> str:
        env = {**os.environ, "PYTHONPATH": str(path)}
        command = [sys.executable, "-m", "publish", "--root", str(root), "build", "--today", TODAY]
        done = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(package.parent)
    run(package.parent)
    assert "the other checkout built it" in run(other)


def test_a_module_folder_that_changes_builds_in_full(tmp_path: Path) -> None:
    """A library installed, upgraded or removed where modules are found (here a folder on
    PYTHONPATH) changes what a build may run: the next build runs in full."""
    root = small_site(tmp_path / "site")
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    package = Path(build_cli.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": f"{package.parent}:{libraries}"}
    command = [sys.executable, "-c", PROBE, str(root), TODAY]

    def loaded() -> str:
        done = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1]

    loaded()
    assert loaded() == "loaded:"
    (libraries / "newly_installed.py").write_text("")
    assert "jinja2" in loaded()


def test_files_made_in_the_current_folder_keep_the_fast_path(tmp_path: Path) -> None:
    """`python -m publish` looks for modules in the current folder first, but whatever
    else is made there (a temporary folder's neighbours) is no input of the build."""
    root = small_site(tmp_path / "site")
    here = tmp_path / "here"
    here.mkdir()
    package = Path(build_cli.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    command = [sys.executable, "-m", "publish", "--root", str(root), "build", "--today", TODAY]
    manifest = unchanged.manifest_path(root, preview=False)

    def build_here() -> None:
        done = subprocess.run(command, env=env, cwd=here, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    build_here()
    kept = manifest.stat()
    (here / "unrelated.txt").write_text("made by something else")
    build_here()
    assert (manifest.stat().st_ino, manifest.stat().st_mtime_ns) == (
        kept.st_ino,
        kept.st_mtime_ns,
    )  # answered from it, not written again by a full build


def test_a_full_build_reads_the_last_manifest_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command reads the last build's manifest once, both to answer from it and to know
    the database to stamp (it is as large as the site: a stamp of every file)."""
    root = small_site(tmp_path / "site")
    built(root)
    edit(root / "essays" / "02-second.md", "\nOne more line.\n")
    reads = []
    real_load = unchanged.load

    def counted_load(root: Path, preview: bool) -> unchanged.Manifest | None:
        reads.append(preview)
        return real_load(root, preview)

    monkeypatch.setattr(unchanged, "load", counted_load)
    built(root)
    assert reads == [False]


def output_part(stamps: dict[str, unchanged.Stamp | None], root: Path) -> dict[str, object]:
    """The stamps of what lies in the build's output folders (its cache aside)."""
    out = str(root / "build")
    return {
        path: tuple(stamp) if stamp is not None else None
        for path, stamp in stamps.items()
        if path == out or path.startswith((f"{out}/site", f"{out}/email"))
    }


@settings(max_examples=15)
@given(changes=st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=2, unique=True))
def test_the_output_stamps_the_writer_knows_are_the_tree_as_listed_again(
    tmp_path_factory: pytest.TempPathFactory, changes: list[str]
) -> None:
    """The manifest stamps the output folders from the writer's listing before its commit
    and what the commit changed; that is every file and folder as a listing after it finds."""
    root = small_site(tmp_path_factory.mktemp("site"))
    built(root)
    for change in in_order(changes):
        CHANGES[change](root)
    built(root)
    manifest = unchanged.load(root, preview=False)
    assert manifest is not None and manifest.key
    listed = unchanged.output_stamps(unchanged.Outputs(root / "build"))
    assert output_part(manifest.stamps, root) == output_part(listed, root)


def test_a_rebuild_lists_each_folder_of_the_old_site_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's plan and the manifest's output stamps share one listing."""
    root = small_site(tmp_path / "site")
    built(root)
    edit(root / "essays" / "02-second.md", "\nOne more line.\n")
    listed: list[str] = []
    real_scandir = os.scandir

    def counted(path: str) -> object:
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    built(root)
    site = str(root / "build" / "site")
    folders = [path for path in listed if path == site or path.startswith(f"{site}/")]
    assert len(folders) > 3
    assert len(folders) == len(set(folders)), sorted(folders)


def test_a_cold_build_stamps_its_new_tree_from_what_it_wrote_without_listing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new tree's files are stamped as the processes that wrote them found them (their
    status taken where they were written): the manifest's output stamps are the tree as a
    listing finds it, and no folder of it is listed to take them."""
    root = small_site(tmp_path / "site")
    listed: list[str] = []
    real_scandir = os.scandir

    def counted(path: str) -> object:
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    built(root)
    monkeypatch.undo()
    site = str(root / "build" / "site")
    assert [path for path in listed if path == site or path.startswith(f"{site}/")] == []
    manifest = unchanged.load(root, preview=False)
    assert manifest is not None and manifest.key
    again = unchanged.output_stamps(unchanged.Outputs(root / "build"))
    assert len(again) > 10
    assert output_part(manifest.stamps, root) == output_part(again, root)


@pytest.mark.parametrize("cold", [True, False])
def test_a_build_stats_each_essay_file_before_and_after_it_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cold: bool
) -> None:
    """The stamp the command takes before the build keys the essay in the cache too; the one
    after it tells that nothing changed while it ran."""
    root = small_site(tmp_path / "site")
    if not cold:
        built(root)
        edit(root / "essays" / "02-second.md", "\nOne more line.\n")
    essays = str(root / "essays")
    asked: list[str] = []
    real_stat = os.stat

    def counted(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).startswith(essays) and str(path).endswith(".md"):
            asked.append(str(path))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", counted)
    built(root)
    assert len(set(asked)) == 3
    assert len(asked) == 2 * 3, sorted(asked)


def test_a_rebuild_stamps_each_path_before_and_after_it_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever answers or keeps the manifest: a stamp read to answer is the snapshot's, a
    module of publish stamped with its package is not stamped again as a module, nor after
    the build (see `test_publishs_own_files_are_stamped_before_the_build_only`)."""
    root = small_site(tmp_path / "site")
    built(root)
    edit(root / "essays" / "02-second.md", "\nOne more line.\n")
    stamped: list[str] = []
    real_stamp_of = unchanged.stamp_of

    def counted(path: str) -> unchanged.Stamp | None:
        stamped.append(path)
        return real_stamp_of(path)

    monkeypatch.setattr(unchanged, "stamp_of", counted)
    built(root)
    module = str(Path(unchanged.__file__))
    assert stamped.count(module) == 1
    assert max(stamped.count(path) for path in set(stamped)) == 2


def test_publishs_own_files_are_stamped_before_the_build_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's files are stamped before a full build and after it (nothing changed under
    it); publish's own, stamped before it (its code ran as it was loaded), are not stamped
    again: a change to one shows against that stamp all the same."""
    root = small_site(tmp_path / "site")
    stamped: list[str] = []
    real_stamp_of = unchanged.stamp_of

    def counted(path: str) -> unchanged.Stamp | None:
        stamped.append(path)
        return real_stamp_of(path)

    monkeypatch.setattr(unchanged, "stamp_of", counted)
    built(root)
    package = Path(unchanged.__file__).parent.parent
    own = [path for path in stamped if Path(path).is_relative_to(package)]
    assert str(package / "templates" / "essay.html") in own
    assert len(own) == len(set(own)), "each once"
    essay = str(root / "essays" / "02-second.md")
    assert stamped.count(essay) == 2
    assert unchanged.load(root, preview=False) is not None


def test_the_modules_are_stamped_while_the_workers_parse_not_after_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build whose workers parse stamps the modules loaded by then (the libraries: Jinja,
    feedgen, lxml ...) as the parent's last step, for the manifest: keeping it after the
    build stamps only those loaded since. The manifest holds each one's stamp."""
    monkeypatch.setattr(parallel, "can_fork", lambda: True)  # the suite may run threads
    root = generate(PARSE_THRESHOLD + 12, tmp_path / "site")
    in_keep: list[str] = []
    real_stamp_of, real_keep = unchanged.stamp_of, unchanged.keep
    keeping = [False]

    def noted(path: str) -> unchanged.Stamp | None:
        if keeping[0]:
            in_keep.append(path)
        return real_stamp_of(path)

    def keep(*args: object, **kwargs: object) -> bool:
        keeping[0] = True
        try:
            return real_keep(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            keeping[0] = False

    monkeypatch.setattr(unchanged, "stamp_of", noted)
    monkeypatch.setattr(unchanged, "keep", keep)
    built(root, "2030-01-01")
    manifest = unchanged.load(root, preview=False)
    assert manifest is not None and manifest.key
    library = str(Path(jinja2.__file__))
    assert tuple(manifest.stamps[library]) == real_stamp_of(library)
    assert library not in in_keep
    assert not [path for path in in_keep if "site-packages" in path]

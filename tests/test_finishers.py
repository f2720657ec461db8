"""The finishers see each output folder as it will be, between staged and committed: new and
unchanged files alike; what they add is committed with the rest, what they refuse stops the
build with nothing changed, and `check` runs them without writing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from publish.cache.outputs import OutputMemo
from publish.errors import PublishError, error
from publish.outputs.files import Deferred, Reads
from publish.pipeline import finishers
from publish.pipeline.build import BuildOptions, build, check
from publish.pipeline.finishers import Finished, as_folder
from publish.pipeline.writer import OutputFolder, write_tree, write_trees
from tests.sitebuilder import essay_text, make_site

TODAY = date(2026, 12, 1)
ESSAYS = {
    f"0{n}-essay": essay_text(f"Essay {n}", date=f"2026-0{n}-01", slug=f"essay-{n}")
    for n in range(1, 4)
}


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def page_count(site, staged) -> Finished:
    """A finisher like a search index run by a tool over a folder: one file listing the
    site's pages, read from the staged folder written out as a real one."""
    with as_folder(staged["site"]) as folder:
        pages = sorted(p for p in folder.rglob("*.html"))
        listing = "\n".join(f"{p.relative_to(folder).as_posix()} {p.stat().st_size}" for p in pages)
    return Finished(files={"site": {"search/pages.txt": listing}})


def test_a_finisher_sees_new_and_unchanged_files_and_what_it_adds_is_committed(tmp_path):
    target = tmp_path / "site"
    memo = OutputMemo(tmp_path / "memo" / "site.manifest")
    kept = Deferred(Reads("kept"), lambda: "same", "key-1")
    write_tree({"kept.html": kept, "edited.html": "one"}, target, memo)
    memo.save()
    seen = {}

    def finish(staged):
        seen.update({path: staged["site"][path] for path in staged["site"]})
        seen["size"] = staged["site"].size("edited.html")
        return {"site": {"extra/added.txt": b"added"}}

    never = Deferred(Reads("kept"), lambda: pytest.fail("vouched for: never made"), "key-1")
    write_trees(
        [OutputFolder({"kept.html": never, "edited.html": "two!"}, target, memo)], finish=finish
    )
    assert seen == {"kept.html": b"same", "edited.html": b"two!", "size": 4}
    assert tree(target) == {
        "kept.html": b"same",
        "edited.html": b"two!",
        "extra/added.txt": b"added",
    }


def test_a_finisher_adding_a_path_the_build_writes_is_refused(tmp_path):
    target = tmp_path / "site"
    write_tree({"index.html": "old"}, target)
    with pytest.raises(PublishError) as caught:
        write_trees(
            [OutputFolder({"index.html": "new"}, target)],
            finish=lambda staged: {"site": {"index.html": "clash"}},
        )
    assert "written twice" in caught.value.problems[0].message
    assert tree(target) == {"index.html": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"], "staging removed"


def test_a_finishers_files_are_built_and_check_runs_it_without_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(finishers, "FINISHERS", (*finishers.FINISHERS, page_count))
    root = make_site(tmp_path / "site", essays=ESSAYS)
    check(root, BuildOptions(today=TODAY))
    assert not (root / "build" / "site").exists()
    report = build(root, BuildOptions(today=TODAY))
    listing = (report.site_dir / "search" / "pages.txt").read_text(encoding="utf-8").splitlines()
    pages = {line.split()[0]: int(line.split()[1]) for line in listing}
    assert "essay-2/index.html" in pages and "index.html" in pages
    assert (
        pages["essay-2/index.html"] == (report.site_dir / "essay-2" / "index.html").stat().st_size
    )
    essay = root / "essays" / "02-essay.md"
    essay.write_text(essay.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    report = build(root, BuildOptions(today=TODAY))  # an update in place: most files kept
    listing = (report.site_dir / "search" / "pages.txt").read_text(encoding="utf-8").splitlines()
    assert {line.split()[0] for line in listing} == set(pages)


def test_an_error_from_a_finisher_stops_the_build_with_nothing_changed(tmp_path, monkeypatch):
    root = make_site(tmp_path / "site", essays=ESSAYS)
    build(root, BuildOptions(today=TODAY))
    before = tree(root / "build" / "site")

    def refuse(site, staged):
        return Finished(problems=[error("essays/01-essay.md", 3, 1, "the index refuses this")])

    monkeypatch.setattr(finishers, "FINISHERS", (refuse,))
    essay = root / "essays" / "01-essay.md"
    essay.write_text(essay.read_text(encoding="utf-8") + "\nChanged.\n", encoding="utf-8")
    with pytest.raises(PublishError) as caught:
        build(root, BuildOptions(today=TODAY))
    assert [p.format() for p in caught.value.problems][-1] == (
        "essays/01-essay.md:3:1: error: the index refuses this"
    )
    assert tree(root / "build" / "site") == before

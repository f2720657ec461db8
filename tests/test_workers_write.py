"""A cold build's files are made and written by the processes that make them (its workers,
and the parent, which makes runs too): no file's bytes go from one process to another, and the
tree is byte for byte what writing them one at a time in the parent gives (unchanged files
hard-linked from the previous tree alike); a heavy page made in one worker holds up none of
the others, and what the pages load is loaded once, before the workers fork."""

from __future__ import annotations

import functools
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bench.generate import generate
from publish.cache.outputs import OutputMemo
from publish.errors import PublishError
from publish.model import GlossaryEntry
from publish.outputs import feeds
from publish.outputs.files import Content, Deferred, Reads
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.journal import listed_tree
from publish.pipeline.place import PARALLEL_THRESHOLD, Rendering, heaviest_first, shared_runs
from publish.pipeline.writer import OutputFolder, Placing, write_trees
from publish.support import parallel
from publish.support.parallel import weighed_runs

FILES = PARALLEL_THRESHOLD + 24  # enough deferred files for the build to fork its workers


@pytest.fixture(autouse=True)
def forking_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the build fork its workers although the test process runs other threads (a
    browser driver's, a server's, left by earlier tests): the build forks none while another
    thread runs, and these tests are about the workers. Their workers touch no such thread."""
    monkeypatch.setattr(parallel, "can_fork", lambda: True)


_watching: list[tuple[int, Path, list[str]]] = []  # the parent, the folder watched, its writes


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Note each file the watching process opens for writing under the watched folder."""
    if event != "open" or not _watching:
        return
    parent, folder, writes = _watching[-1]
    path, mode, flags = args
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR)
    )
    if os.getpid() == parent and writing and str(path).startswith(str(folder)):
        writes.append(str(path))


sys.addaudithook(_audit)


def _entry(number: int) -> GlossaryEntry:
    return GlossaryEntry(f"t{number}", f"Term {number}", "", (), "", f"footnotes/t{number}.md")


def _page(number: int, listing: int = 0) -> Deferred:
    """A deferred page (listing `listing` glossary entries), made wherever it is asked for."""

    def make() -> Content:
        return f"<p>page {number} é</p>\n" * (number % 7 + 1 + listing)

    return Deferred(Reads(f"page-{number}", entries=tuple(map(_entry, range(listing)))), make)


def _files() -> dict[str, Content | Deferred]:
    """A site's worth of deferred pages in folders of their own, two given contents, and
    two listing pages last."""
    files: dict[str, Content | Deferred] = {f"essay-{n}/index.html": _page(n) for n in range(FILES)}
    files["index.html"] = "<h1>home</h1>"
    files["robots.txt"] = b"User-agent: *\n"
    files["glossary/index.html"] = _page(FILES, listing=3)
    files["archive/index.html"] = _page(FILES + 1, listing=9)
    return files


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _write_in_workers(target: Path, writes: list[str]) -> None:
    """Write `_files()` to `target` as the build does, noting the parent's writes there."""
    folders = [OutputFolder(_files(), target)]
    _watching.append((os.getpid(), target.parent, writes))
    try:
        write_trees(folders, Rendering(folders).place)
    finally:
        _watching.pop()


def _signed_page(number: int) -> Deferred:
    """A deferred page that names the process that made it."""
    return Deferred(Reads(f"page-{number}"), lambda: f"<p>page {number} by {os.getpid()}</p>")


def test_each_file_of_a_cold_build_is_written_by_the_process_that_made_it(tmp_path: Path) -> None:
    target, writes = tmp_path / "build" / "site", []
    files: dict[str, Content | Deferred] = {
        f"essay-{n}/index.html": _signed_page(n) for n in range(FILES)
    }
    folders = [OutputFolder(files, target)]
    _watching.append((os.getpid(), target.parent, writes))
    try:
        write_trees(folders, Rendering(folders).place)
    finally:
        _watching.pop()
    makers = {path: _maker(data) for path, data in _tree(target).items()}
    made_here = {path for path, maker in makers.items() if maker == os.getpid()}
    written_here = {w.split("-new-", 1)[1].split("/", 1)[1] for w in writes if "-new-" in w}
    assert written_here == made_here, "the parent wrote what it made, and only that"
    assert len(set(makers.values())) > 1, "the workers made and wrote the others"
    assert len(makers) == FILES


def _maker(page: bytes) -> int:
    """The process a `_signed_page` names."""
    return int(page.decode().removesuffix("</p>").rsplit(" ", 1)[1])


def test_files_written_by_workers_are_those_written_one_at_a_time(tmp_path: Path) -> None:
    alone, shared = tmp_path / "alone" / "site", tmp_path / "shared" / "site"
    write_trees([OutputFolder(_files(), alone)])
    _write_in_workers(shared, [])
    assert _tree(shared) == _tree(alone)
    before = (shared / "essay-5" / "index.html").stat().st_ino
    _write_in_workers(shared, [])  # the same files again: each hard-linked, not rewritten
    assert (shared / "essay-5" / "index.html").stat().st_ino == before
    assert _tree(shared) == _tree(alone)


def test_the_pages_listing_the_most_are_made_first_the_rest_in_their_order() -> None:
    placings = [Placing(content, Path(path)) for path, content in _files().items()]
    ordered = [placing.path.as_posix() for placing in heaviest_first(placings)]
    assert ordered[:2] == ["archive/index.html", "glossary/index.html"]
    assert ordered[2:] == [p.path.as_posix() for p in placings[:-2]]


def _refused() -> Content:
    raise PublishError.single("essays/bad.md", 3, 1, "this page cannot be made")


def test_a_file_a_worker_cannot_make_stops_the_write_with_nothing_changed(
    tmp_path: Path,
) -> None:
    target = tmp_path / "build" / "site"
    write_trees([OutputFolder({"index.html": "<h1>before</h1>"}, target)])
    files = _files()
    files[f"essay-{FILES // 2}/index.html"] = Deferred(Reads("bad"), _refused)
    folders = [OutputFolder(files, target)]
    with pytest.raises(PublishError) as caught:
        write_trees(folders, Rendering(folders).place)
    assert [(p.path, p.line, p.message) for p in caught.value.problems] == [
        ("essays/bad.md", 3, "this page cannot be made")
    ]
    assert _tree(target) == {"index.html": b"<h1>before</h1>"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["site"], "no staging left"


def _keyed(edition: int) -> dict[str, Content | Deferred]:
    """`_files()` keyed for the output memo: in edition 2 nine pages in ten are new (enough for
    the build to fork its workers), those numbered 1, 11, 21 … stay."""
    files: dict[str, Content | Deferred] = {}
    for path, content in _files().items():
        if not isinstance(content, Deferred):
            files[path] = content
            continue
        number = int(content.reads.kind.removeprefix("page-"))
        new = edition == 2 and number % 10 != 1
        text = f"<p>{path} edition {edition if new else 1}</p>\n"
        files[path] = Deferred(content.reads, lambda text=text: text, f"{path}|{new}")
    return files


def _write_editions(target: Path, in_workers: bool) -> None:
    """Write edition 1 then edition 2 of `_keyed` to `target`, each with the folder's memo."""
    for edition in (1, 2):
        memo = OutputMemo(target.parent / "memo" / "site.manifest")
        folders = [OutputFolder(_keyed(edition), target, memo)]
        if in_workers:
            writes: list[str] = []
            _watching.append((os.getpid(), target.parent, writes))
            try:
                write_trees(folders, Rendering(folders).place)
            finally:
                _watching.pop()
            staged_here = [w for w in writes if "-new-" in w and "essay-" in w]
            # the worker's first run is handed to it before this process takes one of its own,
            # so some pages are staged by it however the two are scheduled (a share would not
            # be: on a busy machine this process may stage nearly all the others)
            assert len(staged_here) < FILES, "the workers staged the others"
        else:
            write_trees(folders)
        memo.save()
        if edition == 1:
            kept = (target / "essay-1" / "index.html").stat().st_ino
    assert (target / "essay-1" / "index.html").stat().st_ino == kept, "vouched: left in place"


def test_an_update_staged_by_workers_is_the_one_staged_in_turn(tmp_path: Path) -> None:
    alone, shared = tmp_path / "alone" / "site", tmp_path / "shared" / "site"
    _write_editions(alone, in_workers=False)
    _write_editions(shared, in_workers=True)
    assert _tree(shared) == _tree(alone)
    assert _tree(shared)["essay-3/index.html"] == b"<p>essay-3/index.html edition 2</p>\n"
    assert _tree(shared)["essay-11/index.html"] == b"<p>essay-11/index.html edition 1</p>\n"


def _made_once_the_rest_are(target: Path) -> Content:
    """The archive page, made only once every other deferred page is staged (or a failure
    after a minute): it stands for a page so heavy the other workers make everything else
    while one makes it."""
    deadline = time.monotonic() + 60
    while len(list(target.parent.glob(f".{target.name}-new-*/essay-*/index.html"))) < FILES:
        assert time.monotonic() < deadline, "the other pages waited for the heaviest one"
        time.sleep(0.01)
    return "<h1>archive</h1>"


def test_the_heaviest_page_holds_up_no_other_worker(tmp_path: Path) -> None:
    target = tmp_path / "build" / "site"
    files = _files()
    archive = files["archive/index.html"]
    assert isinstance(archive, Deferred)
    files["archive/index.html"] = Deferred(
        archive.reads, functools.partial(_made_once_the_rest_are, target)
    )
    folders = [OutputFolder(files, target)]
    write_trees(folders, Rendering(folders).place)
    assert (target / "archive" / "index.html").read_text() == "<h1>archive</h1>"
    assert len(_tree(target)) == FILES + 4


_loaded_by: list[int] = []  # the processes that loaded what the pages need, in order


def _load_once() -> None:
    _loaded_by.append(os.getpid())


def test_what_the_pages_load_is_loaded_once_before_the_workers_fork(tmp_path: Path) -> None:
    files: dict[str, Content | Deferred] = {
        f"essay-{n}/index.html": Deferred(
            Reads(f"page-{n}"), lambda: repr(_loaded_by), loads=_load_once
        )
        for n in range(FILES)
    }
    folders = [OutputFolder(files, tmp_path / "site")]
    _loaded_by.clear()
    write_trees(folders, Rendering(folders).place)
    pages = {page.read_text() for page in (tmp_path / "site").glob("*/index.html")}
    assert pages == {repr([os.getpid()])}, "each worker found it loaded, by the parent alone"


def test_contents_that_share_what_they_make_come_first_together_in_one_run() -> None:
    """The feeds share the items they make (`Deferred.shares`): they come first, together,
    in their order, and are one run, so that one process makes them all; the rest are ordered
    and cut into runs as before."""
    shared = object()
    files = _files()
    sharing = {f"feed-{n}.xml": _sharing_page(n, shared) for n in range(5)}
    files = {**dict(list(files.items())[:7]), **sharing, **dict(list(files.items())[7:])}
    placings = [Placing(content, Path(path)) for path, content in files.items()]
    ordered = [placing.path.as_posix() for placing in heaviest_first(placings)]
    assert ordered[:7] == [*sharing, "archive/index.html", "glossary/index.html"]
    values = [files[path] for path in ordered]
    runs = shared_runs(values, 2, 4)
    assert runs[0] == len(sharing)
    alone = [1 + len(v.reads.entries) if isinstance(v, Deferred) else 1 for v in values[5:]]
    assert runs[1:] == weighed_runs(alone, 2, 4)


def _sharing_page(number: int, shared: object) -> Deferred:
    """A deferred page sharing what it makes with the others sharing `shared`, naming the
    process that made it."""
    return Deferred(
        Reads(f"feed-{number}"), lambda: f"<p>feed {number} by {os.getpid()}</p>", shares=shared
    )


def test_the_feeds_of_a_cold_build_are_made_by_one_process(tmp_path: Path) -> None:
    """Every feed is made in one process, which makes each essay's item once: made in two,
    most items would be made in both."""
    root = generate(PARALLEL_THRESHOLD + 12, tmp_path / "site")
    made_by = tmp_path / "feeds-made-by"
    real = feeds._generator

    def noted(*args: Any, **kwargs: Any) -> Any:
        with made_by.open("a") as note:
            note.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(feeds, "_generator", noted)
        build(root, BuildOptions(today=date(2030, 1, 1)))
    pids = made_by.read_text().split()
    assert len(pids) > 5 and len(set(pids)) == 1, pids
    assert (root / "build" / "site" / "feed.xml").is_file()


def test_a_new_tree_is_left_with_the_status_its_writers_found(tmp_path: Path) -> None:
    """A tree staged where there was none is known, file by file, from the status each
    process took where it wrote the file (and each folder read once it is in place): the
    status a listing of the tree finds, without listing it."""
    target = tmp_path / "build" / "site"
    folders = [OutputFolder(_files(), target)]
    left = write_trees(folders, Rendering(folders).place)
    listed = listed_tree(target).status
    assert len(listed) > FILES
    assert {path: _stamp(status) for path, status in left[str(target)].items()} == {
        path: _stamp(status) for path, status in listed.items()
    }


def _stamp(status: os.stat_result) -> tuple[int, ...]:
    """What the manifest of an unchanged rebuild keeps of a status."""
    return (status.st_mode, status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino)

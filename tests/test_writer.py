"""Tests for the writer: checked paths, refused duplicates, readable modes, the build lock,
and one atomic commit of both folders that survives a kill at any moment."""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.generate import generate
from publish.cache import store as cache_store
from publish.cache.outputs import OutputMemo
from publish.errors import PublishError
from publish.layout import CACHE_DIR
from publish.outputs.files import Deferred, Reads, merge_outputs
from publish.pipeline import journal
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.writer import OutputFolder, write_tree, write_trees
from publish.support import parallel
from publish.support.testhooks import HOLD, HOOK_ENV, hook_value
from tests.sitebuilder import due_since_long_ago
from tests.tools import free_port, requires

REPO = Path(__file__).parent.parent
TODAY = date(2030, 1, 1)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under folder, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_writes_exactly_the_files_given(tmp_path: Path) -> None:
    target = tmp_path / "build" / "site"
    write_tree({"index.html": "<p>é</p>", "a/b/c.bin": b"\x00\x01"}, target)
    write_tree({"index.html": "new"}, target)
    assert tree(target) == {"index.html": b"new"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["site"], "no staging left"


def test_a_staged_tree_asks_for_each_new_folder_once_and_none_that_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each folder of a new tree is made once, by the first file that needs it; a file whose
    folder exists (the tree's top, a folder made for an earlier file) asks for no `mkdir`."""
    asked: list[str] = []
    real_mkdir = os.mkdir

    def mkdir(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        asked.append(os.fspath(path))
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    files = {
        "index.html": "top",
        "feed.xml": "top too",
        "essay/index.html": "one",
        "tags/a/index.html": "a",
        "tags/a/feed.xml": "a's feed",
        "tags/b/index.html": "b",
        "tags/index.html": "tags",
    }
    target = tmp_path / "build" / "site"
    target.parent.mkdir()
    monkeypatch.setattr(os, "mkdir", mkdir)
    write_tree(files, target)
    monkeypatch.undo()
    assert tree(target) == {path: text.encode() for path, text in files.items()}
    staged = [Path(path) for path in asked if ".site-new-" in path]
    staging = next(path for path in staged if path.name.startswith(".site-new-"))
    inside = sorted(path.relative_to(staging).as_posix() for path in staged if path != staging)
    assert inside == ["essay", "tags", "tags/a", "tags/b"]


def test_files_staged_before_the_file_that_makes_their_folder_are_written(
    tmp_path: Path,
) -> None:
    """Staged in any order (as workers stage a tree's files), every file is written: one
    whose folder's maker comes later makes the folder itself, and the maker finds it made."""
    from publish.pipeline.placing import place

    def backwards(placings):  # type: ignore[no-untyped-def]
        stamps = {id(placing): place(placing) for placing in reversed(placings)}
        return [stamps[id(placing)] for placing in placings]

    files = {
        "tags/a/index.html": "a",
        "tags/a/feed.xml": "a's feed",
        "tags/b/deep/index.html": "deep",
        "tags/index.html": "tags",
        "essay/index.html": "essay",
        "essay/images/a.svg": "<svg/>",  # its folder's parent is the page's to make
        "feed.xml": "feed",
    }
    target = tmp_path / "build" / "site"
    write_trees([OutputFolder(files, target)], stage=backwards)
    assert tree(target) == {path: text.encode() for path, text in files.items()}
    assert_modes(target, _current_umask())


def _current_umask() -> int:
    """This process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


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
    target.rename(journal.old_path(target))  # a crash after setting the old tree aside
    journal.recover_interrupted_swap(target)
    assert tree(target) == {"index.html": b"old"}
    target.rename(journal.old_path(target))
    write_tree({"index.html": "new"}, target)  # the next build recovers, then swaps
    assert tree(target) == {"index.html": b"new"}
    assert not journal.old_path(target).exists()


def test_left_over_old_tree_beside_a_new_one_is_cleared(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_tree({"index.html": "current"}, target)
    journal.old_path(target).mkdir()
    (journal.old_path(target) / "stale.html").write_text("stale")
    write_tree({"index.html": "next"}, target)
    assert tree(target) == {"index.html": b"next"}
    assert not journal.old_path(target).exists()


# --- Updating in place, with the output memo -----------------------------------------


def memo_for(tmp_path: Path) -> OutputMemo:
    """An output memo kept beside the trees of a test."""
    return OutputMemo(tmp_path / "memo" / "site.manifest")


def keyed(content: str | Callable[[], str], key: str = "k") -> Deferred:
    """A deferred content with a fixed key (made by `content` when it is a function)."""
    make = content if callable(content) else lambda: content
    return Deferred(Reads("test"), make, key)


def write_with_memo(files: dict, target: Path, tmp_path: Path) -> None:
    """One build's write: the memo loaded, the tree written, the memo saved."""
    memo = memo_for(tmp_path)
    write_tree(files, target, memo)
    memo.save()


def test_update_in_place_writes_exactly_the_files_given(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo(
        {"a/index.html": keyed("a"), "b/index.html": "b", "c/d/e.html": "e"}, target, tmp_path
    )
    (target / "stray.html").write_text("left by hand")
    write_with_memo({"a/index.html": keyed("a"), "f/index.html": keyed("f", "f")}, target, tmp_path)
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

    write_with_memo({"kept.html": keyed(refuse), "edited.html": keyed("two")}, target, tmp_path)
    assert tree(target) == {"kept.html": b"one", "edited.html": b"two"}
    assert (target / "kept.html").stat().st_ino == inode


def test_an_update_in_place_shows_its_finishers_the_kept_files_without_a_path_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "site"
    files = {f"{n}/index.html": keyed(f"page {n}", str(n)) for n in range(40)}
    write_with_memo(files, target, tmp_path)
    joined: list[str] = []
    real = PurePath.__truediv__

    def counted(self: PurePath, other: str) -> PurePath:
        joined.append(str(other))
        return real(self, other)

    seen: dict[str, tuple[bytes, int]] = {}

    def finish(staged):
        view = staged["site"]
        seen.update({path: (view[path], view.size(path)) for path in view})
        return {}

    memo = memo_for(tmp_path)
    monkeypatch.setattr(PurePath, "__truediv__", counted)
    write_trees([OutputFolder(files, target, memo)], finish=finish)
    monkeypatch.undo()
    assert seen == {f"{n}/index.html": (b"page %d" % n, len(b"page %d" % n)) for n in range(40)}
    assert [path for path in joined if path.endswith("index.html")] == []


def test_failure_while_making_leaves_the_tree_untouched(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"index.html": keyed("old"), "a/page.html": "old page"}, target, tmp_path)

    def broken() -> str:
        raise PublishError.single("templates/essay.html", 1, 1, "template error: broken")

    with pytest.raises(PublishError):
        write_tree(
            {"index.html": keyed(broken, "new"), "b/new.html": "new"}, target, memo_for(tmp_path)
        )
    assert tree(target) == {"index.html": b"old", "a/page.html": b"old page"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo", "site"], "staging removed"


def test_interrupted_commit_is_finished(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"index.html": "old", "gone.html": "old"}, target, tmp_path)
    staging = tmp_path / ".site-new-test"
    staging.mkdir()
    (staging / "0").write_text("new")
    journal.write_journal(
        tmp_path,
        {
            "changes": [
                {
                    "kind": "update",
                    "folder": "site",
                    "staging": staging.name,
                    "moves": ["a/index.html"],
                    "removes": ["gone.html"],
                }
            ]
        },
    )
    journal.recover_interrupted_commit(tmp_path)  # as the next build does first
    assert tree(target) == {"index.html": b"old", "a/index.html": b"new"}
    assert not staging.exists() and not journal.journal_path(tmp_path).exists()


def test_a_per_folder_journal_left_by_an_older_version_is_finished(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"index.html": "old", "gone.html": "old"}, target, tmp_path)
    staging = tmp_path / ".site-new-legacy"
    staging.mkdir()
    (staging / "0").write_text("new")
    (tmp_path / ".site-commit.json").write_text(
        json.dumps({"staging": staging.name, "moves": ["index.html"], "removes": ["gone.html"]})
    )
    write_with_memo({"index.html": "new", "more.html": "more"}, target, tmp_path)
    assert tree(target) == {"index.html": b"new", "more.html": b"more"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo", "site"]


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "update", "folder": "site", "staging": "..", "moves": [], "removes": []},
        {"kind": "update", "folder": "site", "staging": ".site-new-x", "removes": ["index.html"]},
        {"kind": "swap", "folder": "..", "staging": ".site-new-x"},
        ["not", "a", "change"],
    ],
)
def test_damaged_commit_journal_is_dropped_untouched(tmp_path: Path, change: object) -> None:
    target = tmp_path / "site"
    write_with_memo({"index.html": "old"}, target, tmp_path)
    journal.journal_path(tmp_path).write_text(json.dumps({"changes": [change]}))
    journal.recover_interrupted_commit(tmp_path)
    assert tree(target) == {"index.html": b"old"}
    assert tmp_path.exists() and not journal.journal_path(tmp_path).exists()


def test_file_becoming_a_folder_swaps_a_new_tree(tmp_path: Path) -> None:
    target = tmp_path / "site"
    write_with_memo({"tags": "a file", "index.html": "x"}, target, tmp_path)
    write_with_memo({"tags/index.html": keyed("a folder now"), "index.html": "x"}, target, tmp_path)
    assert tree(target) == {"tags/index.html": b"a folder now", "index.html": b"x"}


# --- Modes a web server can read ------------------------------------------------------


def assert_modes(folder: Path, umask: int) -> None:
    """Every folder under `folder` (itself included) is 0o777 and every file 0o666, less
    the umask."""
    checked = 0
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == wanted, f"{path.relative_to(folder)}: {oct(mode)}, not {oct(wanted)}"
        checked += 1
    assert checked > 10


def edit_essay(root: Path, number: int, text: str) -> None:
    """Append a paragraph to one generated essay."""
    path = root / "essays" / f"{number:05d}.md"
    path.write_text(path.read_text(encoding="utf-8") + f"\n{text}\n", encoding="utf-8")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_output_modes_follow_the_umask_on_every_kind_of_write(tmp_path, monkeypatch, umask):
    root = due_since_long_ago(generate(4, tmp_path / "site"))  # due: the emails are built
    previous = os.umask(umask)
    try:
        build(root, BuildOptions(today=TODAY))  # a first build: a new tree swapped in
        for output in ("site", "email"):
            assert_modes(root / "build" / output, umask)
        (root / "build" / "site").chmod(0o700)  # as builds before this fix left it
        edit_essay(root, 2, "A paragraph for the in-place update.")
        build(root, BuildOptions(today=TODAY))  # the memo allows an update in place
        for output in ("site", "email"):
            assert_modes(root / "build" / output, umask)
        monkeypatch.setenv(cache_store.NO_CACHE_ENV, "1")
        edit_essay(root, 3, "A paragraph for the swap.")
        build(root, BuildOptions(today=TODAY))  # no memo: a whole new tree swapped in
        for output in ("site", "email"):
            assert_modes(root / "build" / output, umask)
    finally:
        os.umask(previous)


@pytest.fixture
def public_folder() -> Iterator[Path]:
    """A folder under /tmp that any user may enter (pytest's own tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="publish-public-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_a_web_server_running_as_nobody_serves_the_built_site(public_folder):
    python = requires("system-python3")["system-python3"]
    root = generate(3, public_folder / "site")
    previous = os.umask(0o022)
    try:
        build(root, BuildOptions(today=TODAY))
    finally:
        os.umask(previous)
    port = free_port()
    server = subprocess.Popen(
        [
            python,
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(root / "build" / "site"),
            str(port),
        ],
        user="nobody",
        group="nogroup",
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        for path in ("/", "/essay-00001/", "/style.css", "/feed.xml", "/archive/"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
                assert reply.status == 200, path
                assert reply.read()
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for_port(port: int, seconds: float = 15) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


# --- Killed builds: one commit for both folders, no workers or staging left behind ------


@dataclass(frozen=True)
class Builds:
    """A generated site built once (old), and what the edited site builds to (new)."""

    base: Path
    edit: Path
    old: tuple[dict[str, bytes], dict[str, bytes]]
    new: tuple[dict[str, bytes], dict[str, bytes]]


def outputs(root: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The built site and emails of a root."""
    return tree(root / "build" / "site"), tree(root / "build" / "email")


def apply_edit(root: Path) -> None:
    """Change a title, add a paragraph, remove one essay and add another."""
    path = root / "essays" / "00010.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace('title: "', 'title: "Retitled ', 1),
        encoding="utf-8",
    )
    edit_essay(root, 30, "A new closing paragraph.")
    (root / "essays" / "00020.md").unlink()
    (root / "essays" / "00099.md").write_text(
        '---\ntitle: "A late addition"\ndate: 2029-06-01\n---\nA short new essay.\n',
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    """Sixty generated essays (enough for the forked workers), built; and the edited site's
    build, made apart."""
    folder = tmp_path_factory.mktemp("builds")
    base = generate(60, folder / "base")
    build(base, BuildOptions(today=TODAY))
    edited = folder / "edited"
    shutil.copytree(base, edited, symlinks=True)
    apply_edit(edited)
    build(edited, BuildOptions(today=TODAY))
    assert outputs(base) != outputs(edited)
    return Builds(base, edited, outputs(base), outputs(edited))


def copy_for_test(builds: Builds, target: Path, variant: str) -> tuple[Path, dict[str, str]]:
    """A copy of the old site with the edit applied, and the environment of its build.

    "update": the caches are warm (an update in place); "cold": no cache (every essay
    parsed by forked workers, every file rendered by them); "swap": caching off (new trees
    swapped in).
    """
    root = target / "site"
    outputs_of = {builds.base / "build" / name for name in ("site", "email")}
    shutil.copytree(
        builds.base,
        root,
        symlinks=True,
        ignore=lambda folder, names: names if Path(folder) in outputs_of else [],
    )
    for name in ("site", "email"):  # linked, as the writer never writes into a file in place:
        shutil.copytree(
            builds.base / "build" / name,
            root / "build" / name,  # the memo holds
            copy_function=os.link,
            dirs_exist_ok=True,
        )
    apply_edit(root)
    env = {k: v for k, v in os.environ.items() if k not in (HOOK_ENV, cache_store.NO_CACHE_ENV)}
    if variant == "cold":
        shutil.rmtree(root / CACHE_DIR)
    elif variant == "swap":
        env[cache_store.NO_CACHE_ENV] = "1"
    return root, env


def start_build(root: Path, env: dict[str, str], hold: str | None = None) -> subprocess.Popen:
    """A real `publish build` in its own process group, optionally held at a step."""
    if hold is not None:
        env = {**env, HOOK_ENV: hook_value(HOLD, hold)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publish",
            "--root",
            str(root),
            "build",
            "--today",
            TODAY.isoformat(),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        bufsize=0,
    )  # unbuffered: see wait_for_hold


def wait_for_hold(process: subprocess.Popen, step: str, count: int = 1) -> list[int]:
    """Read the build's stderr until `count` processes say they hold at `step`; their pids.

    The pipe is unbuffered, so a line `poll` has not seen never waits in a buffer."""
    assert process.stderr is not None
    pids: list[int] = []
    seen = b""
    deadline = time.monotonic() + 90
    poller = select.poll()  # not select.select: the suite may hold descriptors past 1024
    poller.register(process.stderr, select.POLLIN)
    while len(pids) < count:
        ready = poller.poll(max(0, deadline - time.monotonic()) * 1000)
        line = process.stderr.readline() if ready else b""
        seen += line
        if not line:
            raise AssertionError(f"the build never held at {step}: {seen.decode()}")
        if line.startswith(f"holding at {step} in process ".encode()):
            pids.append(int(line.split()[-1]))
    return pids


def group_members(group: int) -> list[int]:
    """The live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry))
    return members


def kill_build(process: subprocess.Popen) -> None:
    """kill -9 the build's own process (not its group), reap it, and check that nothing of
    its process group outlives it; whatever does is killed, and the test fails."""
    process.kill()
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while (left := group_members(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        os.killpg(process.pid, signal.SIGKILL)
    assert left == [], f"processes outlived the killed build: {left}"


def assert_recovers(root: Path, builds: Builds, expected: str | None) -> None:
    """After the kill, recovery shows all of the old build or all of the new one (the one
    `expected` names, if given); the next build then leaves nothing else in build/."""
    journal.recover_interrupted_commit(root / "build")
    found = outputs(root)
    assert found in (builds.old, builds.new), "a mix of the old and the new build"
    if expected is not None:
        assert found == (builds.old if expected == "old" else builds.new)
    build(root, BuildOptions(today=TODAY))
    assert outputs(root) == builds.new
    left = {p.name for p in (root / "build").iterdir()} - {".lock"}
    assert left == {".cache", "email", "site"}, "staging folders or a journal were left"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "step", "expected"),
    [
        ("update", "staged", "old"),
        ("update", "journal", "new"),
        ("update", "half-committed", "new"),
        ("update", "committed", "new"),
        ("swap", "staged", "old"),
        ("swap", "half-committed", "new"),
    ],
)
def test_a_build_killed_at_each_step_leaves_one_whole_build(
    builds, tmp_path, variant, step, expected
):
    root, env = copy_for_test(builds, tmp_path, variant)
    process = start_build(root, env, hold=step)
    try:
        wait_for_hold(process, step)
    finally:
        kill_build(process)
    assert_recovers(root, builds, expected)


@pytest.mark.slow
def test_forked_workers_die_with_a_killed_build(builds, tmp_path):
    root, env = copy_for_test(builds, tmp_path, "cold")
    process = start_build(root, env, hold="worker")
    workers = min(os.cpu_count() or 1, parallel.MAX_WORKERS) - 1  # the build makes runs too
    assert workers >= 1, "this test needs two cores to fork workers"
    try:
        pids = wait_for_hold(process, "worker", count=workers)
        assert process.pid not in pids and len(set(pids)) == workers, "workers were forked"
        assert set(pids) <= set(group_members(process.pid))
    finally:
        kill_build(process)
    assert_recovers(root, builds, "old")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["update", "cold", "swap"])
def test_a_build_killed_at_a_random_moment_leaves_one_whole_build(builds, tmp_path, variant):
    chance = random.Random(f"{variant}-{os.getpid()}")
    root, env = copy_for_test(builds, tmp_path, variant)
    started = time.monotonic()
    timing = start_build(root, env)  # one whole run, to learn how long this build takes
    assert timing.wait(timeout=120) == 0
    took = time.monotonic() - started
    root, env = copy_for_test(builds, tmp_path / "killed", variant)
    process = start_build(root, env)
    time.sleep(chance.uniform(0.3, 1.0) * took)  # start-up takes the first third or so
    kill_build(process)
    assert_recovers(root, builds, None)


def test_a_second_build_while_one_runs_fails_clearly(builds, tmp_path):
    root, env = copy_for_test(builds, tmp_path, "update")
    first = start_build(root, env, hold="staged")
    try:
        wait_for_hold(first, "staged")
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "publish",
                "--root",
                str(root),
                "build",
                "--today",
                TODAY.isoformat(),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        kill_build(first)
    assert second.returncode == 1
    assert "another build is running" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert_recovers(root, builds, "old")


# --- File-system calls ------------------------------------------------------------------


@pytest.fixture
def stats_under(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], list[str]]:
    """The paths under a folder that this process stat'ed or lstat'ed (by name) since."""
    seen: list[str] = []
    for name in ("stat", "lstat"):
        real = getattr(os, name)

        def spy(path, *args, real=real, **kwargs):
            seen.append(os.fspath(path) if isinstance(path, (str, os.PathLike)) else "")
            return real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)

    def under(folder: Path) -> list[str]:
        found = [path for path in seen if path.startswith(f"{folder}/")]
        seen.clear()
        return found

    return under


def test_the_writer_stats_each_output_at_most_once(tmp_path, monkeypatch, stats_under):
    root = generate(12, tmp_path / "site")
    monkeypatch.setattr("publish.pipeline.place.PARALLEL_THRESHOLD", 10**9)  # all here
    build_dir = root / "build"
    build(root, BuildOptions(today=TODAY))
    cold = stats_under(build_dir / "site") + [
        p for p in stats_under(build_dir) if "/.site-new-" in p and not p.endswith("-new-")
    ]
    assert len(cold) <= 2, "no stat of a file of the new or the absent tree"
    outputs = [p for p in (build_dir / "site").rglob("*") if p.is_file()]
    edit_essay(root, 5, "A paragraph that changes one page.")
    stats_under(build_dir)
    build(root, BuildOptions(today=TODAY))
    rebuilt = stats_under(build_dir / "site")
    assert len(rebuilt) <= len(outputs) + 4, "one stat an output, none a folder"


def walked_listing(target: Path) -> tuple[set[str], set[str]]:
    """The full path: every file and folder under `target` as `os.walk` finds them."""
    files, folders = set(), {"."}
    for folder, subfolders, names in os.walk(target):
        relative = os.path.relpath(folder, target).replace(os.sep, "/")
        prefix = "" if relative == "." else f"{relative}/"
        folders.update(prefix + name for name in subfolders)
        files.update(prefix + name for name in names)
    return files, folders


LISTED = st.recursive(
    st.dictionaries(st.sampled_from(["a", "b.html", "c", "link", "dangling"]), st.just("file")),
    lambda children: st.dictionaries(st.sampled_from(["a", "d", "e.f"]), children, max_size=3),
    max_leaves=12,
)


def make_listed(folder: Path, tree: dict, elsewhere: Path) -> None:
    """Files, folders and links (to a folder elsewhere, or to nothing) as `tree` names them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, child in tree.items():
        if isinstance(child, dict):
            make_listed(folder / name, child, elsewhere)
        elif name == "link":
            (folder / name).symlink_to(elsewhere)
        elif name == "dangling":
            (folder / name).symlink_to(elsewhere / "missing")
        else:
            (folder / name).write_text(name)


@given(LISTED)
def test_a_trees_listing_is_the_one_os_walk_gives(tree: dict) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        target, elsewhere = Path(temporary) / "site", Path(temporary) / "elsewhere"
        (elsewhere / "inside").mkdir(parents=True)
        make_listed(target, tree, elsewhere)
        assert journal.tree_listing(target) == walked_listing(target)


def test_listing_a_tree_asks_nothing_of_each_folder(tmp_path, monkeypatch) -> None:
    target = tmp_path / "site"
    for number in range(20):
        (target / f"essay-{number}").mkdir(parents=True)
        (target / f"essay-{number}" / "index.html").write_text("page")
    asked: list[object] = []
    real_lstat = os.lstat

    def counting_lstat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        asked.append(path)
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", counting_lstat)
    files, folders = journal.tree_listing(target)
    monkeypatch.undo()
    assert len(files) == 20 and len(folders) == 21
    assert asked == [], "the listings tell folders, files and links apart"


LEFT_NAMES = st.tuples(
    st.sampled_from(
        ["", "site", ".site-new", ".site-new-", ".email-new-", f".{journal.JOURNAL_NAME}"]
    ),
    st.text(alphabet=".-abmnptw", max_size=6),
    st.sampled_from(["", ".tmp", "tmp"]),
).map("".join)


@given(names=st.lists(LEFT_NAMES, max_size=8, unique=True))
def test_what_killed_builds_left_is_removed_and_nothing_else(names: list[str]) -> None:
    """Beside the output folders, each staging folder (`.<folder>-new-*`) and half-written
    journal (`.<journal>.*.tmp`) is removed, whatever else lies there is kept: as the patterns
    `pathlib.Path.glob` matches, from one listing of the folder."""
    leftovers = [".site-new-abc", ".email-new-", f".{journal.JOURNAL_NAME}.123.tmp"]
    with tempfile.TemporaryDirectory() as folder:
        parent = Path(folder)
        for name in {*names, *leftovers} - {"", ".", ".."}:
            (parent / name).mkdir() if "new" in name else (parent / name).write_text("x")
        matched = {
            p.name
            for pattern in (".site-new-*", ".email-new-*", f".{journal.JOURNAL_NAME}.*.tmp")
            for p in parent.glob(pattern)
        }
        before = set(os.listdir(parent))
        journal.remove_leftovers(parent, ["site", "email"])
        assert set(os.listdir(parent)) == before - matched
        assert not set(os.listdir(parent)) & set(leftovers)

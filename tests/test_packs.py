"""The essay records in packs (publish.cache.packs): a few files however many essays, each
written by one process; a damaged, torn or removed pack never served; a killed build's pack
used up to its torn record; garbage compacted with the outputs unchanged; the templates of a
kept environment loaded once, an edited one still seen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import generate
from publish.cache import bodies, packs
from publish.cache import outputs as cache_outputs
from publish.cache import records as cache_records
from publish.cache import store as cache_store
from publish.cache.reading import PARALLEL_THRESHOLD as PARSE_THRESHOLD
from publish.layout import CACHE_DIR
from publish.outputs.templates import PACKAGE_TEMPLATES
from publish.pipeline import place
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load
from publish.support import parallel
from publish.support.testhooks import CRASH, HOOK_ENV, hook_value
from tests.cachepacks import pack_files, records, scanned
from tests.test_cache import (
    REPO,
    TODAY,
    build_in_a_fresh_process,
    fork_width,
    generated,
    same_tree,
)


def uncached_twin(root: Path, target: Path) -> Path:
    """A copy of the site's files built without the cache: what every build must equal."""
    shutil.copytree(root, target, ignore=shutil.ignore_patterns("build"))
    with mock.patch.dict(os.environ, {cache_store.NO_CACHE_ENV: "1"}):
        build(target, BuildOptions(today=TODAY))
    return target


def same_outputs(left: Path, right: Path) -> bool:
    """Whether two sites' built folders hold the same bytes."""
    return all(same_tree(left / "build" / n, right / "build" / n) for n in ("site", "email"))


def append_line(root: Path, number: int, words: str) -> None:
    """Append a line to the `number`th essay of the site (in name order)."""
    found = sorted((root / "essays").glob("*.md"))
    path = found[number % len(found)]
    path.write_text(path.read_text(encoding="utf-8") + f"\n{words}\n", encoding="utf-8")


def test_a_cold_build_keeps_its_records_in_one_pack_a_worker(tmp_path):
    root = generated(12, tmp_path / "site")
    workers = build_in_a_fresh_process(root, parse_threshold=2, render_threshold=10**9)
    assert len(workers) == fork_width()
    folder = root / CACHE_DIR / "essays"
    assert len(list(folder.iterdir())) <= len(workers) + 1, "a pack a parsing process, not an essay"
    assert len(records(root)) == 12
    assert {r.pack for r in records(root)} == set(pack_files(root))
    assert sorted(r.key for r in scanned(root)) == sorted(r.key for r in records(root))


def test_a_build_killed_in_the_middle_of_an_append_leaves_a_cache_the_next_build_uses(
    tmp_path, parsed
):
    root = generate(12, tmp_path / "site")  # fewer than the workers' threshold: one writer
    killed = subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(root), "build", "--today", str(TODAY)],
        cwd=REPO,
        env={**os.environ, HOOK_ENV: hook_value(CRASH, "pack-append", 7)},
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    [pack] = pack_files(root)
    assert len(scanned(root)) == 6, "six whole records, then a torn one"
    build(root, BuildOptions(today=TODAY))
    assert len(parsed) == 6, "the six whole records were used"
    assert same_outputs(root, uncached_twin(root, tmp_path / "fresh"))
    parsed.clear()
    build(root, BuildOptions(today=TODAY))
    assert parsed == [] and len(records(root)) == 12


def test_a_worker_killed_in_the_middle_of_an_append_fails_the_build_cleanly(tmp_path):
    root = generate(PARSE_THRESHOLD + 12, tmp_path / "site")  # parsed in forked workers
    killed = subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(root), "build", "--today", str(TODAY)],
        cwd=REPO,
        env={**os.environ, HOOK_ENV: hook_value(CRASH, "pack-append", 3)},  # in each worker
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 1, killed.stderr
    assert "error: a worker process ended before its work was done (killed by signal 9)" in (
        killed.stderr
    )
    assert "Traceback" not in killed.stderr
    assert sorted(p.name for p in (root / "build").iterdir()) == [".cache", ".lock"]
    build(root, BuildOptions(today=TODAY))  # the next build uses what the workers kept
    assert same_outputs(root, uncached_twin(root, tmp_path / "fresh"))


@pytest.mark.parametrize("damage", ["torn", "emptied", "removed", "flipped, stamp kept"])
def test_a_damaged_pack_is_never_served(tmp_path, parsed, damage):
    root = generate(12, tmp_path / "site")
    build(root, BuildOptions(today=TODAY))
    [pack] = pack_files(root)
    data = bytearray(pack.read_bytes())
    stamp = pack.stat()
    if damage == "torn":
        pack.write_bytes(data[: len(data) // 2])
    elif damage == "emptied":
        pack.write_bytes(b"")
    elif damage == "removed":
        pack.unlink()
    else:  # in every body of every record: found as each is read, never served
        for record in records(root):
            start = record.offset + record.length - 200
            data[start : start + 100] = bytes(b ^ 0x20 for b in data[start : start + 100])
        pack.write_bytes(bytes(data))
        os.utime(pack, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    shutil.rmtree(root / "build" / "site")  # every page made again, from what the cache holds
    build(root, BuildOptions(today=TODAY))
    assert same_outputs(root, uncached_twin(root, tmp_path / "fresh"))
    build(root, BuildOptions(today=TODAY))  # keeps the records a damaged body's essay lacked
    parsed.clear()
    build(root, BuildOptions(today=TODAY))
    assert parsed == [] and len(records(root)) == 12


@settings(max_examples=8, deadline=None)
@given(edits=st.lists(st.integers(0, 5), min_size=3, max_size=8))
def test_compaction_keeps_the_cache_bounded_and_the_outputs_identical(tmp_path_factory, edits):
    root = generated(6, tmp_path_factory.mktemp("cached") / "site")
    with mock.patch.object(packs, "MAX_PACKS", 2), mock.patch.object(packs, "MIN_GARBAGE", 0):
        build(root, BuildOptions(today=TODAY))
        for round_, number in enumerate(edits):
            append_line(root, number, f"Revised, round {round_}.")
            build(root, BuildOptions(today=TODAY))
            found = pack_files(root)
            live = sum(r.length for r in records(root))
            assert len(found) <= 2 + 1, "at most MAX_PACKS before a build, and its own"
            assert sum(p.stat().st_size for p in found) <= 2 * live + max(
                r.length for r in records(root)
            ), "garbage is compacted"
    fresh = uncached_twin(root, tmp_path_factory.mktemp("fresh") / "site")
    assert same_outputs(root, fresh)


def test_an_old_cache_is_ignored_and_removed(tmp_path, parsed):
    root = generated(4, tmp_path / "site")
    old = root / CACHE_DIR / "essays"
    old.mkdir(parents=True)
    for number in range(3):  # a record file an essay, as format 5 kept them
        record = cache_store.pack_record(b"PUBCACHE", bytes(32), [b"\x90", b""])
        (old / f"{number:064x}.rec").write_bytes(
            record[:8] + (5).to_bytes(2, "little") + record[10:]
        )
    build(root, BuildOptions(today=TODAY))
    assert len(parsed) == 4
    assert not list(old.glob("*.rec"))
    assert same_outputs(root, uncached_twin(root, tmp_path / "fresh"))


# --- The templates of a build -----------------------------------------------------------


def test_a_build_loads_each_template_once(tmp_path, monkeypatch):
    root = generated(12, tmp_path / "site")
    checked: list[str] = []
    real = os.path.getmtime

    def spy(path):
        if Path(path).suffix == ".html" and Path(path).parent == PACKAGE_TEMPLATES:
            checked.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(os.path, "getmtime", spy)
    monkeypatch.setattr("publish.pipeline.place.PARALLEL_THRESHOLD", 10**9)
    build(root, BuildOptions(today=TODAY))
    assert checked and len(checked) == len(set(checked)), "no template checked at each use"


def test_a_kept_cache_sees_an_edited_template(tmp_path):
    """As `publish serve` rebuilds: one cache kept between builds, a template edited."""
    root = generated(4, tmp_path / "site")
    (root / "templates").mkdir()
    packaged = (PACKAGE_TEMPLATES / "essay.html").read_text(encoding="utf-8")
    own = root / "templates" / "essay.html"
    cache = cache_store.BuildCache.for_site(root)
    page = root / "build" / "site" / "essay-00001" / "index.html"
    for word in ("first-edition", "second-edition-edited"):
        own.write_text(packaged.replace("<article", f'<article data-mark="{word}"', 1))
        build(root, BuildOptions(today=TODAY), cache=cache)
        assert f'data-mark="{word}"' in page.read_text(encoding="utf-8")


def test_a_build_killed_while_compacting_leaves_a_cache_the_next_build_uses(tmp_path, parsed):
    root = generate(12, tmp_path / "site")
    build(root, BuildOptions(today=TODAY))
    for number in range(8):  # most of the first pack becomes garbage
        append_line(root, number, "A revision that replaces the record.")
    build(root, BuildOptions(today=TODAY))
    assert len(pack_files(root)) == 2
    append_line(root, 11, "One more revision.")
    killed = subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(root), "build", "--today", str(TODAY)],
        cwd=REPO,
        env={**os.environ, HOOK_ENV: hook_value(CRASH, "pack-compacted")},
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    assert len(pack_files(root)) == 3, "the copy made, the packs it copied still there"
    parsed.clear()
    build(root, BuildOptions(today=TODAY))
    assert parsed == ["00012.md"], "only the essay edited since was parsed"
    assert len(pack_files(root)) <= 3 and len(records(root)) == 12
    assert same_outputs(root, uncached_twin(root, tmp_path / "fresh"))


# --- Each essay file read once ----------------------------------------------------------


@pytest.fixture
def essay_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The essay files (`*.md` under `essays/`) this process opened, by name, in order."""
    import io

    seen: list[str] = []
    real = io.open

    def spy(file, *args, **kwargs):
        path = Path(os.fsdecode(file)) if isinstance(file, (str, os.PathLike)) else None
        if path is not None and path.suffix == ".md" and path.parent.name == "essays":
            seen.append(path.name)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    return seen


def test_each_essay_file_is_read_once(tmp_path, monkeypatch, essay_reads):
    root = generate(12, tmp_path / "site")
    monkeypatch.setattr("publish.cache.reading.PARALLEL_THRESHOLD", 10**9)  # all here
    essay_reads.clear()  # not the corpus's writing
    build(root, BuildOptions(today=TODAY))
    assert sorted(essay_reads) == sorted(p.name for p in (root / "essays").glob("*.md"))
    append_line(root, 4, "A revision read once.")
    essay_reads.clear()  # not the edit's writing
    build(root, BuildOptions(today=TODAY))
    assert essay_reads.count("00005.md") == 1


def test_the_build_loads_its_libraries_while_workers_parse_and_only_then(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "can_fork", lambda: True)  # the suite may run threads
    calls: list[int] = []
    many = generate(PARSE_THRESHOLD + 12, tmp_path / "many")
    load(many, meanwhile=[lambda: calls.append(os.getpid())])
    assert calls == [os.getpid()], "once, by the parent, while its workers parsed"
    few = generate(12, tmp_path / "few")
    load(few, meanwhile=[lambda: calls.append(os.getpid())])
    assert calls == [os.getpid()], "not at all without workers (nothing may need it)"


def _templates_found_by_the_place_phase(monkeypatch) -> list[set[str]]:
    """The names of the templates the kept environment holds loaded as each build's place
    phase begins (an empty set when it has none yet)."""
    found: list[set[str]] = []
    real = place.place_site

    def place_site(site, published, emails, cache, *args, **kwargs):  # type: ignore[no-untyped-def]
        kept = cache.template_environments.get(published.templates_dir)
        found.append({name for _, name in kept[1].cache} if kept else set())
        return real(site, published, emails, cache, *args, **kwargs)

    monkeypatch.setattr(place, "place_site", place_site)
    return found


def test_the_build_loads_the_page_templates_while_workers_parse_not_after(tmp_path, monkeypatch):
    """The templates environment is made, and every page template loaded in the site's
    language, while the workers parse (the parent's last step): the place phase begins with
    them loaded instead of loading them alone between the phases. Without workers (a
    rebuild parsing a few essays) nothing is loaded ahead: the pages made load what they
    use."""
    monkeypatch.setattr(parallel, "can_fork", lambda: True)  # the suite may run threads
    found = _templates_found_by_the_place_phase(monkeypatch)
    many = generate(PARSE_THRESHOLD + 12, tmp_path / "many")
    build(many, BuildOptions(today=TODAY))
    pages = {path.name for path in PACKAGE_TEMPLATES.glob("*.html")}
    assert {"essay.html", "base.html", "index.html"} <= pages
    assert found == [pages]
    few = generate(12, tmp_path / "few")
    build(few, BuildOptions(today=TODAY))
    assert found[1:] == [set()], "nothing loaded ahead without workers"


def test_a_just_parsed_essay_is_checked_against_its_record_while_workers_parse(
    tmp_path, monkeypatch
):
    """Whether an essay just parsed reads back from its record exactly (then its outputs'
    keys hash the record, as a later build's do) is asked as each reply comes in, while the
    workers parse: keying the outputs between the phases asks it of no essay."""
    monkeypatch.setattr(parallel, "can_fork", lambda: True)  # the suite may run threads
    asked: list[str] = []
    phase = ["load"]
    real_check = cache_records.holds_as_is

    def counted(meta: bytes, essay: object) -> bool:
        asked.append(phase[0])
        return real_check(meta, essay)  # type: ignore[arg-type]

    for module in (bodies, cache_outputs):  # wherever the check is made
        monkeypatch.setattr(module, "holds_as_is", counted, raising=False)
    real_place = place.place_site

    def placing(*args, **kwargs):  # type: ignore[no-untyped-def]
        phase[0] = "place"
        return real_place(*args, **kwargs)

    monkeypatch.setattr(place, "place_site", placing)
    root = generate(PARSE_THRESHOLD + 12, tmp_path / "site")
    build(root, BuildOptions(today=TODAY))
    assert asked.count("load") == PARSE_THRESHOLD + 12
    assert "place" not in asked

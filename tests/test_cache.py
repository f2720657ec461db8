"""The build cache: never wrong, and it skips exactly the work that did not change."""

from __future__ import annotations

import filecmp
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path, PurePath

import msgspec
import pytest
from click.testing import CliRunner
from lxml import html

import publish.content.essays
import publish.pipeline.build
import publish.pipeline.place
from bench.generate import generate
from publish.cache import outputs as memo
from publish.cache import parses as cache
from publish.cache import reading
from publish.cache import store as cache_store
from publish.cli.main import cli
from publish.errors import Problem, PublishError
from publish.layout import CACHE_DIR
from publish.model import Site
from publish.outputs import mail, web
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load
from publish.support import parallel
from publish.support.testhooks import HOLD, HOOK_ENV, hook_value
from tests.cachepacks import last_of_a_pack, pack_files, records, scanned
from tests.sitebuilder import due_since_long_ago

REPO = Path(__file__).parent.parent
TODAY = date(2030, 1, 1)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A generated site of 12 essays citing a shared glossary."""
    return generated(12, tmp_path / "site")


def generated(count: int, target: Path) -> Path:
    """The benchmark's corpus of `count` essays, each one due rather than a back issue, so
    the build makes its email too."""
    return due_since_long_ago(generate(count, target))


def example_site(target: Path) -> Path:
    """A copy of the example site that ships in the repository."""
    for name in ("essays", "footnotes", "templates"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, target / name)
    shutil.copy(REPO / "publish.toml", target / "publish.toml")
    return target


def same_tree(left: Path, right: Path) -> bool:
    """Whether two folders hold the same files with the same bytes."""
    comparison = filecmp.dircmp(left, right)
    if comparison.left_only or comparison.right_only or comparison.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, comparison.common_files, shallow=False)
    return (
        not mismatch
        and not errors
        and all(same_tree(left / sub, right / sub) for sub in comparison.common_dirs)
    )


def read_site(root: Path) -> tuple[Site, list[Problem]]:
    """The site as its files say, loaded as the build loads it, and its warnings."""
    loaded = load(root)
    return loaded.files, loaded.warnings


def citing(root: Path, key: str) -> set[str]:
    """The essay files whose notes cite a glossary key."""
    site, _ = read_site(root)
    return {Path(e.path).name for e in site.essays if any(n.glossary_key == key for n in e.notes)}


def test_cached_build_is_byte_identical_to_an_uncached_one(tmp_path, monkeypatch, parsed):
    cached = example_site(tmp_path / "cached")
    build(cached, BuildOptions(today=TODAY))
    first_parses = len(parsed)
    build(cached, BuildOptions(today=TODAY))
    assert len(parsed) == first_parses, "the warm build parsed again"
    fresh = example_site(tmp_path / "fresh")
    monkeypatch.setenv(cache_store.NO_CACHE_ENV, "1")
    build(fresh, BuildOptions(today=TODAY))
    assert not (fresh / CACHE_DIR).exists()
    for output in ("site", "email"):
        assert same_tree(cached / "build" / output, fresh / "build" / output), output


WORKER_LINE = "holding at worker in process "  # what `testhooks.hold_at("worker")` says


def build_with_thresholds(root: str, parse_threshold: str, render_threshold: str) -> None:
    """Build a site with the given parallel thresholds (essays to parse, contents to make)
    below which this process works alone; run by `build_in_a_fresh_process`."""
    reading.PARALLEL_THRESHOLD = int(parse_threshold)
    publish.pipeline.place.PARALLEL_THRESHOLD = int(render_threshold)
    build(Path(root), BuildOptions(today=TODAY))


def build_in_a_fresh_process(root: Path, parse_threshold: int, render_threshold: int) -> set[int]:
    """Build `root` in a new Python process (it has no other thread, so it may fork, which
    this one cannot once a browser test has started a thread); return the process ids of
    the workers it forked, as each one says on stderr when it starts."""
    script = (
        "import sys; from tests.test_cache import build_with_thresholds; "
        "build_with_thresholds(*sys.argv[1:])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(root), str(parse_threshold), str(render_threshold)],
        cwd=REPO,
        text=True,
        env={**os.environ, HOOK_ENV: hook_value(HOLD, "worker", 0)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, out + err
    pids = {
        int(line.rsplit(" ", 1)[1]) for line in err.splitlines() if line.startswith(WORKER_LINE)
    }
    assert process.pid not in pids, "the build's own process is no worker"
    return pids


def fork_width() -> int:
    """How many workers a build forks for each phase on this machine, beside the process
    that makes runs too (one fewer than the cores; at least two cores, or nothing forks)."""
    workers = min(os.cpu_count() or 1, parallel.MAX_WORKERS) - 1
    assert workers >= 1, "this test needs two cores to fork workers"
    return workers


def build_alone(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Build `root` in this process, parsing and rendering without any worker."""
    monkeypatch.setattr(reading, "PARALLEL_THRESHOLD", 10**9)
    monkeypatch.setattr(publish.pipeline.place, "PARALLEL_THRESHOLD", 10**9)
    build(root, BuildOptions(today=TODAY))


def test_parallel_parse_matches_a_sequential_one(tmp_path, monkeypatch):
    parallel = generated(12, tmp_path / "two")
    workers = build_in_a_fresh_process(parallel, parse_threshold=2, render_threshold=10**9)
    assert len(workers) == fork_width(), "one pool of workers parsed the essays"
    assert len(records(parallel)) == 12, "the workers stored every parse"
    sequential = generated(12, tmp_path / "one")
    build_alone(sequential, monkeypatch)
    for output in ("site", "email"):
        assert same_tree(sequential / "build" / output, parallel / "build" / output), output


@pytest.mark.slow
def test_a_cold_build_parses_and_renders_in_forked_workers(tmp_path, monkeypatch):
    forked = generated(60, tmp_path / "forked")  # past both thresholds: 60 essays, 240 files
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publish",
            "--root",
            str(forked),
            "build",
            "--today",
            TODAY.isoformat(),
        ],
        cwd=REPO,
        text=True,
        env={**os.environ, HOOK_ENV: hook_value(HOLD, "worker", 0)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, out + err
    pids = [
        int(line.split()[-1])
        for line in err.splitlines()
        if line.startswith("holding at worker in process ")
    ]
    assert len(set(pids)) == 3 * fork_width(), "one pool parsed, one rendered each folder"
    assert process.pid not in pids
    monkeypatch.setattr(reading, "PARALLEL_THRESHOLD", 10**9)
    monkeypatch.setattr(publish.pipeline.place, "PARALLEL_THRESHOLD", 10**9)
    sequential = generated(60, tmp_path / "sequential")
    build(sequential, BuildOptions(today=TODAY))
    for output in ("site", "email"):
        assert same_tree(sequential / "build" / output, forked / "build" / output), output


def test_unchanged_site_is_not_parsed_again(corpus, parsed):
    read_site(corpus)
    assert len(parsed) == 12
    read_site(corpus)
    assert len(parsed) == 12


def test_editing_one_essay_parses_only_that_essay(corpus, parsed):
    read_site(corpus)
    parsed.clear()
    path = corpus / "essays" / "00005.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8")
    site, _ = read_site(corpus)
    assert parsed == ["00005.md"]
    assert any("A new closing line." in t.content for t in site.essay("essay-00005").tokens)
    assert len(records(corpus)) == 12, "the old record of the edited essay was not pruned"


def test_a_warm_load_keys_each_essay_without_a_path_object(corpus, monkeypatch):
    read_site(corpus)
    made: list[PurePath] = []
    real = PurePath.relative_to

    def counted(self, *others, **options):
        made.append(self)
        return real(self, *others, **options)

    monkeypatch.setattr(PurePath, "relative_to", counted)
    site, _ = read_site(corpus)
    monkeypatch.undo()
    assert len(site.essays) == 12
    assert [path for path in made if path.parent.name == "essays"] == []


def test_glossary_change_reparses_exactly_the_citing_essays(corpus, parsed):
    build(corpus, BuildOptions(today=TODAY))
    key = "codex-1"
    readers = citing(corpus, key)
    assert readers and len(readers) < 12
    parsed.clear()
    entry = corpus / "footnotes" / f"{key}.md"
    entry.write_text(
        entry.read_text(encoding="utf-8").rstrip() + " Freshly revised.\n", encoding="utf-8"
    )
    build(corpus, BuildOptions(today=TODAY))
    assert set(parsed) == readers and len(parsed) == len(readers)
    site, _ = read_site(corpus)
    for essay in site.essays:
        page = html.parse(str(corpus / "build" / "site" / essay.slug / "index.html"))
        notes = " ".join(page.xpath("//section[contains(@class, 'footnotes')]//text()"))
        assert ("Freshly revised." in notes) == (Path(essay.path).name in readers), essay.slug
        email = (corpus / "build" / "email" / f"{essay.slug}.html").read_text(encoding="utf-8")
        assert ("Freshly revised." in email) == (Path(essay.path).name in readers), essay.slug


def test_template_change_rerenders_the_pages_that_use_it(corpus):
    build(corpus, BuildOptions(today=TODAY))
    override = corpus / "templates" / "essay.html"
    override.parent.mkdir(exist_ok=True)
    packaged = Path(publish.content.essays.__file__).parent.parent / "templates" / "essay.html"
    marked = re.sub(
        r"(\{% block \w+ %\})",
        r'\1<p id="cache-marker">marked</p>',
        packaged.read_text(encoding="utf-8"),
        count=1,
    )
    assert "cache-marker" in marked, "essay.html has no block to mark"
    override.write_text(marked, encoding="utf-8")
    build(corpus, BuildOptions(today=TODAY))
    site_dir = corpus / "build" / "site"
    essay_page = html.parse(str(site_dir / "essay-00001" / "index.html"))
    assert essay_page.xpath("//p[@id='cache-marker']")
    archive = html.parse(str(site_dir / "archive" / "index.html"))
    assert not archive.xpath("//p[@id='cache-marker']")


def test_settings_change_reparses_every_essay(corpus, parsed):
    read_site(corpus)
    parsed.clear()
    toml = corpus / "publish.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('"UTC"', '"Europe/Paris"'), encoding="utf-8"
    )
    site, _ = read_site(corpus)
    assert len(parsed) == 12
    assert all(str(e.date.tzinfo) == "Europe/Paris" for e in site.essays)


@pytest.mark.parametrize("damage", ["flip", "flip a body", "truncate", "empty", "version"])
def test_damaged_record_is_detected_and_rebuilt(corpus, parsed, damage):
    build(corpus, BuildOptions(today=TODAY))
    before = corpus / "before"
    shutil.copytree(corpus / "build" / "site", before)
    record = last_of_a_pack(corpus)  # damage in a pack loses what follows it there
    data = bytearray(record.read())
    (_, meta_length), (bodies_start, _) = cache_store.unpack_record(
        bytes(data), cache.MAGIC, cache_store.HEADER.unpack_from(data)[2]
    )
    if damage == "flip":  # in the head: found as the record is read
        data[bodies_start - meta_length // 2] ^= 0xFF
    elif damage == "flip a body":  # found when the body is read: every page made again
        data[len(data) - 20] ^= 0xFF
        shutil.rmtree(corpus / "build" / "site")
    elif damage == "truncate":
        data = data[: len(data) - 40]
    elif damage == "empty":
        data = bytearray()
    else:
        data[8:10] = (cache_store.FORMAT_VERSION + 1).to_bytes(2, "little")
    record.rewrite(bytes(data))
    parsed.clear()
    build(corpus, BuildOptions(today=TODAY))
    assert len(parsed) == 1
    assert same_tree(before, corpus / "build" / "site")
    if damage == "flip a body":  # its record was dropped as it was found: the next keeps it
        build(corpus, BuildOptions(today=TODAY))
    assert len(records(corpus)) == 12


@pytest.mark.parametrize("damage", ["byte", "gone"])
def test_damaged_rendering_is_rebuilt_not_served(corpus, parsed, monkeypatch, damage):
    build(corpus, BuildOptions(today=TODAY))
    before = corpus / "before"
    shutil.copytree(corpus / "build", before)
    monkeypatch.setattr(publish.pipeline.place, "PARALLEL_THRESHOLD", 10**9)
    # the parses a rebuild of every file makes from sound records: the emails a send needs
    # keep no bodies (they are few), so each is rendered from a parse of its own
    for manifest in (corpus / memo.OUTPUTS_DIR).glob("*.manifest"):
        manifest.unlink()
    parsed.clear()
    build(corpus, BuildOptions(today=TODAY))
    sound = len(parsed)
    for manifest in (corpus / memo.OUTPUTS_DIR).glob("*.manifest"):
        manifest.unlink()  # every page, feed and email is made again, from the kept bodies
    real_plan = publish.pipeline.build.plan

    def damage_after_load(site, known, options):  # the records held when loaded, then changed
        for record in records(corpus):
            if damage == "byte":
                data = bytearray(record.read())
                data[-100] ^= 0x01  # inside the last body
                record.rewrite(bytes(data))
            else:
                record.pack.unlink(missing_ok=True)
        return real_plan(site, known, options)

    monkeypatch.setattr(publish.pipeline.build, "plan", damage_after_load)
    parsed.clear()
    build(corpus, BuildOptions(today=TODAY))
    for output in ("site", "email"):
        assert same_tree(before / output, corpus / "build" / output), output
    assert len(parsed) == sound + 12, "each essay was parsed again once, its bodies afresh"
    assert not records(corpus), "the damaged records were dropped"


def test_source_changed_during_a_build_fails_cleanly(corpus):
    site, _ = read_site(corpus)
    essay = site.essays[0]
    assert isinstance(essay.tokens, cache.KeptBody)
    source = corpus / essay.path
    source.write_text(source.read_text(encoding="utf-8") + "\nLate words.\n", encoding="utf-8")
    with pytest.raises(PublishError, match="run the build again"):
        list(essay.tokens)


def test_stored_tokens_decode_to_the_parsed_tokens(corpus, monkeypatch):
    cached, _ = read_site(corpus)
    monkeypatch.setenv(cache_store.NO_CACHE_ENV, "1")
    fresh, _ = read_site(corpus)
    for stored, parsed_essay in zip(cached.essays, fresh.essays, strict=True):
        assert list(stored.tokens) == list(parsed_essay.tokens)
        assert len(stored.tokens) == len(parsed_essay.tokens)
        assert stored.tokens[5] == parsed_essay.tokens[5]


def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    blocked = generated(12, tmp_path / "blocked")
    (blocked / CACHE_DIR).mkdir(parents=True)
    for name in ("essays", "outputs"):  # the parse records and the output manifests
        (blocked / CACHE_DIR / name).write_text("not a folder", encoding="utf-8")
    build(blocked, BuildOptions(today=TODAY))
    build(blocked, BuildOptions(today=TODAY))
    assert not records(blocked)
    fresh = generated(12, tmp_path / "fresh")
    monkeypatch.setenv(cache_store.NO_CACHE_ENV, "1")
    build(fresh, BuildOptions(today=TODAY))
    for output in ("site", "email"):
        assert same_tree(blocked / "build" / output, fresh / "build" / output), output


def test_rebuilds_from_another_thread_share_the_cache(corpus, tmp_path, monkeypatch):
    build(corpus, BuildOptions(today=TODAY))
    path = corpus / "essays" / "00005.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8")
    rendered = spy_renderers(monkeypatch)
    failures: list[BaseException] = []
    builders: list[int] = []

    def rebuild() -> None:
        builders.append(threading.get_ident())
        try:
            build(corpus, BuildOptions(today=TODAY))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    worker = threading.Thread(target=rebuild)
    worker.start()
    worker.join()
    assert not failures
    assert builders and builders[0] != threading.get_ident()
    assert {made for made, _ in rendered} == {"page:essay-00005", "email:essay-00005"}, (
        "the thread made the edited essay again, and took the others from the cache"
    )
    assert {thread for _, thread in rendered} == set(builders), "rendered in the thread"
    fresh = tmp_path / "fresh"
    shutil.copytree(corpus, fresh, ignore=shutil.ignore_patterns("build"))
    monkeypatch.setenv(cache_store.NO_CACHE_ENV, "1")
    build(fresh, BuildOptions(today=TODAY))
    for output in ("site", "email"):
        assert same_tree(fresh / "build" / output, corpus / "build" / output), output


def test_unchanged_output_files_are_not_rewritten(corpus):
    build(corpus, BuildOptions(today=TODAY))
    site_dir = corpus / "build" / "site"
    untouched = site_dir / "essay-00002" / "index.html"
    edited = site_dir / "essay-00006" / "index.html"
    inodes = {path: os.stat(path).st_ino for path in (untouched, edited)}
    path = corpus / "essays" / "00006.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8")
    build(corpus, BuildOptions(today=TODAY))
    assert os.stat(untouched).st_ino == inodes[untouched]
    assert os.stat(edited).st_ino != inodes[edited]
    assert "A new closing line." in edited.read_text(encoding="utf-8")


# --- The output memo: an unchanged page or email is neither made nor rewritten ----------


def spy_renderers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Watch the real renderers: each essay page and email made in this process, as
    ("page:<slug>" or "email:<slug>", the id of the thread that made it), in order."""
    seen: list[tuple[str, int]] = []
    real_page, real_html = web.PageRenderer.essay_page, mail.email_html

    def page_spy(self, essay, *args):
        seen.append((f"page:{essay.slug}", threading.get_ident()))
        return real_page(self, essay, *args)

    def email_spy(site, essay, templates):
        seen.append((f"email:{essay.slug}", threading.get_ident()))
        return real_html(site, essay, templates)

    monkeypatch.setattr(web.PageRenderer, "essay_page", page_spy)
    monkeypatch.setattr(mail, "email_html", email_spy)
    monkeypatch.setattr(
        publish.pipeline.place, "PARALLEL_THRESHOLD", 10**9
    )  # spies see only this process
    return seen


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The essay pages and emails actually rendered (not kept from the last build)."""
    seen: list[str] = []
    real_page, real_html = web.PageRenderer.essay_page, mail.email_html

    def page_spy(self, essay, *args):
        seen.append(f"page:{essay.slug}")
        return real_page(self, essay, *args)

    def email_spy(site, essay, templates):
        seen.append(f"email:{essay.slug}")
        return real_html(site, essay, templates)

    monkeypatch.setattr(web.PageRenderer, "essay_page", page_spy)
    monkeypatch.setattr(mail, "email_html", email_spy)
    monkeypatch.setattr(
        publish.pipeline.place, "PARALLEL_THRESHOLD", 10**9
    )  # spies see only this process
    yield seen


def slugs_made(made: list[str], kind: str) -> set[str]:
    """The slugs of the essays whose page or email was rendered."""
    return {entry.split(":", 1)[1] for entry in made if entry.startswith(f"{kind}:")}


def neighbours(root: Path, slug: str) -> set[str]:
    """The slugs of the essays published just before and after one."""
    site, _ = read_site(root)
    order = [e.slug for e in sorted(site.essays, key=lambda e: (e.date, e.slug), reverse=True)]
    index = order.index(slug)
    return {order[i] for i in (index - 1, index + 1) if 0 <= i < len(order)}


def test_unchanged_rebuild_renders_no_page_or_email(corpus, made):
    build(corpus, BuildOptions(today=TODAY))
    assert len(slugs_made(made, "page")) == 12 and len(slugs_made(made, "email")) == 12
    made.clear()
    build(corpus, BuildOptions(today=TODAY))
    assert made == []


def test_body_edit_renders_only_that_essay(corpus, made):
    build(corpus, BuildOptions(today=TODAY))
    made.clear()
    path = corpus / "essays" / "00005.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8")
    build(corpus, BuildOptions(today=TODAY))
    assert slugs_made(made, "page") == {"essay-00005"}
    assert slugs_made(made, "email") == {"essay-00005"}
    email = (corpus / "build" / "email" / "essay-00005.txt").read_text(encoding="utf-8")
    assert "A new closing line." in email


def test_a_rebuild_fingerprints_each_essay_read_from_its_record_by_the_record(corpus, monkeypatch):
    build(corpus, BuildOptions(today=TODAY))
    by_fields: list[str] = []
    real = memo.shown_fields

    def spy(essay, cited):
        by_fields.append(essay.slug)
        return real(essay, cited)

    monkeypatch.setattr(memo, "shown_fields", spy)
    path = corpus / "essays" / "00005.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8")
    build(corpus, BuildOptions(today=TODAY))
    assert by_fields == []  # each as its record has it, the one parsed afresh too


def test_title_change_rerenders_the_neighbours_pages(corpus, made):
    build(corpus, BuildOptions(today=TODAY))
    around = neighbours(corpus, "essay-00005")
    assert len(around) == 2
    made.clear()
    path = corpus / "essays" / "00005.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        re.sub(r"(?m)^title: .*$", "title: A Renamed Essay", text, count=1), encoding="utf-8"
    )
    build(corpus, BuildOptions(today=TODAY))
    assert slugs_made(made, "page") == {"essay-00005", *around}
    assert slugs_made(made, "email") == {"essay-00005"}
    for slug in around:
        page = html.parse(str(corpus / "build" / "site" / slug / "index.html"))
        links = page.xpath(
            "//nav[contains(@class, 'essay-nav')]//a[contains(@href, 'essay-00005')]"
        )
        assert links and "A Renamed Essay" in links[0].text_content(), slug


def test_email_template_change_rerenders_every_email(corpus, made):
    build(corpus, BuildOptions(today=TODAY))
    made.clear()
    override = corpus / "templates" / "email.txt"
    override.parent.mkdir(exist_ok=True)
    packaged = Path(publish.content.essays.__file__).parent.parent / "templates" / "email.txt"
    override.write_text(
        packaged.read_text(encoding="utf-8") + "Template marker.\n", encoding="utf-8"
    )
    build(corpus, BuildOptions(today=TODAY))
    assert len(slugs_made(made, "email")) == 12
    for text in (corpus / "build" / "email").glob("*.txt"):
        assert "Template marker." in text.read_text(encoding="utf-8"), text.name
    override.unlink()
    build(corpus, BuildOptions(today=TODAY))
    for text in (corpus / "build" / "email").glob("*.txt"):
        assert "Template marker." not in text.read_text(encoding="utf-8"), text.name


@pytest.mark.parametrize("damage", ["flip", "truncate", "version"])
def test_damaged_output_memo_is_ignored(corpus, made, damage):
    build(corpus, BuildOptions(today=TODAY))
    before = corpus / "before"
    shutil.copytree(corpus / "build", before)
    manifest = corpus / memo.OUTPUTS_DIR / "site.manifest"
    data = bytearray(manifest.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) - 10]
    else:
        data[8:10] = (cache_store.FORMAT_VERSION + 1).to_bytes(2, "little")
    manifest.write_bytes(bytes(data))
    made.clear()
    build(corpus, BuildOptions(today=TODAY))
    assert len(slugs_made(made, "page")) == 12
    assert slugs_made(made, "email") == set(), "the email memo was not damaged"
    for output in ("site", "email"):
        assert same_tree(before / output, corpus / "build" / output), output


def test_hand_edited_output_is_made_again(corpus, made):
    build(corpus, BuildOptions(today=TODAY))
    page = corpus / "build" / "site" / "essay-00002" / "index.html"
    original = page.read_bytes()
    with page.open("ab") as edited:
        edited.write(b"<!-- edited by hand -->")
    made.clear()
    build(corpus, BuildOptions(today=TODAY))
    assert slugs_made(made, "page") == {"essay-00002"}
    assert page.read_bytes() == original


def test_parallel_rendering_matches_a_sequential_one(tmp_path, monkeypatch):
    parallel = generated(12, tmp_path / "two")
    workers = build_in_a_fresh_process(parallel, parse_threshold=10**9, render_threshold=2)
    assert len(workers) == 2 * fork_width(), "one pool of workers made each output folder"
    sequential = generated(12, tmp_path / "one")
    build_alone(sequential, monkeypatch)
    for output in ("site", "email"):
        assert same_tree(sequential / "build" / output, parallel / "build" / output), output


def test_template_error_in_a_worker_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(publish.pipeline.place, "PARALLEL_THRESHOLD", 2)
    corpus = generated(12, tmp_path / "site")
    (corpus / "templates").mkdir(exist_ok=True)
    (corpus / "templates" / "essay.html").write_text(
        "{{ essay.no_such_field }}\n", encoding="utf-8"
    )
    with pytest.raises(PublishError) as raised:
        build(corpus, BuildOptions(today=TODAY))
    assert any("template error" in p.message for p in raised.value.problems)
    assert not (corpus / "build" / "site").exists()


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under a folder with its size and modification time."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_check_writes_nothing_but_its_memo(corpus):
    result = CliRunner().invoke(cli, ["--root", str(corpus), "check"])
    assert result.exit_code == 0, result.output
    assert not (corpus / "build").exists()
    build(corpus, BuildOptions(today=TODAY))
    path = corpus / "essays" / "00005.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8")
    before = folder_state(corpus / "build")
    result = CliRunner().invoke(cli, ["--root", str(corpus), "check"])
    assert result.exit_code == 0, result.output
    after = folder_state(corpus / "build")
    assert after.pop(".cache/outputs/check.manifest")
    assert after == before


# --- Nothing read from the cache folder can run code ----------------------------------


class _CreatesFile:
    """What a crafted cache record could carry: unpickling it creates a file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def plant_pickles(root: Path, marker: Path) -> None:
    """Replace every essay record and output manifest with a well-formed one (right magic,
    version, key, lengths and checksum) whose body is a pickle that would create `marker`."""
    payload = pickle.dumps(_CreatesFile(marker))
    found = scanned(root)
    for pack in pack_files(root):
        crafted = [cache_store.pack_record(cache.MAGIC, r.key, [payload, b""]) for r in found]
        pack.write_bytes(b"".join(crafted[n] for n, r in enumerate(found) if r.pack == pack))
    manifests = sorted((root / memo.OUTPUTS_DIR).glob("*.manifest"))
    assert [m.name for m in manifests] == ["email.manifest", "site.manifest"]
    for manifest in manifests:
        manifest.write_bytes(cache_store.pack_record(memo.MAGIC, cache_store.NO_KEY, [payload]))


@pytest.mark.parametrize("command", ["check", "build"])
def test_a_crafted_pickle_in_the_cache_never_runs(corpus, tmp_path, command):
    build(corpus, BuildOptions(today=TODAY))
    expected = tmp_path / "expected"
    shutil.copytree(corpus / "build", expected, ignore=shutil.ignore_patterns(".*"))
    marker = tmp_path / "code-ran"
    plant_pickles(corpus, marker)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "publish",
            "--root",
            str(corpus),
            command,
            "--today",
            TODAY.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists(), "reading the cache ran code"
    if command == "build":
        for output in ("site", "email"):
            assert same_tree(expected / output, corpus / "build" / output), output
        assert len(records(corpus)) == 12
        assert all(
            cache_store.HEADER.unpack_from(r.read())[1] == cache_store.FORMAT_VERSION
            for r in records(corpus)
        )


def test_records_are_plain_data(corpus):
    build(corpus, BuildOptions(today=TODAY))
    for record in records(corpus):
        data = record.read()
        key = cache_store.HEADER.unpack_from(data)[2]
        (meta_start, meta_length), (tokens_start, tokens_length) = cache_store.unpack_record(
            data, cache.MAGIC, key
        )
        meta = msgspec.msgpack.decode(data[meta_start : meta_start + meta_length])  # plain data
        assert isinstance(meta, list) and len(meta) == 4
        tokens = data[tokens_start : tokens_start + tokens_length]
        assert isinstance(msgspec.msgpack.decode(tokens), list)
    for manifest in (corpus / memo.OUTPUTS_DIR).glob("*.manifest"):
        data = manifest.read_bytes()
        ((start, length),) = cache_store.unpack_record(data, memo.MAGIC)
        stamps = json.loads(data[start : start + length])
        assert stamps and all(isinstance(s, list) for s in stamps.values())


# --- One cache object, made by the build and passed in ----------------------------------


def test_a_build_uses_the_cache_it_is_given(tmp_path):
    root = generated(4, tmp_path / "site")
    build(root, BuildOptions(today=TODAY), cache=cache_store.BuildCache(root, enabled=False))
    assert not (root / CACHE_DIR).exists()
    kept = cache_store.BuildCache.for_site(root)
    build(root, BuildOptions(today=TODAY), cache=kept)
    assert len(records(root)) == 4
    assert {bytes.fromhex(name) for name in kept.loaded_records} <= {r.key for r in records(root)}
    assert len(kept.template_environments) == 1, "the templates kept for the next build"


def test_a_check_leaves_a_build_running_meanwhile_free_to_keep_its_cache(tmp_path):
    checked = generated(4, tmp_path / "checked")
    built = generated(4, tmp_path / "built")
    started = []

    def build_meanwhile(progress) -> None:  # a build of another site while the check runs
        if not started:
            started.append(progress)
            build(built, BuildOptions(today=TODAY))

    publish.pipeline.build.check(checked, BuildOptions(today=TODAY), progress=build_meanwhile)
    assert started, "the check made no file"
    assert len(records(built)) == 4, "the other build was left read-only by the check"
    assert not (checked / CACHE_DIR / "essays").exists()


def test_compiled_templates_are_kept_and_an_edited_template_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh process loads the templates' compiled code from the cache instead of
    compiling them again; a template edited in place is compiled from its new text."""
    from tests.sitebuilder import essay_text, make_site

    root = make_site(tmp_path / "site", {"01-one": essay_text("One", date="2026-01-05")})
    footer = (Path(publish.__file__).parent / "templates" / "footer.html").read_text()
    (root / "templates").mkdir()
    (root / "templates" / "footer.html").write_text(footer + "<!-- first -->\n")
    options = BuildOptions(today=date(2026, 2, 1))
    build(root, options, cache=cache_store.BuildCache.for_site(root))
    kept = list((root / "build" / ".cache" / "templates").rglob("*.cache"))
    assert kept  # the footer's, at least (the packaged ones are kept with the package)
    (root / "templates" / "footer.html").write_text(footer + "<!-- second -->\n")
    build(root, options, cache=cache_store.BuildCache.for_site(root))  # as a new process
    page = (root / "build" / "site" / "one" / "index.html").read_text()
    assert "<!-- second -->" in page and "<!-- first -->" not in page
    read_only = cache_store.BuildCache.for_site(root).reading()
    assert read_only.compiled_templates() is None  # `check` writes none

"""Each essay parsed once and each body rendered once per channel: a cold build renders every
body from the tokens it has just parsed, the cache keeps the bodies (never the tokens), and
the outputs are the same bytes whether the cache is cold, warm or off."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it.token import Token

import publish.content.essays
import publish.pipeline.build
import publish.pipeline.place
from bench.generate import generate
from publish.cache import outputs as memo
from publish.cache import parses as cache
from publish.cache import reading
from publish.cache import store as cache_store
from publish.content.glossary import load_glossary
from publish.content.markdown import build_parser
from publish.layout import CACHE_DIR
from publish.pipeline.build import BuildOptions, build
from tests.cachepacks import records
from tests.test_cache import (
    REPO,
    TODAY,
    build_in_a_fresh_process,
    same_tree,
)

LINKING_ESSAY = """---
title: Links Between Essays
date: 2020-05-05
---
As [the second essay](../essay-00002/#a-part) said, and [the third](00003.md) too, and
[this one](../links-between-essays/) repeats.

![Three notebooks](images/commonplace.svg)
"""


@pytest.fixture
def tokens_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many markdown-it tokens this process has made so far (one counter)."""
    made = [0]
    real = Token.__init__

    def counting(self, *args, **kwargs):
        made[0] += 1
        real(self, *args, **kwargs)

    monkeypatch.setattr(Token, "__init__", counting)
    yield made


def linked_site(root: Path) -> Path:
    """A generated site of 12 essays, plus one linking to others (by page and by file) and
    showing an image, so that some bodies depend on more than their own essay."""
    generate(12, root)
    (root / "essays" / "images").mkdir()
    shutil.copy(REPO / "essays" / "images" / "commonplace.svg", root / "essays" / "images")
    (root / "essays" / "links.md").write_text(LINKING_ESSAY, encoding="utf-8")
    return root


def serial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parse and render in this process (so that its counters see everything)."""
    monkeypatch.setattr(reading, "PARALLEL_THRESHOLD", 10**9)
    monkeypatch.setattr(publish.pipeline.place, "PARALLEL_THRESHOLD", 10**9)


def remake_everything(root: Path) -> None:
    """Drop the built folders and their memos (not the essay records), so that the next
    build makes every file again from what the cache keeps."""
    for name in ("site", "email"):
        shutil.rmtree(root / "build" / name)
    for manifest in (root / memo.OUTPUTS_DIR).glob("*.manifest"):
        manifest.unlink()


def test_cold_warm_and_uncached_builds_write_the_same_bytes(tmp_path, monkeypatch):
    cold = linked_site(tmp_path / "cold")
    build_in_a_fresh_process(cold, parse_threshold=2, render_threshold=2)  # forked workers
    assert len(records(cold)) == 13
    kept = tmp_path / "kept"
    shutil.copytree(cold / "build", kept, ignore=shutil.ignore_patterns(".*"))
    remake_everything(cold)
    build(cold, BuildOptions(today=TODAY))  # every file made again from the kept bodies
    uncached = linked_site(tmp_path / "uncached")
    monkeypatch.setenv(cache_store.NO_CACHE_ENV, "1")
    build(uncached, BuildOptions(today=TODAY))
    assert not (uncached / CACHE_DIR).exists()
    for output in ("site", "email"):
        assert same_tree(kept / output, cold / "build" / output), f"warm {output}"
        assert same_tree(kept / output, uncached / "build" / output), f"uncached {output}"


def test_a_cold_build_makes_each_token_once(tmp_path, monkeypatch, tokens_made):
    serial(monkeypatch)
    uncached = generate(12, tmp_path / "uncached")
    monkeypatch.setenv(cache_store.NO_CACHE_ENV, "1")
    build(uncached, BuildOptions(today=TODAY))  # parses once, renders from memory
    parsing_and_rendering = tokens_made[0]
    monkeypatch.delenv(cache_store.NO_CACHE_ENV)
    cold = generate(12, tmp_path / "cold")
    tokens_made[0] = 0
    build(cold, BuildOptions(today=TODAY))
    assert tokens_made[0] == parsing_and_rendering, "the cache made tokens of its own"


def test_a_warm_build_reuses_bodies_without_parsing(tmp_path, monkeypatch, tokens_made, parsed):
    serial(monkeypatch)
    root = generate(12, tmp_path / "site")
    build(root, BuildOptions(today=TODAY))
    tokens_made[0] = 0
    load_glossary(root, build_parser())
    glossary_only = tokens_made[0]
    remake_everything(root)
    parsed.clear()
    tokens_made[0] = 0
    build(root, BuildOptions(today=TODAY))  # every page, feed and email made again
    assert parsed == []
    assert tokens_made[0] == glossary_only, "a body was rendered from tokens again"


def test_essays_with_links_and_images_are_parsed_once(tmp_path, monkeypatch, parsed):
    serial(monkeypatch)
    root = linked_site(tmp_path / "site")
    build(root, BuildOptions(today=TODAY))
    assert sorted(parsed) == sorted(p.name for p in (root / "essays").glob("*.md")), (
        "an essay was parsed again for a body its worker did not render"
    )


def test_records_keep_rendered_bodies_not_tokens(tmp_path):
    root = generate(12, tmp_path / "site")
    build(root, BuildOptions(today=TODAY))
    page = (root / "build" / "site" / "essay-00003" / "index.html").read_text(encoding="utf-8")
    for record in records(root):
        data = record.read()
        key = cache_store.HEADER.unpack_from(data)[2]
        _, (start, length) = cache_store.unpack_record(data, cache.MAGIC, key)
        assert b"paragraph_open" not in data[start : start + length]
    essay_record = next(r for r in records(root) if b"essay-00003" in r.read())
    first_note = page.split('<section class="footnotes"')[0].rsplit("</p>", 1)[0][-200:]
    assert first_note.encode() in essay_record.read(), "the page's body is kept as is"

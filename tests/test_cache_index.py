"""The index of essay records: a rebuild reads one file, and a damaged or stale index is
never served (the records are read instead)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bench.generate import generate
from publish.cache import index as record_index
from publish.cache import parses
from publish.layout import CACHE_DIR
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load
from tests.sitebuilder import due_since_long_ago

TODAY = date(2030, 1, 1)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A generated site of 12 essays, built once."""
    root = due_since_long_ago(generate(12, tmp_path / "site"))
    build(root, BuildOptions(today=TODAY))
    return root


@pytest.fixture
def heads_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The record files whose head was read from the record itself (not from the index)."""
    seen: list[str] = []
    real = parses.read_record_head

    def spy(path, magic, key):
        seen.append(path.name)
        return real(path, magic, key)

    monkeypatch.setattr(parses, "read_record_head", spy)
    yield seen


def index_file(root: Path) -> Path:
    """Where a site's index of essay records is kept."""
    return root / CACHE_DIR / record_index.INDEX_NAME


def essays_of(root: Path) -> list[tuple]:
    """What the listing pages know of each essay, as the build loads it."""
    return [
        (e.path, e.slug, e.title, e.date, e.tags, e.summary, e.word_count, e.content_hash)
        for e in load(root).files.essays
    ]


def test_a_rebuild_reads_the_index_instead_of_every_record(corpus, heads_read, parsed):
    assert index_file(corpus).is_file()
    essays_of(corpus)
    assert heads_read == [] and parsed == []


def test_an_edited_essay_is_read_from_its_new_record_and_indexed(corpus, heads_read, parsed):
    path = corpus / "essays" / "00005.md"
    path.write_text(path.read_text(encoding="utf-8").replace("title: ", "title: Edited "))
    build(corpus, BuildOptions(today=TODAY))
    assert parsed == ["00005.md"]
    heads_read.clear()
    titles = [title for _, slug, title, *_ in essays_of(corpus) if slug == "essay-00005"]
    assert titles and titles[0].startswith("Edited ")
    assert heads_read == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_a_damaged_index_falls_back_to_the_records(corpus, heads_read, parsed, damage):
    expected = essays_of(corpus)
    data = bytearray(index_file(corpus).read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) - 40]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"PUBINDEX" + bytes(200))
    index_file(corpus).write_bytes(bytes(data))
    assert essays_of(corpus) == expected
    assert len(heads_read) == 12 and parsed == []
    heads_read.clear()
    assert essays_of(corpus) == expected, "the index was not written again"
    assert heads_read == []


def test_a_stale_index_entry_is_not_served(corpus, heads_read, parsed):
    """A record replaced under the same name (its stamp moved) is read from the record, and
    a damaged one is parsed again, whatever the index says of it."""
    expected = essays_of(corpus)
    record = sorted((corpus / CACHE_DIR / "essays").glob("*.rec"))[3]
    data = bytearray(record.read_bytes())
    data[60] ^= 0xFF  # in the header's checksum: the record no longer holds
    record.write_bytes(bytes(data))
    assert essays_of(corpus) == expected
    # read once as the index failed to vouch for it, once more as its new record is indexed
    assert set(heads_read) == {record.name} and len(parsed) == 1

"""The index of essay records: a rebuild reads one file, and a damaged or stale index is
never served (the records are read instead)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import generate
from publish.cache import index as record_index
from publish.cache import packs, parses
from publish.layout import CACHE_DIR
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load
from publish.support import stamps
from tests.cachepacks import last_of_a_pack, pack_files, records
from tests.sitebuilder import due_since_long_ago, invoke

TODAY = date(2030, 1, 1)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A generated site of 12 essays, built once."""
    root = due_since_long_ago(generate(12, tmp_path / "site"))
    build(root, BuildOptions(today=TODAY))
    return root


@pytest.fixture
def heads_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The packs of each record whose head was read from its pack (not from the index)."""
    seen: list[str] = []
    real = packs.scan_pack

    def spy(path, magic):
        for found in real(path, magic):
            seen.append(path.name)
            yield found

    monkeypatch.setattr(packs, "scan_pack", spy)
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
    """A pack changed since the index was kept (its stamp moved) is read record by record,
    and a damaged record is parsed again, whatever the index says of it."""
    expected = essays_of(corpus)
    record = last_of_a_pack(corpus)
    before = [r for r in records(corpus) if r.pack == record.pack]
    data = bytearray(record.read())
    data[60] ^= 0xFF  # in the header's checksum: the record no longer holds
    record.rewrite(bytes(data))
    assert essays_of(corpus) == expected
    # the records before it in its pack read from the pack, then nothing more
    assert set(heads_read) == {record.pack.name} and len(parsed) == 1
    assert len(heads_read) == len(before) - 1


def _retitle(root: Path, number: int) -> None:
    path = _essay(root, number)
    path.write_text(path.read_text(encoding="utf-8").replace("title: ", "title: Retitled "))


def _redate(root: Path, number: int) -> None:
    path = _essay(root, number)
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^date: .*$", "date: 2029-12-31", text, count=1))


def _append(root: Path, number: int) -> None:
    path = _essay(root, number)
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more closing sentence.\n")


def _remove(root: Path, number: int) -> None:
    _essay(root, number).unlink(missing_ok=True)


def _add(root: Path, number: int) -> None:
    title = f"Added {number}"  # two added essays never share a slug
    text = f'---\ntitle: "{title}"\ndate: 2020-02-02\ntags: [added]\n---\nA new essay.\n'
    (root / "essays" / f"added-{number}.md").write_text(text, encoding="utf-8")


def _edit_glossary(root: Path, number: int) -> None:
    entry = sorted((root / "footnotes").glob("*.md"))[number]
    entry.write_text(entry.read_text(encoding="utf-8").rstrip() + " Revised.\n")


def _damage_index(root: Path, number: int) -> None:
    path = index_file(root)
    if path.is_file():
        data = bytearray(path.read_bytes())
        data[len(data) * (number + 1) // 5] ^= 0xFF
        path.write_bytes(bytes(data))


def _drop_record(root: Path, number: int) -> None:
    found = records(root)
    if found:
        found[number % len(found)].rewrite(b"")  # the records after it move up


def _truncate_pack(root: Path, number: int) -> None:
    found = pack_files(root)
    if found:
        pack = found[number % len(found)]
        data = pack.read_bytes()
        pack.write_bytes(data[: len(data) * number // 4])  # torn, as a killed append leaves it


def _flip_pack_byte(root: Path, number: int) -> None:
    found = pack_files(root)
    if found:
        pack = found[number % len(found)]
        data = bytearray(pack.read_bytes())
        data[len(data) * (number + 1) // 5] ^= 0x40
        stamp = pack.stat()
        pack.write_bytes(bytes(data))
        os.utime(pack, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # its stamp as it was


def _remove_pack(root: Path, number: int) -> None:
    found = pack_files(root)
    if found:
        found[number % len(found)].unlink()


def _essay(root: Path, number: int) -> Path:
    found = sorted((root / "essays").glob("*.md"))
    return found[number % len(found)] if found else root / "essays" / "none.md"


EDITS = {
    "body": _append,
    "title": _retitle,
    "date": _redate,
    "essay removed": _remove,
    "essay added": _add,
    "glossary term edited": _edit_glossary,
    "index damaged": _damage_index,
    "index removed": lambda root, _: index_file(root).unlink(missing_ok=True),
    "record removed": _drop_record,
    "pack truncated": _truncate_pack,
    "pack byte flipped, its stamp kept": _flip_pack_byte,
    "pack removed": _remove_pack,
}


def outputs(root: Path) -> dict[str, dict[str, bytes]]:
    """Every file a build left in the site and email folders, with its bytes."""
    return {
        name: {
            p.relative_to(root / "build" / name).as_posix(): p.read_bytes()
            for p in (root / "build" / name).rglob("*")
            if p.is_file()
        }
        for name in ("site", "email")
    }


@settings(max_examples=16)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(sorted(EDITS)), st.integers(0, 3)), min_size=1, max_size=3
    )
)
def test_any_edit_builds_exactly_what_a_build_without_cache_builds(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[str, int]]
) -> None:
    root = due_since_long_ago(generate(5, tmp_path_factory.mktemp("cached") / "site"))
    built(root)
    built(root)  # the fast path's manifest too
    for kind, number in edits:
        EDITS[kind](root, number)
        built(root)
    fresh = tmp_path_factory.mktemp("fresh") / "site"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns("build"))
    with mock.patch.dict(os.environ, {"PUBLISH_NO_CACHE": "1"}):
        built(fresh)
    assert outputs(root) == outputs(fresh)


def built(root: Path) -> None:
    """`publish build` of the site, as the command line runs it; it must succeed."""
    result = invoke(root, "build", "--today", TODAY.isoformat())
    assert result.exit_code == 0, result.output


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The essay files read and hashed for their cache key (not known by their stamp)."""
    seen: list[str] = []
    real = parses.essay_key

    def spy(relative, raw, settings, base=None):
        seen.append(Path(relative).name)
        return real(relative, raw, settings, base)

    monkeypatch.setattr(parses, "essay_key", spy)
    yield seen


@pytest.fixture
def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled as soon as they are written (no clock tick to wait out)."""
    monkeypatch.setattr(stamps, "RACY_NS", 0, raising=False)


def test_an_essay_file_that_keeps_its_stamp_is_not_read_again(
    settled_at_once, tmp_path, keyed, parsed
):
    root = due_since_long_ago(generate(12, tmp_path / "site"))
    build(root, BuildOptions(today=TODAY))
    keyed.clear()
    parsed.clear()
    essays_of(root)
    assert keyed == [] and parsed == []
    path = root / "essays" / "00005.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    essays_of(root)
    assert keyed == ["00005.md"] and parsed == ["00005.md"]


def test_keys_kept_under_other_settings_are_not_used(settled_at_once, tmp_path, keyed, parsed):
    root = due_since_long_ago(generate(12, tmp_path / "site"))
    build(root, BuildOptions(today=TODAY))
    toml = root / "publish.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"UTC"', '"Europe/Paris"'))
    keyed.clear()
    parsed.clear()
    essays = load(root).files.essays
    assert len(keyed) == 12 and len(parsed) == 12
    assert all(str(e.date.tzinfo) == "Europe/Paris" for e in essays)


def test_a_file_changed_within_a_clock_tick_of_its_reading_is_never_known_by_its_stamp(
    corpus, keyed
):
    """The corpus was written just before its build: no key is kept by stamp, so a change
    that a coarse clock would not show in the file's times is still read."""
    keyed.clear()
    essays_of(corpus)
    assert len(keyed) == 12

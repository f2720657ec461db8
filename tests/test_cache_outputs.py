"""Output keys (`publish.cache.outputs`): an essay's fingerprint tells apart exactly the
essays whose fields differ, as the `repr` of its fields (the full comparison) would."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from publish.cache.bodies import KeptBody
from publish.cache.outputs import ESSAY_FIELDS, essay_fingerprint, output_key
from publish.cache.records import essay_from_record, essay_to_record
from publish.model import Essay, Glossary, ImageSize, Located, Note

NO_GLOSSARY = Glossary({})
# zones that share an offset on the dates drawn: only their names tell them apart
ZONES = (
    None,
    UTC,
    ZoneInfo("UTC"),
    ZoneInfo("Europe/London"),
    ZoneInfo("Africa/Abidjan"),
    timezone(timedelta(hours=1)),
    ZoneInfo("Europe/Paris"),
)

texts = st.text(max_size=6)
located = st.builds(Located, texts, st.integers(1, 9), st.integers(1, 9))
dates = st.none() | st.builds(
    lambda moment, zone, fold: moment.replace(tzinfo=zone, fold=fold),
    st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)),
    st.sampled_from(ZONES),
    st.integers(0, 1),
)
FIELDS = {
    "path": texts,
    "slug": texts,
    "title": texts,
    "subtitle": texts,
    "date": dates,
    "author": texts,
    "tags": st.tuples(texts) | st.just(()),
    "category": texts,
    "summary": texts,
    "image": texts,
    "image_alt": texts,
    "image_credit": texts,
    "draft": st.booleans(),
    "order": st.none() | st.integers(-2, 2),
    "body_line": st.integers(0, 3),
    "notes": st.lists(
        st.builds(Note, st.integers(1, 3), texts, st.none() | texts, st.integers(0, 2)),
        max_size=2,
    ).map(tuple),
    "word_count": st.integers(0, 3),
    "content_hash": texts,
    "aliases": st.lists(texts, max_size=2).map(tuple),
    "images": st.lists(located, max_size=2).map(tuple),
    "links": st.lists(located, max_size=2).map(tuple),
    "link_targets": st.lists(st.tuples(texts, texts), max_size=2).map(tuple),
    "image_sizes": st.lists(
        st.builds(ImageSize, texts, st.integers(0, 9), st.integers(0, 9)), max_size=2
    ).map(tuple),
    "language": texts,
}
essays = st.fixed_dictionaries(FIELDS).map(
    lambda fields: Essay(**fields, tokens=KeptBody(Path("kept.rec"), {}, 3, None))
)


def shown(essay: Essay) -> str:
    """The full comparison: every field an output sees, by its `repr` (the date's zone and
    fold included)."""
    moment = essay.date
    date = None if moment is None else (moment.isoformat(), moment.fold, repr(moment.tzinfo))
    return repr([date if name == "date" else getattr(essay, name) for name in ESSAY_FIELDS])


def test_every_field_but_the_tokens_is_fingerprinted() -> None:
    assert set(ESSAY_FIELDS) == set(FIELDS)


@given(essays, essays)
def test_fingerprints_differ_exactly_when_the_fields_do(first: Essay, second: Essay) -> None:
    same = essay_fingerprint(first, NO_GLOSSARY) == essay_fingerprint(second, NO_GLOSSARY)
    assert same == (shown(first) == shown(second))


@given(essays, st.sampled_from(sorted(FIELDS)), st.data())
def test_changing_any_one_field_changes_the_fingerprint(essay, name, data) -> None:
    value = data.draw(FIELDS[name].filter(lambda v: repr(v) != repr(getattr(essay, name))))
    changed = msgspec.structs.replace(essay, **{name: value})
    if shown(changed) != shown(essay):  # 1 and True, say, print alike but are not alike
        assert essay_fingerprint(changed, NO_GLOSSARY) != essay_fingerprint(essay, NO_GLOSSARY)


def plain_essay(**fields: object) -> Essay:
    """An essay with a kept parse, its fields empty but for `fields`."""
    given = {
        **dict.fromkeys(("path", "slug", "title", "subtitle", "author", "category"), ""),
        **dict.fromkeys(("summary", "image", "image_alt", "image_credit", "content_hash"), ""),
        **{"date": None, "tags": (), "draft": False, "order": None, "body_line": 1},
        **{"notes": (), "word_count": 1},
        **fields,
    }
    return Essay(**given, tokens=KeptBody(Path("kept.rec"), {}, 3, None))


def test_a_zone_of_the_same_offset_changes_the_fingerprint() -> None:
    moment = datetime(2030, 1, 1, 9, 0)
    zones = (UTC, ZoneInfo("UTC"), ZoneInfo("Europe/London"))
    fingerprints = {
        essay_fingerprint(plain_essay(date=moment.replace(tzinfo=zone)), NO_GLOSSARY)
        for zone in zones
    }
    assert len(fingerprints) == len(zones)


def test_an_essay_without_a_kept_parse_has_no_fingerprint() -> None:
    essay = msgspec.structs.replace(plain_essay(), tokens=())
    assert essay_fingerprint(essay, NO_GLOSSARY) is None


def test_text_utf8_cannot_hold_is_fingerprinted_too() -> None:
    names = ("essays/caf\udce9.md", "essays/caf\udce8.md", "essays/café.md")
    fingerprints = {essay_fingerprint(plain_essay(path=name), NO_GLOSSARY) for name in names}
    assert None not in fingerprints and len(fingerprints) == len(names)


def test_an_essay_as_read_from_its_record_is_fingerprinted_by_the_record() -> None:
    essay = plain_essay(title="One")
    read = essay.tokens.read_as(essay, b"the record's metadata")
    assert read is essay
    by_fields = essay_fingerprint(plain_essay(title="One"), NO_GLOSSARY)
    assert essay_fingerprint(essay, NO_GLOSSARY) not in (None, by_fields)
    other = plain_essay(title="One")
    other.tokens.read_as(other, b"another record's metadata")
    assert essay_fingerprint(other, NO_GLOSSARY) != essay_fingerprint(essay, NO_GLOSSARY)


@given(essays, st.sampled_from(sorted(FIELDS)), st.data())
def test_an_essay_changed_after_it_was_read_is_fingerprinted_by_its_fields(
    essay, name, data
) -> None:
    essay.tokens.read_as(essay, b"the record's metadata")
    value = data.draw(FIELDS[name])
    changed = msgspec.structs.replace(essay, **{name: value})  # a release's date, say
    unread = msgspec.structs.replace(
        changed, tokens=KeptBody(Path("kept.rec"), {}, 3, None)
    )  # the same fields, never read from a record
    assert essay_fingerprint(changed, NO_GLOSSARY) == essay_fingerprint(unread, NO_GLOSSARY)
    assert essay_fingerprint(changed, NO_GLOSSARY) != essay_fingerprint(essay, NO_GLOSSARY)


def test_an_essay_just_stored_is_fingerprinted_by_its_record_only_if_it_reads_back_the_same():
    essay = plain_essay(title="One", date=datetime(2030, 1, 1, 9, 0, tzinfo=ZoneInfo("UTC")))
    meta = essay_to_record(essay, [], (), 3, {})
    read_back = essay_from_record(meta)[0]
    read = msgspec.structs.replace(read_back, tokens=KeptBody(Path("kept.rec"), {}, 3, None))
    read.tokens.read_as(read, meta)
    stored = plain_essay(title="One", date=essay.date)
    stored.tokens.stored_as(stored, meta)
    assert essay_fingerprint(stored, NO_GLOSSARY) == essay_fingerprint(read, NO_GLOSSARY)
    for other in (UTC, timezone(timedelta(0))):  # the same instant, another zone
        moved = plain_essay(title="One", date=essay.date.replace(tzinfo=other))
        moved.tokens.stored_as(moved, meta)
        assert essay_fingerprint(moved, NO_GLOSSARY) != essay_fingerprint(read, NO_GLOSSARY)
    sized = plain_essay(title="One", date=essay.date, image_sizes=(ImageSize("a.png", 1, 1),))
    sized.tokens.stored_as(sized, meta)  # a field the record does not keep
    assert essay_fingerprint(sized, NO_GLOSSARY) != essay_fingerprint(read, NO_GLOSSARY)


def streamed_key(base: bytes, kind: str, parts: list[bytes | str]) -> str:
    """An output's key as a stream of its parts, each hashed with a NUL after it."""
    digest = hashlib.sha256(base + kind.encode() + b"\0")
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


@given(st.binary(max_size=8), texts, st.lists(st.binary(max_size=6) | texts, max_size=5))
def test_an_output_key_hashes_each_part_and_a_nul_after_it(base, kind, parts) -> None:
    assert output_key(base, kind, parts) == streamed_key(base, kind, parts)
    assert output_key(base, kind, [*parts, None]) is None


@given(essays)
def test_a_record_reads_back_every_field_it_keeps(essay: Essay) -> None:
    try:
        meta = essay_to_record(essay, [], (), 3, {})
    except ValueError:  # text UTF-8 cannot hold: such an essay is kept in memory, not stored
        return
    read = essay_from_record(meta)[0]
    kept = [name for name in ESSAY_FIELDS if name not in ("link_targets", "image_sizes")]
    assert [getattr(read, name) for name in kept] == [getattr(essay, name) for name in kept]
    assert repr(read.date) == repr(essay.date)  # the zone's name and the fold too

"""The record of one parsed essay: MessagePack, its shape and types checked when read.

A record holds what later builds reuse, in two parts: the essay without its tokens (what the
listing pages need), its warnings, the glossary entries it cited and an index of its
rendered bodies; then the bodies themselves, each read only when an output asks for it.
MessagePack holds only data (text, numbers, lists, tables): unlike pickle, reading it can
never run code, and msgspec checks every field's type as it decodes, in C.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from publish.errors import Problem
from publish.model import Essay, Glossary, Note

Dependency = tuple[str, str, str]  # label cited, glossary key it resolved to, entry fingerprint
Span = tuple[int, int, int]  # where one rendered body lies: offset, length, crc32 of its bytes


class EssayRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """An essay without its tokens; its date as [wall-clock ISO text, fold, zone name or
    UTC offset in seconds or None], so a zone read back is the zone stored."""

    path: str
    slug: str
    title: str
    subtitle: str
    date: tuple[str, int, str | float | None] | None
    author: str
    tags: tuple[str, ...]
    category: str
    summary: str
    image: str
    image_alt: str
    image_credit: str
    draft: bool
    order: int | None
    body_line: int
    notes: tuple[tuple[int, str, str | None, int], ...]
    word_count: int
    content_hash: str
    aliases: tuple[str, ...] = ()  # old addresses, redirected to the essay
    images: tuple[tuple[str, int, int], ...] = ()  # located image sources
    links: tuple[tuple[str, int, int], ...] = ()  # located link destinations
    language: str = ""  # the essay's own language, from its front matter


class BodyIndex(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """How many tokens the essay's parse made, and where each rendered body lies in the
    record's second part: its key, offset, length and the crc32 of its UTF-8 bytes."""

    count: int
    spans: tuple[tuple[str, int, int, int], ...]


class CacheRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """A record's metadata: the essay, its warnings, what it cited and its bodies' index."""

    essay: EssayRecord
    problems: tuple[tuple[str, int, int, str, Literal["error", "warning"]], ...]
    dependencies: tuple[tuple[str, str, str], ...]
    bodies: BodyIndex


def glossary_dependencies(essay: Essay, glossary: Glossary) -> tuple[Dependency, ...]:
    """The glossary entries an essay's parse took in, by the label that cited each."""
    dependencies = []
    for note in essay.notes:
        entry = glossary.entries.get(note.glossary_key) if note.glossary_key else None
        if entry is not None:
            dependencies.append((note.label, entry.key, entry.fingerprint))
    return tuple(dependencies)


def dependencies_hold(dependencies: Sequence[Dependency], glossary: Glossary) -> bool:
    """Whether every cited label still resolves to the same, unchanged glossary entry."""
    for label, key, fingerprint in dependencies:
        entry = glossary.lookup(label)
        if entry is None or entry.key != key or entry.fingerprint != fingerprint:
            return False
    return True


@cache
def _record_decoder() -> msgspec.msgpack.Decoder[CacheRecord]:
    """The decoder of records (made on first use: a cold build reads no record, and making
    it resolves the types of every field of an essay)."""
    return msgspec.msgpack.Decoder(CacheRecord)


_ENCODER = msgspec.msgpack.Encoder()


def pack(value: Any) -> bytes:
    """MessagePack bytes; a ValueError for anything MessagePack cannot hold exactly."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def pack_bodies(bodies: Mapping[str, str]) -> tuple[bytes, dict[str, Span]]:
    """The record's part of rendered bodies, a MessagePack array of their texts (so the whole
    record is plain data), and the span of each text's UTF-8 bytes in it, by key (so that one
    body is read without decoding the others); a ValueError for text UTF-8 cannot hold.
    Each text is encoded once, by MessagePack: its span and checksum are taken from the
    packed string, after the string's own header."""
    items = [pack(text) for text in bodies.values()]
    header = pack([None] * len(items))[: -len(items) or None]  # the array's own header
    spans, offset = {}, len(header)
    for key, item in zip(bodies, items, strict=True):
        start = STRING_HEADERS[item[0]]
        data = memoryview(item)[start:]
        spans[key] = (offset + start, len(data), zlib.crc32(data))
        offset += len(item)
    return b"".join([header, *items]), spans


# The size of a MessagePack string's header by its first byte: fixstr (the length in the
# byte itself), str 8, str 16 and str 32 (the length in the 1, 2 or 4 bytes after it).
STRING_HEADERS = {**dict.fromkeys(range(0xA0, 0xC0), 1), 0xD9: 2, 0xDA: 3, 0xDB: 5}


def essay_to_record(
    essay: Essay,
    problems: Sequence[Problem],
    dependencies: Sequence[Dependency],
    count: int,
    spans: Mapping[str, Span],
) -> bytes:
    """The record's metadata: the essay without its tokens, its warnings, what it cited, its
    token count and where its bodies lie."""
    fields = {name: getattr(essay, name) for name in EssayRecord.__struct_fields__}
    fields["date"] = _date_to_record(essay.date)
    fields["notes"] = tuple((n.number, n.label, n.glossary_key, n.references) for n in essay.notes)
    return pack(
        CacheRecord(
            essay=EssayRecord(**fields),
            problems=tuple((p.path, p.line, p.col, p.message, p.severity) for p in problems),
            dependencies=tuple(dependencies),
            bodies=BodyIndex(count, tuple((key, *span) for key, span in spans.items())),
        )
    )


def essay_from_record(
    data: bytes,
) -> tuple[Essay, list[Problem], tuple[Dependency, ...], int, dict[str, Span]]:
    """Read `essay_to_record`'s metadata back; a ValueError for anything else."""
    try:
        record = _record_decoder().decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    fields = msgspec.structs.asdict(record.essay)
    fields["date"] = _date_from_record(record.essay.date)
    fields["notes"] = tuple([Note(a, b, c, d) for a, b, c, d in record.essay.notes])
    essay = Essay(**fields, tokens=())
    spans = {key: (offset, length, crc) for key, offset, length, crc in record.bodies.spans}
    problems = [Problem(*p) for p in record.problems]
    return essay, problems, record.dependencies, record.bodies.count, spans


def holds_as_is(meta: bytes, essay: Essay) -> bool:
    """Whether the record metadata `meta` reads back as exactly `essay` (but its tokens):
    every field equal, the date's zone and fold too."""
    try:
        read = essay_from_record(meta)[0]
    except (ValueError, TypeError, KeyError, RecursionError):
        return False
    same = msgspec.structs.replace(read, tokens=essay.tokens) == essay
    return same and repr(read.date) == repr(essay.date)  # == alone sees instants only


def _date_to_record(moment: datetime | None) -> tuple[str, int, str | float | None] | None:
    """A date as [wall-clock ISO text, fold, zone name or UTC offset in seconds or None]."""
    if moment is None:
        return None
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo):
        where: str | float | None = zone.key
    elif isinstance(zone, timezone):
        where = zone.utcoffset(None).total_seconds()
    elif zone is None:
        where = None
    else:
        raise ValueError(f"a date in the time zone {zone!r} cannot be stored")
    return (moment.replace(tzinfo=None).isoformat(), moment.fold, where)


def _date_from_record(value: tuple[str, int, str | float | None] | None) -> datetime | None:
    """Read `_date_to_record` back (a ValueError if it names no date or zone)."""
    if value is None:
        return None
    text, fold, where = value
    moment = datetime.fromisoformat(text)
    if isinstance(where, str):
        try:
            zone: ZoneInfo | timezone | None = ZoneInfo(where)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(str(exc)) from None
    else:
        zone = moment.tzinfo if where is None else timezone(timedelta(seconds=where))
    return moment.replace(fold=fold, tzinfo=zone)  # one copy, not one per part

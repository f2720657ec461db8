"""The record of one parsed essay: MessagePack, its shape and types checked when read.

A record holds what later builds reuse: the essay without its tokens (what the listing pages
need), its warnings, the glossary entries it cited, and where each of its rendered bodies
lies in the essay's bodies file. MessagePack holds only data (text, numbers, lists,
tables): unlike pickle, reading it can never run code, and msgspec checks every field's
type as it decodes, in C.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from publish.errors import Problem
from publish.model import Essay, Note

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


class CacheRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """A record's metadata: the essay, its warnings, what it cited and its token count."""

    essay: EssayRecord
    problems: tuple[tuple[str, int, int, str, Literal["error", "warning"]], ...]
    dependencies: tuple[tuple[str, str, str], ...]
    count: int


_RECORD_DECODER = msgspec.msgpack.Decoder(CacheRecord)
_INDEX_DECODER = msgspec.msgpack.Decoder(tuple[tuple[str, int, int, int], ...])
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()


def pack(value: Any) -> bytes:
    """MessagePack bytes; a ValueError for anything MessagePack cannot hold exactly."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def unpack(data: bytes) -> Any:
    """Plain data (text, numbers, lists, tables) from MessagePack bytes."""
    return _DECODER.decode(data)


def essay_to_record(
    essay: Essay, problems: Sequence[Problem], dependencies: Sequence[Dependency], count: int
) -> bytes:
    """The record's metadata: the essay without its tokens, its warnings and what it cited."""
    fields = {name: getattr(essay, name) for name in EssayRecord.__struct_fields__}
    fields["date"] = _date_to_record(essay.date)
    fields["notes"] = tuple((n.number, n.label, n.glossary_key, n.references) for n in essay.notes)
    return pack(
        CacheRecord(
            essay=EssayRecord(**fields),
            problems=tuple((p.path, p.line, p.col, p.message, p.severity) for p in problems),
            dependencies=tuple(dependencies),
            count=count,
        )
    )


def essay_from_record(data: bytes) -> tuple[Essay, list[Problem], tuple[Dependency, ...], int]:
    """Read `essay_to_record`'s metadata back; a ValueError for anything else."""
    try:
        record = _RECORD_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    fields = msgspec.structs.asdict(record.essay)
    fields["date"] = _date_from_record(record.essay.date)
    fields["notes"] = tuple(Note(*note) for note in record.essay.notes)
    essay = Essay(**fields, tokens=())
    return essay, [Problem(*p) for p in record.problems], record.dependencies, record.count


def index_to_record(spans: Mapping[str, Span]) -> bytes:
    """The record's index of rendered bodies: each body's key and span in the bodies file."""
    return pack(tuple((key, *span) for key, span in spans.items()))


def index_from_record(data: bytes) -> dict[str, Span]:
    """Read `index_to_record`'s index back; a ValueError for anything else."""
    try:
        rows = _INDEX_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    return {key: (offset, length, crc) for key, offset, length, crc in rows}


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
    moment = datetime.fromisoformat(text).replace(fold=fold)
    if isinstance(where, str):
        try:
            return moment.replace(tzinfo=ZoneInfo(where))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(str(exc)) from None
    if where is None:
        return moment
    return moment.replace(tzinfo=timezone(timedelta(seconds=where)))

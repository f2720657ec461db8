"""An essay record's bodies part (publish.cache.records.pack_bodies) and its writing
(publish.cache.packs): each body's span points at its UTF-8 bytes inside the MessagePack
array, whatever the size of its string header; each body is encoded once, by MessagePack,
and a record is written as it lies, never copied in halves."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish.cache import packs, records
from publish.cache.packs import PackWriter
from publish.cache.records import pack_bodies

# lengths on both sides of each MessagePack string header's limit (fixstr, str 8, str 16)
LENGTHS = st.sampled_from([0, 1, 31, 32, 255, 256, 65535, 65536]) | st.integers(0, 300)
BODY_TEXT = st.builds(
    lambda piece, length: (piece * (length // max(len(piece), 1) + 1))[:length],
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=4),
    LENGTHS,
)


@given(texts=st.lists(BODY_TEXT, max_size=4))
def test_each_body_span_holds_its_utf8_bytes_and_checksum(texts: list[str]) -> None:
    """The part decodes to the texts, and each span (offset, length, crc32) is the text's
    UTF-8 bytes within it, for strings of every header size and in any script."""
    bodies = {f"key-{index}": text for index, text in enumerate(texts)}
    data, spans = pack_bodies(bodies)
    assert msgspec.msgpack.decode(data) == texts
    for key, text in bodies.items():
        offset, length, crc = spans[key]
        expected = text.encode("utf-8")
        assert data[offset : offset + length] == expected
        assert crc == zlib.crc32(expected)


def test_a_body_is_encoded_once_its_checksum_taken_from_the_packed_string(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checksum of each body is taken over the bytes MessagePack wrote for it (a view
    into its packed string), never over a second UTF-8 encoding of its text."""
    summed: list[Any] = []
    real = zlib.crc32

    def spy(data: Any, value: int = 0) -> int:
        summed.append(data)
        return real(data, value)

    monkeypatch.setattr(records.zlib, "crc32", spy)
    pack_bodies({"web": "<p>Caf\u00e9 \u21a9\ufe0e</p>\n", "feed": "<p>plain</p>\n"})
    assert len(summed) == 2
    assert all(isinstance(data, memoryview) for data in summed), "a body encoded twice"


def test_a_record_is_appended_as_it_lies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack's record is written in two halves (a test may stop the process between them)
    that are views of the record, not copies; the pack then holds the record exactly."""
    written: list[Any] = []
    real = packs._write_all

    def spy(descriptor: int, data: Any) -> None:
        written.append(data)
        real(descriptor, data)

    monkeypatch.setattr(packs, "_write_all", spy)
    writer = PackWriter(tmp_path)
    record = bytes(range(256)) * 5
    pack, offset = writer.append(record) or ("", -1)
    writer.close()
    assert offset == 0 and (tmp_path / pack).read_bytes() == record
    assert len(written) == 2 and all(isinstance(part, memoryview) for part in written)

"""The SMTP transport: a message's bytes arrive as they were sent, whatever its lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from publish.mail import transport
from publish.mail.smtp_url import parse_smtp_url
from publish.mail.transport import SMTPTransport
from tests.tools import RawServer

HEAD = b"From: a@example.org\r\nTo: r@example.net\r\nSubject: Dots\r\n\r\n"
LINE_PIECES = [b".", b"..", b".x", b"a.", b"x", b" .", b"\t"]
PIECES = st.sampled_from([*LINE_PIECES, b"\r", b"\n", b"\r\n"])


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    """A started RawServer for the module."""
    with RawServer() as running:
        yield running


@given(st.lists(st.lists(st.sampled_from(LINE_PIECES), max_size=6).map(b"".join), max_size=12))
@example([b".", b"", b"..", b". .", b"end"])
def test_lines_that_start_with_a_dot_arrive_as_they_were_sent(
    server: RawServer, lines: list[bytes]
) -> None:
    message = HEAD + b"\r\n".join(lines) + b"\r\n"
    smtp = SMTPTransport(parse_smtp_url(f"smtp://127.0.0.1:{server.port}"), 0, 0)
    try:
        smtp.send("a@example.org", "r@example.net", message, "dots")
    finally:
        smtp.close()
    assert server.raw[-1] == message


@given(st.lists(PIECES, max_size=40).map(b"".join))
@example(b".\r\n.")
def test_the_data_payload_is_stuffed_without_a_scan_from_every_line_start(
    message: bytes,
) -> None:
    expected = re.sub(rb"(?m)^\.", b"..", message)
    expected += b"" if expected.endswith(b"\r\n") else b"\r\n"
    patterns: list[Any] = []
    substitute = re.sub

    def spied(pattern: Any, *args: Any, **options: Any) -> Any:
        patterns.append(pattern)
        return substitute(pattern, *args, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transport.re, "sub", spied)
        assert transport._dot_stuffed(message) == expected + b".\r\n"
    # an expression tried at every position of a 38 KB message: too much of a send's CPU
    assert not [p for p in patterns if b"(?m)^" in getattr(p, "pattern", p)]

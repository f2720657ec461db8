"""The text parts of a message, encoded exactly as the email package encodes them, faster.

`EmailMessage.set_content(str)` chooses a Content-Transfer-Encoding by the email package's
heuristics and, for quoted-printable, encodes the whole body in one go. Quoted-printable
encodes every line on its own, and the readers' copies of one essay differ only in a few
lines (the greeting, the unsubscribe link), so `TEXT_PARTS` encodes a quoted-printable body
line by line and remembers the lines it has encoded. Every other case (7bit, 8bit, base64)
goes through the email package's own `set_text_content`. A send makes each reader's copy
with it (the build writes its one copy of each email with the package alone);
`tests/test_mime_parts.py` proves that whole messages come out byte for byte as the email
package alone writes them.
"""

from __future__ import annotations

import binascii
import email.charset
from email import quoprimime
from email.contentmanager import ContentManager, set_text_content
from email.message import MIMEPart
from functools import lru_cache
from itertools import repeat
from typing import Any

QP = "quoted-printable"
REMEMBERED_LINES = 4096  # encoded lines kept: a long essay's HTML and text parts, twice over


def set_text_part(msg: MIMEPart, string: str, subtype: str = "plain") -> None:
    """Make `msg` a UTF-8 text part holding `string`, as `set_text_content` would."""
    lines = string.encode("utf-8").splitlines()
    if _chosen_encoding(lines, msg.policy) != QP:
        set_text_content(msg, string, subtype)
        return
    msg["Content-Type"] = f"text/{subtype}"
    body = (b"\n".join(lines) + b"\n").decode("latin-1")
    msg.set_payload(quoted_printable(body, msg.policy.max_line_length))
    msg.set_param("charset", email.charset.ALIASES.get("utf-8", "utf-8"), replace=True)
    msg["Content-Transfer-Encoding"] = QP


def quoted_printable_part(string: str, subtype: str, policy: Any) -> bytes | None:
    """The bytes the email package's generator writes for a part that `set_text_part` makes
    of `string` (its headers, a blank line, the encoded body), when that part is
    quoted-printable; None for any other encoding."""
    lines = string.encode("utf-8").splitlines()
    if _chosen_encoding(lines, policy) != QP:
        return None
    body = (b"\n".join(lines) + b"\n").decode("latin-1")
    newline = policy.linesep
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"{newline}'
        f"Content-Transfer-Encoding: {QP}{newline}{newline}"
    )
    encoded = quoted_printable(body, policy.max_line_length)
    return (head + encoded.replace("\n", newline)).encode("ascii")


def quoted_printable(body: str, max_line_length: int) -> str:
    """`quoprimime.body_encode(body, max_line_length)` for a body of `\\n`-separated lines
    (no CR), one remembered line at a time: the encoding of a line depends on that line
    alone."""
    return "\n".join(map(_encoded_line, body.split("\n"), repeat(max_line_length)))


@lru_cache(maxsize=REMEMBERED_LINES)
def _encoded_line(line: str, max_line_length: int) -> str:
    """One line, quoted-printable, with its soft line breaks."""
    return quoprimime.body_encode(line, max_line_length)


def _chosen_encoding(lines: list[bytes], policy: Any) -> str:
    """The transfer encoding the email package's heuristics choose for these lines (a body
    of ten lines or fewer, which the package encodes from its sniff, counts as not QP)."""
    max_length = policy.max_line_length
    short = max(map(len, lines), default=0) <= max_length
    if short and (all(map(bytes.isascii, lines)) or policy.cte_type == "8bit"):
        return "7bit or 8bit"
    linesep = policy.linesep.encode("ascii")
    sniff = linesep.join(lines[:10]) + linesep
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), max_length)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)) or len(lines) <= 10:
        return "base64, or a body the sniff already holds"
    return QP


TEXT_PARTS = ContentManager()
TEXT_PARTS.add_set_handler(str, set_text_part)

"""An entry's full content as the feeds' XML text: escaped here, once an essay, and put into
the documents feedgen writes, where the entry held a short placeholder.

lxml checks every byte of a text it is given and escapes every byte of it again each time it
writes a document; the content (most of a feed's bytes) is escaped here once instead, as
libxml2 escapes a text node written in UTF-8 (`&`, `<`, `>`, and a carriage return as
`&#13;`). A content lxml would refuse, or that is empty, is given to feedgen as it is (then
the library's own path decides, and refuses, as before).
"""

from __future__ import annotations

import re

# placeholder N stands for the Nth content escaped (see `FeedTexts.placeholder`)
PLACEHOLDER = "publish:feed-content:"
# a placeholder where it stands for a content: the whole text of an entry's content
# element, RSS's or Atom's (a tag is written by no text: lxml escapes every `<` of a text or
# an attribute, and feedgen writes these tags only for an entry's content)
_PLACED = re.compile(re.escape(PLACEHOLDER.encode("ascii")) + rb"(\d+)")
_ELEMENTS = (
    (b"<content:encoded>", b"</content:encoded>"),
    (b'<content type="html">', b"</content>"),
)
# the bytes lxml refuses in a text, as its check does: control characters but tab, newline
# and carriage return (each looked for with memchr, faster than one pass mapping every byte)
_REFUSED = tuple(byte for byte in range(0x20) if byte not in b"\t\n\r")
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")  # U+FFFE and U+FFFF in UTF-8


def escaped_text(text: str) -> bytes | None:
    """`text` as libxml2 writes a text node in a UTF-8 document, or None when lxml would
    refuse it as a text (a control character, a surrogate, U+FFFE or U+FFFF)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if not data.isascii() and any(bad in data for bad in _NONCHARACTERS):
        return None
    if any(refused in data for refused in _REFUSED):
        return None
    escaped = data.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
    return escaped.replace(b"\r", b"&#13;")


class FeedTexts:
    """Contents escaped once, each given a placeholder to hand feedgen in its stead, and
    put back into the documents it writes."""

    def __init__(self) -> None:
        self.escaped: dict[bytes, bytes] = {}  # each content escaped, by its number

    def placeholder(self, content: str) -> str:
        """What to give feedgen as `content`: a placeholder for it, escaped here, or the
        content itself when it is empty or lxml would refuse it."""
        escaped = escaped_text(content) if content else None
        if escaped is None:
            return content
        number = str(len(self.escaped))
        self.escaped[number.encode("ascii")] = escaped
        return f"{PLACEHOLDER}{number}"

    def put_back(self, document: bytes) -> bytes:
        """`document` (or a part of it) with each placeholder's content in its stead."""
        if PLACEHOLDER.encode("ascii") not in document:
            return document
        return _PLACED.sub(self._content_of, document)

    def _content_of(self, found: re.Match[bytes]) -> bytes:
        """The content a placeholder stands for, where it is the whole text of a content
        element (else the text found, as it is)."""
        document, start, end = found.string, found.start(), found.end()
        escaped = self.escaped.get(found[1])
        for opening, closing in _ELEMENTS:
            if document.endswith(opening, 0, start) and document.startswith(closing, end):
                return found[0] if escaped is None else escaped
        return found[0]

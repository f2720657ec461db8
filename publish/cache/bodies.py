"""An essay's rendered bodies, kept in its record: what later builds reuse of a parse.

The worker that parses an essay renders each body the outputs will ask for (web page, feed
entry, email HTML, plain text) from the tokens it holds, and keeps them in the essay's
record with each body's key, place and checksum. A body is read only when an output asks
for it. A body rendered for another context (a link to a file whose essay the worker could
not know, a renamed release) is rendered from the essay's tokens, parsed again from its
source; one that fails its check is never served. No token stream is ever stored.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, overload

from markdown_it.token import Token

from publish.cache.records import Span, holds_as_is
from publish.model import Essay, KeptRenderings

Renderer = Callable[[Sequence[Token], Any], str]
Rendering = tuple[Renderer, Any]  # a renderer and the context it renders with
# two renderers whose bodies one function writes in one pass, from the tokens and both
# contexts (see `render_bodies`)
Pairs = Mapping[tuple[Renderer, Renderer], Callable[[Sequence[Token], Any, Any], tuple[str, str]]]
NO_PAIRS: Pairs = {}


def body_key(render: Renderer, context: Any) -> str:
    """The key of one rendered body: the renderer and the whole context it rendered with (the
    essay's tokens are fixed by its record's key)."""
    text = f"{render.__module__}.{render.__qualname__}|{context!r}"
    return hashlib.sha256(text.encode()).hexdigest()


def render_bodies(
    tokens: Sequence[Token], renderings: Sequence[Rendering], pairs: Pairs = NO_PAIRS
) -> dict[str, str]:
    """Each body of `renderings` rendered from `tokens`, by its key; two renderers `pairs`
    names together (the first's body and the second's, asked for both) written in one pass
    by the function it gives them."""
    bodies: list[str | None] = [None] * len(renderings)
    for index, (render, context) in enumerate(renderings):
        if bodies[index] is not None:
            continue
        other, both = next(
            (
                (i, pairs[render, partner])
                for i, (partner, _) in enumerate(renderings)
                if (render, partner) in pairs and bodies[i] is None and i != index
            ),
            (None, None),
        )
        if other is None or both is None:
            bodies[index] = render(tokens, context)
        else:
            bodies[index], bodies[other] = both(tokens, context, renderings[other][1])
    return {
        body_key(render, context): body
        for (render, context), body in zip(renderings, bodies, strict=True)
    }


def read_body(path: Path, span: Span) -> str | None:
    """The body at `span` of a pack, or None when it is absent or fails its checksum."""
    data = _checked(path, span)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_body_utf8(path: Path, span: Span) -> bytes | None:
    """The body at `span` of a pack in UTF-8, as it is kept (what `read_body` decodes), or
    None where `read_body` gives None."""
    data = _checked(path, span)
    if data is None or not (data.isascii() or _is_utf8(data)):
        return None
    return data


def _checked(path: Path, span: Span) -> bytes | None:
    """The bytes at `span` of a pack, or None when they are absent or fail their checksum."""
    offset, length, checksum = span
    try:
        data = os.pread(_opened(path), length, offset)
    except OSError:
        return None
    if len(data) != length or zlib.crc32(data) != checksum:
        return None
    return data


def _is_utf8(data: bytes) -> bool:
    """Whether `data` is UTF-8 (Python's own decoder asked)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


OPEN_PACKS = 8  # packs kept open for their bodies
_open_packs: dict[Path, int] = {}  # pack -> descriptor, in this process (or inherited)


def _opened(path: Path) -> int:
    """A descriptor of the pack at `path`, kept open for its next body (read with `pread`,
    so a forked worker may share it): a pack's records never change once written."""
    found = _open_packs.get(path)
    if found is not None:
        return found
    descriptor = _open_packs[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    while len(_open_packs) > OPEN_PACKS:
        os.close(_open_packs.pop(next(iter(_open_packs))))
    return descriptor


def close_packs() -> None:
    """Close the packs kept open (at a build's start: what it reads is opened afresh)."""
    while _open_packs:
        os.close(_open_packs.popitem()[1])


class Source(Protocol):
    """Where a kept body comes from: its essay, parsed again when the cache lacks a body."""

    def parse(self) -> Essay:
        """The essay parsed again from its source (refusing a changed source; the last few
        such parses of a build are kept)."""

    def bodies(self, essay: Essay) -> dict[str, str]:
        """Every body the build keeps of the essay, rendered from its tokens, by key."""

    def discard(self) -> None:
        """Drop the essay's record, so that the next build parses it again."""


class KeptBody(Sequence[Token], KeptRenderings):
    """An essay's body as the build cache keeps it: its rendered bodies, read when asked for.

    The renderers ask through `rendered(render, context)`. A body rendered for another
    context is rendered from the tokens, parsed again from the essay's source; a kept body
    that fails its check is never served: the essay is parsed again and every body it keeps
    rendered afresh (held in memory for the rest of the build), and its record dropped.
    Indexing or iterating gives the tokens too, so the body reads as the tokens it stands for.
    """

    __slots__ = ("path", "spans", "count", "source", "record", "repaired", "as_read")

    def __init__(
        self,
        path: Path,
        spans: Mapping[str, Span],
        count: int,
        source: Source,
        record: str | None = None,
    ):
        self.path, self.spans, self.count, self.source = path, spans, count, source
        # the key of its record, which hashes everything it was made from (its file's name)
        self.record = record if record is not None else path.name
        self.repaired: dict[str, str] = {}
        # the essay as its record holds it and the record's metadata (see `read_as`)
        self.as_read: tuple[Essay, bytes] | None = None

    def read_as(self, essay: Essay, meta: bytes) -> Essay:
        """Note that `essay` (holding this body) is its record's metadata `meta`: read from
        it, or stored as it and found to read back as it; `essay`. An essay that is still
        that very object (frozen: any change makes another) is fingerprinted by the metadata,
        not its fields, alike in the build that parsed it and in those that read it (see
        `publish.cache.outputs.essay_fingerprint`)."""
        self.as_read = (essay, meta)
        return essay

    def stored_as(self, essay: Essay, meta: bytes) -> Essay:
        """`read_as` for an essay just stored as the record metadata `meta`, when it reads
        back from it exactly as it is (every field, the date's zone and fold too; else it is
        fingerprinted by its fields); `essay`."""
        return self.read_as(essay, meta) if holds_as_is(meta, essay) else essay

    def rendered(self, render: Renderer, context: Any) -> str:
        """What `render(tokens, context)` returns: kept if the cache holds it, else rendered."""
        key = body_key(render, context)
        if key in self.repaired:
            return self.repaired[key]
        span = self.spans.get(key)
        if span is not None:
            text = read_body(self.path, span)
            if text is not None:
                return text
            self.source.discard()
            self.repaired = self.source.bodies(self.parsed())
            if key in self.repaired:
                return self.repaired[key]
        return render(self.load(), context)

    def rendered_utf8(self, render: Renderer, context: Any) -> bytes:
        """`rendered(render, context)` in UTF-8: a kept body's bytes as the pack holds them
        (never decoded to text only to be encoded again)."""
        key = body_key(render, context)
        span = self.spans.get(key)
        if key not in self.repaired and span is not None:
            data = read_body_utf8(self.path, span)
            if data is not None:
                return data
        return self.rendered(render, context).encode("utf-8")

    def load(self) -> Sequence[Token]:
        """The essay's tokens, parsed again."""
        return self.parsed().tokens

    def parsed(self) -> Essay:
        """The essay parsed again (the last few such parses are kept)."""
        return self.source.parse()

    def __iter__(self) -> Iterator[Token]:
        return iter(self.load())

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> Token: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Token]: ...

    def __getitem__(self, index: int | slice) -> Token | Sequence[Token]:
        return self.load()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeptBody):
            return self.record == other.record and self.spans == other.spans
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.record)

    def __repr__(self) -> str:
        return f"KeptBody({self.record[:12]}, {len(self.spans)} bodies, {self.count} tokens)"

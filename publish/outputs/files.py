"""What an output gives the build: `{path: content}` in one collector that refuses a path twice,
each content text, bytes, or `Deferred` (made later, only if its file must change)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from publish.errors import PublishError
from publish.model import Essay, GlossaryEntry

Content = str | bytes


class Reads(msgspec.Struct, frozen=True):
    """What a deferred content reads besides the code, settings and templates: the build turns
    this into the key that decides whether the previous build's file can stay."""

    kind: str  # the output (a template name or a path): two kinds never share a key
    essay: Essay | None = None  # the one essay the content is made from, if any
    values: tuple[str, ...] = ()  # anything else it shows, as text
    essays: tuple[Essay, ...] = ()  # essays it lists
    entries: tuple[GlossaryEntry, ...] = ()  # glossary entries it shows


class Deferred(msgspec.Struct, frozen=True):
    """A file's content, made only when needed, with what it reads; the build gives it the
    `key` of what it reads (see `publish.cache.outputs`), by which the output memo can vouch
    for the previous build's file so that it is never made."""

    reads: Reads
    make: Callable[[], Content]
    key: str | None = None
    # what making it loads first (a library's modules): loaded once by the build before its
    # workers are forked, so that each worker finds it loaded rather than loading it again
    loads: Callable[[], object] | None = None
    # what making it makes along the way and shares with the contents of the same `shares`
    # (the feeds' items, each made once in a process): the build makes those in one process
    shares: object = None


def made(value: Content | Deferred) -> Content:
    """The content itself, made now if it was deferred (the one place a content is made)."""
    return value.make() if isinstance(value, Deferred) else value


def as_bytes(content: Content) -> bytes:
    """A content as the bytes of its file."""
    return content.encode("utf-8") if isinstance(content, str) else content


class OutputFiles(dict[str, Content | Deferred]):
    """One output's `{path: content}`, gathered so that no path is written twice.

    Each path remembers what wrote it, so a clash names both writers instead of letting the
    later one silently replace the earlier.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[str, str] = {}

    def add(self, path: str, content: Content | Deferred, source: str) -> None:
        """Add one file written by `source`; a PublishError if another source wrote it."""
        if path in self:
            first = self.sources.get(path, "another output")
            raise PublishError.single(
                path,
                1,
                1,
                f"written twice: by {first} and by {source} (a slug, tag or file name clash?)",
            )
        self[path] = content
        self.sources[path] = source

    def add_all(
        self, files: Mapping[str, Content | Deferred], source: str | Mapping[str, str]
    ) -> None:
        """Add every file of `files`, written by `source` (one for all, or one per path)."""
        known: Mapping[str, str] = getattr(files, "sources", {})
        default = source if isinstance(source, str) else "another output"
        for path, content in files.items():
            named = None if isinstance(source, str) else source.get(path)
            self.add(path, content, named or known.get(path) or default)


def merge_outputs(*parts: Mapping[str, Content | Deferred]) -> OutputFiles:
    """Join several `{path: content}` maps, refusing a path that two of them write."""
    merged = OutputFiles()
    for number, part in enumerate(parts, start=1):
        merged.add_all(part, f"output {number}")
    return merged

"""The glossary page's data: each term with its rendered definition and every place the
published essays cite it, and the glossary as schema.org `DefinedTermSet` JSON-LD."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec
from markupsafe import Markup

from publish.content.markdown import inline_text
from publish.model import Essay, GlossaryEntry, Site, SiteSettings
from publish.outputs.renderers import RenderContext, render_web

_ENCODER = msgspec.msgpack.Encoder()


def citers_key(essays: Sequence[Essay]) -> str:
    """A hash of what the glossary page shows of the essays: each one's slug, title, date
    (its zone's name and fold too) and notes. MessagePack, which keeps every type apart, in
    C (by their `repr` when a text holds what UTF-8 cannot)."""
    rows = [
        (e.slug, e.title, e.date, repr(e.date.tzinfo), e.date.fold, e.notes)
        if e.date is not None
        else (e.slug, e.title, None, None, 0, e.notes)
        for e in essays
    ]
    try:
        data = b"m" + _ENCODER.encode(rows)
    except (TypeError, ValueError):  # text UTF-8 cannot hold (a file name's stray bytes)
        data = b"r" + repr(rows).encode("utf-8", "backslashreplace")
    return hashlib.sha256(data).hexdigest()


class Citation(msgspec.Struct, frozen=True):
    """One essay citing a glossary term: the essay and the anchor of each citation in it."""

    essay: Essay
    anchors: tuple[str, ...]


class GlossaryItem(msgspec.Struct, frozen=True):
    """One glossary entry as the glossary page shows it."""

    entry: GlossaryEntry
    definition: Markup
    citations: tuple[Citation, ...]
    letter: str

    @property
    def cited_in(self) -> tuple[Essay, ...]:
        """The essays citing the term, newest first."""
        return tuple(citation.essay for citation in self.citations)

    @property
    def times(self) -> int:
        """How many times the published essays cite the term."""
        return sum(len(citation.anchors) for citation in self.citations)


def glossary_items(site: Site, root: str) -> list[GlossaryItem]:
    """The glossary's entries sorted by term, each with its rendered definition and citers."""
    items = []
    citers: dict[str, list[Citation]] = {}
    for essay in site.essays:
        for note in essay.notes:
            if note.glossary_key:
                anchors = citation_anchors(essay.slug, note.number, note.references)
                citers.setdefault(note.glossary_key, []).append(Citation(essay, anchors))
    for entry in sorted(site.glossary.entries.values(), key=lambda e: (e.term.lower(), e.key)):
        context = RenderContext(slug=f"glossary-{entry.key}", base=root, glossary_url="")
        citations = tuple(citers.get(entry.key, ()))
        first = entry.term.strip()[:1].upper()
        letter = first if first.isalpha() and first.isascii() else "#"
        items.append(
            GlossaryItem(entry, Markup(render_web(entry.tokens, context)), citations, letter)
        )
    return items


def citation_anchors(slug: str, number: int, references: int) -> tuple[str, ...]:
    """The anchor of each citation of note `number` in an essay (see `notes.note_ids`)."""
    return tuple(
        f"fnref-{slug}-{number}" + (f"-{sub}" if sub > 1 else "")
        for sub in range(1, references + 1)
    )


def definition_text(entry: GlossaryEntry) -> str:
    """A glossary definition as plain text, for structured data."""
    inlines = [t.children or [] for t in entry.tokens if t.type == "inline"]
    return " ".join(" ".join(inline_text(children).split()) for children in inlines)


def defined_terms(
    items: Sequence[GlossaryItem], site: SiteSettings, site_url: str, name: str
) -> dict[str, Any]:
    """The glossary as schema.org JSON-LD: a `DefinedTermSet` of `DefinedTerm`s, named
    `name` (the page's title, in the site's language)."""
    url = f"{site_url}glossary/"
    return {
        "@context": "https://schema.org",
        "@type": "DefinedTermSet",
        "@id": url,
        "name": name,
        "url": url,
        "inLanguage": site.language,
        "hasDefinedTerm": [
            {
                "@type": "DefinedTerm",
                "@id": f"{url}#{item.entry.key}",
                "name": item.entry.term,
                "termCode": item.entry.key,
                "description": definition_text(item.entry),
                "url": f"{url}#{item.entry.key}",
                "inDefinedTermSet": url,
            }
            for item in items
        ],
    }

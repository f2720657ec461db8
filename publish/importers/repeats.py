"""The glossary, from the archive: notes whose text repeats across posts (the same
definition, or the same defined term) become shared entries in `footnotes/<key>.md`."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from publish.content.essays import cap_slug, slugify
from publish.importers.convert import ConvertedPost
from publish.layout import GLOSSARY_DIR

# A note that defines a term: "**Term**: text", "*Term* — text" or "Term: text".
DEFINED_TERM = re.compile(
    r"^(?:\*\*(?P<bold>[^*]{1,60})\*\*|\*(?P<em>[^*]{1,60})\*|"
    r"(?P<plain>[A-Z][\w' -]{0,40}?))\s*(?:[:—–]|\s-)\s*(?P<rest>\S.*)$",
    re.DOTALL,
)
# Only a term set in bold or italics groups notes by term (a plain "Smith 2020: p. 4" is a
# citation, not a definition); other notes group by their whole text.
MARKED_TERM = re.compile(r"^\s*\*")
TERM_WORDS = 4


class Candidate(msgspec.Struct):
    """A proposed glossary entry and every (post slug, note label) it would replace."""

    key: str
    term: str
    definition: str
    uses: list[tuple[str, str]] = msgspec.field(default_factory=list)

    @property
    def slugs(self) -> list[str]:
        """The posts that repeat the note, in order."""
        return list(dict.fromkeys(slug for slug, _ in self.uses))

    def file_text(self) -> str:
        """The text of `footnotes/<key>.md`."""
        term = self.term.replace('"', "'")
        return f'---\nterm: "{term}"\n---\n{self.definition}\n'


def defined_term(text: str) -> tuple[str, str] | None:
    """(term, definition) when a note opens by naming the term it defines."""
    match = DEFINED_TERM.match(text.strip())
    if match is None:
        return None
    term = match["bold"] or match["em"] or match["plain"]
    return term.strip().rstrip(".:"), match["rest"].strip()


def _normal(text: str) -> str:
    """A note's text for comparison: case, spacing and the final full stop ignored."""
    return " ".join(text.lower().split()).rstrip(".")


def find_candidates(posts: list[ConvertedPost]) -> list[Candidate]:
    """Every note repeated across two posts or more, by text or by defined term."""
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for converted in posts:
        for label, text in converted.notes:
            named = defined_term(text) if MARKED_TERM.match(text) else None
            group = f"term:{_normal(named[0])}" if named else f"text:{_normal(text)}"
            groups.setdefault(group, []).append((converted.post.slug, label, text))
    candidates, keys = [], set()
    for members in groups.values():
        if len({slug for slug, _, _ in members}) < 2:
            continue
        text = members[0][2]
        named = defined_term(text)
        term, definition = named if named else (_short_term(text), text)
        definition = definition[:1].upper() + definition[1:]
        key = _unique(cap_slug(slugify(term), 40), keys)
        candidates.append(
            Candidate(key, term, definition, [(slug, label) for slug, label, _ in members])
        )
    return candidates


def _short_term(text: str) -> str:
    """A term for a note that names none: its first few words."""
    words = re.sub(r"[*_`\[\]()]", "", text).split()
    return " ".join(words[:TERM_WORDS]).rstrip(".,;:")


def _unique(key: str, taken: set[str]) -> str:
    """`key`, or `key-2`, `key-3` … when it is taken."""
    candidate, counter = key, 2
    while candidate in taken:
        candidate = f"{key}-{counter}"
        counter += 1
    taken.add(candidate)
    return candidate


def settle_keys(root: Path, candidates: list[Candidate]) -> list[Candidate]:
    """Give a candidate a free key when `footnotes/<key>.md` already holds another entry
    (the same entry, from an earlier import, keeps its key)."""
    folder = root / GLOSSARY_DIR
    taken = {path.stem for path in folder.glob("*.md")} if folder.is_dir() else set()
    for candidate in candidates:
        key, counter = candidate.key, 2
        while (
            key in taken
            and (folder / f"{key}.md").read_text(encoding="utf-8")
            != Candidate(key, candidate.term, candidate.definition).file_text()
        ):
            key = f"{candidate.key}-{counter}"
            counter += 1
        candidate.key = key
    return candidates


def cite_glossary(posts: list[ConvertedPost], candidates: list[Candidate]) -> None:
    """Replace each repeated note with a citation of its glossary key."""
    by_use = {use: c.key for c in candidates for use in c.uses}
    for converted in posts:
        kept = []
        for label, text in converted.notes:
            key = by_use.get((converted.post.slug, label))
            if key is None:
                kept.append((label, text))
                continue
            converted.body = converted.body.replace(f"[^{label}]", f"[^{key}]")
        converted.notes = kept

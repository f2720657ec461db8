"""The shared footnote glossary: loads `footnotes/`, each definition parsed as an essay's
body is (the compiled parse where it is proven identical, see `publish.content.fastparse`).

An essay cites a term as `[^key]` (`publish.content.glossarynotes` makes the notes). A
definition inside the essay wins; otherwise the glossary entry `key` (or an entry listing
`key` among its aliases) becomes the note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from publish.content.fastparse import fast_parse
from publish.content.source import (
    MAX_BLOCK_LEVEL,
    FrontMatterDocument,
    deep_html,
    read_document,
    referenced_controls,
    shown,
)
from publish.errors import Problem, did_you_mean, error, hint, warning
from publish.layout import GLOSSARY_DIR
from publish.model import Essay, Glossary, GlossaryEntry

KEY_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ENTRY_KEYS = ("term", "source", "aliases")


def load_glossary(root: Path, md: MarkdownIt) -> tuple[Glossary, list[Problem]]:
    """Read every `footnotes/*.md`; return the glossary and the problems found."""
    folder = root / GLOSSARY_DIR
    problems: list[Problem] = []
    entries: dict[str, GlossaryEntry] = {}
    paths = sorted(folder.glob("*.md")) if folder.is_dir() else []
    for path in paths:
        document, found = read_document(path, root)
        problems += found
        if document is not None:
            entry = _entry_from_document(path.stem, document, md, problems)
            if entry is not None:
                entries[entry.key] = entry
    aliases = _alias_map(entries, problems)
    return Glossary(entries=entries, aliases=aliases), problems


def _entry_from_document(
    key: str, document: FrontMatterDocument, md: MarkdownIt, problems: list[Problem]
) -> GlossaryEntry | None:
    """Validate one glossary file and build its entry, or None when it is unusable."""
    path = document.path
    if not KEY_PATTERN.match(key):
        problems.append(
            error(
                path,
                1,
                1,
                f"glossary key '{key}' must be lowercase letters, "
                "digits and single hyphens (rename the file)",
            )
        )
        return None
    meta = document.metadata
    for name in meta:
        if name not in ENTRY_KEYS:
            line = document.key_line(name)
            problems.append(
                error(
                    path,
                    line,
                    1,
                    f"unknown glossary key '{shown(name)}'{did_you_mean(name, ENTRY_KEYS)}",
                )
            )
    term = meta.get("term")
    if not isinstance(term, str) or not term.strip():
        problems.append(error(path, 1, 1, "glossary entry has no 'term'"))
        return None
    source = meta.get("source") or ""
    aliases = meta.get("aliases") or []
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(source, str) or not isinstance(aliases, list):
        problems.append(
            error(
                path,
                document.key_line("source"),
                1,
                "'source' must be a string and 'aliases' a list of keys",
            )
        )
        return None
    definition = document.body.strip()
    if not definition:
        problems.append(error(path, document.body_line + 1, 1, "glossary entry has no definition"))
    fast = fast_parse(md, definition, {})
    tokens = tuple(md.parse(definition, {}) if fast is None else fast)
    first_line = document.body_line + document.body[: document.body.find(definition)].count("\n")
    problems += _citations(path, tokens, definition, first_line)
    problems += referenced_controls(path, tokens, definition, first_line)
    problems += deep_html(path, tokens, first_line)
    deep = next((t for t in tokens if t.level >= MAX_BLOCK_LEVEL and t.map), None)
    if deep is not None:
        problems.append(
            error(
                path,
                first_line + deep.map[0] + 1,
                1,
                "quotes or lists nest too deep here; flatten them",
            )
        )
    return GlossaryEntry(
        key=key,
        term=term.strip(),
        source=source.strip(),
        aliases=tuple(str(a) for a in aliases),
        definition=definition,
        path=path,
        tokens=tokens,
    )


def _citations(
    path: str, tokens: tuple[Token, ...], definition: str, first_line: int
) -> list[Problem]:
    """An error for each note a definition cites: a glossary note cannot have notes itself."""
    lines = definition.split("\n")
    problems = []
    for token in tokens:
        for child in (token.children or []) if token.type == "inline" else []:
            if child.type != "footnote_ref":
                continue
            label = child.meta.get("label", "")
            line, col = _label_position(lines, token.map or [0, len(lines)], label)
            problems.append(
                error(
                    path,
                    first_line + line + 1,
                    col,
                    f"a glossary definition cannot cite a note ('[^{label}]'); "
                    "write the other term out, or link to it",
                )
            )
    return problems


def _label_position(lines: list[str], block: list[int], label: str) -> tuple[int, int]:
    """0-based line and 1-based column of `[^label]` within a block of a definition."""
    for number in range(block[0], min(block[1], len(lines))):
        column = lines[number].find(f"[^{label}]")
        if column >= 0:
            return number, column + 1
    return block[0], 1


def _alias_map(entries: dict[str, GlossaryEntry], problems: list[Problem]) -> dict[str, str]:
    """Map each alias to its entry's key, refusing aliases that clash with keys or each other."""
    aliases: dict[str, str] = {}
    for entry in entries.values():
        for alias in entry.aliases:
            if alias in entries or alias in aliases:
                problems.append(
                    error(entry.path, 1, 1, f"alias '{shown(str(alias))}' is already used")
                )
            elif not KEY_PATTERN.match(alias):
                problems.append(
                    error(entry.path, 1, 1, f"alias '{shown(str(alias))}' is not a valid key")
                )
            else:
                aliases[alias] = entry.key
    return aliases


def shadowed_terms(glossary: Glossary, essays: Sequence[Essay], root: Path) -> list[Problem]:
    """A warning at each `[^key]:` an essay defines itself over a glossary term of that key
    or alias (the essay's own note wins, which is easy to do unawares)."""
    problems: list[Problem] = []
    for essay in essays:
        for note in essay.notes:
            entry = None if note.glossary_key else glossary.lookup(note.label)
            if entry is None:
                continue
            line, col = _definition_position(root / essay.path, note.label)
            problems.append(
                warning(
                    essay.path,
                    line,
                    col,
                    f"the essay's own note '[^{note.label}]:' hides the glossary term "
                    f"'{entry.term}' ({entry.path}); rename one of them, or delete this "
                    "definition to cite the glossary's",
                )
            )
    return problems


def uncited_terms(glossary: Glossary, essays: Sequence[Essay]) -> list[Problem]:
    """A hint for each glossary term no essay (drafts and queued ones included) cites."""
    cited = {note.glossary_key for essay in essays for note in essay.notes}
    return [
        hint(
            entry.path,
            1,
            1,
            f"glossary term '{entry.term}' is never cited; cite it as [^{key}] or remove the file",
        )
        for key, entry in sorted(glossary.entries.items())
        if key not in cited
    ]


def _definition_position(path: Path, label: str) -> tuple[int, int]:
    """The line and column of an essay's `[^label]:` definition (1, 1 when not found)."""
    pattern = re.compile(rf"^( {{0,3}})\[\^{re.escape(label)}\]:")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1, 1
    for number, line in enumerate(lines, start=1):
        found = pattern.match(line)
        if found:
            return number, len(found[1]) + 1
    return 1, 1

"""Reads one essay: front matter, defaults, validation, and the one parse of its body."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markdown_it.token import Token
from slugify import slugify as make_slug

from publish.documents import FrontMatterDocument, read_document
from publish.errors import Problem, did_you_mean, error, warning
from publish.markdown import build_parser, first_paragraph_text, word_count
from publish.model import Essay, Glossary, Note, Settings

ESSAYS_DIR = "essays"
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FRONT_MATTER_KEYS = ("title", "subtitle", "date", "slug", "author", "tags", "category",
                     "summary", "image", "image_alt", "image_credit", "draft", "order")
SUMMARY_LENGTH = 160
# The schemes markdown-it refuses to link (it keeps data: images of these types).
UNSAFE_LINK = re.compile(r"\]\(\s*<?\s*((?:javascript|vbscript|file|"
                         r"data(?!:image/(?:gif|png|jpeg|webp);)):)", re.IGNORECASE)


def slugify(title: str, fallback: str = "essay") -> str:
    """A URL slug from a title: ASCII lowercase words joined by single hyphens, any script
    transliterated (python-slugify with text-unidecode: `Поэзия` gives `poeziia`).

    Text with nothing to transliterate (emoji only, say) gives `fallback` and a short hash
    of the text, so that two such titles still get two slugs.
    """
    slug = make_slug(title.replace(",", " "))  # as before: `1,000` gives `1-000`, not `1000`
    if slug or not title.strip():
        return slug or fallback
    digest = hashlib.sha256(title.strip().encode("utf-8", "surrogatepass")).hexdigest()
    return f"{fallback}-{digest[:8]}"


def read_essay(path: Path, root: Path, settings: Settings,
               glossary: Glossary) -> tuple[Essay | None, list[Problem]]:
    """Read, validate and parse one essay; return it (or None) and every problem found."""
    document, problems = read_document(path, root)
    if document is None:
        return None, problems
    problems += _unknown_keys(document)
    title = _text(document, "title", problems, required=True)
    slug = _slug(document, title, problems)
    fields = {
        "subtitle": _text(document, "subtitle", problems),
        "date": _date(document, settings, problems),
        "author": _text(document, "author", problems) or settings.site.author,
        "tags": _tags(document, problems),
        "category": _text(document, "category", problems),
        "image": _text(document, "image", problems),
        "image_alt": _text(document, "image_alt", problems),
        "image_credit": _text(document, "image_credit", problems),
        "draft": _flag(document, "draft", problems),
        "order": _order(document.metadata.get("order"), document, problems),
    }
    summary = _text(document, "summary", problems)
    tokens, notes, parse_problems = parse_body(document, glossary)
    problems += parse_problems
    if any(p.is_error for p in problems):
        return None, problems
    essay = Essay(
        path=document.path, slug=slug, title=title,
        summary=summary or shorten(first_paragraph_text(tokens)),
        body_line=document.body_line,
        tokens=tuple(tokens), notes=tuple(notes),
        word_count=word_count(tokens),
        content_hash=hashlib.sha256(document.raw).hexdigest(),
        **fields,
    )
    if essay.image and not essay.image_alt:
        problems.append(warning(document.path, document.key_line("image"), 1,
                                "image has no 'image_alt' text for readers who cannot see it"))
    return essay, problems


def parse_body(document: FrontMatterDocument,
               glossary: Glossary) -> tuple[list[Token], list[Note], list[Problem]]:
    """Parse the body once; check every footnote citation against the essay and the glossary."""
    env: dict[str, Any] = {"publish": {"glossary": glossary}}
    tokens = build_parser().parse(document.body, env)
    problems = _unsafe_links(document)
    for label in env["publish"].get("unknown_labels", []):
        line, col = _citation_position(document, tokens, label)
        hint = did_you_mean(label, glossary.keys())
        problems.append(error(document.path, line, col, f"unknown footnote '{label}'{hint}"))
    return tokens, _notes(env, glossary), problems


def _notes(env: dict[str, Any], glossary: Glossary) -> list[Note]:
    """The essay's notes in number order, each marked with its glossary key if it has one."""
    local = env["publish"].get("local_labels", set())
    notes = []
    for note_id, data in sorted(env.get("footnotes", {}).get("list", {}).items()):
        label = data.get("label", "")
        entry = None if label in local else glossary.lookup(label)
        notes.append(Note(number=note_id + 1, label=label,
                          glossary_key=entry.key if entry else None,
                          references=data.get("count", 1)))
    return notes


def _citation_position(document: FrontMatterDocument, tokens: list[Token],
                       label: str) -> tuple[int, int]:
    """File line and column of the first `[^label]` citation in the body (not in code)."""
    needle = f"[^{label}]"
    lines = document.body.split("\n")
    first, last = _citing_block(tokens, label) or (0, len(lines))
    for number in range(first, min(last, len(lines))):
        line = lines[number]
        for match in re.finditer(re.escape(needle), line):
            in_code_span = line[: match.start()].count("`") % 2 == 1
            if not in_code_span and not line[match.end():].startswith(":"):
                return document.body_line + number + 1, match.start() + 1
    return document.body_line + 1, 1


def _citing_block(tokens: list[Token], label: str) -> tuple[int, int] | None:
    """The body line range of the first block that cites `label`, if the parser kept it."""
    for token in tokens:
        if token.type == "inline" and token.map and any(
                child.type == "footnote_ref" and child.meta.get("label") == label
                for child in token.children or []):
            return token.map[0], token.map[1]
    return None


def _unsafe_links(document: FrontMatterDocument) -> list[Problem]:
    """Warn about links with a scheme the renderer refuses (they stay plain text)."""
    problems = []
    for number, line in enumerate(document.body.split("\n")):
        for match in UNSAFE_LINK.finditer(line):
            problems.append(warning(document.path, document.body_line + number + 1,
                                    match.start(1) + 1,
                                    f"unsafe link scheme '{match[1].lower()}' refused; "
                                    "the link is shown as text"))
    return problems


def _unknown_keys(document: FrontMatterDocument) -> list[Problem]:
    """A warning for each front matter key publish does not know."""
    return [warning(document.path, document.key_line(key), 1,
                    f"unknown front matter key '{key}'{did_you_mean(key, FRONT_MATTER_KEYS)}")
            for key in document.metadata if key not in FRONT_MATTER_KEYS]


def _text(document: FrontMatterDocument, key: str, problems: list[Problem],
          required: bool = False) -> str:
    """A string front matter value ('' when absent)."""
    value = document.metadata.get(key)
    if value is None:
        if required:
            problems.append(error(document.path, 1, 1, f"missing required front matter '{key}'"))
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(error(document.path, document.key_line(key), 1,
                              f"'{key}' must be a non-empty string"))
        return ""
    return value.strip()


def _slug(document: FrontMatterDocument, title: str, problems: list[Problem]) -> str:
    """The explicit slug, checked, or one made from the title."""
    if "slug" not in document.metadata:
        return slugify(title) if title else ""
    slug = document.metadata["slug"]
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        problems.append(error(document.path, document.key_line("slug"), 1,
                              f"bad slug '{slug}': use lowercase letters, digits and "
                              f"single hyphens, e.g. '{slugify(str(slug))}'"))
        return ""
    return slug


def _date(document: FrontMatterDocument, settings: Settings,
          problems: list[Problem]) -> datetime | None:
    """The essay's date as an aware datetime; a bare date takes the schedule's time of day."""
    value = document.metadata.get("date")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            problems.append(error(document.path, document.key_line("date"), 1,
                                  f"bad date '{value}': use YYYY-MM-DD or YYYY-MM-DD HH:MM"))
            return None
    zone = ZoneInfo(settings.site.timezone)
    if isinstance(value, datetime):
        return value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, settings.schedule.time, tzinfo=zone)
    problems.append(error(document.path, document.key_line("date"), 1,
                          f"bad date '{value}': use YYYY-MM-DD or YYYY-MM-DD HH:MM"))
    return None


def _tags(document: FrontMatterDocument, problems: list[Problem]) -> tuple[str, ...]:
    """Tags as a tuple of stripped strings; a comma-separated string is accepted too."""
    value = document.metadata.get("tags") or []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(t, (str, int)) for t in value):
        problems.append(error(document.path, document.key_line("tags"), 1,
                              "'tags' must be a list of words"))
        return ()
    return tuple(dict.fromkeys(str(t).strip() for t in value if str(t).strip()))


def _flag(document: FrontMatterDocument, key: str, problems: list[Problem]) -> bool:
    """A boolean front matter value (False when absent)."""
    value = document.metadata.get(key, False)
    if not isinstance(value, bool):
        problems.append(error(document.path, document.key_line(key), 1,
                              f"'{key}' must be true or false"))
        return False
    return value


def _order(value: Any, document: FrontMatterDocument, problems: list[Problem]) -> int | None:
    """The optional queue position."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    problems.append(error(document.path, document.key_line("order"), 1,
                          "'order' must be a whole number"))
    return None


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """Cut text at a word boundary near `limit` characters, adding an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-–—")
    return cut + "…"


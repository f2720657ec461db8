"""Reads one essay: front matter, defaults, validation, and the one parse of its body."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markdown_it.token import Token

from publish.content.essayfields import essay_aliases, essay_language
from publish.content.links import locate_sources, own_tokens, unsafe_links
from publish.content.markdown import first_paragraph_text, parse_markdown, word_count
from publish.content.positions import line_text, value_col
from publish.content.preflight import source_warnings
from publish.content.source import (
    MAX_BLOCK_LEVEL,
    FrontMatterDocument,
    deep_html,
    read_document,
    referenced_controls,
    shown,
)
from publish.errors import Problem, did_you_mean, error, warning
from publish.model import Essay, Glossary, Note, Settings

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FRONT_MATTER_KEYS = (
    "title",
    "subtitle",
    "date",
    "slug",
    "author",
    "tags",
    "category",
    "summary",
    "image",
    "image_alt",
    "image_credit",
    "draft",
    "order",
    "aliases",
    "language",
)
SUMMARY_LENGTH = 160
# A slug names a folder: keep it well inside the 255 bytes a file name may take.
MAX_SLUG_LENGTH = 80
# Years a date may name: the outputs do arithmetic on dates, which must not overflow.
MIN_YEAR, MAX_YEAR = 1000, 9000


def slugify(title: str, fallback: str = "essay") -> str:
    """A URL slug from a title: ASCII lowercase words joined by single hyphens, any script
    transliterated (python-slugify with text-unidecode: `Поэзия` gives `poeziia`).

    Text with nothing to transliterate (emoji only, say) gives `fallback` and a short hash
    of the text, so that two such titles still get two slugs.
    """
    if SLUG_PATTERN.fullmatch(title):  # already a slug (most tags): python-slugify keeps it
        return title
    # Loaded here: its import compiles a pattern of every HTML entity name (about 2 ms).
    from slugify import slugify as make_slug

    slug = make_slug(title.replace(",", " "))  # as before: `1,000` gives `1-000`, not `1000`
    if slug or not title.strip():
        return slug or fallback
    digest = hashlib.sha256(title.strip().encode("utf-8", "surrogatepass")).hexdigest()
    return f"{fallback}-{digest[:8]}"


def cap_slug(slug: str, limit: int = MAX_SLUG_LENGTH) -> str:
    """A derived slug cut to at most `limit` characters, at a hyphen where there is one."""
    if len(slug) <= limit:
        return slug
    cut = slug[: limit + 1]
    head = cut.rsplit("-", 1)[0] if "-" in cut else cut[:limit]
    return head[:limit].strip("-") or slug[:limit]


def read_essay(
    path: Path, root: Path, settings: Settings, glossary: Glossary, raw: bytes | None = None
) -> tuple[Essay | None, list[Problem]]:
    """Read (unless its bytes `raw` were), validate and parse one essay; return it (or None)
    and every problem found."""
    document, problems = read_document(path, root, raw)
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
        "aliases": essay_aliases(document, problems),
        "language": essay_language(document, problems),
    }
    summary = _text(document, "summary", problems)
    problems += _long_tags(document, fields["tags"])
    tokens, notes, own, parse_problems = parse_body(document, glossary)
    problems += parse_problems
    problems += source_warnings(document, title, own)
    if any(p.is_error for p in problems):
        return None, problems
    images, links = locate_sources(own, document.raw, fields["image"], document.body_line)
    essay = Essay(
        path=document.path,
        slug=slug,
        title=title,
        summary=summary or shorten(first_paragraph_text(tokens)),
        body_line=document.body_line,
        tokens=tuple(tokens),
        notes=tuple(notes),
        word_count=word_count(tokens),
        content_hash=hashlib.sha256(document.raw).hexdigest(),
        images=images,
        links=links,
        **fields,
    )
    if essay.image and not essay.image_alt:
        problems.append(
            warning(
                document.path,
                document.key_line("image"),
                1,
                "image has no 'image_alt' text for readers who cannot see it",
            )
        )
    return essay, problems


def essay_slug(path: Path, root: Path) -> str | None:
    """The slug of the essay file at `path` as its front matter gives it (None when the file
    is missing or has no valid slug), without parsing its body."""
    try:
        document, _ = read_document(path, root)
    except (OSError, ValueError):
        return None
    if document is None:
        return None
    problems: list[Problem] = []
    slug = _slug(document, _text(document, "title", problems, required=True), problems)
    return slug or None


EssayReader = Callable[
    [Sequence[Path], Path, Settings, Glossary], list[tuple[Essay | None, list[Problem]]]
]


def read_essays(
    paths: Sequence[Path], root: Path, settings: Settings, glossary: Glossary
) -> list[tuple[Essay | None, list[Problem]]]:
    """Every essay file parsed, in order (the uncached `EssayReader`)."""
    return [read_essay(path, root, settings, glossary) for path in paths]


def parse_body(
    document: FrontMatterDocument, glossary: Glossary
) -> tuple[list[Token], list[Note], list[Token], list[Problem]]:
    """Parse the body once; check every footnote citation against the essay and the glossary.
    Returns the tokens, the notes, the essay's own tokens (`own_tokens`) and the problems."""
    env: dict[str, Any] = {"publish": {"glossary": glossary}}
    tokens = parse_markdown(document.body, env)
    notes = _notes(env, glossary)
    own = own_tokens(tokens, notes)
    problems = [
        *unsafe_links(document),
        *_too_deep(document, own),
        *referenced_controls(document.path, own, document.body, document.body_line),
        *(deep_html(document.path, own, document.body_line) if "<" in document.body else []),
    ]
    for label in env["publish"].get("unknown_labels", []):
        line, col = _citation_position(document, tokens, label)
        hint = did_you_mean(label, glossary.keys())
        problems.append(error(document.path, line, col, f"unknown footnote '{label}'{hint}"))
    return tokens, notes, own, problems


def _notes(env: dict[str, Any], glossary: Glossary) -> list[Note]:
    """The essay's notes in number order, each marked with its glossary key if it has one."""
    local = env["publish"].get("local_labels", set())
    notes = []
    for note_id, data in sorted(env.get("footnotes", {}).get("list", {}).items()):
        label = data.get("label", "")
        entry = None if label in local else glossary.lookup(label)
        notes.append(
            Note(
                number=note_id + 1,
                label=label,
                glossary_key=entry.key if entry else None,
                references=data.get("count", 1),
            )
        )
    return notes


def _citation_position(
    document: FrontMatterDocument, tokens: list[Token], label: str
) -> tuple[int, int]:
    """File line and column of the first `[^label]` citation in the body (not in code)."""
    needle = f"[^{label}]"
    lines = document.body.split("\n")
    first, last = _citing_block(tokens, label) or (0, len(lines))
    for number in range(first, min(last, len(lines))):
        line = lines[number]
        for match in re.finditer(re.escape(needle), line):
            in_code_span = line[: match.start()].count("`") % 2 == 1
            if not in_code_span and not line[match.end() :].startswith(":"):
                return document.body_line + number + 1, match.start() + 1
    return document.body_line + 1, 1


def _citing_block(tokens: list[Token], label: str) -> tuple[int, int] | None:
    """The body line range of the first block that cites `label`, if the parser kept it."""
    for token in tokens:
        if (
            token.type == "inline"
            and token.map
            and any(
                child.type == "footnote_ref" and child.meta.get("label") == label
                for child in token.children or []
            )
        ):
            return token.map[0], token.map[1]
    return None


def _too_deep(document: FrontMatterDocument, tokens: list[Token]) -> list[Problem]:
    """An error where quotes or lists nest deeper than MAX_BLOCK_LEVEL (the parser stops
    nesting soon after, and would silently drop what is inside)."""
    deep = next((t for t in tokens if t.level >= MAX_BLOCK_LEVEL and t.map), None)
    if deep is None:
        return []
    return [
        error(
            document.path,
            document.body_line + deep.map[0] + 1,
            1,
            f"quotes or lists nest more than {MAX_BLOCK_LEVEL // 2} levels deep here; flatten them",
        )
    ]


def _unknown_keys(document: FrontMatterDocument) -> list[Problem]:
    """A warning for each front matter key publish does not know."""
    return [
        warning(
            document.path,
            document.key_line(key),
            1,
            f"unknown front matter key '{shown(key)}'{did_you_mean(key, FRONT_MATTER_KEYS)}",
        )
        for key in document.metadata
        if key not in FRONT_MATTER_KEYS
    ]


def _text(
    document: FrontMatterDocument, key: str, problems: list[Problem], required: bool = False
) -> str:
    """A string front matter value ('' when absent)."""
    value = document.metadata.get(key)
    if value is None:
        if required:
            problems.append(error(document.path, 1, 1, f"missing required front matter '{key}'"))
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(
            error(document.path, document.key_line(key), 1, f"'{key}' must be a non-empty string")
        )
        return ""
    return value.strip()


def _slug(document: FrontMatterDocument, title: str, problems: list[Problem]) -> str:
    """The explicit slug, checked, or one made from the title (capped in length)."""
    if "slug" not in document.metadata:
        return cap_slug(slugify(title)) if title else ""
    slug = document.metadata["slug"]
    if isinstance(slug, str) and SLUG_PATTERN.match(slug) and len(slug) <= MAX_SLUG_LENGTH:
        return slug  # the common case, without looking for its line
    line = document.key_line("slug")
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        problems.append(
            error(
                document.path,
                line,
                _value_col(document, line),
                f"bad slug '{shown(slug)}': use lowercase letters, digits and "
                f"single hyphens, e.g. '{cap_slug(slugify(str(slug)))}'",
            )
        )
        return ""
    if len(slug) > MAX_SLUG_LENGTH:
        problems.append(
            error(
                document.path,
                line,
                _value_col(document, line),
                f"slug is {len(slug)} characters long; at most "
                f"{MAX_SLUG_LENGTH} fit in a file name, e.g. '{cap_slug(slug)}'",
            )
        )
        return ""
    return slug


def _value_col(document: FrontMatterDocument, line: int) -> int:
    """The 1-based column where the value of the key on a front matter line starts."""
    return value_col(document.front_matter, line, ":")


def _value_text(document: FrontMatterDocument, line: int) -> str:
    """The value of the key on a front matter line, as written."""
    return line_text(document.front_matter, line)[_value_col(document, line) - 1 :].strip()


def _date(
    document: FrontMatterDocument, settings: Settings, problems: list[Problem]
) -> datetime | None:
    """The essay's date as an aware datetime; a bare date takes the schedule's time of day."""
    value = document.metadata.get("date")
    if value is None:
        return None
    written = value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            problems.append(_bad_date(document, written))
            return None
    try:
        moment = _in_zone(value, settings)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
        problems.append(_bad_date(document, written))
        return None
    return moment


def _bad_date(document: FrontMatterDocument, value: Any) -> Problem:
    """The error for a date that is not one (found only once it is wrong: most are right)."""
    line = document.key_line("date")
    written = value if isinstance(value, str) else _value_text(document, line)
    return error(
        document.path,
        line,
        _value_col(document, line),
        f"bad date '{shown(written)}': use YYYY-MM-DD or YYYY-MM-DD HH:MM, "
        f"a year from {MIN_YEAR} to {MAX_YEAR}",
    )


def _in_zone(value: Any, settings: Settings) -> datetime | None:
    """A date or datetime in the site's time zone (None for anything else)."""
    zone = ZoneInfo(settings.site.timezone)
    if isinstance(value, datetime):
        return value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, settings.schedule.time, tzinfo=zone)
    return None


def _tags(document: FrontMatterDocument, problems: list[Problem]) -> tuple[str, ...]:
    """Tags as a tuple of stripped strings; a comma-separated string is accepted too."""
    value = document.metadata.get("tags") or []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(t, (str, int)) for t in value):
        problems.append(
            error(document.path, document.key_line("tags"), 1, "'tags' must be a list of words")
        )
        return ()
    return tuple(dict.fromkeys(str(t).strip() for t in value if str(t).strip()))


def _long_tags(document: FrontMatterDocument, tags: tuple[str, ...]) -> list[Problem]:
    """An error for each tag too long to name its page's folder (by its own length, or by
    its slug's, which transliteration can make longer)."""
    return [
        error(
            document.path,
            document.key_line("tags"),
            1,
            f"tag '{shown(tag)}' is {length} characters long; at most "
            f"{MAX_SLUG_LENGTH} fit in a file name",
        )
        for tag in tags
        for length in [max(len(tag), len(slugify(tag)))]
        if length > MAX_SLUG_LENGTH
    ]


def _flag(document: FrontMatterDocument, key: str, problems: list[Problem]) -> bool:
    """A boolean front matter value (False when absent)."""
    value = document.metadata.get(key, False)
    if not isinstance(value, bool):
        problems.append(
            error(document.path, document.key_line(key), 1, f"'{key}' must be true or false")
        )
        return False
    return value


def _order(value: Any, document: FrontMatterDocument, problems: list[Problem]) -> int | None:
    """The optional queue position."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    problems.append(
        error(document.path, document.key_line("order"), 1, "'order' must be a whole number")
    )
    return None


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """Cut text at a word boundary near `limit` characters, adding an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-–—")
    return cut + "…"

"""What `check` says of a site's languages: a language with no catalog, a catalog that lacks
strings (those fall back to English, and are named), a language CLDR does not know."""

from __future__ import annotations

from pathlib import Path

from publish.content.settings import setting_line
from publish.errors import Problem, warning
from publish.i18n.catalogs import (
    CATALOGS,
    catalog_path,
    read_catalog,
    shipped_languages,
    site_catalog,
)
from publish.i18n.words import is_english, known_language
from publish.layout import SETTINGS_FILE
from publish.model import Site

TEMPLATE = CATALOGS / "messages.pot"
SHOWN_MISSING = 5  # missing strings named in a warning; the rest are counted


def language_problems(site: Site) -> list[Problem]:
    """A warning for each language the site or one of its essays is in that cannot be shown
    wholly in that language."""
    used: dict[str, tuple[str, int]] = {}
    language = site.settings.site.language
    if not is_english(language) or site_catalog(site.root, language) is not None:
        used[language] = (SETTINGS_FILE, setting_line(site.root, "site", "language"))
    for essay in site.essays:
        if essay.language and not is_english(essay.language) and essay.language not in used:
            used[essay.language] = (essay.path, 1)
    problems: list[Problem] = []
    for tag, (path, line) in used.items():
        problems += _catalog_problems(site.root, tag, path, line)
    return problems


def _catalog_problems(root: Path, language: str, path: str, line: int) -> list[Problem]:
    """The warnings for one language."""
    problems = []
    if not known_language(language):
        problems.append(
            warning(
                path,
                line,
                1,
                f"language '{language}' is not known to CLDR: dates, numbers and plurals "
                "are written as in English",
            )
        )
    catalogs = [p for p in (catalog_path(CATALOGS, language), site_catalog(root, language)) if p]
    if not catalogs and not is_english(language):
        return [
            *problems,
            warning(
                path,
                line,
                1,
                f"language '{language}' has no catalog: every fixed string is shown in English "
                f"(add locale/{language}/LC_MESSAGES/messages.po to the site, or choose one "
                f"of the shipped languages: {', '.join(shipped_languages())})",
            ),
        ]
    missing = missing_strings(catalogs)
    if missing and not is_english(language):
        named = ", ".join(repr(m) for m in missing[:SHOWN_MISSING])
        more = f" and {len(missing) - SHOWN_MISSING} more" if len(missing) > SHOWN_MISSING else ""
        problems.append(
            warning(
                path,
                line,
                1,
                f"the '{language}' catalog lacks {len(missing)} string(s), shown in English: "
                f"{named}{more}",
            )
        )
    return problems


def message_keys(path: Path, translated_only: bool) -> set[tuple[str, str | None]]:
    """The (msgid, context) pairs of a catalog file: all of them, or the translated ones."""
    keys = set()
    for message in read_catalog(path):
        if not message.id:
            continue
        singular = message.id[0] if isinstance(message.id, tuple | list) else message.id
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        if translated_only and (message.fuzzy or not all(strings)):
            continue
        keys.add((singular, message.context))
    return keys


def missing_strings(catalogs: list[Path]) -> list[str]:
    """The template's strings none of `catalogs` translates, in the template's order."""
    translated: set[tuple[str, str | None]] = set()
    for path in catalogs:
        translated |= message_keys(path, translated_only=True)
    wanted = sorted(message_keys(TEMPLATE, translated_only=False) - translated)
    return [msgid for msgid, _ in wanted]

"""Front matter values read on their own: an essay's old addresses (`aliases:`) and its own
language (`language:`, a BCP 47 tag such as 'pt-BR')."""

from __future__ import annotations

import re
from functools import cache

from publish.content.source import FrontMatterDocument
from publish.errors import Problem, error


@cache
def language_tag() -> re.Pattern[str]:
    """A BCP 47 language tag, loosely (compiled on first use: few essays name a language)."""
    return re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def essay_language(document: FrontMatterDocument, problems: list[Problem]) -> str:
    """The essay's own language tag, or '' (the site's); a malformed one is an error."""
    value = document.metadata.get("language")
    if value is None:
        return ""
    if not isinstance(value, str) or not language_tag().match(value.strip()):
        problems.append(
            error(
                document.path,
                document.key_line("language"),
                1,
                f"language {value!r} is not a language tag such as 'en', 'pt-BR' or 'ja'",
            )
        )
        return ""
    return value.strip()


@cache
def alias_segment() -> re.Pattern[str]:
    """One segment of an old address (compiled on first use: few essays have aliases)."""
    return re.compile(r"^[^/\\\s?#<>\"'`]+$")


def essay_aliases(document: FrontMatterDocument, problems: list[Problem]) -> tuple[str, ...]:
    """Old addresses of the essay (`aliases: [p/on-margins]`), each given a redirect page."""
    value = document.metadata.get("aliases") or []
    value = [value] if isinstance(value, str) else value
    paths = [str(v).strip("/") for v in value] if isinstance(value, list) else None
    if paths is None or not all(
        p and all(alias_segment().match(part) and part not in (".", "..") for part in p.split("/"))
        for p in paths
    ):
        problems.append(
            error(
                document.path,
                document.key_line("aliases"),
                1,
                "'aliases' must be a list of old addresses under the site, such as p/on-margins",
            )
        )
        return ()
    return tuple(dict.fromkeys(paths))

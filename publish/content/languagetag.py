"""An essay's own language: `language:` in its front matter, a BCP 47 tag such as 'pt-BR'."""

from __future__ import annotations

import re

from publish.content.source import FrontMatterDocument
from publish.errors import Problem, error

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def essay_language(document: FrontMatterDocument, problems: list[Problem]) -> str:
    """The essay's own language tag, or '' (the site's); a malformed one is an error."""
    value = document.metadata.get("language")
    if value is None:
        return ""
    if not isinstance(value, str) or not LANGUAGE_TAG.match(value.strip()):
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

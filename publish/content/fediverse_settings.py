"""Checks the `[fediverse]` table of publish.toml: the actor's handle and the accounts it
names (old ones it is also known as, the one it moved to)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from publish.errors import Problem, error
from publish.layout import SETTINGS_FILE


@cache
def handle_pattern() -> re.Pattern[str]:
    """A fediverse handle, `letters` or `@letters@example.org` (compiled on first use: a
    site without `[fediverse]` needs none)."""
    return re.compile(
        r"@?(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})(?:@(?P<host>[A-Za-z0-9.:-]+))?"
    )


def handle_parts(handle: str, site_url: str) -> tuple[str, str]:
    """The user and host of a handle ("letters", "@letters@example.org"); the host defaults
    to the site's."""
    match = handle_pattern().fullmatch(handle.strip())
    user = match["user"] if match else handle.strip().lstrip("@")
    host = (match["host"] if match else None) or urlsplit(site_url).netloc
    return user, host


def check_fediverse(values: dict[str, Any], line_of: Callable[[str], int]) -> list[Problem]:
    """The problems of a read `[fediverse]` table (keys and types are already checked)."""
    problems = []
    handle = values.get("handle", "")
    if values.get("enabled") and not handle:
        message = "'fediverse.enabled' is true but 'fediverse.handle' is not set (e.g. 'letters')"
        problems.append(error(SETTINGS_FILE, line_of("enabled"), 1, message))
    if handle and not handle_pattern().fullmatch(handle.strip()):
        message = (
            f"'fediverse.handle' must be a name like 'letters' or '@letters@example.org', "
            f"got '{handle[:80]}'"
        )
        problems.append(error(SETTINGS_FILE, line_of("handle"), 1, message))
    accounts = [("also_known_as", value) for value in values.get("also_known_as", ())]
    if values.get("moved_to"):
        accounts.append(("moved_to", values["moved_to"]))
    accounts += [("profiles", value) for value in values.get("profiles", ())]
    for key, value in accounts:
        if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
            message = f"'fediverse.{key}' must hold account URLs (https://host/users/name)"
            problems.append(error(SETTINGS_FILE, line_of(key), 1, message))
    return problems

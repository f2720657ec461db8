"""URLs that carry a login (PUBLISH_SMTP_URL, PUBLISH_BOUNCE_URL), read so that no error
ever repeats a piece of them: the user name and password may be anywhere in a URL that a
stray '/', '?', '#' or '@' has cut in the wrong place."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")
UNPRINTABLE = (
    "contains a space or a control character (percent-encode those in the user name or password)"
)


class UnreadableURL(ValueError):
    """The URL cannot be split into its parts (a bad port or bracket); it carries no text of
    the URL."""


def has_unprintable(text: str) -> bool:
    """Whether the URL holds a space or a character that cannot be printed."""
    return any(ch.isspace() or not ch.isprintable() for ch in text)


def split_login_url(text: str) -> tuple[SplitResult, str | None, int | None]:
    """The parts, host and port of a URL; UnreadableURL (never quoting it) when the port or
    a bracket cannot be read, as happens when a password holds an unencoded '/'."""
    try:
        parts = urlsplit(text)
        return parts, parts.hostname, parts.port
    except ValueError:
        raise UnreadableURL from None


def is_host_name(host: str) -> bool:
    """Whether `host` is a host name (IDN allowed) or an IP address literal."""
    if ":" in host:  # an IPv6 literal; urlsplit has checked the brackets
        return bool(re.fullmatch(r"[0-9A-Fa-f:.]+", host))
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_HOST_NAME.fullmatch(ascii_host))

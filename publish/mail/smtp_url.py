"""PUBLISH_SMTP_URL, read into an SMTPEndpoint: scheme, host, port and the login."""

from __future__ import annotations

from urllib.parse import unquote

import msgspec

from publish.errors import PublishError
from publish.support.loginurl import (
    UNPRINTABLE,
    UnreadableURL,
    has_unprintable,
    is_host_name,
    split_login_url,
)

SMTP_URL_ENV = "PUBLISH_SMTP_URL"
URL_SHAPE = "smtp://user:password@host:587 or smtps://user:password@host:465"


class SMTPEndpoint(msgspec.Struct, frozen=True):
    """Where and how to connect, parsed from PUBLISH_SMTP_URL (never printed whole)."""

    host: str
    port: int
    implicit_tls: bool
    username: str
    password: str

    @property
    def label(self) -> str:
        """The endpoint without credentials, safe to show."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{host}:{self.port}"


def _url_error(message: str, variable: str = SMTP_URL_ENV) -> PublishError:
    """An SMTP URL error; it never repeats any part of the URL (it may hold a password)."""
    return PublishError.single(variable, 1, 1, f"{message}; it must look like {URL_SHAPE}")


def parse_smtp_url(url: str, variable: str = SMTP_URL_ENV) -> SMTPEndpoint:
    """Parse `smtp://user:pass@host:port` or `smtps://…`; errors never repeat the URL and
    name `variable`, the environment variable it came from."""
    try:
        return _parse(url)
    except PublishError as exc:
        if variable == SMTP_URL_ENV:
            raise
        problem = exc.problems[0]
        raise PublishError.single(variable, 1, 1, problem.message) from None


def _parse(url: str) -> SMTPEndpoint:
    """Parse the URL (see parse_smtp_url)."""
    text = url.strip()
    if has_unprintable(text):
        raise _url_error(UNPRINTABLE)
    try:
        parts, host, port = split_login_url(text)
    except UnreadableURL:
        raise _url_error("cannot be read as a URL (a bad port or bracket)") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise _url_error("does not start with smtp:// or smtps://")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text or "#" in text:
        raise _url_error(
            "has something after the host and port (percent-encode '/', '?', "
            "'#' and '@' in the user name or password)"
        )
    if not host:
        raise _url_error("has no host name")
    if not is_host_name(host):
        raise _url_error("has a host name with characters no host name can have")
    if port == 0:
        raise _url_error("has port 0")
    implicit = parts.scheme == "smtps"
    username = unquote(parts.username or "")
    default_port = 465 if implicit else (587 if username else 25)
    return SMTPEndpoint(
        host=host,
        port=port or default_port,
        implicit_tls=implicit,
        username=username,
        password=unquote(parts.password or ""),
    )

"""Fetching remote actors and keys, and posting to remote inboxes, without being turned
against the site's own network: every host is resolved first and refused when any of its
addresses is not a public one (loopback, private, link-local ...), unless the site allows
private addresses (`[fediverse] allow_private_addresses`, for tests); the connection then
goes to the address checked, so a second lookup cannot point it elsewhere. Answers are read
as plain JSON, up to MAX_DOCUMENT bytes, within a short timeout.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import msgspec

MAX_DOCUMENT = 1024 * 1024  # bytes of an actor or key document read at most
TIMEOUT = 5.0  # seconds to connect and for each read
MAX_REDIRECTS = 3
ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
USER_AGENT = "publish (ActivityPub)"

# (method, url, body) -> the signature headers of a request
Signer = Callable[[str, str, bytes | None], Mapping[str, str]]


class RemoteError(Exception):
    """A remote document that could not be had, or an address refused; says why."""


class Fetcher(msgspec.Struct, frozen=True):
    """How this site talks to other servers: whether private addresses are allowed, how
    long to wait, and how to sign what it asks (remote servers may demand signed fetches)."""

    allow_private: bool = False
    timeout: float = TIMEOUT
    signer: Signer | None = None

    def get_json(self, url: str) -> dict[str, Any]:
        """The JSON object at `url` (following a few redirects); RemoteError otherwise."""
        for _ in range(MAX_REDIRECTS + 1):
            status, headers, body = self.request("GET", url, None, {"Accept": ACCEPT})
            if status in (301, 302, 303, 307, 308) and headers.get("location"):
                url = urljoin(url, headers["location"])
                continue
            if status != 200:
                raise RemoteError(f"{url} answered {status}")
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                raise RemoteError(f"{url} did not answer JSON") from None
            if not isinstance(document, dict):
                raise RemoteError(f"{url} did not answer a JSON object")
            return document
        raise RemoteError(f"{url} redirected more than {MAX_REDIRECTS} times")

    def post_json(self, url: str, document: Mapping[str, Any]) -> int:
        """POST an activity to an inbox, signed; the status code it answered."""
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/activity+json", "Accept": ACCEPT}
        status, _, _ = self.request("POST", url, body, headers)
        return status

    def request(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """One request to a checked address: status, headers (lower-case names), body."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"{url[:200]} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self.checked_address(parts.hostname, port)
        sent = {"User-Agent": USER_AGENT, **headers}
        if self.signer is not None:
            sent.update(self.signer(method, url, body))
        connection = _connection(parts.scheme, parts.hostname, address, port, self.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", parts.netloc)
            for name, value in sent.items():
                if name.lower() != "host":
                    connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read(MAX_DOCUMENT + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise RemoteError(f"{parts.netloc}: {exc or type(exc).__name__}") from None
        finally:
            connection.close()
        if len(data) > MAX_DOCUMENT:
            raise RemoteError(f"{url[:200]} answered more than {MAX_DOCUMENT} bytes")
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, answer_headers, data

    def checked_address(self, host: str, port: int) -> str:
        """The address to connect to for `host` (an IPv4 one where it has both); RemoteError
        when any address it has is private."""
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise RemoteError(f"cannot resolve {host} ({exc})") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
        private = [a for a in addresses if not a.is_global]
        if private and not self.allow_private:
            raise RemoteError(
                f"{host} is at a private address ({private[0]}); refused "
                "(only [fediverse] allow_private_addresses, for tests, allows it)"
            )
        return str(next((a for a in addresses if a.version == 4), addresses[0]))


def _connection(
    scheme: str, host: str, address: str, port: int, timeout: float
) -> http.client.HTTPConnection:
    """A connection to `address` that speaks to `host`; for https, its TLS is set up now,
    to the address checked, with the certificate checked against the host's name (SNI)."""
    if scheme == "http":
        return http.client.HTTPConnection(address, port, timeout=timeout)
    context = ssl.create_default_context()
    connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        raw = socket.create_connection((address, port), timeout)
    except OSError as exc:
        raise RemoteError(f"{host}: {exc}") from None
    try:
        connection.sock = context.wrap_socket(raw, server_hostname=host)
    except (OSError, ssl.SSLError) as exc:
        raw.close()
        raise RemoteError(f"{host}: {exc}") from None
    return connection

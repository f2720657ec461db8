"""Remote actors served by a small loopback HTTP server, for tests that sign requests to the
site's inbox themselves (tampered, stale, by the wrong key) and need the signer's actor
document and inbox to be fetchable."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from publish.fediverse.keys import public_pem
from publish.fediverse.signatures import sign_request


@dataclass(frozen=True)
class Received:
    """One request the remote server got: method, path, headers (lower-case names), body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RemoteActors:
    """The server's origin, each actor's key by name, and every request it was sent."""

    origin: str
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    shown_keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)  # what it serves
    requests: list[Received] = field(default_factory=list)
    aliases: dict[str, list[str]] = field(default_factory=dict)  # alsoKnownAs by actor
    held: threading.Event | None = None  # when set, a POST is answered only once it is set

    def add(self, name: str, served_key: rsa.RSAPrivateKey | None = None) -> str:
        """A new actor `name` with its own key (its document may show `served_key` instead);
        its id."""
        self.keys[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.shown_keys[name] = served_key or self.keys[name]
        return self.actor_id(name)

    def actor_id(self, name: str) -> str:
        """The id of actor `name`."""
        return f"{self.origin}/users/{name}"

    def document(self, name: str) -> dict[str, Any]:
        """The actor document served for `name`."""
        actor = self.actor_id(name)
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor,
            "type": "Person",
            "name": name.title(),
            "url": f"{self.origin}/@{name}",
            "inbox": f"{actor}/inbox",
            "endpoints": {"sharedInbox": f"{self.origin}/inbox"},
            "publicKey": {
                "id": f"{actor}#main-key",
                "owner": actor,
                "publicKeyPem": public_pem(self.shown_keys[name]),
            },
            "alsoKnownAs": self.aliases.get(name, []),
        }

    def posts(self) -> list[Received]:
        """The POSTs the server received so far."""
        return [r for r in self.requests if r.method == "POST"]

    def signed_headers(self, name: str, url: str, body: bytes, **options: Any) -> dict[str, str]:
        """The headers of a POST of `body` to `url` signed by actor `name`."""
        return sign_request(
            "POST", url, body, self.keys[name], f"{self.actor_id(name)}#main-key", **options
        )


@contextmanager
def remote_actors() -> Iterator[RemoteActors]:
    """Serve remote actors on a free loopback port; stop afterwards."""
    actors: RemoteActors

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            actors.requests.append(Received("GET", self.path, self.lowered(), b""))
            name = self.path.removeprefix("/users/")
            if name not in actors.keys:
                self.send_error(404)
                return
            body = json.dumps(actors.document(name)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/activity+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            actors.requests.append(Received("POST", self.path, self.lowered(), body))
            if actors.held is not None:
                actors.held.wait(timeout=60)  # a slow server: the answer waits for the test
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def lowered(self) -> dict[str, str]:
            return {name.lower(): value for name, value in self.headers.items()}

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    actors = RemoteActors(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield actors
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

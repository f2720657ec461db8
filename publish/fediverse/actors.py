"""Remote actors as the inbox needs them: their inboxes and names, and their public keys,
fetched once and cached in the state (fetched again when a signature fails with the cached
key: the actor may have a new one)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec

from publish.fediverse.remote import Fetcher, RemoteError
from publish.fediverse.signatures import PublicKey, SignatureError
from publish.state import followers


class RemoteActor(msgspec.Struct, frozen=True):
    """What the site keeps of a remote actor: its id, inboxes, name and profile page."""

    id: str
    inbox: str
    shared_inbox: str
    name: str
    url: str


def text_of(value: Any) -> str:
    """A property that should be a string (or an object with an id, or a list of them)."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("id") or value.get("href") or ""
    return value if isinstance(value, str) else ""


def read_actor(document: dict[str, Any], expected_id: str) -> RemoteActor:
    """The actor a fetched document describes; RemoteError unless it is `expected_id` with an
    inbox."""
    actor_id, inbox = text_of(document.get("id")), text_of(document.get("inbox"))
    if actor_id != expected_id or not inbox.startswith(("https://", "http://")):
        raise RemoteError(f"{expected_id[:200]} is not an actor with an inbox")
    endpoints = document.get("endpoints")
    shared = text_of(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else ""
    name = text_of(document.get("name")) or text_of(document.get("preferredUsername"))
    return RemoteActor(
        actor_id, inbox, shared, name[:200], text_of(document.get("url")) or actor_id
    )


def fetch_actor(fetcher: Fetcher, actor_id: str) -> RemoteActor:
    """Fetch and read a remote actor; RemoteError when it cannot be had."""
    return read_actor(fetcher.get_json(actor_id), actor_id)


class KeyStore(msgspec.Struct):
    """The public keys of remote actors: from the state's cache, else fetched (signed
    requests are then verified with them; see publish.fediverse.signatures)."""

    conn: sqlite3.Connection
    fetcher: Fetcher
    clock: Callable[[], float]
    fetched: dict[str, PublicKey] = msgspec.field(default_factory=dict)

    def __call__(self, key_id: str, fresh: bool) -> PublicKey:
        """The key `key_id`, fetched anew when `fresh`; SignatureError when it cannot be had.
        A fetched key is cached only by `keep`, once a signature verified with it."""
        cached = None if fresh else followers.cached_key(self.conn, key_id)
        if cached is not None:
            return PublicKey(cached.key_id, cached.owner, cached.public_key)
        try:
            key = self.fetch(key_id)
        except RemoteError as exc:
            raise SignatureError(f"cannot fetch the signer's key: {exc}") from None
        self.fetched[key_id] = key
        return key

    def keep(self, key: PublicKey) -> None:
        """Cache a key a signature verified with, if it was fetched for it."""
        if self.fetched.get(key.key_id) == key:
            stored = followers.RemoteKey(key.key_id, key.owner, key.pem, self.clock())
            followers.store_key(self.conn, stored)

    def fetch(self, key_id: str) -> PublicKey:
        """Fetch a key: from its actor's document (or the key's own, checked against its
        owner's)."""
        url = key_id.split("#", 1)[0]
        document = self.fetcher.get_json(url)
        if text_of(document.get("id")) != url:
            raise RemoteError(f"{url[:200]} answered a document with another id")
        found = _key_in(document, key_id)
        if found is not None:
            return found
        owner = text_of(document.get("owner")) or text_of(document.get("controller"))
        pem = document.get("publicKeyPem")
        if owner and isinstance(pem, str) and _same_origin(owner, key_id):
            owned = _key_in(self.fetcher.get_json(owner), key_id)
            if owned is not None and owned.owner == owner:
                return owned
        raise RemoteError(f"{url[:200]} does not hold the key {key_id[:200]}")


def _key_in(document: dict[str, Any], key_id: str) -> PublicKey | None:
    """The key `key_id` among an actor document's `publicKey`s, owned by that actor."""
    keys = document.get("publicKey")
    for key in keys if isinstance(keys, list) else [keys]:
        if not isinstance(key, dict) or text_of(key.get("id")) != key_id:
            continue
        owner = text_of(key.get("owner")) or text_of(document.get("id"))
        pem = key.get("publicKeyPem")
        if owner == text_of(document.get("id")) and isinstance(pem, str):
            return PublicKey(key_id, owner, pem)
    return None


def _same_origin(first: str, second: str) -> bool:
    """Whether two URLs share scheme, host and port."""
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)

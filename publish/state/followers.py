"""Who follows the site's ActivityPub actor, and the remote actors' public keys.

A follower is a remote actor's id with the inbox it named and its server's shared inbox;
deliveries go once to each shared inbox (else to the follower's own). Public keys fetched
from remote actors are cached here so that every signed request does not fetch one again.
"""

from __future__ import annotations

import sqlite3

import msgspec

from publish.support.safetext import now_text


class Follower(msgspec.Struct, frozen=True):
    """One remote actor following the site, and where to deliver to it."""

    actor: str
    inbox: str
    shared_inbox: str
    follow_id: str
    followed_at: str

    @property
    def delivery_inbox(self) -> str:
        """Where an essay goes for this follower: its server's shared inbox, else its own."""
        return self.shared_inbox or self.inbox


class RemoteKey(msgspec.Struct, frozen=True):
    """A remote actor's public key as last fetched."""

    key_id: str
    owner: str
    public_key: str  # PEM
    fetched_at: float


def add_follower(
    conn: sqlite3.Connection, actor: str, inbox: str, shared_inbox: str, follow_id: str
) -> None:
    """Store (or refresh) a follower with its inbox and shared inbox."""
    conn.execute(
        "INSERT INTO followers (actor, inbox, shared_inbox, follow_id, followed_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (actor) DO UPDATE SET inbox = excluded.inbox,"
        " shared_inbox = excluded.shared_inbox, follow_id = excluded.follow_id",
        (actor, inbox, shared_inbox, follow_id, now_text()),
    )


def remove_follower(conn: sqlite3.Connection, actor: str) -> bool:
    """Forget a follower (Undo of its Follow, its actor deleted, its server gone); True if
    it was one."""
    return conn.execute("DELETE FROM followers WHERE actor = ?", (actor,)).rowcount > 0


def follower_count(conn: sqlite3.Connection) -> int:
    """How many actors follow the site."""
    return conn.execute("SELECT COUNT(*) FROM followers").fetchone()[0]


def all_followers(conn: sqlite3.Connection) -> list[Follower]:
    """Every follower, oldest first."""
    rows = conn.execute(
        "SELECT actor, inbox, shared_inbox, follow_id, followed_at FROM followers"
        " ORDER BY followed_at, actor"
    ).fetchall()
    return [Follower(*row) for row in rows]


def delivery_inboxes(conn: sqlite3.Connection) -> list[str]:
    """Each inbox an activity for every follower goes to, once (shared inboxes merged)."""
    return list(dict.fromkeys(f.delivery_inbox for f in all_followers(conn)))


def cached_key(conn: sqlite3.Connection, key_id: str) -> RemoteKey | None:
    """The cached public key of `key_id`, or None."""
    row = conn.execute(
        "SELECT key_id, owner, public_key, fetched_at FROM remote_keys WHERE key_id = ?",
        (key_id,),
    ).fetchone()
    return RemoteKey(*row) if row else None


def store_key(conn: sqlite3.Connection, key: RemoteKey) -> None:
    """Cache (or replace) a fetched public key."""
    conn.execute(
        "INSERT OR REPLACE INTO remote_keys (key_id, owner, public_key, fetched_at)"
        " VALUES (?, ?, ?, ?)",
        (key.key_id, key.owner, key.public_key, key.fetched_at),
    )


def forget_keys(conn: sqlite3.Connection, owner: str) -> None:
    """Drop the cached keys of an actor (it was deleted)."""
    conn.execute("DELETE FROM remote_keys WHERE owner = ?", (owner,))

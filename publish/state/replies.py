"""Replies to the site's essays from the fediverse, kept for the author, and the likes and
boosts each essay got. A reply is shown under its essay only once the author approved it;
nothing here is published unasked. The figures are what the remote servers sent, no more."""

from __future__ import annotations

from contextlib import closing
from typing import TYPE_CHECKING

import msgspec

from publish.model import ShownReply, Site
from publish.state.db import database_error, database_path
from publish.state.releases import open_read_only
from publish.support.safetext import now_text

if TYPE_CHECKING:
    import sqlite3


class Reply(msgspec.Struct, frozen=True):
    """One reply to an essay: who wrote it, where the original is, and its (sanitised) HTML."""

    id: int
    object_id: str
    slug: str
    actor: str
    author_name: str
    author_url: str
    url: str
    content: str
    published: str
    received_at: str
    approved_at: str | None

    @property
    def approved(self) -> bool:
        """Whether the author chose to show it under the essay."""
        return self.approved_at is not None


_REPLY_COLUMNS = (
    "id, object_id, slug, actor, author_name, author_url, url, content, published,"
    " received_at, approved_at"
)


def add_reply(
    conn: sqlite3.Connection,
    object_id: str,
    slug: str,
    actor: str,
    author: tuple[str, str],
    url: str,
    content: str,
    published: str,
) -> None:
    """Keep a reply (a second copy of the same note changes nothing)."""
    conn.execute(
        "INSERT OR IGNORE INTO replies (object_id, slug, actor, author_name, author_url, url,"
        " content, published, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (object_id, slug, actor, *author, url, content, published, now_text()),
    )


def remove_reply(conn: sqlite3.Connection, object_id: str, actor: str) -> bool:
    """Forget a reply its author deleted; True if there was one."""
    sql = "DELETE FROM replies WHERE object_id = ? AND actor = ?"
    return conn.execute(sql, (object_id, actor)).rowcount > 0


def remove_actor(conn: sqlite3.Connection, actor: str) -> None:
    """Forget every reply and reaction of an actor that was deleted."""
    conn.execute("DELETE FROM replies WHERE actor = ?", (actor,))
    conn.execute("DELETE FROM reactions WHERE actor = ?", (actor,))


def list_replies(conn: sqlite3.Connection, approved_only: bool = False) -> list[Reply]:
    """Every reply (or only the approved ones), oldest first."""
    where = " WHERE approved_at IS NOT NULL" if approved_only else ""
    rows = conn.execute(
        f"SELECT {_REPLY_COLUMNS} FROM replies{where} ORDER BY published, id"
    ).fetchall()
    return [Reply(*row) for row in rows]


def approve_reply(conn: sqlite3.Connection, reply_id: int) -> bool:
    """Mark a reply to be shown under its essay; False when there is no such reply."""
    sql = "UPDATE replies SET approved_at = COALESCE(approved_at, ?) WHERE id = ?"
    return conn.execute(sql, (now_text(), reply_id)).rowcount > 0


def add_reaction(
    conn: sqlite3.Connection, activity_id: str, kind: str, slug: str, actor: str
) -> None:
    """Count one like or boost of an essay (the same activity twice counts once)."""
    conn.execute(
        "INSERT OR IGNORE INTO reactions (activity_id, kind, slug, actor, received_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (activity_id, kind, slug, actor, now_text()),
    )


def remove_reaction(conn: sqlite3.Connection, activity_id: str, actor: str) -> bool:
    """Uncount a like or boost its actor undid."""
    sql = "DELETE FROM reactions WHERE activity_id = ? AND actor = ?"
    return conn.execute(sql, (activity_id, actor)).rowcount > 0


def reaction_counts(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """Likes and boosts by essay slug."""
    counts: dict[str, tuple[int, int]] = {}
    rows = conn.execute("SELECT slug, kind, COUNT(*) FROM reactions GROUP BY slug, kind")
    for slug, kind, count in rows:
        likes, boosts = counts.get(slug, (0, 0))
        counts[slug] = (count, boosts) if kind == "like" else (likes, count)
    return counts


def with_replies(site: Site) -> Site:
    """The site with the approved replies a build shows under their essays, read-only; the
    site as it is when it has no actor (no query then) or no state yet."""
    settings = site.settings
    path = database_path(site.root, settings)
    if not settings.fediverse.enabled:
        return site
    connection = open_read_only(path)
    if connection is None:
        return site
    import sqlite3  # loaded already: the connection is open

    with closing(connection):
        try:
            found = list_replies(connection, approved_only=True)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a database from before the fediverse
                return site
            raise database_error(path, exc, "read") from None
    shown = tuple(
        ShownReply(r.slug, r.author_name, r.author_url, r.url, r.content, r.published)
        for r in found
    )
    return msgspec.structs.replace(site, replies=shown)

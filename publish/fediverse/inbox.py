"""What the actor's inbox does with an activity whose signature verified: Follow, Undo,
Delete, replies (Create of a Note in reply to an essay), likes and boosts.

Activities are read as plain JSON (no JSON-LD context is ever fetched). The signer must be
the activity's actor. A Follow is stored and answered by an Accept the caller delivers; a
reply is kept for the author, never published unasked; likes and boosts are counted.
Anything else is taken (202) and changes nothing.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import msgspec

from publish.fediverse.actors import RemoteActor, fetch_actor, text_of
from publish.fediverse.remote import Fetcher, RemoteError
from publish.model import Settings
from publish.outputs.activitypub import ARTICLES, CONTEXT, actor_id, clean_reply
from publish.state import db, followers, releases, replies

MAX_REPLY = 20_000  # characters of a reply's HTML kept


class Refused(Exception):
    """An activity the inbox will not take: its status code and why."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class Delivery(msgspec.Struct, frozen=True):
    """An activity the site must POST to a remote inbox (the Accept of a Follow)."""

    inbox: str
    activity: dict[str, Any]


def receive(
    conn: sqlite3.Connection, settings: Settings, fetcher: Fetcher, signer: str, activity: Any
) -> Delivery | None:
    """Act on one activity signed by the actor `signer`; what to deliver in answer, if
    anything. Refused when it is malformed or not the signer's own."""
    if not isinstance(activity, dict):
        raise Refused(400, "the body is not a JSON object")
    kind, actor = text_of(activity.get("type")), text_of(activity.get("actor"))
    if not kind or not actor:
        raise Refused(400, "an activity needs a type and an actor")
    if actor != signer:
        raise Refused(403, "the activity's actor is not the one who signed it")
    handler = HANDLERS.get(kind)
    if handler is None:
        return None
    return handler(conn, settings, fetcher, actor, activity)


def _follow(
    conn: sqlite3.Connection, settings: Settings, fetcher: Fetcher, actor: str, activity: dict
) -> Delivery | None:
    """Store a follower of the site's actor and answer with an Accept."""
    if text_of(activity.get("object")) != actor_id(settings):
        raise Refused(400, "only the site's actor can be followed here")
    follower = _remote(fetcher, actor)
    with db.transaction(conn):
        followers.add_follower(
            conn, actor, follower.inbox, follower.shared_inbox, text_of(activity.get("id"))
        )
    accept = {
        "@context": CONTEXT,
        "id": f"{actor_id(settings)}#accepts/{uuid.uuid4().hex}",
        "type": "Accept",
        "actor": actor_id(settings),
        "object": {
            k: v for k, v in activity.items() if k not in ("@context", "signature", "proof")
        },
    }
    return Delivery(follower.inbox, accept)


def _undo(
    conn: sqlite3.Connection, settings: Settings, fetcher: Fetcher, actor: str, activity: dict
) -> None:
    """Undo a Follow (the follower leaves), a Like or a boost (it is no longer counted)."""
    undone = activity.get("object")
    kind = text_of(undone.get("type")) if isinstance(undone, dict) else ""
    undone_id = text_of(undone)
    with db.transaction(conn):
        if kind == "Follow" or (not kind and _follow_id(conn, actor) == undone_id):
            followers.remove_follower(conn, actor)
        elif undone_id:
            replies.remove_reaction(conn, undone_id, actor)


def _delete(
    conn: sqlite3.Connection, settings: Settings, fetcher: Fetcher, actor: str, activity: dict
) -> None:
    """A deleted actor leaves with everything of it; a deleted note stops being a reply."""
    deleted = text_of(activity.get("object"))
    with db.transaction(conn):
        if deleted == actor:
            followers.remove_follower(conn, actor)
            replies.remove_actor(conn, actor)
            followers.forget_keys(conn, actor)
        elif deleted:
            replies.remove_reply(conn, deleted, actor)


def _create(
    conn: sqlite3.Connection, settings: Settings, fetcher: Fetcher, actor: str, activity: dict
) -> None:
    """Keep a reply to one of the site's essays for the author to approve."""
    note = activity.get("object")
    if not isinstance(note, dict) or text_of(note.get("type")) not in ("Note", "Article"):
        return
    slug = essay_of(conn, settings, text_of(note.get("inReplyTo")))
    note_id = text_of(note.get("id"))
    author = text_of(note.get("attributedTo")) or actor
    if slug is None or not note_id or author != actor:
        return
    content = note.get("content")
    html = clean_reply(content[:MAX_REPLY] if isinstance(content, str) else "")
    remote = _remote(fetcher, actor)
    with db.transaction(conn):
        replies.add_reply(
            conn,
            note_id,
            slug,
            actor,
            (remote.name or actor, remote.url),
            text_of(note.get("url")) or note_id,
            html,
            text_of(note.get("published"))[:40],
        )


def _react(kind: str):  # noqa: ANN202 - a handler
    """A handler counting a Like or an Announce (boost) of one of the site's essays."""

    def handler(
        conn: sqlite3.Connection, settings: Settings, fetcher: Fetcher, actor: str, activity: dict
    ) -> None:
        slug = essay_of(conn, settings, text_of(activity.get("object")))
        activity_id = text_of(activity.get("id"))
        if slug is not None and activity_id:
            with db.transaction(conn):
                replies.add_reaction(conn, activity_id, kind, slug, actor)

    return handler


HANDLERS = {
    "Follow": _follow,
    "Undo": _undo,
    "Delete": _delete,
    "Create": _create,
    "Like": _react("like"),
    "Announce": _react("boost"),
}


def essay_of(conn: sqlite3.Connection, settings: Settings, url: str) -> str | None:
    """The slug of the released essay an address names (its Article or its page), or None."""
    base = settings.site.url
    if not url.startswith(base):
        return None
    rest = url.removeprefix(base)
    if rest.startswith(ARTICLES):
        slug = rest.removeprefix(ARTICLES).removesuffix(".json")
    else:
        slug = rest.split("#")[0].removesuffix("/")
    released = releases.read_releases(conn, "UTC")
    return slug if slug in released else None


def _follow_id(conn: sqlite3.Connection, actor: str) -> str:
    """The id of the Follow by which `actor` follows the site, or ''."""
    found = next((f for f in followers.all_followers(conn) if f.actor == actor), None)
    return found.follow_id if found else ""


def _remote(fetcher: Fetcher, actor: str) -> RemoteActor:
    """The remote actor, fetched; Refused (400) when it cannot be had."""
    try:
        return fetch_actor(fetcher, actor)
    except RemoteError as exc:
        raise Refused(400, f"cannot fetch the actor: {exc}") from None

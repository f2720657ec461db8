"""The site's actor against an independent ActivityPub server (Fedify 1.5.9 on Node): the
peer finds it by WebFinger, follows it and gets an Accept it verifies, replies, likes, and
undoes the follow."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from publish.mailing.service import create_app
from publish.model import Release
from publish.state import db, followers, releases, replies
from tests.fedipeer import fedify_peer, fediverse_settings, running_service
from tests.sitebuilder import essay_text, make_site
from tests.tools import free_port


@pytest.fixture
def federated(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """A site with one released essay, its service serving the actor, and a Fedify peer."""
    port = free_port()
    essays = {"01-first": essay_text("First Letter", "About reading.\n", date="2026-01-06")}
    root = make_site(tmp_path / "site", essays=essays, settings=fediverse_settings(port))
    conn = db.connect(root / "state" / "publish.db")
    released = datetime(2026, 1, 6, 9, tzinfo=UTC)
    releases.record_releases(conn, [Release("first-letter", released, released, "hash")])
    conn.close()
    app = create_app(root)
    with fedify_peer(tmp_path / "peer.log") as peer, running_service(app, port) as base:
        yield SimpleNamespace(root=root, peer=peer, base=base, port=port)


def state(root: Path) -> sqlite3.Connection:
    """The site's state database."""
    return db.connect(root / "state" / "publish.db")


def test_a_fedify_peer_follows_replies_likes_and_undoes(federated: SimpleNamespace) -> None:
    peer, base = federated.peer, federated.base
    handle = f"acct:letters@127.0.0.1:{federated.port}"
    follow = peer.control("follow", webfinger=f"{base}.well-known/webfinger?resource={handle}")
    assert follow["actor"] == f"{base}activitypub/actor"
    assert follow["name"] == "Peer Letters"
    accepted = peer.wait_for(lambda s: s["accepted"])["accepted"]
    assert accepted == [{"actor": follow["actor"], "follow": follow["follow"]}]
    conn = state(federated.root)
    [follower] = followers.all_followers(conn)
    assert follower.actor == f"{peer.origin}/users/reader"
    assert follower.inbox == f"{peer.origin}/users/reader/inbox"
    assert follower.shared_inbox == f"{peer.origin}/inbox"

    article = f"{base}activitypub/articles/first-letter.json"
    peer.control("reply", inReplyTo=article, content="<p>Lovely<script>alert(1)</script></p>")
    [reply] = replies.list_replies(conn)
    assert (reply.slug, reply.author_name, reply.approved) == ("first-letter", "Reader Peer", False)
    assert reply.content == "<p>Lovely</p>"
    assert reply.author_url == f"{peer.origin}/@reader"

    peer.control("like", object=article)
    peer.control("like", object=article, boost=True)
    assert replies.reaction_counts(conn) == {"first-letter": (1, 1)}

    peer.control("undo")
    assert followers.follower_count(conn) == 0
    assert peer.state()["errors"] == []

"""The site's actor against an independent ActivityPub server (Fedify 1.5.9 on Node): the
peer finds it by WebFinger, follows it and gets an Accept it verifies, replies, likes, and
undoes the follow."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from lxml import html

from publish.cli.main import cli
from publish.model import Release
from publish.service.app import create_app
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
    approved_reply_shows_under_the_essay(federated.root, reply.id, peer.origin)
    stats = CliRunner().invoke(cli, ["--root", str(federated.root), "stats"])
    assert stats.exit_code == 0, stats.output
    assert re.search(r"first-letter\s+1\s+1\s+1", stats.output), stats.output


def approved_reply_shows_under_the_essay(root: Path, reply_id: int, origin: str) -> None:
    """`publish replies` lists the reply as waiting; approved, the next build shows it under
    its essay with its author and a link to the original, and the pages link the actor."""
    runner = CliRunner()
    listed = runner.invoke(cli, ["--root", str(root), "replies"])
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"{reply_id}\s+waiting\s+first-letter\s+Reader Peer", listed.output)
    assert "Lovely" in listed.output
    page = root / "build" / "site" / "first-letter" / "index.html"
    assert runner.invoke(cli, ["--root", str(root), "build"]).exit_code == 0
    assert not html.parse(str(page)).getroot().cssselect("section.replies")
    approved = runner.invoke(cli, ["--root", str(root), "replies", "--approve", str(reply_id)])
    assert approved.exit_code == 0, approved.output
    built = runner.invoke(cli, ["--root", str(root), "build"])
    assert built.exit_code == 0, built.output
    document = html.parse(str(page)).getroot()
    [shown] = document.cssselect("section.replies article.reply")
    author = shown.cssselect("a.p-author")[0]
    assert (author.text, author.get("href")) == ("Reader Peer", f"{origin}/@reader")
    assert shown.cssselect("a.u-url")[0].get("href").startswith(f"{origin}/notes/")
    assert shown.cssselect(".reply-content")[0].text_content() == "Lovely"
    assert not document.cssselect("section.replies script")
    [alternate] = document.cssselect('link[type="application/activity+json"]')
    assert alternate.get("href").endswith("/activitypub/articles/first-letter.json")
    [creator] = document.cssselect('meta[name="fediverse:creator"]')
    assert creator.get("content").startswith("@letters@127.0.0.1:")
    index = html.parse(str(root / "build" / "site" / "index.html")).getroot()
    [actor] = index.cssselect('link[type="application/activity+json"]')
    assert actor.get("href").endswith("/activitypub/actor")


def test_approving_an_unknown_reply_is_an_error(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", essays={}, settings=fediverse_settings(free_port()))
    result = CliRunner().invoke(cli, ["--root", str(root), "replies", "--approve", "7"])
    assert result.exit_code == 1
    assert "--approve:1:1: error: no reply 7" in result.output
    assert "Traceback" not in result.output

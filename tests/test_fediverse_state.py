"""The fediverse's state: followers with their inboxes, cached keys, replies kept for the
author, likes and boosts counted."""

from __future__ import annotations

from pathlib import Path

from publish.state import db, followers, replies

ANN = "https://one.example/users/ann"
BOB = "https://one.example/users/bob"
CY = "https://two.example/users/cy"


def test_followers_are_stored_once_and_delivered_to_once_per_shared_inbox(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "state" / "publish.db")
    with db.transaction(conn):
        followers.add_follower(conn, ANN, f"{ANN}/inbox", "https://one.example/inbox", "f1")
        followers.add_follower(conn, BOB, f"{BOB}/inbox", "https://one.example/inbox", "f2")
        followers.add_follower(conn, CY, f"{CY}/inbox", "", "f3")
        followers.add_follower(conn, ANN, f"{ANN}/inbox", "https://one.example/inbox", "f4")
    assert followers.follower_count(conn) == 3
    assert followers.delivery_inboxes(conn) == ["https://one.example/inbox", f"{CY}/inbox"]
    assert followers.remove_follower(conn, ANN)
    assert not followers.remove_follower(conn, ANN)
    assert [f.actor for f in followers.all_followers(conn)] == [BOB, CY]


def test_a_reply_is_kept_unapproved_until_the_author_approves_it(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "publish.db")
    for _ in range(2):
        replies.add_reply(
            conn,
            "n1",
            "essay-1",
            ANN,
            ("Ann", ANN),
            "https://one.example/@ann/1",
            "<p>Nice</p>",
            "2026-12-01T00:00:00Z",
        )
    [reply] = replies.list_replies(conn)
    assert not reply.approved
    assert replies.list_replies(conn, approved_only=True) == []
    assert replies.approve_reply(conn, reply.id)
    assert not replies.approve_reply(conn, reply.id + 1)
    assert replies.list_replies(conn, approved_only=True)[0].approved


def test_likes_and_boosts_are_counted_per_essay_once_each(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "publish.db")
    replies.add_reaction(conn, "l1", "like", "essay-1", ANN)
    replies.add_reaction(conn, "l1", "like", "essay-1", ANN)
    replies.add_reaction(conn, "l2", "like", "essay-1", BOB)
    replies.add_reaction(conn, "b1", "boost", "essay-1", BOB)
    assert replies.reaction_counts(conn) == {"essay-1": (2, 1)}
    assert replies.remove_reaction(conn, "l2", BOB)
    replies.remove_actor(conn, BOB)
    assert replies.reaction_counts(conn) == {"essay-1": (1, 0)}

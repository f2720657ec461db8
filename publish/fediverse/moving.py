"""What the site's actor says to other accounts on the author's word: a `Move` of its
followers to another account (`publish move`: the actor names the new account in
`movedTo`, and every follower's server is sent a signed `Move`, which Mastodon and others
follow only when the new account names this actor in its `alsoKnownAs`; coming the other
way needs only `also_known_as`), and a `Follow` of one account (`publish follow`: Bridgy
Fed's bot, to bridge the site to Bluesky)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from publish.content.settings import setting_line
from publish.errors import PublishError
from publish.fediverse.actors import fetch_actor
from publish.fediverse.keys import signing_fetcher
from publish.fediverse.remote import RemoteError
from publish.layout import SETTINGS_FILE
from publish.model import Settings
from publish.outputs.activitypub import CONTEXT, actor_id
from publish.state import followers
from publish.state.db import database_path


class MoveReport(msgspec.Struct, frozen=True):
    """How the Move went: the inboxes that took it and those that did not, with why."""

    sent: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def move_activity(settings: Settings) -> dict[str, Any]:
    """The Move of the site's actor to `[fediverse] moved_to`."""
    actor = actor_id(settings)
    return {
        "@context": CONTEXT,
        "id": f"{actor}#moves/{settings.fediverse.moved_to}",
        "type": "Move",
        "actor": actor,
        "object": actor,
        "target": settings.fediverse.moved_to,
    }


def move_followers(conn: sqlite3.Connection, root: Path, settings: Settings) -> MoveReport:
    """Send the Move to every follower's inbox (once per shared inbox); PublishError (at
    the `moved_to` setting) when no new account is set or it does not name this actor as
    an alias."""
    target = settings.fediverse.moved_to
    line = setting_line(root, "fediverse", "moved_to")
    if not target:
        message = "set [fediverse] moved_to to the account to move to first"
        raise PublishError.single(SETTINGS_FILE, line, 1, message)
    fetcher = signing_fetcher(database_path(root, settings).parent, settings)
    try:
        aliases = fetcher.get_json(target).get("alsoKnownAs") or []
    except RemoteError as exc:
        message = f"cannot fetch {target}: {exc}"
        raise PublishError.single(SETTINGS_FILE, line, 1, message) from None
    if actor_id(settings) not in (aliases if isinstance(aliases, list) else [aliases]):
        message = (
            f"the account {target} does not name this site's actor ({actor_id(settings)}) "
            "among its aliases (alsoKnownAs); add it there first, or servers ignore the Move"
        )
        raise PublishError.single(SETTINGS_FILE, line, 1, message)
    activity = move_activity(settings)
    sent, failed = [], []
    for inbox in followers.delivery_inboxes(conn):
        try:
            status = fetcher.post_json(inbox, activity)
        except RemoteError as exc:
            failed.append((inbox, str(exc)))
            continue
        if status < 300:
            sent.append(inbox)
        else:
            failed.append((inbox, f"answered {status}"))
    return MoveReport(tuple(sent), tuple(failed))


def follow_account(state_dir: Path, settings: Settings, account: str) -> int:
    """Send a signed Follow of `account` (an actor URL) to its inbox; the status it answered.
    PublishError when the account cannot be fetched or refuses."""
    fetcher = signing_fetcher(state_dir, settings)
    try:
        inbox = fetch_actor(fetcher, account).inbox
        activity = {
            "@context": CONTEXT,
            "id": f"{actor_id(settings)}#follows/{account}",
            "type": "Follow",
            "actor": actor_id(settings),
            "object": account,
        }
        status = fetcher.post_json(inbox, activity)
    except RemoteError as exc:
        raise PublishError.single(account, 1, 1, f"cannot follow it: {exc}") from None
    if status >= 300:
        raise PublishError.single(account, 1, 1, f"its server refused the Follow ({status})")
    return status

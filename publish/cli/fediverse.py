"""The fediverse's commands: `publish replies` (the replies the essays got, and approving
one to show it under its essay at the next build), `publish move` and `publish follow`."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import click

from publish.errors import PublishError


@click.command("replies")
@click.option(
    "--approve",
    "approve",
    type=int,
    multiple=True,
    metavar="ID",
    help="Show this reply under its essay from the next build on (repeatable).",
)
@click.pass_obj
def replies_command(root: Path, approve: tuple[int, ...]) -> None:
    """List the replies from the fediverse (none is shown on the site until approved)."""
    from publish.content.settings import load_settings
    from publish.state import db, replies

    settings = load_settings(root)
    with closing(db.connect(db.database_path(root, settings))) as conn:
        with db.transaction(conn):
            unknown = [number for number in approve if not replies.approve_reply(conn, number)]
            if unknown:
                message = f"no reply {unknown[0]}; `publish replies` lists each with its ID"
                raise PublishError.single("--approve", 1, 1, message)
        found = replies.list_replies(conn)
    for number in approve:
        click.echo(f"Reply {number} is approved: the next build shows it under its essay.")
    if not approve:
        click.echo(replies_table(found), nl=False)


def replies_table(found: list) -> str:
    """One line per reply: ID, whether shown, the essay, the author, the start of its text."""
    from lxml import html

    if not found:
        return "No replies yet.\n"
    lines = []
    for reply in found:
        text = (
            html.fromstring(f"<div>{reply.content}</div>").text_content() if reply.content else ""
        )
        shown = "approved" if reply.approved else "waiting"
        words = " ".join(text.split())
        excerpt = words[:70] + ("…" if len(words) > 70 else "")
        lines.append(
            f"{reply.id:>4}  {shown:<8}  {reply.slug}  {reply.author_name} <{reply.url}>\n"
            f"      {excerpt}"
        )
    return "\n".join(lines) + "\n"


@click.command("move")
@click.pass_obj
def move_command(root: Path) -> None:
    """Tell every follower's server the site's actor moved to [fediverse] moved_to."""
    from publish.content.settings import load_settings
    from publish.fediverse.moving import move_followers
    from publish.state import db

    settings = load_settings(root)
    with closing(db.connect(db.database_path(root, settings))) as conn:
        report = move_followers(conn, root, settings)
    click.echo(f"The Move went to {len(report.sent)} inbox(es).")
    for inbox, reason in report.failed:
        click.echo(f"{inbox}: warning: the Move was not delivered ({reason})", err=True)


@click.command("follow")
@click.argument("account")
@click.pass_obj
def follow_command(root: Path, account: str) -> None:
    """Have the site's actor follow ACCOUNT (an actor URL), e.g. Bridgy Fed's Bluesky bot."""
    from publish.content.settings import load_settings
    from publish.fediverse.moving import follow_account
    from publish.state import db

    settings = load_settings(root)
    follow_account(db.database_path(root, settings).parent, settings, account)
    click.echo(f"The site's actor asked to follow {account}.")

"""`publish bounces`: apply the bounce mailbox's reports to the subscriber list."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import click

from publish.bounces.process import BounceSummary, open_mailbox, process_bounces
from publish.cli.common import load_environment_settings, show_problem
from publish.state.db import connect, database_path


@click.command("bounces")
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read this Maildir instead of the IMAP folder of $PUBLISH_BOUNCE_URL.",
)
@click.pass_obj
def bounces_command(root: Path, maildir: Path | None) -> None:
    """Read the bounce mailbox: bounces, abuse reports and unsubscribe requests change the
    subscriber list; each report read is marked so a rerun changes nothing."""
    settings = load_environment_settings(root)
    box = open_mailbox(maildir)
    try:
        with closing(connect(database_path(root, settings))) as conn:
            summary = process_bounces(root, settings, conn, box)
    finally:
        box.close()
    show_summary(summary)


def show_summary(summary: BounceSummary) -> None:
    """Print what the pass did: the counts, each reader taken off the list, the rest, and
    one warning (on stderr) per message set aside."""
    for problem in summary.set_aside:
        show_problem(problem)
    click.echo(f"Read {summary.mailbox}: {summary.message}")
    for address, status in sorted(summary.changed.items()):
        click.echo(f"  {address}: {status}")
    if summary.unknown:
        click.echo(f"{summary.unknown} report(s) about addresses not on the list (recorded)")
    if summary.unverified:
        click.echo(
            f"{summary.unverified} report(s) unverified: nothing in them proves they are about "
            "the readers they name (no signed return path, unsubscribe link or Message-ID of "
            "ours); no reader was changed"
        )
    if summary.repeated:
        click.echo(f"{summary.repeated} report(s) already applied before (nothing changed)")
    if summary.not_understood:
        click.echo(f"{summary.not_understood} message(s) not understood were left unmarked")
    if summary.left_alone:
        click.echo(f"{summary.left_alone} other message(s) left alone")

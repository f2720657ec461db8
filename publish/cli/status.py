"""`publish status` and `publish stats`: what happens next, and what happened so far."""

from __future__ import annotations

from pathlib import Path

import click

from publish.cli.common import (
    OUTBOX_OPTION,
    checked_today,
    load_environment_settings,
    parse_today,
    show_problems,
    site_moment,
)
from publish.ops.status import FediverseView, MailView, NextRelease, StatusReport, gather_status
from publish.schedule.slots import Timetable, format_slot
from publish.state.confirmations import FailedConfirmations
from publish.state.stats import SendCounts
from publish.support.addresses import masked_address


@click.command("status")
@click.option(
    "--today",
    "today_text",
    metavar="DATETIME",
    callback=checked_today,
    help="Report as if it were this moment (a date alone means the end of that day, as for run).",
)
@OUTBOX_OPTION
@click.pass_context
def status_command(ctx: click.Context, today_text: str | None, outbox: bool) -> None:
    """Say what the next `publish run` will release and mail, and whether it would succeed."""
    root: Path = ctx.obj
    settings = load_environment_settings(root)
    now = site_moment(parse_today(today_text), Timetable.from_settings(settings), end_of_day=True)
    report = gather_status(root, settings, now, outbox=outbox)
    show_problems(list(report.problems))
    for line in status_lines(report):
        click.echo(line)
    if not report.ok:
        ctx.exit(1)


def status_lines(report: StatusReport) -> list[str]:
    """The report as lines for the terminal."""
    return [
        f"As of:     {format_slot(report.now)}",
        *_release_lines(report.next_release),
        f"Reach:     {report.reach} active subscriber(s)",
        f"Deploy:    {report.deploy or 'not deployed (no [deploy] table in publish.toml)'}",
        *_mail_lines(report.mail),
        f"Last send: {_last_send(report.last_send)}",
        f"Confirmations: {_failed_confirmations(report.failed_confirmations)}",
        *_fediverse_lines(report.fediverse),
        *(
            [f"Next release would FAIL: {reason}" for reason in report.blockers]
            or ["Next release: ready"]
        ),
    ]


def _release_lines(upcoming: NextRelease | None) -> list[str]:
    """The next slot and its essays, and any send a run resumes."""
    if upcoming is None:
        return ["Next slot: unknown (the site has errors)"]
    if upcoming.slot is None:
        return ["Next slot: none (the schedule's rule has no more slots)"]
    when = format_slot(upcoming.slot) + (" (due now)" if upcoming.due else "")
    essays = ", ".join(f'{slug} ("{title}")' for slug, title in upcoming.essays) or "empty"
    lines = [f"Next slot: {when}", f"Essay:     {essays}"]
    if upcoming.resuming:
        lines.append(f"Resuming:  {', '.join(upcoming.resuming)} (send not finished)")
    return lines


def _mail_lines(mail: MailView | None) -> list[str]:
    """The mail settings, secrets left out."""
    if mail is None:
        return ["Mail:      no server to mail through"]
    rate = f"{mail.rate:g}/s" if mail.rate else "no limit"
    return [
        f"Mail:      {mail.destination}" + (f" as {mail.user}" if mail.user else ""),
        f"From:      {mail.from_address or '(not set)'}",
        f"Reply-To:  {mail.reply_to or '(none)'}",
        f"Pace:      {mail.connections} connection(s), rate {rate}",
    ]


def _last_send(sent: SendCounts | None) -> str:
    """One line for the last send of the ledger."""
    if sent is None:
        return "none yet"
    state = "finished" if sent.finished_at else "not finished"
    return (
        f"{sent.slug}, started {sent.started_at} ({state}): {sent.delivered} delivered, "
        f"{sent.failed} failed, {sent.deferred} deferred, {sent.unknown} unknown, "
        f"{sent.to_send} still to send"
    )


def _fediverse_lines(view: FediverseView | None) -> list[str]:
    """The followers and the deliveries still pending (nothing for a site without actor)."""
    if view is None:
        return []
    lines = [f"Followers: {view.followers} (through {view.inboxes} inbox(es))"]
    lines += [
        f"Delivery:  {send.kind} of {send.slug} pending to {send.waiting} inbox(es)"
        + (f" (last: {send.last_error})" if send.last_error else "")
        for send in view.pending
    ]
    return lines if view.pending else [*lines, "Delivery:  nothing pending"]


def _failed_confirmations(failed: FailedConfirmations | None) -> str:
    """One line for the signups whose confirmation email did not go out."""
    if failed is None:
        return "none failed"
    return (
        f"{failed.count} unconfirmed signup(s) whose email failed; latest {failed.failed_at}, "
        f"signup {failed.subscriber_id} ({masked_address(failed.email)}): {failed.reason}"
    )


@click.command("stats")
@click.pass_obj
def stats_command(root: Path) -> None:
    """Show subscribers per month and every send's outcome (from the ledger; no tracking)."""
    from publish.content.settings import load_settings
    from publish.ops.stats import read_stats, stats_table

    click.echo(stats_table(read_stats(root, load_settings(root))), nl=False)

"""The mailing commands: the subscription service, the subscriber list, send, run, cron."""

from __future__ import annotations

import ipaddress
import shlex
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from publish.cli.common import (
    OUTBOX_OPTION,
    checked_today,
    load_environment_settings,
    parse_today,
    show_problems,
    site_moment,
)
from publish.content.settings import load_settings
from publish.errors import PublishError
from publish.mail.progress import ProgressEvent, SendSummary
from publish.mail.send import require_destination, send_essay
from publish.mail.setup import (
    refuse_unsafe_setup,
)
from publish.ops.cron import cron_instructions
from publish.ops.run import run_publish
from publish.schedule.slots import Timetable
from publish.state.db import connect, database_path
from publish.state.imports import export_csv, import_csv
from publish.state.statuses import CONNECTION_EVENTS, OUTCOMES, Progress, SubscriberStatus
from publish.state.subscribers import (
    add_subscriber,
    list_subscribers,
    remove_subscriber,
)


@click.group()
def subscriptions() -> None:
    """The subscription service: signup, confirmation and one-click unsubscribe."""


def _ip_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An IP address in the form waitress compares with a peer's (`::1`, `127.0.0.1`)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IP address") from None


@subscriptions.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8001,
    show_default=True,
    help="The port to listen on.",
)
@click.option(
    "--behind-proxy",
    "proxies",
    type=click.IntRange(0, 5),
    default=0,
    show_default=True,
    metavar="N",
    help="Trust X-Forwarded-For from N reverse proxies in front of the service.",
)
@click.option(
    "--proxy-address",
    default="127.0.0.1",
    show_default=True,
    callback=_ip_address,
    metavar="ADDRESS",
    help="The address the nearest proxy connects from (with --behind-proxy).",
)
@click.pass_obj
def subscriptions_serve(root: Path, host: str, port: int, proxies: int, proxy_address: str) -> None:
    """Run the subscription service with waitress until Ctrl-C."""
    from publish.service.app import create_app
    from publish.service.context import ServiceOptions
    from publish.service.server import serve

    load_environment_settings(root)
    options = ServiceOptions(trusted_proxies=proxies, proxy_address=proxy_address)
    app = create_app(root, options)
    click.echo(f"Subscription service for {root} on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(app, host, port)


@click.group("subscribers")
def subscribers_group() -> None:
    """Manage the subscriber list kept in the state database."""


def _state_connection(root: Path) -> closing[sqlite3.Connection]:
    """Open the site's state database (creating it on first use), closed after the block."""
    return closing(connect(database_path(root, load_settings(root))))


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, used in the greeting.")
@click.pass_obj
def subscribers_add(root: Path, email: str, name: str) -> None:
    """Add EMAIL as an active subscriber (or update the existing one)."""
    with _state_connection(root) as conn:
        subscriber = add_subscriber(conn, email, name=name, source="cli")
    click.echo(f"{subscriber.email}: {subscriber.status}")


@subscribers_group.command("remove")
@click.argument("email")
@click.pass_obj
def subscribers_remove(root: Path, email: str) -> None:
    """Unsubscribe EMAIL (kept on file so that imports never bring it back)."""
    with _state_connection(root) as conn:
        subscriber = remove_subscriber(conn, email)
    if subscriber is None:
        raise PublishError.single(
            str(database_path(root, load_settings(root))),
            1,
            1,
            f"no subscriber with the address {email!r}",
        )
    click.echo(f"{subscriber.email}: {subscriber.status}")


@subscribers_group.command("list")
@click.pass_obj
@click.option(
    "--status",
    type=click.Choice([status.value for status in SubscriberStatus]),
    help="Only subscribers with this status.",
)
def subscribers_list(root: Path, status: str | None) -> None:
    """List subscribers: address, status, name and the dates they joined, confirmed, left,
    and bounced or complained (such readers are never mailed again)."""
    with _state_connection(root) as conn:
        everyone = [s for s in list_subscribers(conn) if status in (None, s.status)]
    click.echo("email\tstatus\tname\tsubscribed\tconfirmed\tunsubscribed\tbounced/complained")
    for subscriber in everyone:
        dates = (
            subscriber.created_at,
            subscriber.confirmed_at,
            subscriber.unsubscribed_at,
            subscriber.bounced_at or subscriber.complained_at,
        )
        shown = "\t".join(_day(moment) for moment in dates)
        click.echo(f"{subscriber.email}\t{subscriber.status}\t{subscriber.name}\t{shown}")
    counts = {kind: sum(s.status == kind for s in everyone) for kind in SubscriberStatus}
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    click.echo(f"{len(everyone)} subscriber(s): {summary}", err=True)


def _day(moment: str | None) -> str:
    """A stored ISO timestamp shown as its date and minute, or '-' when unset."""
    return moment[:16].replace("T", " ") if moment else "-"


@subscribers_group.command("import")
@click.argument(
    "csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.pass_obj
def subscribers_import(root: Path, csv_file: Path) -> None:
    """Import subscribers from a CSV file: `email,name`, publish's own export, or an export
    from Substack, Ghost, Buttondown or Mailchimp (recognised by its columns)."""
    with _state_connection(root) as conn:
        report = import_csv(conn, csv_file)
    click.echo(f"Imported {csv_file} ({report.format}): {report.message}")
    for line in report.skip_lines():
        click.echo(f"{csv_file}: {line}")


@subscribers_group.command("export")
@click.pass_obj
def subscribers_export(root: Path) -> None:
    """Print every subscriber as CSV."""
    with _state_connection(root) as conn:
        click.echo(export_csv(conn), nl=False)


@click.command()
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option(
    "--to", "to", metavar="ADDRESS", help="Send one test copy to ADDRESS; the ledger is left alone."
)
@click.option(
    "--update",
    is_flag=True,
    help="Send the edited essay to the fediverse followers as an Update; no mail.",
)
@OUTBOX_OPTION
@click.pass_context
def send(
    ctx: click.Context, slug: str, dry_run: bool, to: str | None, outbox: bool, update: bool
) -> None:
    """Send the built email of SLUG to every active subscriber, once each (with --update:
    the edited essay to every fediverse follower)."""
    root = ctx.obj
    if update:
        from publish.ops.fediupdate import send_update

        for line in send_update(root, slug):
            click.echo(line)
        return
    settings = load_environment_settings(root)
    show_problems(refuse_unsafe_setup(root, settings, test_copy=to is not None))
    with _SendProgress() as progress:
        summary = send_essay(
            root, settings, slug, dry_run=dry_run, to=to, outbox=outbox, on_progress=progress.update
        )
    _show_summary(summary)
    if not summary.ok:
        ctx.exit(1)


def _show_summary(summary: SendSummary) -> None:
    """Every address that did not get its message, with the reason, then the summary."""
    where = f" (outbox {summary.outbox}/)" if summary.outbox else ""
    for label, rows in (
        (Progress.FAILED, summary.failed),
        (Progress.DEFERRED, summary.deferred),
        (Progress.UNKNOWN, summary.unknown),
    ):
        for address, reason in rows:
            click.echo(f"{label}: {address}: {reason}{where}", err=True)
    click.echo(summary.message)


class _SendProgress:
    """A progress bar on a terminal, plain lines otherwise."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.tty = sys.stdout.isatty()

    def __enter__(self) -> _SendProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def update(self, event: ProgressEvent) -> None:
        """Show one progress event; with the outbox, every line names its folder."""
        if event.kind == Progress.START:
            if event.outbox:
                start = f"Writing {event.total} message(s) to {event.detail}; nothing is mailed"
            else:
                start = f"Sending to {event.total} subscriber(s) through {event.detail}"
            if self.tty:
                self.bar = click.progressbar(length=event.total, label=start)
                self.bar.__enter__()
            else:
                click.echo(start)
            return
        if self.bar is not None:
            if event.kind in OUTCOMES:
                self.bar.update(1)
            return
        where = f" (outbox {event.outbox}/)" if event.outbox else ""
        if event.kind in CONNECTION_EVENTS:
            about = f"{event.email}: " if event.email else ""
            click.echo(f"{event.kind}: {about}{event.detail}{where}")
        elif event.outbox and event.kind == Progress.SENT:
            click.echo(f"[{event.done}/{event.total}] wrote {event.email} to {event.outbox}/")
        else:
            detail = f" ({event.detail})" if event.detail else ""
            click.echo(f"[{event.done}/{event.total}] {event.kind} {event.email}{detail}{where}")


@click.command("run")
@click.option(
    "--today",
    "today_text",
    metavar="DATETIME",
    callback=checked_today,
    help="Run as if it were this moment (a date alone means the end of that day).",
)
@click.option(
    "--dry-run", is_flag=True, help="Explain what is due; build, record and send nothing."
)
@click.option(
    "--mail-back-issues",
    is_flag=True,
    help="Also release and mail the essays dated before the site's first run.",
)
@OUTBOX_OPTION
@click.pass_context
def run_command(
    ctx: click.Context, today_text: str | None, dry_run: bool, mail_back_issues: bool, outbox: bool
) -> None:
    """Release and mail the essays that are due, if any: safe to run from cron every hour."""
    root = ctx.obj
    settings = load_environment_settings(root)
    if not dry_run:
        require_destination(root, settings, outbox=outbox)
    timetable = Timetable.from_settings(settings)
    now = site_moment(parse_today(today_text), timetable, end_of_day=True)
    report = run_publish(root, now, dry_run=dry_run, back_issues=mail_back_issues, outbox=outbox)
    show_problems(list(report.warnings))
    for line in report.log:
        click.echo(f"{now:%Y-%m-%d %H:%M%z} {line}")
    if not report.ok:
        ctx.exit(1)


@click.command()
@click.pass_obj
def cron(root: Path) -> None:
    """Print a crontab line and a systemd timer that run `publish run` every hour."""
    click.echo(cron_instructions(root, load_settings(root), publish_command()), nl=False)


def publish_command() -> str:
    """How cron should call this publish: the installed script, else `python -m publish`."""
    script = Path(sys.executable).parent / "publish"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m publish"

"""The `publish` command line: the only module that prints or exits."""

from __future__ import annotations

import errno
import sys
import time
from contextlib import closing
from datetime import date, datetime
from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from publish import __version__
from publish.errors import Problem, PublishError

if TYPE_CHECKING:
    import sqlite3

    from publish.delivery import ProgressEvent, SendSummary
    from publish.model import Settings
    from publish.schedule import Timetable
    from publish.serve import BuildResult

SCAFFOLD = Path(__file__).parent / "scaffold"


class PublishGroup(click.Group):
    """A click group that shows PublishError problems and exits 1, without a traceback."""

    def invoke(self, ctx: click.Context):
        import sqlite3

        from publish.state import database_error
        try:
            return super().invoke(ctx)
        except PublishError as exc:
            show_problems(exc.problems)
            ctx.exit(1)
        except OSError as exc:
            click.echo(f"{exc.filename or 'publish'}: error: {exc.strerror or exc}", err=True)
            ctx.exit(1)
        except sqlite3.DatabaseError as exc:
            show_problems(database_error(_state_file(ctx.obj), exc).problems)
            ctx.exit(1)


def _state_file(root: Path | None) -> str:
    """The state database's path, for messages, as far as the settings can tell."""
    from publish.content.settings import load_settings
    from publish.state import database_path
    try:
        return str(database_path(root, load_settings(root))) if root else "state"
    except PublishError:
        return str(root / "state")


def show_problems(problems: list[Problem]) -> None:
    """Print each problem on its own line to stderr, then a count."""
    for problem in problems:
        click.echo(problem.format(), err=True)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    if problems:
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)


def site_today(root: Path) -> date:
    """Today's date in the site's time zone (UTC if the settings cannot be read)."""
    from zoneinfo import ZoneInfo

    from publish.content.settings import load_settings
    try:
        zone = ZoneInfo(load_settings(root).site.timezone)
    except PublishError:
        zone = ZoneInfo("UTC")
    return datetime.now(zone).date()


def parse_today(value: str | None) -> date | datetime | None:
    """A `--today` value: YYYY-MM-DD, or an ISO date and time."""
    if value is None:
        return None
    try:
        if len(value) <= 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD) or "
                                 "date and time (YYYY-MM-DDTHH:MM)") from None


TODAY_OPTION = click.option("--today", "today_text", metavar="DATE",
                            help="Treat this date (or ISO date-time) as now.")
OUTBOX_OPTION = click.option(
    "--outbox", is_flag=True,
    help="Write the messages to state/outbox/ instead of mailing them (no SMTP server "
         "needed); the real send ledger is left alone.")


@click.group(cls=PublishGroup)
@click.version_option(__version__, prog_name="publish")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="The site folder.")
@click.pass_context
def cli(ctx: click.Context, root: Path) -> None:
    """Publish a monthly essay to the web, to inboxes and to feeds."""
    ctx.obj = root.resolve()


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--title", default="My Monthly Letter", help="The site's title.")
@click.option("--author", default="A. Writer", help="The author's name.")
def init(directory: Path, title: str, author: str) -> None:
    """Create a new working site in DIRECTORY."""
    from publish.content.settings import SETTINGS_FILE
    if directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"'{directory}' is not empty; choose a new folder")
    values = {"today": site_today(SCAFFOLD).isoformat()}
    for source in sorted(SCAFFOLD.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(SCAFFOLD).as_posix().replace("gitignore", ".gitignore")
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if relative == SETTINGS_FILE:
            target.write_text(scaffold_settings(text, title, author), encoding="utf-8")
        else:
            target.write_text(_fill(text, values), encoding="utf-8")
    (directory / "templates").mkdir(exist_ok=True)
    click.echo(f"Created a new site in {directory}. Next: publish --root {directory} build")


def scaffold_settings(text: str, title: str, author: str) -> str:
    """The scaffold's publish.toml with this title and author, written by a TOML writer
    (any text, emoji included, stays a valid TOML string); its leading comments are kept."""
    import tomllib
    from email.headerregistry import Address

    import tomli_w

    from publish.mailsetup import PLACEHOLDER_FROM_ADDRESS
    from publish.safetext import fold_controls
    settings = tomllib.loads(text)
    settings["site"]["title"] = title
    settings["site"]["author"] = author
    sender = Address(display_name=fold_controls(author), addr_spec=PLACEHOLDER_FROM_ADDRESS)
    settings["email"]["from"] = str(sender)
    comments = "".join(f"{line}\n" for line in takewhile(lambda x: x.startswith("#"),
                                                          text.splitlines()))
    return f"{comments}\n{tomli_w.dumps(settings)}"


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace `{name}` placeholders in a scaffold file."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


@cli.command()
@click.argument("title")
@click.pass_obj
def new(root: Path, title: str) -> None:
    """Start a new essay called TITLE in essays/<slug>.md."""
    from publish.content.essays import cap_slug, slugify
    from publish.content.source import ESSAYS_DIR
    from publish.mailsetup import NEW_ESSAY_PLACEHOLDER
    slug = cap_slug(slugify(title))
    path = root / ESSAYS_DIR / f"{slug}.md"
    if path.exists():
        raise click.ClickException(f"{path.relative_to(root)} already exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        "---\n"
        f'title: "{quoted}"\n'
        'subtitle: ""\n'
        "tags: []\n"
        "# date: 2026-01-06   (leave out: the schedule gives it the next free slot)\n"
        "draft: true\n"
        "---\n"
        f"{NEW_ESSAY_PLACEHOLDER}\n",
        encoding="utf-8",
    )
    click.echo(f"Wrote {path.relative_to(root)} (a draft: set draft: false when it is ready)")


STRICT_OPTION = click.option("--strict", is_flag=True,
                             help="Treat every warning as an error (exit 1).")


@cli.command()
@TODAY_OPTION
@STRICT_OPTION
@click.pass_obj
def check(root: Path, today_text: str | None, strict: bool) -> None:
    """Report every problem in the site, queued essays included; exit 1 if there is any error."""
    from publish.build import BuildOptions, refuse_warnings
    from publish.build import check as check_site
    from publish.mailsetup import mailing_readiness, placeholder_essays
    today = parse_today(today_text) or site_today(root)
    report = check_site(root, BuildOptions(today=today))  # writes nothing, not even the cache
    site = report.site
    assert site is not None
    problems = [*report.warnings, *mailing_readiness(root, site.settings),
                *placeholder_essays(site)]
    if any(problem.is_error for problem in problems):
        raise PublishError(problems)
    if strict:
        refuse_warnings(problems)
    show_problems(problems)
    click.echo(f"{len(site.essays)} essay(s), {len(site.glossary.entries)} glossary term(s): OK")


@cli.command("build")
@TODAY_OPTION
@click.option("--drafts", is_flag=True, help="Include drafts.")
@click.option("--future", is_flag=True, help="Include essays dated after today.")
@STRICT_OPTION
@click.pass_obj
def build_command(root: Path, today_text: str | None, drafts: bool, future: bool,
                  strict: bool) -> None:
    """Build the web site, feeds and emails into build/."""
    from publish.build import BuildOptions, build
    today = parse_today(today_text) or site_today(root)
    report = build(root, BuildOptions(today=today, drafts=drafts, future=future, strict=strict))
    show_problems(report.warnings)
    click.echo(f"Built {len(report.published)} essay(s), {report.files} file(s) "
               f"into {report.site_dir}")
    click.echo(f"Emails (HTML, text, .eml) are in {report.email_dir}")


@cli.command()
@TODAY_OPTION
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The port on 127.0.0.1.")
@click.option("--drafts", is_flag=True, help="Include drafts.")
@click.option("--future", is_flag=True, help="Include essays dated after today.")
@click.pass_obj
def serve(root: Path, today_text: str | None, port: int, drafts: bool, future: bool) -> None:
    """Preview the site on 127.0.0.1, rebuilding and reloading on every change."""
    from publish.build import BuildOptions
    from publish.serve import Preview
    today = parse_today(today_text) or site_today(root)
    preview = Preview(root, BuildOptions(today=today, drafts=drafts, future=future), port,
                      report=_show_build_result)
    try:
        preview.start()
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        raise click.BadParameter(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); "
                                 "choose another port, or 0 for any free one",
                                 param_hint="'--port'") from None
    click.echo(f"Serving {preview.site_dir} at {preview.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        preview.stop()


def _show_build_result(result: BuildResult) -> None:
    """Print one preview build's outcome: a count, or its problems."""
    stamp = datetime.now().strftime("%H:%M:%S")
    if result.ok:
        click.echo(f"[{stamp}] build {result.version}: {result.essays} essay(s), OK")
    else:
        click.echo(f"[{stamp}] build {result.version} failed:", err=True)
    for line in result.problems:
        click.echo(f"  {line}", err=True)


@cli.group()
def subscriptions() -> None:
    """The subscription service: signup, confirmation and one-click unsubscribe."""


@subscriptions.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True,
              help="The port to listen on.")
@click.option("--behind-proxy", "proxies", type=click.IntRange(0, 5), default=0,
              show_default=True, metavar="N",
              help="Trust X-Forwarded-For from N reverse proxies in front of the service.")
@click.pass_obj
def subscriptions_serve(root: Path, host: str, port: int, proxies: int) -> None:
    """Run the subscription service with waitress until Ctrl-C."""
    from publish.service import ServiceOptions, create_app, serve

    _load_environment(root)
    app = create_app(root, ServiceOptions(trusted_proxies=proxies))
    click.echo(f"Subscription service for {root} on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(app, host, port)


@cli.group("subscribers")
def subscribers_group() -> None:
    """Manage the subscriber list kept in the state database."""


def _state_connection(root: Path) -> closing[sqlite3.Connection]:
    """Open the site's state database (creating it on first use), closed after the block."""
    from publish.content.settings import load_settings
    from publish.state import connect, database_path
    return closing(connect(database_path(root, load_settings(root))))


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, used in the greeting.")
@click.pass_obj
def subscribers_add(root: Path, email: str, name: str) -> None:
    """Add EMAIL as an active subscriber (or update the existing one)."""
    from publish.subscribers import add_subscriber
    with _state_connection(root) as conn:
        subscriber = add_subscriber(conn, email, name=name, source="cli")
    click.echo(f"{subscriber.email}: {subscriber.status}")


@subscribers_group.command("remove")
@click.argument("email")
@click.pass_obj
def subscribers_remove(root: Path, email: str) -> None:
    """Unsubscribe EMAIL (kept on file so that imports never bring it back)."""
    from publish.subscribers import remove_subscriber
    with _state_connection(root) as conn:
        subscriber = remove_subscriber(conn, email)
    if subscriber is None:
        raise click.ClickException(f"no subscriber with the address {email!r}")
    click.echo(f"{subscriber.email}: unsubscribed")


@subscribers_group.command("list")
@click.pass_obj
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed"]),
              help="Only subscribers with this status.")
def subscribers_list(root: Path, status: str | None) -> None:
    """List subscribers: address, status, name and the dates they joined, confirmed, left."""
    from publish.subscribers import list_subscribers
    with _state_connection(root) as conn:
        everyone = [s for s in list_subscribers(conn) if status in (None, s.status)]
    click.echo("email\tstatus\tname\tsubscribed\tconfirmed\tunsubscribed")
    for subscriber in everyone:
        dates = (subscriber.created_at, subscriber.confirmed_at, subscriber.unsubscribed_at)
        shown = "\t".join(_day(moment) for moment in dates)
        click.echo(f"{subscriber.email}\t{subscriber.status}\t{subscriber.name}\t{shown}")
    counts = {kind: sum(s.status == kind for s in everyone)
              for kind in ("pending", "active", "unsubscribed")}
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    click.echo(f"{len(everyone)} subscriber(s): {summary}", err=True)


def _day(moment: str | None) -> str:
    """A stored ISO timestamp shown as its date and minute, or '-' when unset."""
    return moment[:16].replace("T", " ") if moment else "-"


@subscribers_group.command("import")
@click.argument("csv_file", metavar="FILE.csv",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def subscribers_import(root: Path, csv_file: Path) -> None:
    """Import subscribers from a CSV file: `email,name`, publish's own export, or an export
    from Substack, Ghost, Buttondown or Mailchimp (recognised by its columns)."""
    from publish.subscribers import import_csv
    with _state_connection(root) as conn:
        report = import_csv(conn, csv_file)
    click.echo(f"Imported {csv_file} ({report.format}): {report.message}")
    for line in report.skip_lines():
        click.echo(f"{csv_file}: {line}")


@subscribers_group.command("export")
@click.pass_obj
def subscribers_export(root: Path) -> None:
    """Print every subscriber as CSV."""
    from publish.subscribers import export_csv
    with _state_connection(root) as conn:
        click.echo(export_csv(conn), nl=False)


@cli.command()
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("--to", "to", metavar="ADDRESS",
              help="Send one test copy to ADDRESS; the ledger is left alone.")
@OUTBOX_OPTION
@click.pass_context
def send(ctx: click.Context, slug: str, dry_run: bool, to: str | None, outbox: bool) -> None:
    """Send the built email of SLUG to every active subscriber, once each."""
    from publish.delivery import send_essay
    from publish.mailsetup import refuse_unsafe_setup
    root = ctx.obj
    settings = _load_environment(root)
    show_problems(refuse_unsafe_setup(root, settings, test_copy=to is not None))
    with _SendProgress() as progress:
        summary = send_essay(root, settings, slug, dry_run=dry_run, to=to, outbox=outbox,
                             on_progress=progress.update)
    _show_summary(summary)
    if not summary.ok:
        ctx.exit(1)


def _load_environment(root: Path) -> Settings:
    """The site's settings, after loading its environment file (real variables win)."""
    from publish.content.settings import load_settings
    from publish.environment import load_environment
    settings = load_settings(root)
    show_problems(load_environment(root, settings))
    return settings


def _show_summary(summary: SendSummary) -> None:
    """Every address that did not get its message, with the reason, then the summary."""
    where = f" (outbox {summary.outbox}/)" if summary.outbox else ""
    for label, rows in (("failed", summary.failed), ("deferred", summary.deferred),
                        ("unknown", summary.unknown)):
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
        if event.kind == "start":
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
            if event.kind in ("sent", "failed", "deferred", "unknown", "skipped"):
                self.bar.update(1)
            return
        where = f" (outbox {event.outbox}/)" if event.outbox else ""
        if event.kind in ("retry", "reconnect"):
            click.echo(f"{event.kind}: {event.email}: {event.detail}{where}")
        elif event.outbox and event.kind == "sent":
            click.echo(f"[{event.done}/{event.total}] wrote {event.email} to {event.outbox}/")
        else:
            detail = f" ({event.detail})" if event.detail else ""
            click.echo(f"[{event.done}/{event.total}] {event.kind} {event.email}{detail}{where}")


@cli.command()
@click.pass_obj
def clean(root: Path) -> None:
    """Remove the build folder."""
    import shutil
    shutil.rmtree(root / "build", ignore_errors=True)
    click.echo(f"Removed {root / 'build'}")


def site_moment(value: date | datetime | None, timetable: Timetable,
                end_of_day: bool) -> datetime:
    """A `--today` value as a moment in the site's zone; a bare date is its start or its end."""
    if value is None:
        return datetime.now(timetable.zone)
    if isinstance(value, datetime):
        return timetable.local(value)
    moment = datetime.combine(value, datetime.max.time() if end_of_day else datetime.min.time())
    return timetable.local(moment)


@cli.command("schedule")
@click.option("--months", type=click.IntRange(1, 240), default=12, show_default=True,
              help="How many months ahead to show.")
@TODAY_OPTION
@click.pass_obj
def schedule_command(root: Path, months: int, today_text: str | None) -> None:
    """Show the coming slots and the essay in each; warn about gaps and clashes."""
    from publish.build import read_site
    from publish.cadence import describe_rule
    from publish.releases import site_with_releases
    from publish.schedule import Timetable, format_slot, plan_schedule, schedule_view
    site, problems = read_site(root)
    timetable = Timetable.from_settings(site.settings)
    now = site_moment(parse_today(today_text), timetable, end_of_day=False)
    binding, known = site_with_releases(site)
    plan = plan_schedule(timetable, binding.site.essays, binding.releases, now, known.first_run)
    view = schedule_view(timetable, plan, months)
    show_problems(problems)
    click.echo(f"{describe_rule(timetable.rule)} ({' '.join(timetable.rule.split())} at "
               f"{timetable.at:%H:%M} {timetable.timezone})")
    for row in view.rows:
        cadence = "" if row.on_cadence else "  (off-cadence)"
        click.echo(f"{format_slot(row.slot)}  {row.status:<9}  "
                   f"{', '.join(row.slugs) or 'empty'}{cadence}")
    for line in view.warnings:
        click.echo(f"warning: {line}", err=True)


@cli.command("run")
@click.option("--today", "today_text", metavar="DATETIME",
              help="Run as if it were this moment (a date alone means the end of that day).")
@click.option("--dry-run", is_flag=True,
              help="Explain what is due; build, record and send nothing.")
@click.option("--mail-back-issues", is_flag=True,
              help="Also release and mail the essays dated before the site's first run.")
@OUTBOX_OPTION
@click.pass_context
def run_command(ctx: click.Context, today_text: str | None, dry_run: bool,
                mail_back_issues: bool, outbox: bool) -> None:
    """Release and mail the essays that are due, if any: safe to run from cron every hour."""
    from publish.delivery import require_destination
    from publish.runner import run_publish
    from publish.schedule import Timetable
    root = ctx.obj
    settings = _load_environment(root)
    if not dry_run:
        require_destination(root, settings, outbox=outbox)
    timetable = Timetable.from_settings(settings)
    now = site_moment(parse_today(today_text), timetable, end_of_day=True)
    report = run_publish(root, now, dry_run=dry_run, back_issues=mail_back_issues,
                         outbox=outbox)
    show_problems(list(report.warnings))
    for line in report.log:
        click.echo(f"{now:%Y-%m-%d %H:%M%z} {line}")
    if not report.ok:
        ctx.exit(1)


@cli.command()
@click.pass_obj
def cron(root: Path) -> None:
    """Print a crontab line and a systemd timer that run `publish run` every hour."""
    from publish.content.settings import load_settings
    from publish.runner import cron_instructions
    click.echo(cron_instructions(root, load_settings(root), publish_command()), nl=False)


def publish_command() -> str:
    """How cron should call this publish: the installed script, else `python -m publish`."""
    import shlex
    script = Path(sys.executable).parent / "publish"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m publish"


def main() -> None:
    """Run the command line."""
    cli(prog_name="publish")


if __name__ == "__main__":
    sys.exit(main())

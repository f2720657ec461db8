"""What every command shares: showing problems, the `--today` and `--outbox` options, the
site's today and its environment file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from publish.errors import Problem, PublishError
from publish.schedule.rules import FIRST_DAY, LAST_DAY

if TYPE_CHECKING:  # the settings, environment and schedule load only where a command uses them
    from publish.model import Settings
    from publish.schedule.slots import Timetable


def show_problems(problems: Sequence[Problem]) -> None:
    """Print each problem (with the docs page that explains it) to stderr, then a count."""
    for line in problem_lines(problems):
        click.echo(line, err=True)


def show_problem(problem: Problem) -> None:
    """Print one problem (with the docs page that explains it) to stderr."""
    for line in pointed_problem(problem):
        click.echo(line, err=True)


def pointed_problem(problem: Problem) -> list[str]:
    """A problem's line, and under an error or a warning the docs page that explains its
    kind (`  see: URL`), when there is one."""
    from publish.cli.docslinks import docs_url  # its table is loaded by the first problem shown

    url = docs_url(problem) if problem.severity != "hint" else None
    return [problem.format(), f"  see: {url}"] if url else [problem.format()]


def problem_lines(problems: Sequence[Problem]) -> list[str]:
    """Each problem as a line (with its docs page), then a count (nothing when there is no
    problem)."""
    lines = [line for problem in problems for line in pointed_problem(problem)]
    errors = sum(p.is_error for p in problems)
    hints = sum(p.severity == "hint" for p in problems)
    warnings = len(problems) - errors - hints
    if problems:
        more = f", {hints} hint(s)" if hints else ""
        lines.append(f"{errors} error(s), {warnings} warning(s){more}")
    return lines


def site_today(root: Path) -> date:
    """Today's date in the site's time zone (UTC if the settings cannot be read)."""
    from publish.content.settings import load_settings

    try:
        return today_in(load_settings(root).site.timezone)
    except PublishError:
        return today_in("UTC")


def today_in(timezone: str) -> date:
    """Today's date in a time zone."""
    return datetime.now(ZoneInfo(timezone)).date()


def parse_today(value: str | None) -> date | datetime | None:
    """A `--today` value: YYYY-MM-DD, or an ISO date and time, between FIRST_DAY and
    LAST_DAY (a moment outside them would be written to releases.toml as the first run)."""
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value) if len(value) <= 10 else datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM)"
        ) from None
    day = parsed.date() if isinstance(parsed, datetime) else parsed
    if not FIRST_DAY <= day <= LAST_DAY:
        raise click.BadParameter(
            f"'{value}' is outside the days publish can run as, {FIRST_DAY} to {LAST_DAY}"
        )
    return parsed


def checked_today(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """The `--today` option's check, made while the command line is read: before anything."""
    parse_today(value)
    return value


def site_moment(value: date | datetime | None, timetable: Timetable, end_of_day: bool) -> datetime:
    """A `--today` value as a moment in the site's zone; a bare date is its start or its end."""
    if value is None:
        return datetime.now(timetable.zone)
    if isinstance(value, datetime):
        return timetable.local(value)
    moment = datetime.combine(value, datetime.max.time() if end_of_day else datetime.min.time())
    return timetable.local(moment)


def load_environment_settings(root: Path) -> Settings:
    """The site's settings, after loading its environment file (real variables win)."""
    from publish.content.settings import load_settings
    from publish.mail.environment import load_environment

    settings = load_settings(root)
    show_problems(load_environment(root, settings))
    return settings


TODAY_OPTION = click.option(
    "--today",
    "today_text",
    metavar="DATE",
    callback=checked_today,
    help="Treat this date (or ISO date-time, 1970 to 2200) as now.",
)


STRICT_OPTION = click.option(
    "--strict", is_flag=True, help="Treat every warning as an error (exit 1)."
)


OUTBOX_OPTION = click.option(
    "--outbox",
    is_flag=True,
    help="Write the messages to state/outbox/ instead of mailing them (no SMTP server "
    "needed); the real send ledger is left alone.",
)

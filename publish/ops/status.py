"""`publish status`: what the next `publish run` will do, and whether it would succeed.

The report is a plain value gathered without writing anything: the next slot and its essay
(decided as `publish run` decides), whom it will reach, the problems `publish check` finds,
the deploy and mail settings the run will use (never a secret), the last send as the
ledger tells it, and the signups whose confirmation email did not go out. The command line
prints it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import msgspec

from publish.content.deploy_settings import SETTINGS_FILE
from publish.deploy.target import shown_target
from publish.errors import Problem, PublishError, error
from publish.mail.destination import outbox_folder
from publish.mail.environment import shown_path
from publish.mail.smtp_url import SMTP_URL_ENV, parse_smtp_url
from publish.model import DeploySettings, Settings, Site
from publish.ops.checking import site_problems
from publish.pipeline.build import BuildOptions
from publish.pipeline.build import check as check_site
from publish.schedule.slots import (
    Timetable,
    due_placements,
    next_slot,
    plan_schedule,
)
from publish.state.confirmations import FailedConfirmations, failed_confirmations
from publish.state.db import database_path
from publish.state.fedisends import PendingSend, pending_sends
from publish.state.followers import delivery_inboxes, follower_count
from publish.state.releases import Known, open_read_only
from publish.state.stats import SendCounts, last_send
from publish.state.subscribers import count_active


class NextRelease(msgspec.Struct, frozen=True):
    """The slot the next run fills and the essays in it (none: an empty slot)."""

    slot: datetime | None  # None when the schedule's rule has no more slots
    due: bool  # the slot has come: the next `publish run` releases it
    essays: tuple[tuple[str, str], ...] = ()  # (slug, title)
    resuming: tuple[str, ...] = ()  # released essays whose send has not finished


class MailView(msgspec.Struct, frozen=True):
    """Where and how the next send mails, every secret left out."""

    destination: str  # the relay as smtp(s)://host:port, or the outbox folder
    user: str
    from_address: str
    reply_to: str
    connections: int
    rate: float  # messages a second, 0 for no limit


class FediverseView(msgspec.Struct, frozen=True):
    """Who follows the site's actor, and the deliveries a later run still makes."""

    followers: int
    inboxes: int
    pending: tuple[PendingSend, ...] = ()


class StatusReport(msgspec.Struct, frozen=True):
    """Everything `publish status` shows, and the reasons the next release would fail."""

    now: datetime
    next_release: NextRelease | None
    reach: int
    problems: tuple[Problem, ...]
    deploy: str  # the target as messages show it ('' when publish does not deploy)
    mail: MailView | None
    last_send: SendCounts | None
    blockers: tuple[str, ...] = ()
    failed_confirmations: FailedConfirmations | None = None
    fediverse: FediverseView | None = None  # None: the site has no actor

    @property
    def ok(self) -> bool:
        """Whether the next release would go through."""
        return not self.blockers


def gather_status(
    root: Path, settings: Settings, today: datetime, *, outbox: bool = False
) -> StatusReport:
    """The status of the site at `root` as of `today` (a moment in the site's zone)."""
    checked, problems = check_problems(root, today)
    problems += deploy_problems(settings.deploy)
    mail, mail_problems = mail_view(root, settings, outbox)
    problems += mail_problems
    upcoming = next_release(*checked, today) if checked is not None else None
    reach, sent, unconfirmed = ledger_view(root, settings)
    report = StatusReport(
        now=today,
        next_release=upcoming,
        reach=reach,
        problems=tuple(problems),
        deploy=shown_target(settings.deploy) if settings.deploy is not None else "",
        mail=mail,
        last_send=sent,
        failed_confirmations=unconfirmed,
        fediverse=fediverse_view(root, settings),
    )
    return msgspec.structs.replace(report, blockers=tuple(blockers(report)))


def check_problems(root: Path, today: datetime) -> tuple[tuple[Site, Known] | None, list[Problem]]:
    """The site as loaded, what it released, and what `publish check` reports for it
    (errors and warnings); no site when an error stops it from loading."""
    try:
        report = check_site(root, BuildOptions(today=today))
    except PublishError as exc:
        return None, list(exc.problems)
    assert report.site is not None and report.known is not None
    return (report.site, report.known), site_problems(root, report, today)


def next_release(site: Site, known: Known, now: datetime) -> NextRelease:
    """What the next run releases: the essays due now, else those of the next slot."""
    timetable = Timetable.from_settings(site.settings)
    binding = known.bind(site)
    first_run = known.first_run or (None if binding.releases else now)  # as a first run notes
    plan = plan_schedule(timetable, binding.site.essays, binding.releases, now, first_run)
    resuming = tuple(slug for slug in known.database if slug in known.unfinished)
    due = due_placements(plan)
    if due:
        essays = tuple((p.slug, p.title) for p in due)
        return NextRelease(due[0].slot, True, essays, resuming)
    slot = next_slot(timetable, now)
    waiting = tuple(
        (p.slug, p.title)
        for p in plan.placements
        if slot is not None and not p.released and p.slot.date() == slot.date()
    )
    return NextRelease(slot, False, waiting, resuming)


def mail_view(
    root: Path, settings: Settings, outbox: bool
) -> tuple[MailView | None, list[Problem]]:
    """The mail settings a send would use, and the problem when it has nowhere to mail."""
    email = settings.email
    view = dict(
        from_address=email.from_address,
        reply_to=email.reply_to,
        connections=email.connections,
        rate=email.rate,
    )
    if outbox:
        folder = shown_path(root, outbox_folder(root, settings))
        return MailView(destination=f"the outbox {folder}/", user="", **view), []
    url = os.environ.get(SMTP_URL_ENV, "").strip()
    if not url:
        return None, [
            error(
                SMTP_URL_ENV,
                1,
                1,
                "is not set, so the next run has no server to mail through "
                "(set it, or run with --outbox)",
            )
        ]
    try:
        endpoint = parse_smtp_url(url)
    except PublishError as exc:
        return None, list(exc.problems)
    return MailView(destination=endpoint.label, user=endpoint.username, **view), []


def deploy_problems(deploy: DeploySettings | None) -> list[Problem]:
    """An error when the program a deploy target runs is not installed."""
    if deploy is None:
        return []
    program = {"rsync": "rsync", "git": "git"}.get(deploy.scheme)
    if deploy.scheme == "command" and not deploy.shell:
        program = (deploy.location.split() or [""])[0]
    if not program or shutil.which(program) is not None:
        return []
    return [
        error(
            SETTINGS_FILE,
            deploy.line,
            1,
            f"deploy to {shown_target(deploy)} needs the program '{program}', "
            "which is not installed or not on PATH",
        )
    ]


def ledger_view(
    root: Path, settings: Settings
) -> tuple[int, SendCounts | None, FailedConfirmations | None]:
    """The active subscribers, the last send and the signups whose confirmation email failed,
    read without creating the database."""
    connection = open_read_only(database_path(root, settings))
    if connection is None:
        return 0, None, None
    with closing(connection):
        return count_active(connection), last_send(connection), failed_confirmations(connection)


def fediverse_view(root: Path, settings: Settings) -> FediverseView | None:
    """The followers and pending deliveries of a site with an actor, read only."""
    if not settings.fediverse.enabled:
        return None
    connection = open_read_only(database_path(root, settings))
    if connection is None:
        return FediverseView(0, 0)
    with closing(connection):
        try:
            return FediverseView(
                follower_count(connection),
                len(delivery_inboxes(connection)),
                tuple(pending_sends(connection)),
            )
        except sqlite3.OperationalError:  # a database from before the fediverse tables
            return FediverseView(0, 0)


def blockers(report: StatusReport) -> list[str]:
    """Why the next release would fail, in words (none: it would go through)."""
    reasons = []
    errors = [p for p in report.problems if p.is_error]
    if errors:
        reasons.append(f"{len(errors)} error(s) above stop `publish run` before it sends")
    upcoming = report.next_release
    if upcoming is not None and upcoming.slot is not None and not upcoming.essays:
        reasons.append("no essay is queued for the next slot, so nothing would be released")
    if upcoming is not None and upcoming.slot is None:
        reasons.append("the schedule's rule has no more slots")
    return reasons

"""`publish run`: release and mail whatever the schedule says is due, once, safe to rerun.

The order of a run, chosen so that a crash at any point is finished by the next run:

1. load and check the site: an error stops the run before anything is written or sent;
2. match the recorded releases (state database merged with releases.toml) to their essays,
   bring releases.toml up to date, and on a site's very first run note that run in it;
3. decide: essays due (slot at or before now, not released) and releases whose send in the
   ledger has not finished;
4. build web site, feeds and emails (atomic) with the due essays dated by their slots, then
   deploy the site and verify that it is live (publish.deploy; nothing without `[deploy]`):
   if that fails the run stops here, nothing recorded and nobody mailed;
5. record the releases, in one transaction, then in releases.toml: from here on their dates
   never move;
6. send each recorded, unfinished release through the send ledger;
7. on a site with a fediverse actor, deliver each new release (its Create, fixed in the
   fediverse's ledger just before step 5) and whatever earlier deliveries are due to the
   followers' inboxes (publish.fediverse.delivery); an idle run does this step alone.

A crash before 5 leaves nothing recorded and nothing sent: the next run finds the same essays
due (the plan depends only on files, recorded releases and the noted first run, never on the
day of the rerun) and does it all again. A crash after 5 leaves a release whose ledger send
has not finished: the next run rebuilds and drives the send, and the ledger skips every
subscriber already mailed. Nothing is mailed twice.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path

import msgspec

from publish.bounces.mailbox import URL_VARIABLE as BOUNCE_URL_VARIABLE
from publish.bounces.process import open_mailbox, process_bounces
from publish.content.releasefile import (
    RELEASES_FILE,
    ReleasesFile,
    read_releases_file,
    write_releases_file,
)
from publish.deploy.golive import go_live
from publish.errors import Problem, PublishError
from publish.fediverse.delivery import deliver_round, planned, start_release_sends
from publish.layout import BUILD_DIR, EMAIL_FOLDER
from publish.mail.send import send_essay
from publish.mail.setup import refuse_unsafe_setup
from publish.model import Essay, Release, Settings, Site
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import Loaded, load
from publish.schedule.slots import (
    Placement,
    Plan,
    Timetable,
    apply_release_dates,
    days_late,
    due_placements,
    format_slot,
    next_slot,
    plan_schedule,
    unmailed_back_issues,
)
from publish.state.db import connect, database_path
from publish.state.releases import (
    Binding,
    Known,
    bind_releases,
    ledger_needs,
    open_read_only,
    read_releases,
    record_releases,
    unfinished_sends,
    update_sources,
)
from publish.support.locks import SITE_BUSY, exclusive_lock, folder_lock
from publish.support.testhooks import crash_at

LOCK_FILE = "run.lock"


class Decision(msgspec.Struct, frozen=True):
    """What a run will do, and why, as lines of a log."""

    releases: tuple[Release, ...]
    resume: tuple[str, ...]
    log: tuple[str, ...]

    @property
    def idle(self) -> bool:
        """Whether there is nothing to build or send."""
        return not self.releases and not self.resume


class RunReport(msgspec.Struct, frozen=True):
    """What a run decided and did: the log lines, releases, sends and failures."""

    log: tuple[str, ...]
    released: tuple[str, ...] = ()
    sent: tuple[str, ...] = ()
    built: bool = False
    failures: int = 0
    warnings: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """True unless a send failed."""
        return self.failures == 0


def run_publish(
    root: Path,
    now: datetime,
    *,
    dry_run: bool = False,
    back_issues: bool = False,
    outbox: bool = False,
) -> RunReport:
    """Do one run at `now`: build, record and send what is due; see the module's docstring.

    With `back_issues`, essays dated before the site's first run are released and mailed
    too; without it they stay on the web only.
    """
    loaded = load(root)
    site, warnings = loaded.files, loaded.warnings
    warnings += refuse_unsafe_setup(root, site.settings)  # before anything is built or sent
    timetable = Timetable.from_settings(site.settings)
    now = timetable.local(now)
    if dry_run:
        return _dry_run(loaded, timetable, now, warnings, back_issues)
    with (
        _run_lock(root, site.settings),
        closing(connect(database_path(root, site.settings))) as connection,
    ):
        known = _known(root, site.settings, connection)
        binding = bind_releases(site, known.releases, known.unfinished, known.lines)
        first_run, notes = _keep_records(root, connection, known, binding, now)
        decision = decide(binding, timetable, _in_order(known), now, first_run, back_issues)
        decision = msgspec.structs.replace(decision, log=(*notes, *decision.log))
        if decision.idle:
            delivered = deliver_round(_state_dir(root, site.settings), site.settings, connection)
            return RunReport(log=(*decision.log, *delivered), warnings=tuple(warnings))
        bounces, set_aside = _apply_bounces(root, site.settings, connection)
        decision = msgspec.structs.replace(decision, log=(*decision.log, *bounces))
        warnings = [*warnings, *set_aside]
        loaded = Loaded(site, known, apply_release_dates(binding.site, binding.releases), warnings)
        return _carry_out(root, loaded, binding, decision, connection, now, first_run, outbox)


def _apply_bounces(
    root: Path, settings: Settings, connection: sqlite3.Connection
) -> tuple[list[str], tuple[Problem, ...]]:
    """With $PUBLISH_BOUNCE_URL set, apply the bounce mailbox's reports before anything is
    sent, so a reader who bounced is not mailed again; the log line saying what it did, and
    a warning for each message set aside as unreadable."""
    if not os.environ.get(BOUNCE_URL_VARIABLE):
        return [], ()
    box = open_mailbox(None)
    try:
        summary = process_bounces(root, settings, connection, box)
    finally:
        box.close()
    return [f"bounces: {summary.message}"], summary.set_aside


def _known(root: Path, settings: Settings, connection: sqlite3.Connection) -> Known:
    """The releases the database and releases.toml know, and the database's unfinished sends."""
    on_file = read_releases_file(root, settings.site.timezone)
    database = read_releases(connection, settings.site.timezone)
    return Known(
        database,
        on_file.releases,
        frozenset(unfinished_sends(connection, database)),
        on_file.first_run,
        on_file.lines,
        frozenset(ledger_needs(connection, settings)),
    )


def _in_order(known: Known) -> list[str]:
    """The unfinished sends in the order of their releases."""
    return [slug for slug in known.database if slug in known.unfinished]


def _keep_records(
    root: Path, connection: sqlite3.Connection, known: Known, binding: Binding, now: datetime
) -> tuple[datetime | None, list[str]]:
    """Bring releases.toml and the database up to date; the site's first run, if known, and
    a log line for what was written.

    The file gets every release the database holds (the releases of an older publish, or a
    crash between the two writes) and renamed source files; a site with no release anywhere
    gets its first run noted, so that a later run (after a crash, say) keeps the same horizon.
    """
    first_run, notes = known.first_run, []
    if not binding.records and first_run is None:
        first_run = now
        notes.append(
            f"first run of this site: noted in {RELEASES_FILE}; essays dated before "
            f"{now.date()} are back issues, on the web but not mailed"
        )
    if binding.records != known.file or first_run != known.first_run:
        write_releases_file(root, ReleasesFile(binding.records, first_run))
        if binding.records != known.file:
            notes.append(
                f"updated {RELEASES_FILE}: it records every release on file, "
                "under each essay's current file name"
            )
    moved = [
        r
        for slug, r in binding.records.items()
        if slug in known.database and known.database[slug].source != r.source
    ]
    if moved:
        update_sources(connection, moved)
    return first_run, notes


def decide(
    binding: Binding,
    timetable: Timetable,
    unfinished: list[str],
    now: datetime,
    first_run: datetime | None = None,
    back_issues: bool = False,
) -> Decision:
    """What to release and what to resume at `now`, with the reasons as log lines."""
    plan = plan_schedule(timetable, binding.site.essays, binding.releases, now, first_run)
    by_slug = {essay.slug: essay for essay in binding.site.essays}
    log = [*binding.notes, *_edited_notes(by_slug, binding.releases)]
    if not binding.releases and not back_issues:
        log += _back_issue_note(plan, timetable)
    new_releases = []
    for placement in due_placements(plan, back_issues):
        essay = by_slug[placement.slug]
        new_releases.append(
            Release(placement.slug, placement.slot, now, essay.content_hash, essay.path)
        )
        log.append(
            f"releasing {placement.slug} (slot {format_slot(placement.slot)}, "
            f"{_lateness(timetable, placement, now)})"
        )
    resume = []
    for slug in unfinished:
        essay = by_slug.get(slug)
        if essay is None or essay.draft:
            log.append(f"not resuming the send of {slug}: the essay is gone or a draft again")
            continue
        resume.append(slug)
        log.append(
            f"resuming {slug}: released {format_slot(binding.releases[slug].released_at)}"
            ", its send has not finished"
        )
    if not new_releases and not resume:
        log.append(_nothing_due(timetable, plan.placements, now))
    return Decision(tuple(new_releases), tuple(resume), tuple(log))


def _back_issue_note(plan: Plan, timetable: Timetable) -> list[str]:
    """Before the first release: the back issues this run leaves unmailed, and the flag."""
    skipped = [p.slug for p in unmailed_back_issues(plan) if p.slot <= plan.now]
    if not skipped:
        return []
    first_day = timetable.local(plan.horizon).date()
    return [
        f"not mailing {len(skipped)} back issue(s) dated before this site's first run "
        f"({first_day}): {', '.join(skipped)}; they are on the web site only. "
        "`publish run --mail-back-issues` releases them and mails each one to every "
        "subscriber"
    ]


def _lateness(timetable: Timetable, placement: Placement, now: datetime) -> str:
    """'on time', or how many days late a release is."""
    late = days_late(timetable, placement.slot, now)
    if late <= 0:
        return "on time"
    return f"{late} day{'s' if late != 1 else ''} late"


def _nothing_due(timetable: Timetable, placements: tuple[Placement, ...], now: datetime) -> str:
    """The idle log line: when the next slot is, and what is in it."""
    coming = next_slot(timetable, now)
    if coming is None:
        return "nothing due: the schedule's rule has no more slots"
    waiting = [p.slug for p in placements if p.slot.date() == coming.date() and not p.released]
    return f"nothing due: next slot {format_slot(coming)} ({', '.join(waiting) or 'empty'})"


def _edited_notes(by_slug: dict[str, Essay], releases: dict[str, Release]) -> list[str]:
    """A note for each released essay edited since its release (web only, never re-sent)."""
    return [
        f"{slug} was edited after its release: the web site and feeds show the new text "
        "from the next build; it is not mailed again"
        for slug, release in releases.items()
        if (essay := by_slug.get(slug)) is not None and essay.content_hash != release.content_hash
    ]


def _carry_out(
    root: Path,
    loaded: Loaded,
    binding: Binding,
    decision: Decision,
    connection: sqlite3.Connection,
    now: datetime,
    first_run: datetime | None,
    outbox: bool = False,
) -> RunReport:
    """Build, record, then send, in the crash-safe order (`loaded` as this run bound it)."""
    log = list(decision.log)
    warnings = loaded.warnings
    built = bool(decision.releases) or any(not _email_built(root, slug) for slug in decision.resume)
    if built:
        every_release = {**binding.releases, **{r.slug: r for r in decision.releases}}
        published = apply_release_dates(binding.site, every_release)
        sending = frozenset((*decision.resume, *(r.slug for r in decision.releases)))
        options = BuildOptions(today=now, emails=sending)  # back issues too, with the flag
        report = build(root, options, msgspec.structs.replace(loaded, site=published))
        log.append(f"built {len(report.published)} essay(s) into {report.site_dir.parent}")
        warnings = report.warnings
        problem = _deploy_and_verify(root, published, report.site_dir, decision, log)
        if problem is not None:
            return RunReport(log=tuple(log), built=True, failures=1, warnings=(*warnings, problem))
    crash_at("build")
    if decision.releases:
        # the Create is fixed first: a crash before the record repeats the release, not it
        log += start_release_sends(connection, published, [r.slug for r in decision.releases])
        record_releases(connection, decision.releases)
        records = {**binding.records, **{r.slug: r for r in decision.releases}}
        write_releases_file(root, ReleasesFile(records, first_run))
        log += [
            f"recorded the release of {r.slug} (state database and {RELEASES_FILE})"
            for r in decision.releases
        ]
    crash_at("record")
    failures, sent = 0, []
    for slug in (*decision.resume, *(r.slug for r in decision.releases)):
        line, failed = _send_one(root, binding.site.settings, slug, outbox)
        log.append(line)
        failures += failed
        sent.append(slug)
    log += deliver_round(_state_dir(root, binding.site.settings), binding.site.settings, connection)
    return RunReport(
        log=tuple(log),
        released=tuple(r.slug for r in decision.releases),
        sent=tuple(sent),
        built=built,
        failures=failures,
        warnings=tuple(warnings),
    )


def _deploy_and_verify(
    root: Path, published: Site, site_dir: Path, decision: Decision, log: list[str]
) -> Problem | None:
    """Deploy the build and prove the new essays live (publish.deploy); the problem if not.

    A failure stops the run before anything is recorded or mailed; the next run tries again.
    """
    live = go_live(root, published, site_dir, [r.slug for r in decision.releases])
    log += live.log
    if live.problem is not None:
        log.append(
            "the site is not live, so nothing was recorded and nobody was mailed; "
            "the next `publish run` tries again"
        )
    return live.problem


def _email_built(root: Path, slug: str) -> bool:
    """Whether the build folder holds this essay's email (a resumed send needs no rebuild)."""
    return any((root / BUILD_DIR / EMAIL_FOLDER).glob(f"{slug}.*"))


def _send_one(root: Path, settings: Settings, slug: str, outbox: bool = False) -> tuple[str, int]:
    """Send one essay through the ledger; a log line and 1 if some delivery failed or waits."""
    try:
        summary = send_essay(root, settings, slug, outbox=outbox)
    except PublishError as exc:
        reasons = "; ".join(p.format() for p in exc.problems)
        return f"sending {slug} stopped, the next run resumes it: {reasons}", 1
    if summary.pending:
        return f"mail: {summary.message} The next `publish run` resumes it.", 1
    if not (summary.sent or summary.already_sent or summary.failed or summary.skipped):
        return f"mail: no active subscribers, so nobody was mailed '{slug}'", 0
    return f"mail: {summary.message}", 0 if summary.ok else 1


def _dry_run(
    loaded: Loaded, timetable: Timetable, now: datetime, warnings: list[Problem], back_issues: bool
) -> RunReport:
    """Decide as a run would, by what the load read of the state database; build, record and
    send nothing."""
    binding, known = loaded.binding, loaded.known
    decision = decide(binding, timetable, _in_order(known), now, known.first_run, back_issues)
    new = [r.slug for r in decision.releases]
    site, delivering = loaded.site, []
    if site.settings.fediverse.enabled:
        reader = open_read_only(database_path(site.root, site.settings))
        with closing(reader) if reader is not None else nullcontext() as conn:
            delivering = planned(conn, site.settings, new)
    lines = [f"dry run: {line}" for line in (*decision.log, *delivering)]
    if not decision.idle or delivering:
        lines.append("dry run: nothing was built, recorded or sent")
    return RunReport(log=tuple(lines), warnings=tuple(warnings))


def _state_dir(root: Path, settings: Settings) -> Path:
    """The folder of the state database (the actor's key is kept there)."""
    return database_path(root, settings).parent


@contextmanager
def _run_lock(root: Path, settings: Settings) -> Iterator[None]:
    """Hold the lock on the site's folder, so no other run (cron and a hand-run) and no
    `publish import` overlaps this one, then the run lock in the state folder (which
    `publish fediverse update` takes too)."""
    with (
        folder_lock(root, SITE_BUSY),
        exclusive_lock(database_path(root, settings).parent / LOCK_FILE, SITE_BUSY),
    ):
        yield

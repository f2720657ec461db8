"""The publishing schedule: pure functions from (rule, zone, time, now, essays, releases) to slots.

Nothing here reads the clock or the disk: `now` and the recorded releases are passed in.

Slots come from an RFC 5545 RRULE expanded by python-dateutil over naive *local* datetimes
at the schedule's time of day, and only then given the site's time zone, so a slot stays at
09:00 on the wall clock across daylight-saving changes. Rules count from DTSTART when the rule
carries one (only its date is used), else from ANCHOR_DAY (publish.schedule.rules): never
from the day a command runs on, so an INTERVAL rule keeps its days. No slot is sought past
SLOTS_END.

Who gets which slot:
- an essay with a `date` keeps it (off-cadence when no slot falls on that day);
- a released essay without a `date` keeps the slot recorded when it was released;
- the other undated, non-draft essays fill, in queue order, the free slots from the horizon
  on: the slot of the last release or, when nothing was released yet, the start of the day
  of the site's first run (today, if it has had none).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from publish.model import Essay, Release, Settings, Site
from publish.schedule.rules import expand_rule

DATED, RELEASED, QUEUED = "dated", "released", "queued"


class Timetable(msgspec.Struct, frozen=True):
    """A schedule rule, read in a time zone at a time of day."""

    rule: str
    timezone: str
    at: time

    @classmethod
    def from_settings(cls, settings: Settings) -> Timetable:
        """The timetable of a site's `[schedule]` settings and time zone."""
        return cls(settings.schedule.rule, settings.site.timezone, settings.schedule.time)

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """A moment in the site's time zone (naive moments are taken as local)."""
        return (
            moment.replace(tzinfo=self.zone)
            if moment.tzinfo is None
            else moment.astimezone(self.zone)
        )

    def start_of_day(self, moment: datetime) -> datetime:
        """Midnight, local time, of the day `moment` falls on."""
        return datetime.combine(self.local(moment).date(), time(0), tzinfo=self.zone)

    def slots_from(self, start: datetime) -> Iterator[datetime]:
        """Every slot at or after `start`, in order, up to the rule's end or SLOTS_END."""
        rule = expand_rule(self.rule, self.at, self.timezone)
        cursor = self.local(start).replace(tzinfo=None) - timedelta(days=1)
        for naive in rule.xafter(cursor, inc=True):
            slot = naive.replace(tzinfo=self.zone)
            if slot >= start:
                yield slot

    def slots_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every slot with start <= slot <= end."""
        slots = []
        for slot in self.slots_from(start):
            if slot > end:
                break
            slots.append(slot)
        return slots

    def is_slot_day(self, moment: datetime) -> bool:
        """Whether a slot falls on the local day of `moment` (else it is off-cadence)."""
        day = self.start_of_day(moment)
        return bool(self.slots_between(day, day + timedelta(days=1) - timedelta(microseconds=1)))

    def slot_days(self, moments: Iterable[datetime]) -> SlotDays:
        """`is_slot_day` for many moments, the rule walked once: the local days from the
        first moment's to the last one's on which a slot falls."""
        days = [self.local(moment).date() for moment in moments]
        if not days:
            return SlotDays(self, frozenset())
        start = datetime.combine(min(days), time(0), tzinfo=self.zone)
        end = datetime.combine(max(days) + timedelta(days=1), time(0), tzinfo=self.zone)
        slots = self.slots_between(start, end - timedelta(microseconds=1))
        return SlotDays(self, frozenset(slot.date() for slot in slots))


class SlotDays(msgspec.Struct, frozen=True):
    """The days of a timetable on which a slot falls, within the moments it was made for."""

    timetable: Timetable
    days: frozenset[date]

    def holds(self, moment: datetime) -> bool:
        """Whether a slot falls on the local day of `moment` (one of those it was made for)."""
        return self.timetable.local(moment).date() in self.days


class Placement(msgspec.Struct, frozen=True):
    """An essay in its slot: how it got there, and whether it has been released."""

    slug: str
    title: str
    slot: datetime
    source: str  # DATED, RELEASED or QUEUED
    on_cadence: bool
    release: Release | None

    @property
    def released(self) -> bool:
        """Whether the essay has gone out."""
        return self.release is not None


class Plan(msgspec.Struct, frozen=True):
    """Every non-draft essay placed in time, as things stand at `now`."""

    now: datetime
    horizon: datetime
    placements: tuple[Placement, ...]
    unplaced: tuple[Essay, ...] = ()  # queued essays a finite rule (COUNT, UNTIL) has no slot for

    def placement(self, slug: str) -> Placement | None:
        """The placement of one essay, or None (a draft)."""
        return next((p for p in self.placements if p.slug == slug), None)


def queue_order(essays: Iterable[Essay]) -> list[Essay]:
    """Essays in queue order: those with an `order` key first, by it, then by file name."""
    indexed = list(enumerate(essays))
    indexed.sort(key=lambda pair: (pair[1].order is None, pair[1].order or 0, pair[0]))
    return [essay for _, essay in indexed]


def horizon_of(
    timetable: Timetable,
    releases: Mapping[str, Release],
    now: datetime,
    first_run: datetime | None = None,
) -> datetime:
    """Where the queue starts: the last release's slot, or if none the start of the day of the
    site's first run (`first_run`, else today)."""
    if releases:
        return max(timetable.local(r.slot) for r in releases.values())
    return timetable.start_of_day(first_run or now)


def plan_schedule(
    timetable: Timetable,
    essays: Iterable[Essay],
    releases: Mapping[str, Release],
    now: datetime,
    first_run: datetime | None = None,
) -> Plan:
    """Place every non-draft essay: dated ones on their date, the queue in free slots."""
    now = timetable.local(now)
    horizon = horizon_of(timetable, releases, now, first_run)
    placed: list[Placement] = []
    queue: list[Essay] = []
    essays = tuple(essays)
    slot_days = timetable.slot_days(
        [essay.date for essay in essays if essay.date is not None and not essay.draft]
        + [release.slot for release in releases.values()]
    )
    for essay in essays:
        if essay.draft:
            continue
        release = releases.get(essay.slug)
        if essay.date is not None:
            slot = timetable.local(essay.date)
            placed.append(
                Placement(essay.slug, essay.title, slot, DATED, slot_days.holds(slot), release)
            )
        elif release is not None:
            placed.append(
                Placement(
                    essay.slug,
                    essay.title,
                    timetable.local(release.slot),
                    RELEASED,
                    slot_days.holds(release.slot),
                    release,
                )
            )
        else:
            queue.append(essay)
    placed += _gone_releases(timetable, releases, {p.slug for p in placed}, slot_days)
    taken = {p.slot.date() for p in placed}
    filled, unplaced = _fill_slots(timetable, queue_order(queue), horizon, taken)
    placed += filled
    placed.sort(key=lambda p: (p.slot, p.slug))
    return Plan(now=now, horizon=horizon, placements=tuple(placed), unplaced=tuple(unplaced))


def still_to_mail(
    timetable: Timetable,
    essays: Iterable[Essay],
    releases: Mapping[str, Release],
    now: datetime,
    first_run: datetime | None = None,
) -> frozenset[str]:
    """The slugs `plan_schedule` would place without a release and not as an unmailed back
    issue (what the schedule will still mail), found without the plan's walk of the rule
    from the first dated essay on (to tell which are on cadence): only the queue, if there
    is one, looks for slots, from the horizon on."""
    horizon = horizon_of(timetable, releases, timetable.local(now), first_run)
    shown = [essay for essay in essays if not essay.draft]
    dated = [(e.slug, timetable.local(e.date)) for e in shown if e.date is not None]
    waiting = {slug for slug, slot in dated if slug not in releases and slot >= horizon}
    queue = [essay for essay in shown if essay.date is None and essay.slug not in releases]
    if queue:
        kept_slugs = [e.slug for e in shown if e.date is None and e.slug in releases]
        kept = [releases[slug] for slug in kept_slugs]
        placed = {slug for slug, _ in dated} | set(kept_slugs)
        gone = [release for release in releases.values() if release.slug not in placed]
        taken = {slot.date() for _, slot in dated}
        taken |= {timetable.local(release.slot).date() for release in (*kept, *gone)}
        filled, _ = _fill_slots(timetable, queue_order(queue), horizon, taken)
        waiting |= {placement.slug for placement in filled}
    return frozenset(waiting)


def _gone_releases(
    timetable: Timetable, releases: Mapping[str, Release], placed: set[str], slot_days: SlotDays
) -> list[Placement]:
    """Releases whose essay is gone (deleted, or a draft again): they still hold their slot."""
    return [
        Placement(r.slug, r.slug, timetable.local(r.slot), RELEASED, slot_days.holds(r.slot), r)
        for r in releases.values()
        if r.slug not in placed
    ]


def _fill_slots(
    timetable: Timetable, queue: list[Essay], horizon: datetime, taken: set[date]
) -> tuple[list[Placement], list[Essay]]:
    """Give each queued essay, in order, the next slot from the horizon on whose day is free;
    the placements, and the essays left without a slot when the rule ends (COUNT, UNTIL)."""
    slots = timetable.slots_from(horizon)
    filled = []
    for index, essay in enumerate(queue):
        slot = next((s for s in slots if s.date() not in taken), None)
        if slot is None:
            return filled, queue[index:]
        filled.append(Placement(essay.slug, essay.title, slot, QUEUED, True, None))
    return filled, []


def unplaced_warning(plan: Plan) -> str | None:
    """What to say about the queued essays the rule has no slot for (None: there are none)."""
    if not plan.unplaced:
        return None
    names = ", ".join(f"{essay.path} ({essay.slug})" for essay in plan.unplaced)
    return (
        f"the schedule's rule has no slot left for {len(plan.unplaced)} queued essay(s), "
        f"which will never be released: {names}; give the rule more slots (its COUNT or "
        "UNTIL), date them, or make them drafts"
    )


def due_placements(plan: Plan, back_issues: bool = False) -> list[Placement]:
    """Essays to release now: not released, slot from the horizon up to now, in slot order.

    Dated essays older than the horizon (before the first run, or behind the last release)
    are back issues: they are on the web by their date but are mailed only with
    `back_issues` (`publish run --mail-back-issues`).
    """
    return [
        p
        for p in plan.placements
        if not p.released and p.slot <= plan.now and (back_issues or plan.horizon <= p.slot)
    ]


def unmailed_back_issues(plan: Plan) -> list[Placement]:
    """Dated essays before the horizon that were never released (nor mailed)."""
    return [
        p for p in plan.placements if not p.released and p.source == DATED and p.slot < plan.horizon
    ]


def days_late(timetable: Timetable, slot: datetime, moment: datetime) -> int:
    """Whole local days between a slot's day and the day of `moment` (0: on the day)."""
    return (timetable.local(moment).date() - timetable.local(slot).date()).days


def next_slot(timetable: Timetable, now: datetime) -> datetime | None:
    """The first slot after `now`, or None when the rule has ended."""
    return next((s for s in timetable.slots_from(now) if s > now), None)


def apply_release_dates(site: Site, releases: Mapping[str, Release]) -> Site:
    """The site with each released (or releasing) undated essay dated by its recorded slot."""
    zone = ZoneInfo(site.settings.site.timezone)
    essays = tuple(
        msgspec.structs.replace(e, date=releases[e.slug].slot.astimezone(zone))
        if e.date is None and e.slug in releases
        else e
        for e in site.essays
    )
    return msgspec.structs.replace(site, essays=essays)


# --- the `publish schedule` view --------------------------------------------------------


OPEN, SCHEDULED, DUE, MISSED = "open", "scheduled", "due", "missed"


class Row(msgspec.Struct, frozen=True):
    """One line of the schedule table: a slot (or an off-cadence date) and what is in it."""

    slot: datetime
    slugs: tuple[str, ...]
    status: str  # RELEASED, SCHEDULED, DUE (passed, waiting), OPEN or MISSED (passed, empty)
    on_cadence: bool


class ScheduleView(msgspec.Struct, frozen=True):
    """The coming slots with their essays, and what the author should know about them."""

    rows: tuple[Row, ...]
    warnings: tuple[str, ...]


def schedule_view(timetable: Timetable, plan: Plan, months: int) -> ScheduleView:
    """The table shown by `publish schedule`: from the horizon or today to `months` ahead."""
    from dateutil.relativedelta import relativedelta  # loaded only for the view

    start = min(plan.horizon, timetable.start_of_day(plan.now))
    end = timetable.start_of_day(plan.now + relativedelta(months=months)) + timedelta(days=1)
    by_day: dict[date, list[Placement]] = {}
    for placement in plan.placements:
        if start <= placement.slot < end:  # `end` is the midnight after the last day shown
            by_day.setdefault(placement.slot.date(), []).append(placement)
    slot_days = {s.date(): s for s in timetable.slots_between(start, end) if s < end}
    rows = []
    for day in sorted({*slot_days, *by_day}):
        here = by_day.get(day, [])
        slot = slot_days.get(day) or here[0].slot
        rows.append(
            Row(slot, tuple(p.slug for p in here), _status(here, slot, plan.now), day in slot_days)
        )
    return ScheduleView(tuple(rows), tuple(_warnings(timetable, plan, rows, by_day)))


def _status(here: list[Placement], slot: datetime, now: datetime) -> str:
    """The status of one row."""
    if not here:
        return MISSED if slot <= now else OPEN
    if all(p.released for p in here):
        return RELEASED
    return DUE if slot <= now else SCHEDULED


def _warnings(
    timetable: Timetable, plan: Plan, rows: list[Row], by_day: dict[date, list[Placement]]
) -> list[str]:
    """Shared slots, off-cadence dates, an empty next slot and slots passed without a release."""
    warnings = []
    for day, here in sorted(by_day.items()):
        if len(here) > 1:
            names = ", ".join(p.slug for p in here)
            warnings.append(f"{day}: {len(here)} essays share this slot ({names})")
        warnings += [
            f"{p.slug}: dated {format_slot(p.slot)}, off the schedule's rule (off-cadence)"
            for p in here
            if not p.on_cadence
        ]
    for row in rows:
        if row.slot <= plan.now and row.status in (DUE, MISSED):
            waiting = (
                f"{', '.join(row.slugs)} waits for `publish run`" if row.slugs else "it was empty"
            )
            warnings.append(f"slot {format_slot(row.slot)} passed without a release ({waiting})")
    unplaced = unplaced_warning(plan)
    if unplaced:
        warnings.append(unplaced)
    coming = next_slot(timetable, plan.now)
    if coming is not None and not any(
        p.slot.date() == coming.date() and not p.released for p in plan.placements
    ):
        warnings.append(
            f"the next slot, {format_slot(coming)}, is empty: nothing will be "
            "sent (queue an undated essay without draft: true)"
        )
    return warnings


def format_slot(slot: datetime) -> str:
    """A slot as `2026-12-01 09:00 Europe/London`."""
    zone = getattr(slot.tzinfo, "key", None) or slot.strftime("%z")
    return f"{slot:%Y-%m-%d %H:%M} {zone}"

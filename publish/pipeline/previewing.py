"""What sets a preview build apart from the real one: where it is written, which essays it
shows that the real build leaves out, and the banner on their pages.

`check` previews every queued essay at its slot, and warns of those the schedule's rule
has no slot for (`queue_problems`).

A preview build (`publish build --future`, `publish serve`) writes `build/preview/site/` and
`build/preview/email/`, never `build/site/` or `build/email/`, which deploy, send and run read.
Each essay page a preview shows before its time (queued, dated later, or a draft) carries a
banner saying so; the feeds and the emails never do, so they read as the real ones will.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from html import escape

import msgspec

from publish.content.settings import SETTINGS_FILE, setting_line
from publish.errors import Problem, warning
from publish.layout import PREVIEW_FOLDER as PREVIEW_FOLDER  # build.py imports it from here
from publish.model import Essay, Site
from publish.outputs.files import Content, Deferred, OutputFiles
from publish.outputs.urls import essay_page_path
from publish.schedule.slots import QUEUED, Timetable, format_slot, plan_schedule, unplaced_warning
from publish.state.releases import Known

BANNER_CLASS = "preview-banner"
BANNER_STYLE = (
    "margin:0 0 1.5rem;padding:.6rem .9rem;border:2px dashed #b45309;border-radius:6px;"
    "background:#fef3c7;color:#78350f;font:600 1rem/1.4 system-ui,sans-serif"
)


@cache
def _main_open() -> re.Pattern[str]:
    """A page's `<main>` tag (compiled on first use: only a preview's banner needs it)."""
    return re.compile(r"<main\b[^>]*>", re.IGNORECASE)


@cache
def _body_open() -> re.Pattern[str]:
    """A page's `<body>` tag (compiled on first use, as `_main_open`)."""
    return re.compile(r"<body\b[^>]*>", re.IGNORECASE)


class LeftOut(msgspec.Struct, frozen=True):
    """What a build did not build: queued (or later-dated) essays and drafts, and the
    options that would include them."""

    queued: int = 0
    drafts: int = 0
    options: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """`2 queued, 1 draft not built; --future/--drafts to include them`, or ''."""
        parts = []
        if self.queued:
            parts.append(f"{self.queued} queued")
        if self.drafts:
            parts.append(f"{self.drafts} draft{'s' if self.drafts != 1 else ''}")
        if not parts:
            return ""
        return f"{', '.join(parts)} not built; {'/'.join(self.options)} to include them"


def left_out(site: Site, published: Site, drafts_asked: bool) -> LeftOut:
    """Count the essays of `site` missing from `published`, drafts apart from the rest.

    With `drafts_asked` the drafts still missing are undated ones, which only a preview
    (`--future`) shows."""
    shown = {essay.slug for essay in published.essays}
    missing = [essay for essay in site.essays if essay.slug not in shown]
    drafts = sum(1 for essay in missing if essay.draft)
    queued = len(missing) - drafts
    if drafts_asked:
        options = ("--future",)
    else:
        options = tuple(flag for flag, n in (("--future", queued), ("--drafts", drafts)) if n)
    return LeftOut(queued=queued, drafts=drafts, options=options)


def date_drafts(site: Site, today: date | datetime) -> Site:
    """The site with each undated draft dated `today`, so a preview can show it."""
    timetable = Timetable.from_settings(site.settings)
    moment = today if isinstance(today, datetime) else datetime.combine(today, timetable.at)
    moment = timetable.local(moment)
    essays = tuple(
        msgspec.structs.replace(e, date=moment) if e.draft and e.date is None else e
        for e in site.essays
    )
    return msgspec.structs.replace(site, essays=essays)


def banner_text(essay: Essay, queued: bool, today: date | datetime) -> str:
    """What the banner on an essay's page says (`queued`: dated only by its planned slot),
    or '' when the essay is out already."""
    if essay.draft:
        return "Draft: not scheduled (preview only; remove draft: true to queue it)"
    if essay.date is None or not (queued or _after(essay.date, today)):
        return ""
    return f"Scheduled for {format_slot(essay.date)} (preview only: not published yet)"


def _after(moment: datetime, today: date | datetime) -> bool:
    """Whether `moment` is still to come on `today` (a day, or a moment)."""
    if isinstance(today, datetime):
        return moment > today
    return moment.date() > today


def with_banners(pages: OutputFiles, banners: list[tuple[Essay, str]]) -> OutputFiles:
    """The web files with a banner on the page of each essay in `banners` (with its text)."""
    by_path = {essay_page_path(essay): text for essay, text in banners if text}
    marked = OutputFiles()
    for path, value in pages.items():
        text = by_path.get(path)
        marked[path] = value if text is None else _bannered(value, text)
    return marked


def _bannered(value: Content | Deferred, text: str) -> Content | Deferred:
    """One page's content with the banner added; a deferred page stays deferred, its key
    now also reading the banner's text."""
    if not isinstance(value, Deferred):
        return add_banner(value, text)
    reads = msgspec.structs.replace(value.reads, values=(*value.reads.values, f"banner:{text}"))
    make = value.make
    return Deferred(reads, lambda: add_banner(make(), text))


def add_banner(page: Content, text: str) -> Content:
    """A page with the banner just inside its `<main>` (or its `<body>`)."""
    html = page.decode("utf-8") if isinstance(page, bytes) else page
    banner = f'<p class="{BANNER_CLASS}" role="note" style="{BANNER_STYLE}">{escape(text)}</p>\n'
    match = _main_open().search(html) or _body_open().search(html)
    at = match.end() if match else 0
    marked = f"{html[:at]}\n{banner}{html[at:]}"
    return marked.encode("utf-8") if isinstance(page, bytes) else marked


def with_planned_slots(site: Site, known: Known, today: date | datetime) -> Site:
    """The site with each queued (undated, unreleased) essay dated at its planned slot, by
    what the site `known` to be released."""
    timetable = Timetable.from_settings(site.settings)
    moment = today if isinstance(today, datetime) else datetime.combine(today, datetime.min.time())
    binding = known.bind(site)
    schedule = plan_schedule(
        timetable, site.essays, binding.releases, timetable.local(moment), known.first_run
    )
    slots = {p.slug: p.slot for p in schedule.placements if p.source == QUEUED}
    essays = tuple(
        msgspec.structs.replace(e, date=slots[e.slug]) if e.date is None and e.slug in slots else e
        for e in site.essays
    )
    return msgspec.structs.replace(site, essays=essays)


def banners(site: Site, published: Site, today: date | datetime) -> list[tuple[Essay, str]]:
    """The banner of each essay a preview shows before its time: the queued (undated in
    `site`), the later-dated and the drafts."""
    undated = {essay.slug for essay in site.essays if essay.date is None}
    return [(essay, banner_text(essay, essay.slug in undated, today)) for essay in published.essays]


def queue_problems(site: Site, known: Known, now: datetime) -> list[Problem]:
    """A warning, at the schedule's rule, naming the queued essays it has no slot for."""
    binding = known.bind(site)
    first_run = known.first_run or (None if binding.releases else now)  # as a first run notes
    timetable = Timetable.from_settings(site.settings)
    plan = plan_schedule(timetable, binding.site.essays, binding.releases, now, first_run)
    message = unplaced_warning(plan)
    if message is None:
        return []
    return [warning(SETTINGS_FILE, setting_line(site.root, "schedule", "rule"), 1, message)]

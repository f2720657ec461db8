"""The pages `publish serve` adds under `/__publish__/`: an index of what goes out next (the
next slot, the queue, the drafts, what was sent) and each essay's email as a reader gets it.

The email previews are made by the code a send uses for one reader's copy
(`personal_message`), for a sample reader with a sample unsubscribe link, from the preview
build's `build/preview/email/`; the HTML preview is the message's text/html part, the text
preview its text/plain part.
"""

from __future__ import annotations

import email
import email.policy
import sqlite3
from contextlib import closing
from datetime import date, datetime
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from publish.errors import PublishError
from publish.mail import mime
from publish.mail.built import load_built_email, personal_message
from publish.mail.transport import header_address
from publish.model import Essay, Release, Site
from publish.outputs.urls import unsubscribe_url
from publish.schedule.slots import (
    QUEUED,
    Placement,
    Plan,
    Timetable,
    format_slot,
    next_slot,
    plan_schedule,
)
from publish.state.db import database_path
from publish.state.ledger import ledger_counts
from publish.state.releases import Known, open_read_only, unfinished_sends
from publish.state.subscribers import unsubscribe_token

if TYPE_CHECKING:
    from publish.pipeline.build import BuildOptions

INDEX_PATH = "/__publish__/"
EMAIL_PATH = "/__publish__/email/"
INDEX_TEMPLATE = "preview-index.html"
SAMPLE_NAME = "Sam Sample"
SAMPLE_ADDRESS = "sam.sample@example.com"
SAMPLE_SECRET = b"publish serve: the sample reader's link"  # no reader has id 0
SAMPLE_ID = 0


class Entry(msgspec.Struct, frozen=True):
    """One essay in the preview index, with where its preview page and email are."""

    slug: str
    title: str
    when: str  # its planned slot, or when it went out
    note: str = ""  # queued or dated; how many were sent
    page: str = ""  # its page in the preview, or '' when the preview did not build it
    email: bool = False  # whether the preview shows its email (made when first asked for)


class PreviewIndex(msgspec.Struct, frozen=True):
    """What `/__publish__/` lists."""

    title: str
    next_slot: str
    next_essays: tuple[Entry, ...]
    queue: tuple[Entry, ...]
    drafts: tuple[Entry, ...]
    sent: tuple[Entry, ...]


class Shown(msgspec.Struct, frozen=True):
    """What the preview build made, for linking: the essays with a page, and those with an
    email (every essay with a page: an email the build left out is made when asked for)."""

    site: Site  # as loaded (every essay, releases bound)
    known: Known  # what the site released, as the build's load read it
    pages: frozenset[str]
    emails: frozenset[str]
    base_path: str  # the site's URL path, as the preview serves it


def preview_index(shown: Shown, today: date | datetime) -> PreviewIndex:
    """The next slot, the queue in slot order, the drafts and the sent essays."""
    site = shown.site
    timetable = Timetable.from_settings(site.settings)
    moment = today if isinstance(today, datetime) else datetime.combine(today, datetime.min.time())
    known = shown.known
    binding = known.bind(site)
    plan = plan_schedule(
        timetable, binding.site.essays, binding.releases, timetable.local(moment), known.first_run
    )
    coming = next_slot(timetable, plan.now)
    waiting = [p for p in plan.placements if not p.released and p.slot >= plan.horizon]
    next_day = coming.date() if coming is not None else None
    return PreviewIndex(
        title=site.settings.site.title,
        next_slot=format_slot(coming) if coming is not None else "none (the schedule has ended)",
        next_essays=tuple(_planned(shown, p) for p in waiting if p.slot.date() == next_day),
        queue=tuple(_planned(shown, p) for p in waiting),
        drafts=tuple(_draft(shown, e) for e in site.essays if e.draft),
        sent=tuple(_sent(shown, plan, known.releases)),
    )


def _links(shown: Shown, slug: str) -> dict[str, object]:
    """The page and email fields of an essay's entry."""
    page = f"{shown.base_path}{slug}/" if slug in shown.pages else ""
    return {"page": page, "email": slug in shown.emails}


def _planned(shown: Shown, placement: Placement) -> Entry:
    """An essay waiting for its slot."""
    note = "queued: dated by its slot" if placement.source == QUEUED else "dated"
    return Entry(
        placement.slug,
        placement.title,
        format_slot(placement.slot),
        note,
        **_links(shown, placement.slug),
    )


def _draft(shown: Shown, essay: Essay) -> Entry:
    """A draft (its page and email exist only with `serve --drafts`)."""
    when = format_slot(essay.date) if essay.date is not None else "undated"
    return Entry(essay.slug, essay.title, when, "draft", **_links(shown, essay.slug))


def _sent(shown: Shown, plan: Plan, releases: dict[str, Release]) -> list[Entry]:
    """The released essays and those whose send finished, newest first, with the ledger's
    counts where it has them."""
    ledger = _ledger(shown.site, [e.slug for e in shown.site.essays])
    slots = {slug: release.slot for slug, release in releases.items()}
    for slug in ledger.finished:
        essay = next(e for e in shown.site.essays if e.slug == slug)
        slots.setdefault(slug, essay.date or plan.now)
    entries = []
    for slug, slot in sorted(slots.items(), key=lambda item: item[1], reverse=True):
        placement = plan.placement(slug)
        title = placement.title if placement is not None else slug
        tally = ledger.counts.get(slug, {})
        note = ", ".join(f"{n} {status}" for status, n in sorted(tally.items())) or "released"
        entries.append(Entry(slug, title, format_slot(slot), note, **_links(shown, slug)))
    return entries


class LedgerView(msgspec.Struct, frozen=True):
    """What the send ledger says of a site's essays."""

    finished: frozenset[str] = frozenset()  # essays whose send ran to its end
    counts: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)  # deliveries by status


def _ledger(site: Site, slugs: list[str]) -> LedgerView:
    """The ledger's view of `slugs`, read-only; an empty one when there is no ledger."""
    try:
        connection = open_read_only(database_path(site.root, site.settings))
        if connection is None:
            return LedgerView()
        with closing(connection):
            finished = set(slugs) - set(unfinished_sends(connection, slugs))
            counts = {slug: ledger_counts(connection, slug) for slug in slugs}
    except (sqlite3.Error, PublishError):
        return LedgerView()
    return LedgerView(frozenset(finished), {slug: n for slug, n in counts.items() if n})


def render_index(index: PreviewIndex, stats_chart: str = "") -> str:
    """The index page; `stats_chart` (an SVG our own code made, put in as it is) fills the
    place kept for the send statistics."""
    return (
        _templates()
        .get_template(INDEX_TEMPLATE)
        .render(index=index, email_path=EMAIL_PATH, stats_chart=Markup(stats_chart))
    )


def _templates() -> Environment:
    """The package's own templates (a site's templates folder never overrides these)."""
    return Environment(
        loader=PackageLoader("publish", "templates"), autoescape=select_autoescape(["html"])
    )


def email_parts(
    root: Path, email_dir: Path, site: Site, slug: str, options: BuildOptions | None = None
) -> tuple[str, str] | None:
    """The HTML and text parts of the sample reader's copy of an essay's email, made as a
    send makes one reader's copy (the email itself made now, as the preview build with
    `options` would, if that build left it out); None when the preview shows no `slug`."""
    try:
        built = load_built_email(root, slug, email_dir, options)
    except PublishError:
        return None
    settings = site.settings
    data = personal_message(
        built,
        settings,
        to=header_address(SAMPLE_ADDRESS),
        name=SAMPLE_NAME,
        unsubscribe=sample_unsubscribe_url(site),
        message_id=make_msgid(domain=mime.site_domain(settings)),
    )
    message = email.message_from_bytes(data, policy=email.policy.default)
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    html = html_part.get_content() if html_part is not None else ""
    text = text_part.get_content() if text_part is not None else ""
    return _lines(html), _lines(text)


def _lines(part: str) -> str:
    """A part's text with its lines ended as a mail program shows them (the message on the
    wire ends each with CRLF)."""
    return part.replace("\r\n", "\n")


def sample_unsubscribe_url(site: Site) -> str:
    """An unsubscribe link shaped like a reader's, signed with a key no reader's link uses."""
    return unsubscribe_url(site.settings, unsubscribe_token(SAMPLE_SECRET, SAMPLE_ID))

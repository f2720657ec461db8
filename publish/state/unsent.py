"""Which essays' emails a build makes: those a send could still need.

An essay needs its email while the schedule will still mail it (not released, and not a back
issue the first-run rule keeps off the list: see `publish.schedule.slots.unmailed_back_issues`),
while a send of it in the ledger has not finished, and while new readers are welcomed with it
(the last send started, with `[email] welcome = "latest"`). A draft a build shows keeps its
email too (the author is writing it). Any other essay, such as a back issue already mailed,
gets none: `publish send SLUG`, `send --to` and the preview make it when they ask
(`publish.mail.ondemand`), as the build would.

A site with no state database and no `releases.toml` has had no first run, so its horizon is
the start of today: a plain `publish build` there makes the emails of what a first
`publish run` would mail (the essays dated today, and the drafts it shows), not one for every
back issue.
"""

from __future__ import annotations

from datetime import date, datetime, time

from publish.model import Site
from publish.schedule.slots import Timetable, still_to_mail
from publish.state.releases import Known


def emails_wanted(site: Site, known: Known, today: date | datetime) -> frozenset[str]:
    """The slugs (at their addresses) of the essays of `site` whose email a send could still
    need on `today` (a bare day counts to its end, as a build shows every essay dated on it),
    by what the site `known` to be released and what the send ledger needs (read by the
    loader, once)."""
    binding = known.bind(site)
    timetable = Timetable.from_settings(site.settings)
    now = today if isinstance(today, datetime) else datetime.combine(today, time.max)
    to_mail = still_to_mail(
        timetable, binding.site.essays, binding.releases, timetable.local(now), known.first_run
    )
    drafts = {essay.slug for essay in binding.site.essays if essay.draft}
    return frozenset(to_mail | drafts | known.unfinished | known.ledger)

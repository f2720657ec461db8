"""The error for a send whose email is not built: which essays exist, and what would help.

An essay published today has its email made when a send asks (`publish.mail.ondemand`),
so this error is for a slug no essay has, a draft or an essay not yet released: the
message says what the writer can do instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from publish.content.site import is_published
from publish.errors import PublishError, did_you_mean
from publish.model import Essay

SHOWN_SLUGS = 10  # at most this many slugs are named in the message


def missing_email(root: Path, slug: str, shown: str, built: list[str]) -> PublishError:
    """The error for `slug`, whose email is not in build/email/ (`shown` is the missing
    file as messages name it; `built` the slugs whose email is built)."""
    essays = _essays(root)
    essay = essays.get(slug)
    if essay is None:
        reason = _unknown_slug(slug, built, sorted(essays))
    elif essay.draft:
        reason = (
            f"{essay.path} is a draft, so no email is built for it; set draft: false and "
            "run 'publish build' (a test copy, 'publish send SLUG --to ADDRESS', needs neither)"
        )
    elif not is_published(essay, _now(essay)):
        reason = (
            f"{essay.path} is not released yet (queued, or dated after today), so "
            "'publish build' leaves it out; 'publish run' builds and mails it when its slot "
            "comes, and 'publish status' says when that is ('publish send SLUG --to ADDRESS' "
            "mails you a test copy now)"
        )
    else:
        reason = f"{essay.path} is not built yet; run 'publish build' first"
    return PublishError.single(shown, 1, 1, f"no built email for '{slug}': {reason}")


def _unknown_slug(slug: str, built: list[str], essays: list[str]) -> str:
    """No essay has this slug: the closest one, and the slugs there are."""
    known = sorted({*built, *essays})
    hint = did_you_mean(slug, known)
    if not known:
        return "there is no essay yet (write one with 'publish new')"
    listed = ", ".join(built[:SHOWN_SLUGS]) + (" …" if len(built) > SHOWN_SLUGS else "")
    built_text = f"built emails: {listed}" if built else "no email is built yet"
    return f"no essay has the slug '{slug}'{hint}; {built_text}"


def _essays(root: Path) -> dict[str, Essay]:
    """Every essay of the site by slug (at its released address); none if it cannot load."""
    from publish.pipeline.load import load  # only on this error path: a send stays light

    try:
        site = load(root).site
    except PublishError:
        return {}
    return {essay.slug: essay for essay in site.essays}


def _now(essay: Essay) -> datetime:
    """Now, in the zone of the essay's date (UTC for an undated one)."""
    return datetime.now(essay.date.tzinfo if essay.date is not None else UTC)

"""What `publish check` and `publish status` report for a site that loaded, in one place
(kept light: `publish check` imports it without the rest of the status)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from publish.errors import Problem
from publish.mail.readiness import sending_problems
from publish.pipeline.build import BuildReport
from publish.pipeline.previewing import queue_problems


def site_problems(root: Path, report: BuildReport, now: datetime) -> list[Problem]:
    """Every warning `publish check` and `publish status` show for a site that loaded: the
    build's, what stands in the way of mail, and the queued essays the rule has no slot
    for as of `now` (their one home, so neither command says anything twice)."""
    site, known = report.site, report.known
    assert site is not None and known is not None
    return [
        *report.warnings,
        *sending_problems(root, site.settings),
        *queue_problems(site, known, now),
    ]

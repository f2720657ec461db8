"""A small fixture site for the email tests: settings with an [email] table, built once."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from publish.build import BuildOptions, build
from publish.content.releasefile import ReleasesFile, write_releases_file
from tests.sitebuilder import make_site, site_files, site_settings

SLUG = "on-margins"
BUILD_DAY = date(2027, 1, 1)
FIRST_RUN = datetime(2026, 1, 1, 9, tzinfo=UTC)

SETTINGS = site_settings("mail")  # the default site's, with a [schedule] and an [email] table
ESSAYS = site_files("mail", "essays")  # "01-on-margins" (every kind of block) and "02-second"


def make_mail_site(
    root: Path, essays: dict[str, str] | None = None, settings: str = SETTINGS
) -> Path:
    """Write and build the email fixture site under `root`; return `root`.

    The site had its first run on FIRST_RUN, before its essays were dated, so they are not
    back issues: on BUILD_DAY they are what the next run mails, and the build makes their
    emails (a build makes an email only where a send could still need it)."""
    make_site(root, ESSAYS if essays is None else essays, settings=settings, site="mail")
    write_releases_file(root, ReleasesFile({}, FIRST_RUN))
    images = root / "essays" / "images"
    images.mkdir(exist_ok=True)
    (images / "pencil.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    build(root, BuildOptions(today=BUILD_DAY))
    return root


def copy_site(source: Path, target: Path) -> Path:
    """A fresh copy of a built site (without its state), for a test that sends."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("state"))
    return target

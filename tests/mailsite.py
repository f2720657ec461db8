"""A small fixture site for the email tests: settings with an [email] table, built once."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from publish.pipeline.build import BuildOptions, build
from tests.sitebuilder import due_since_long_ago, make_site, site_files, site_settings

SLUG = "on-margins"
BUILD_DAY = date(2027, 1, 1)

SETTINGS = site_settings("mail")  # the default site's, with a [schedule] and an [email] table
ESSAYS = site_files("mail", "essays")  # "01-on-margins" (every kind of block) and "02-second"


def make_mail_site(
    root: Path, essays: dict[str, str] | None = None, settings: str = SETTINGS
) -> Path:
    """Write and build the email fixture site under `root`; return `root`.

    The site had its first run before its essays were dated, so they are not back issues:
    on BUILD_DAY they are what the next run mails, and the build makes their emails."""
    make_site(root, ESSAYS if essays is None else essays, settings=settings, site="mail")
    due_since_long_ago(root)
    images = root / "essays" / "images"
    images.mkdir(exist_ok=True)
    (images / "pencil.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    build(root, BuildOptions(today=BUILD_DAY))
    return root


def copy_site(source: Path, target: Path) -> Path:
    """A fresh copy of a built site (without its state), for a test that sends."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("state"))
    return target

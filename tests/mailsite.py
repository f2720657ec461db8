"""A small fixture site for the email tests: settings with an [email] table, built once."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from publish.build import BuildOptions, build
from tests.sitebuilder import DEFAULT_SETTINGS, essay_text, make_site

SLUG = "on-margins"
BUILD_DAY = date(2027, 1, 1)

SETTINGS = DEFAULT_SETTINGS + """
[schedule]
rule = "FREQ=MONTHLY;BYDAY=+1TU"

[email]
from = "Test Letters <letters@example.org>"
reply_to = "editor@example.org"
signup_url = "https://example.org/letters/subscribe/"
service_url = "https://subs.example.org/"
postal_address = "Test Letters, 1 Quay Street, Testport"
max_retries = 3
"""

BODY = """\
Margins are where reading turns into writing[^flow]. A good margin note is short & sharp,
and it is easier to keep in a <em>notebook</em> than on a screen. See the
[glossary](glossary/) or [the wider web](https://example.com/a?b=1&c=2).

## What goes in

1. A question.
2. A disagreement, with a reason:
   - the page number;
   - the date.
3. A cross-reference[^own].

> Read with a pencil.
>
> Then read again.

![A pencil on a page](images/pencil.png)

| Kind | Where |
| --- | --- |
| Note | Margin |

[^own]: A note the essay defines itself, with a [link](https://example.com/x).
"""

ESSAYS = {
    "01-on-margins": essay_text(
        "On Margins",
        BODY,
        subtitle='"Notes on notes"',
        date="2026-11-03",
        slug=SLUG,
        summary='"Why the edge of the page matters."',
        image="images/pencil.png",
        image_alt='"A pencil resting on an open book"',
    ),
    "02-second": essay_text(
        "A Second Letter", "Just one paragraph.\n", date="2026-12-01", slug="a-second-letter"
    ),
}


def make_mail_site(
    root: Path, essays: dict[str, str] | None = None, settings: str = SETTINGS
) -> Path:
    """Write and build the email fixture site under `root`; return `root`."""
    make_site(root, ESSAYS if essays is None else essays, settings=settings)
    images = root / "essays" / "images"
    images.mkdir(exist_ok=True)
    (images / "pencil.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    build(root, BuildOptions(today=BUILD_DAY))
    return root


def copy_site(source: Path, target: Path) -> Path:
    """A fresh copy of a built site (without its state), for a test that sends."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("state"))
    return target

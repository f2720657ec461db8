"""Start-up: `publish --version` imports only click and publish's own light modules; a
command imports what it uses when it runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "feedgen",
    "lxml",
    "flask",
    "jinja2",
    "markdown_it",
    "yaml",
    "css_inline",
    "watchdog",
    "email_validator",
    "msgspec",
    "waitress",
    "dateutil",
    "sqlite3",
)
PROBE = """
import sys
from publish.cli.main import cli
try:
    cli(["--version"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("loaded:", *sorted(name for name in {heavy!r} if name in sys.modules))
"""


def test_version_imports_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("publish, version ")
    assert lines[-1] == "loaded:"

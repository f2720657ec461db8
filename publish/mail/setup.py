"""Whether a site is fit to mail a real list: a subscription service and no placeholders.

A fresh site from `publish init` has no `[email] service_url`, so every unsubscribe link and
`List-Unsubscribe` header would point at the static site, where nothing answers; and its
sender, reply address, postal address and site URL are the scaffold's examples. `send` and
`run` refuse to mail such a site while it has subscribers, and `check` says the same as an
error; with nobody on the list they are warnings. An essay still holding the words
`publish new` writes is a warning too.
"""

from __future__ import annotations

import re
from pathlib import Path

from publish.content.settings import SETTINGS_FILE
from publish.errors import Problem, PublishError, error, warning
from publish.model import Settings
from publish.state.db import database_path
from publish.support.addresses import setting_address

# The scaffold's example values (publish/scaffold/publish.toml): never a real setup.
PLACEHOLDER_URL = "https://example.org/"
PLACEHOLDER_FROM_ADDRESS = "you@example.org"
PLACEHOLDER_POSTAL_ADDRESS = "1 Example Street, Exampletown"
TEST_COPY_NOTE = (
    "a test copy goes out anyway; its unsubscribe link will not work until this is fixed"
)


def mailing_setup_problems(settings: Settings, root: Path | None = None) -> list[Problem]:
    """Every reason this setup must not mail a list, as errors located in publish.toml."""
    text = _settings_text(root)
    email = settings.email
    problems = []
    if not email.service_url:
        problems.append(
            _problem(
                text,
                "email",
                None,
                (
                    "[email] service_url is not set, so every unsubscribe link and "
                    "List-Unsubscribe header would point at the static site, where nothing can "
                    "unsubscribe anyone; run `publish subscriptions serve` and set service_url "
                    "to its public address"
                ),
            )
        )
    address = setting_address(email.from_address).lower()
    if not address:
        problems.append(
            _problem(
                text, "email", "from", "[email] from is not set; it is the sender of every email"
            )
        )
    elif address == PLACEHOLDER_FROM_ADDRESS:
        problems.append(
            _problem(
                text,
                "email",
                "from",
                (
                    f"[email] from still holds the example address {PLACEHOLDER_FROM_ADDRESS}; "
                    "set your own sender"
                ),
            )
        )
    if setting_address(email.reply_to).lower() == PLACEHOLDER_FROM_ADDRESS:
        problems.append(
            _problem(
                text,
                "email",
                "reply_to",
                (
                    f"[email] reply_to still holds the example address {PLACEHOLDER_FROM_ADDRESS}; "
                    "readers' replies would go there: set your own address, or remove the line"
                ),
            )
        )
    if email.postal_address.strip() == PLACEHOLDER_POSTAL_ADDRESS:
        problems.append(
            _problem(
                text,
                "email",
                "postal_address",
                (
                    "[email] postal_address still holds the example address; every email must "
                    "carry your real postal address"
                ),
            )
        )
    if settings.site.url.rstrip("/") == PLACEHOLDER_URL.rstrip("/"):
        problems.append(
            _problem(
                text,
                "site",
                "url",
                (
                    f"[site] url is still the example {PLACEHOLDER_URL}; every link in the emails "
                    "would point there"
                ),
            )
        )
    return problems


def mailing_readiness(root: Path, settings: Settings) -> list[Problem]:
    """The setup problems: errors when the state holds subscribers (active or pending),
    warnings when there is nobody to mail yet."""
    problems = mailing_setup_problems(settings, root)
    if not problems or has_subscribers(root, settings):
        return problems
    return [
        warning(p.path, p.line, p.col, p.message + " (no subscribers yet, so nothing is mailed)")
        for p in problems
    ]


def refuse_unsafe_setup(
    root: Path, settings: Settings, *, test_copy: bool = False
) -> list[Problem]:
    """Raise PublishError if this setup must not mail its list; otherwise return warnings.

    A test copy (`send --to`) is never refused: its problems come back as warnings.
    """
    problems = mailing_readiness(root, settings)
    if not test_copy and any(p.is_error for p in problems):
        raise PublishError(problems)
    if test_copy:
        return [warning(p.path, p.line, p.col, f"{p.message}; {TEST_COPY_NOTE}") for p in problems]
    return problems


def has_subscribers(root: Path, settings: Settings) -> bool:
    """Whether the state database holds any active or pending subscriber (read only)."""
    path = database_path(root, settings)
    if not path.is_file():
        return False  # no state yet (and the subscribers' module, email_validator, unloaded)
    from publish.state import subscribers

    return subscribers.has_subscribers(path)


def _settings_text(root: Path | None) -> str:
    """publish.toml's text, for locating keys ('' when unknown or unreadable)."""
    if root is None:
        return ""
    try:
        return (root / SETTINGS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _problem(text: str, table: str, key: str | None, message: str) -> Problem:
    """An error at `key`'s value in `[table]` of publish.toml (else the table's line)."""
    line, col = locate_setting(text, table, key)
    return error(SETTINGS_FILE, line, col, message)


def locate_setting(text: str, table: str, key: str | None) -> tuple[int, int]:
    """Line and column of `key`'s value inside `[table]` of a TOML text; the table's header
    when the key is absent (or None); 1:1 when the table is absent too."""
    current, table_line = None, 1
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header[1]
            if current == table:
                table_line = number
            continue
        value = re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=\s*", line) if key else None
        if current == table and value:
            return number, value.end() + 1
    return table_line, 1

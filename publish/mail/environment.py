"""The operator's environment file: SMTP settings and PUBLISH_SECRET kept out of the shell.

The file holds `KEY=VALUE` lines in python-dotenv's format (the same simple lines systemd's
`EnvironmentFile=` reads), sits beside the state database unless `[state] environment_file`
names another path, and must be readable by its owner only (mode 0600). Variables already set
in the real environment win over the file. No value read here is ever put in a message.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import MutableMapping
from pathlib import Path

from publish.errors import Problem, PublishError, did_you_mean, error, warning
from publish.model import Settings
from publish.state.db import database_path

FILE_NAME = "publish.env"
KNOWN_KEYS = (
    "PUBLISH_SMTP_URL",
    "PUBLISH_SECRET",
    "PUBLISH_RETRY_BACKOFF",
    "PUBLISH_FEDIVERSE_BACKOFF",
    "PUBLISH_SMTP_TIMEOUT",
    "PUBLISH_SERVICE_SMTP_URL",
    "PUBLISH_BOUNCE_URL",
    "PUBLISH_DNS_SERVER",
    "PUBLISH_SES_CERTIFICATE",
    "PUBLISH_SES_TOPIC_ARN",
    "PUBLISH_POSTMARK_USER",
    "PUBLISH_POSTMARK_PASSWORD",
    "PUBLISH_MAILGUN_SIGNING_KEY",
)


def environment_file(root: Path, settings: Settings) -> Path:
    """Where the environment file is: `[state] environment_file`, else beside the database."""
    configured = settings.state.environment_file
    if configured:
        return root / configured
    return database_path(root, settings).parent / FILE_NAME


def shown_path(root: Path, path: Path) -> str:
    """A path as messages show it: relative to the site folder when it lies inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load_environment(
    root: Path, settings: Settings, environ: MutableMapping[str, str] | None = None
) -> list[Problem]:
    """Add the file's variables to `environ` (os.environ) where unset or empty; return warnings.

    A missing file is fine (everything may come from the real environment). A file others
    can read, or one that is not `KEY=VALUE` lines, is a PublishError naming the file.
    """
    target = os.environ if environ is None else environ
    path = environment_file(root, settings)
    if not path.exists():
        return []
    name = shown_path(root, path)
    values, problems = _read(path, name)
    for key, value in values.items():
        if not target.get(key):  # a variable set, and not empty, in the real environment wins
            target[key] = value
    return problems


def _read(path: Path, name: str) -> tuple[dict[str, str], list[Problem]]:
    """The file's variables and warnings, after checking its mode and every line."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise PublishError.single(name, 1, 1, "the environment file is not a regular file")
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise PublishError.single(
            name,
            1,
            1,
            f"the environment file holds secrets but other users can read or change it "
            f"(mode {mode:04o}); run: chmod 600 {path.resolve()}",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PublishError.single(name, 1, 1, "the environment file is not UTF-8") from None
    from dotenv.parser import parse_stream  # loaded only where there is a file to read

    values: dict[str, str] = {}
    problems: list[Problem] = []
    for binding in parse_stream(io.StringIO(text)):
        source = binding.original.string
        blank = len(source) - len(source.lstrip())
        line = binding.original.line + source[:blank].count("\n")
        if binding.error:
            problems.append(
                error(
                    name,
                    line,
                    1,
                    "not a KEY=VALUE line (the line is not shown: it may hold a secret)",
                )
            )
            continue
        if binding.key is None:
            continue
        if binding.value is None:
            problems.append(error(name, line, 1, f"'{binding.key}' has no '=' and no value"))
            continue
        if binding.key.startswith("PUBLISH_") and binding.key not in KNOWN_KEYS:
            hint = did_you_mean(binding.key, KNOWN_KEYS)
            problems.append(warning(name, line, 1, f"unknown variable '{binding.key}'{hint}"))
        values[binding.key] = binding.value
    if any(p.is_error for p in problems):
        raise PublishError(problems)
    return values, problems

"""The `[deploy]` table of publish.toml: where the site goes and how long to wait for it.

Credentials never live here: S3 keys, SSH keys' passphrases and git tokens come from the
environment or the operator's environment file (see publish.mail.environment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from publish.errors import Problem, did_you_mean, error
from publish.layout import SETTINGS_FILE
from publish.model import DEFAULT_DEPLOY_KEEP as DEFAULT_KEEP
from publish.model import DEFAULT_DEPLOY_TIMEOUT, DEFAULT_VERIFY_TIMEOUT, DeploySettings

SCHEMES = ("dir", "rsync", "git", "s3", "command")
MAX_TIMEOUT = 86_400  # a day: past it a deploy program is stuck, whatever it says
# toml key -> (expected types, default)
KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "target": ((str,), ""),
    "verify_timeout": ((int, float), DEFAULT_VERIFY_TIMEOUT),
    "timeout": ((int, float), DEFAULT_DEPLOY_TIMEOUT),
    "websub_hub": ((str,), ""),
    "endpoint_url": ((str,), ""),
    "region": ((str,), ""),
    "keep": ((int,), DEFAULT_KEEP),
    "ssh": ((str,), ""),
    "shell": ((bool,), False),
    "invalidate": ((str,), ""),
}


def read_deploy_table(
    raw: object, line_of: Callable[[str], int]
) -> tuple[DeploySettings | None, list[Problem]]:
    """The `[deploy]` table (None when absent) and its problems; `line_of(key)` locates keys."""
    if raw is None:
        return None, []
    if not isinstance(raw, dict):
        return None, [error(SETTINGS_FILE, line_of(""), 1, "'deploy' must be a table")]
    problems, values = [], {}
    for key, value in raw.items():
        if key not in KEYS:
            problems.append(
                error(
                    SETTINGS_FILE,
                    line_of(key),
                    1,
                    f"unknown key 'deploy.{key}'{did_you_mean(key, KEYS)}",
                )
            )
            continue
        kinds = KEYS[key][0]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            problems.append(
                error(SETTINGS_FILE, line_of(key), 1, f"'deploy.{key}' must be {_kind_name(kinds)}")
            )
            continue
        values[key] = value
    problems += _check_values(values, line_of)
    if problems:
        return None, problems
    values["verify_timeout"] = float(values.get("verify_timeout", DEFAULT_VERIFY_TIMEOUT))
    values["timeout"] = float(values.get("timeout", DEFAULT_DEPLOY_TIMEOUT))
    return DeploySettings(**values, line=line_of("target")), []


def _check_values(values: dict[str, Any], line_of: Callable[[str], int]) -> list[Problem]:
    """The meaning of the well-typed values: a known target, sane numbers, an http hub."""
    problems = []
    target = values.get("target", "")
    scheme = "s3" if target.startswith("s3://") else target.partition(":")[0]
    if not target:
        problems.append(
            error(
                SETTINGS_FILE,
                line_of("target"),
                1,
                "missing required key 'deploy.target' (for example "
                '"dir:/var/www/letters"; remove [deploy] if publish should '
                "not deploy this site)",
            )
        )
    elif scheme not in SCHEMES or not target.partition(":")[2].strip("/"):
        hint = did_you_mean(scheme, SCHEMES)
        problems.append(
            error(
                SETTINGS_FILE,
                line_of("target"),
                1,
                f"'deploy.target' must be one of dir:PATH, rsync:HOST:PATH, "
                f"git:URL#BRANCH, s3://BUCKET/PREFIX or command:COMMAND, got "
                f"'{target[:60]}'{hint}",
            )
        )
    if values.get("verify_timeout", 1) < 0:
        problems.append(
            error(
                SETTINGS_FILE,
                line_of("verify_timeout"),
                1,
                "'deploy.verify_timeout' must not be negative",
            )
        )
    if not 0 < values.get("timeout", 1) <= MAX_TIMEOUT:
        problems.append(
            error(
                SETTINGS_FILE,
                line_of("timeout"),
                1,
                f"'deploy.timeout' must be more than 0 and at most {MAX_TIMEOUT} seconds "
                "(how long one deploy program may run before it is stopped)",
            )
        )
    if values.get("keep", 2) < 2:
        problems.append(
            error(
                SETTINGS_FILE,
                line_of("keep"),
                1,
                "'deploy.keep' must be at least 2 (the live release and the "
                "one --rollback goes back to)",
            )
        )
    for key in ("websub_hub", "endpoint_url"):
        url = values.get(key, "")
        if url and not url.startswith(("http://", "https://")):
            problems.append(
                error(SETTINGS_FILE, line_of(key), 1, f"'deploy.{key}' must be an http(s) URL")
            )
    return problems


def _kind_name(kinds: tuple[type, ...]) -> str:
    """A readable name for the expected type of a key."""
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


NOT_DEPLOYED = (
    "note: publish.toml has no [deploy] table, so publish does not deploy this "
    "site: `publish run` mails as soon as it has built, and the web server must "
    "serve build/site/ itself (see: https://publish-essays.readthedocs.io/guide/deploying/)"
)

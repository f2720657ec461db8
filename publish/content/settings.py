"""Reads and validates `publish.toml` into `Settings`, reporting every problem with its line."""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from datetime import time
from functools import cache
from pathlib import Path
from typing import Any

from publish.content.deploy_settings import read_deploy_table
from publish.content.fediverse_settings import check_fediverse
from publish.content.positions import toml_key_line, toml_table_line, value_col
from publish.errors import SHOWN_LIMIT, Problem, PublishError, did_you_mean, error
from publish.layout import SETTINGS_FILE
from publish.model import (
    DEFAULT_RULE,
    DEFAULT_TIMEZONE,
    EmailSettings,
    FediverseSettings,
    ScheduleSettings,
    Settings,
    SiteSettings,
    StateSettings,
)
from publish.schedule.rules import check_rule
from publish.support.addresses import address_fault

# C0 and C1 control characters (tab and newline excepted): TOML escapes can write them.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Each table: toml key -> (Struct field, expected python type, required).
TABLES: dict[str, dict[str, tuple[str, type | tuple[type, ...], bool]]] = {
    "site": {
        "title": ("title", str, True),
        "url": ("url", str, True),
        "author": ("author", str, True),
        "language": ("language", str, False),
        "timezone": ("timezone", str, False),
        "description": ("description", str, False),
        "per_page": ("per_page", int, False),
        "feed_items": ("feed_items", int, False),
        "search": ("search", bool, False),
        "keep_image_metadata": ("keep_image_metadata", bool, False),
        "profiles": ("profiles", list, False),
        "fediverse_creator": ("fediverse_creator", str, False),
    },
    "schedule": {
        "rule": ("rule", str, False),
        "time": ("time", (str, time), False),
    },
    "email": {
        "from": ("from_address", str, False),
        "reply_to": ("reply_to", str, False),
        "signup_url": ("signup_url", str, False),
        "service_url": ("service_url", str, False),
        "postal_address": ("postal_address", str, False),
        "rate": ("rate", (int, float), False),
        "max_retries": ("max_retries", int, False),
        "dkim_selector": ("dkim_selector", str, False),
        "dkim_key_file": ("dkim_key_file", str, False),
        "dkim_domain": ("dkim_domain", str, False),
        "bounce_address": ("bounce_address", str, False),
        "soft_bounce_limit": ("soft_bounce_limit", int, False),
        "welcome": ("welcome", str, False),
        "connections": ("connections", int, False),
        "hourly_limit": ("hourly_limit", int, False),
    },
    "state": {
        "database": ("database", str, False),
        "environment_file": ("environment_file", str, False),
    },
    "fediverse": {
        "enabled": ("enabled", bool, False),
        "handle": ("handle", str, False),
        "name": ("name", str, False),
        "summary": ("summary", str, False),
        "icon": ("icon", str, False),
        "also_known_as": ("also_known_as", list, False),
        "moved_to": ("moved_to", str, False),
        "profiles": ("profiles", list, False),
        "allow_private_addresses": ("allow_private_addresses", bool, False),
    },
}


def load_settings(root: Path) -> Settings:
    """Read `publish.toml` under root; raise PublishError listing every problem."""
    path = root / SETTINGS_FILE
    if not path.is_file():
        raise PublishError.single(
            SETTINGS_FILE,
            1,
            1,
            f"settings file not found in {root} "
            "(is --root right? 'publish init DIR' "
            "creates a new site)",
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise PublishError.single(
            SETTINGS_FILE,
            line,
            col,
            f"file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, col = _toml_error_position(str(exc), text)
        raise PublishError.single(SETTINGS_FILE, line, col, f"invalid TOML: {exc}") from None
    problems: list[Problem] = []
    tables = {name: _read_table(name, data, text, problems) for name in TABLES}
    for name in data:
        if name not in TABLES and name != "deploy":
            line = toml_key_line(text, name)  # a table, or a key at the top level
            hint = did_you_mean(name, [*TABLES, "deploy"])
            problems.append(error(SETTINGS_FILE, line, 1, f"unknown table [{name}]{hint}"))
    problems += _check_values(tables["site"], tables["schedule"], text)
    problems += _check_email(tables["email"], text)
    problems += _check_bounce_settings(tables["email"], text)
    problems += _check_welcome(tables["email"], text)
    problems += check_fediverse(
        tables["fediverse"], lambda key: toml_key_line(text, key, "fediverse")
    )
    deploy, deploy_problems = _read_deploy(data, text)
    problems += deploy_problems
    if problems:
        raise PublishError(problems)
    site = SiteSettings(**tables["site"])
    schedule = ScheduleSettings(**tables["schedule"])
    return Settings(
        site=site,
        schedule=schedule,
        email=EmailSettings(**tables["email"]),
        state=StateSettings(**tables["state"]),
        deploy=deploy,
        fediverse=FediverseSettings(**tables["fediverse"]),
    )


def _read_deploy(data: dict, text: str) -> tuple[Any, list[Problem]]:
    """The `[deploy]` table, read by publish.content.deploy_settings, with its problems."""
    return read_deploy_table(
        data.get("deploy"),
        lambda key: toml_key_line(text, key, "deploy") if key else toml_table_line(text, "deploy"),
    )


def _read_table(name: str, data: dict, text: str, problems: list[Problem]) -> dict[str, Any]:
    """Check one table's keys and types; return its Struct's keyword arguments."""
    raw = data.get(name, {})
    spec = TABLES[name]
    values: dict[str, Any] = {}
    if not isinstance(raw, dict):
        problems.append(
            error(SETTINGS_FILE, toml_key_line(text, name), 1, f"'{name}' must be a table")
        )
        return values
    for key, value in raw.items():  # a key's line is sought only for a problem with it
        if key not in spec:
            hint = did_you_mean(key, spec)
            line = toml_key_line(text, key, name)
            problems.append(error(SETTINGS_FILE, line, 1, f"unknown key '{name}.{key}'{hint}"))
            continue
        field_name, expected, _ = spec[key]
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            line = toml_key_line(text, key, name)
            problems.append(
                error(SETTINGS_FILE, line, 1, f"'{name}.{key}' must be {_type_name(expected)}")
            )
            continue
        if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
            character = CONTROL_CHARACTERS.search(value)[0]
            line = toml_key_line(text, key, name)
            problems.append(
                error(
                    SETTINGS_FILE,
                    line,
                    value_col(text, line),
                    f"'{name}.{key}' holds control character "
                    f"U+{ord(character):04X}, which is not allowed; delete it",
                )
            )
            continue
        values[field_name] = _convert(name, key, value, text, problems)
    for key, (_, _, required) in spec.items():
        if required and key not in raw:
            line = toml_table_line(text, name)
            problems.append(error(SETTINGS_FILE, line, 1, f"missing required key '{name}.{key}'"))
    return values


def _convert(table: str, key: str, value: Any, text: str, problems: list[Problem]) -> Any:
    """Turn a raw TOML value into the setting's type (times, URLs); `text` is the file's, to
    locate a problem."""
    if table == "schedule" and key == "time":
        if isinstance(value, time):
            return value
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            line = toml_key_line(text, key, table)
            problems.append(
                error(
                    SETTINGS_FILE, line, 1, f"'schedule.time' must be HH:MM, got '{_shown(value)}'"
                )
            )
            return time(9, 0)
        return time(int(match[1]), int(match[2]))
    if (table, key) in (("site", "url"), ("email", "service_url")) and value:
        return value if value.endswith("/") else value + "/"
    if table == "email" and key == "rate":
        return float(value)
    if table == "site" and key == "profiles":
        return tuple(value)
    if table == "site" and key == "fediverse_creator" and value:
        return "@" + value.strip().removeprefix("@")
    if isinstance(value, list):
        return tuple(value)
    return value


def _check_values(site: dict[str, Any], schedule: dict[str, Any], text: str) -> list[Problem]:
    """Check the well-typed values whose meaning may still be wrong (absent ones are skipped)."""
    problems = []
    url = site.get("url")
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        line = toml_key_line(text, "url", "site")
        problems.append(
            error(
                SETTINGS_FILE,
                line,
                1,
                f"'site.url' must be an absolute http(s) URL, got '{_shown(url)}'",
            )
        )
    timezone = site.get("timezone", DEFAULT_TIMEZONE)
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        line = toml_key_line(text, "timezone", "site")
        hint = did_you_mean(timezone, zoneinfo.available_timezones())
        problems.append(
            error(SETTINGS_FILE, line, 1, f"unknown time zone '{_shown(timezone)}'{hint}")
        )
        timezone = "UTC"
    rule = schedule.get("rule", DEFAULT_RULE)
    # only a rule the site gives is checked: the default is a fine one (tests/test_schedule.py)
    fault = check_rule(rule, timezone) if "rule" in schedule else None
    if fault:
        line = toml_key_line(text, "rule", "schedule")
        shown_rule = _shown(rule.replace("\n", "\\n"))
        problems.append(error(SETTINGS_FILE, line, 1, f"invalid RRULE '{shown_rule}': {fault}"))
    problems += _check_profiles(site, text)
    for key in ("per_page", "feed_items"):
        if site.get(key, 1) < 1:
            line = toml_key_line(text, key, "site")
            problems.append(error(SETTINGS_FILE, line, 1, f"'site.{key}' must be at least 1"))
    return problems


@cache
def fediverse_handle() -> re.Pattern[str]:
    """A fediverse handle `@name@server` (compiled on first use: few sites name one)."""
    return re.compile(r"@[^@\s/]+@[^@\s/]+\.[^@\s/]+")


def _check_profiles(site: dict[str, Any], text: str) -> list[Problem]:
    """Each profile link an absolute http(s) URL; the fediverse handle `@name@server`."""
    problems = []
    for profile in site.get("profiles", ()):
        if not isinstance(profile, str) or not re.match(r"^https?://[^/\s]+", profile):
            line = toml_key_line(text, "profiles", "site")
            problems.append(
                error(
                    SETTINGS_FILE,
                    line,
                    1,
                    "each of 'site.profiles' must be an absolute http(s) URL, "
                    f"got '{_shown(str(profile))}'",
                )
            )
    handle = site.get("fediverse_creator", "")
    if handle and not fediverse_handle().fullmatch(handle):
        line = toml_key_line(text, "fediverse_creator", "site")
        problems.append(
            error(
                SETTINGS_FILE,
                line,
                1,
                f"'site.fediverse_creator' must be a handle such as '@ada@example.social', "
                f"got '{_shown(handle)}'",
            )
        )
    return problems


def _check_email(email: dict[str, Any], text: str) -> list[Problem]:
    """Check the `[email]` values: real addresses, and a pace that is not negative."""
    problems = []
    for key, field_name in (("from", "from_address"), ("reply_to", "reply_to")):
        value = email.get(field_name)
        fault = address_fault(value) if value else None
        if fault:
            line = toml_key_line(text, key, "email")
            problems.append(
                error(
                    SETTINGS_FILE,
                    line,
                    value_col(text, line),
                    f"'email.{key}' is not an email address ({fault}): write "
                    "'Name <you@example.org>' or 'you@example.org', "
                    f"got '{_shown(value)}'",
                )
            )
    for key, field_name in (("max_retries", "max_retries"), ("rate", "rate")):
        if email.get(field_name, 0) < 0:
            line = toml_key_line(text, key, "email")
            problems.append(
                error(
                    SETTINGS_FILE,
                    line,
                    value_col(text, line),
                    f"'email.{key}' must not be negative",
                )
            )
    problems += _check_sending_limits(email, text)
    return problems


MAX_CONNECTIONS = 64  # more SMTP connections than any relay allows one sender


def _check_sending_limits(email: dict[str, Any], text: str) -> list[Problem]:
    """Check `[email] connections` (1 to MAX_CONNECTIONS) and `hourly_limit` (0 or more)."""
    checks = (
        (
            "connections",
            1 <= email.get("connections", 1) <= MAX_CONNECTIONS,
            f"must be a whole number from 1 to {MAX_CONNECTIONS}",
        ),
        (
            "hourly_limit",
            email.get("hourly_limit", 0) >= 0,
            "must not be negative (0 means no hourly limit)",
        ),
    )
    problems = []
    for key, fine, rule in checks:
        if not fine:
            line = toml_key_line(text, key, "email")
            col = value_col(text, line)
            problems.append(error(SETTINGS_FILE, line, col, f"'email.{key}' {rule}"))
    return problems


def _check_bounce_settings(email: dict[str, Any], text: str) -> list[Problem]:
    """Check `[email] bounce_address` (a bare address without '+', which VERP adds) and
    `soft_bounce_limit` (at least 1)."""
    problems = []
    address = email.get("bounce_address", "")
    fault = address_fault(address) if address else None
    if address and not fault and ("<" in address or "+" in address.partition("@")[0]):
        fault = "write a bare address whose local part has no '+'; publish adds '+<token>'"
    if fault:
        line = toml_key_line(text, "bounce_address", "email")
        message = f"'email.bounce_address' is not usable ({fault}), got '{_shown(address)}'"
        problems.append(error(SETTINGS_FILE, line, value_col(text, line), message))
    if email.get("soft_bounce_limit", 1) < 1:
        line = toml_key_line(text, "soft_bounce_limit", "email")
        message = "'email.soft_bounce_limit' must be at least 1"
        problems.append(error(SETTINGS_FILE, line, value_col(text, line), message))
    return problems


WELCOME_CHOICES = ("latest", "none")


def _check_welcome(email: dict[str, Any], text: str) -> list[Problem]:
    """Check `[email] welcome`: "latest" (the newest sent essay) or "none"."""
    value = email.get("welcome", WELCOME_CHOICES[0])
    if value in WELCOME_CHOICES:
        return []
    line = toml_key_line(text, "welcome", "email")
    hint = did_you_mean(value, WELCOME_CHOICES) or " (use 'latest' or 'none')"
    message = f"unknown value '{_shown(value)}' for 'email.welcome'{hint}"
    return [error(SETTINGS_FILE, line, value_col(text, line), message)]


def _shown(value: str) -> str:
    """A setting's value as a message repeats it, cut to SHOWN_LIMIT characters."""
    return value if len(value) <= SHOWN_LIMIT else value[:SHOWN_LIMIT] + "…"


def _type_name(expected: type | tuple[type, ...]) -> str:
    """A readable name for the expected type of a setting."""
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        time: "a time (HH:MM)",
        bool: "true or false",
        list: "a list of strings",
    }
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _toml_error_position(message: str, text: str) -> tuple[int, int]:
    """Line and column from tomllib's '(at line X, column Y)' or '(at end of document)'."""
    match = re.search(r"line (\d+), column (\d+)", message)
    if match:
        return int(match[1]), int(match[2])
    if "end of document" in message:
        return text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
    return 1, 1


def setting_line(root: Path, table: str, key: str) -> int:
    """The line of publish.toml where `[table] key` is set (else the table's line, or 1)."""
    try:
        text = (root / SETTINGS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 1
    return toml_key_line(text, key, table)

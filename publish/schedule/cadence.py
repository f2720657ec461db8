"""Turns a schedule's RFC 5545 RRULE into one plain English sentence for readers."""

from __future__ import annotations

import re

GENERIC_SENTENCE = "New essays arrive on a regular schedule."

DAY_NAMES = {
    "MO": "Monday",
    "TU": "Tuesday",
    "WE": "Wednesday",
    "TH": "Thursday",
    "FR": "Friday",
    "SA": "Saturday",
    "SU": "Sunday",
}

ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}

BYDAY_PATTERN = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


def describe_rule(rule: str) -> str:
    """Return an English sentence such as 'New essays arrive every Thursday.' for an RRULE."""
    parts = _rule_parts(rule)
    frequency = parts.pop("FREQ", "")
    interval = parts.pop("INTERVAL", "1")
    parts.pop("WKST", None)
    phrase = None
    if frequency == "WEEKLY" and set(parts) == {"BYDAY"}:
        phrase = _weekly_phrase(parts["BYDAY"], interval)
    elif frequency == "MONTHLY" and interval == "1" and set(parts) == {"BYDAY"}:
        phrase = _monthly_weekday_phrase(parts["BYDAY"])
    elif frequency == "MONTHLY" and interval == "1" and set(parts) == {"BYMONTHDAY"}:
        phrase = _monthly_day_phrase(parts["BYMONTHDAY"])
    if phrase is None:
        return GENERIC_SENTENCE
    return f"New essays arrive {phrase}."


def _rule_parts(rule: str) -> dict[str, str]:
    """Split 'FREQ=WEEKLY;BYDAY=MO' into upper-cased name/value pairs (a DTSTART line, which
    only says where counting starts, is left out)."""
    lines = [line.strip() for line in rule.splitlines() if line.strip()]
    text = next((line for line in lines if not line.upper().startswith("DTSTART")), "")
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        name, _, value = piece.partition("=")
        if name.strip():
            parts[name.strip().upper()] = value.strip().upper()
    return parts


def _weekly_phrase(byday: str, interval: str) -> str | None:
    """Describe a weekly rule on plain weekdays, e.g. 'every other Monday'."""
    names = []
    for item in byday.split(","):
        match = BYDAY_PATTERN.match(item)
        if match is None or match.group(1):
            return None
        names.append(DAY_NAMES[match.group(2)])
    days = _join_words(names)
    if interval == "1":
        return f"every {days}"
    if interval == "2":
        return f"every other {days}"
    if interval.isdigit() and int(interval) > 2:
        return f"on {days} every {interval} weeks"
    return None


def _monthly_weekday_phrase(byday: str) -> str | None:
    """Describe a monthly rule on a numbered weekday, e.g. 'on the first Tuesday of each month'."""
    match = BYDAY_PATTERN.match(byday)
    if match is None or not match.group(1):
        return None
    ordinal = ORDINAL_WORDS.get(int(match.group(1)))
    if ordinal is None:
        return None
    return f"on the {ordinal} {DAY_NAMES[match.group(2)]} of each month"


def _monthly_day_phrase(bymonthday: str) -> str | None:
    """Describe a monthly rule on one day number, e.g. 'on the 15th of each month'."""
    if bymonthday == "-1":
        return "on the last day of each month"
    if not bymonthday.isdigit() or not 1 <= int(bymonthday) <= 31:
        return None
    return f"on the {_ordinal_number(int(bymonthday))} of each month"


def _ordinal_number(number: int) -> str:
    """Return '1st', '2nd', '15th', '22nd' for a day of the month."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _join_words(words: list[str]) -> str:
    """Join ['Monday', 'Thursday'] as 'Monday and Thursday'."""
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]

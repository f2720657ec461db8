"""The parts of a schedule's RFC 5545 RRULE that its sentence for readers is made from
(the sentence itself, in the site's language, is `publish.i18n.cadence`)."""

from __future__ import annotations

import re

BYDAY_PATTERN = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


def rule_parts(rule: str) -> dict[str, str]:
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


def ordinal_number(number: int) -> str:
    """Return '1st', '2nd', '15th', '22nd' for a day of the month."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"

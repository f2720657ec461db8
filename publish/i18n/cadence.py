"""The cadence sentence in the reader's language, made from the schedule's RRULE: 'New essays
arrive on the first Tuesday of each month.', 'Neue Essays erscheinen jeden Donnerstag.'

Each shape of rule is one whole sentence in the catalog, so a translator words it as the
language needs; weekday names come from the catalog too, each in the context it stands in
(after 'every', after an ordinal), so that a language can inflect them.
"""

from __future__ import annotations

from functools import lru_cache

from publish.i18n.words import ENGLISH, Words
from publish.schedule.cadence import BYDAY_PATTERN, ordinal_number, rule_parts

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@lru_cache(maxsize=64)  # every page shows it: worded once a rule and language
def cadence_sentence(rule: str, words: Words) -> str:
    """The sentence readers see for `rule`, or the generic one for a rule it cannot word."""
    parts = rule_parts(rule)
    frequency = parts.pop("FREQ", "")
    interval = parts.pop("INTERVAL", "1")
    parts.pop("WKST", None)
    sentence = None
    if frequency == "WEEKLY" and set(parts) == {"BYDAY"}:
        sentence = _weekly(parts["BYDAY"], interval, words)
    elif frequency == "MONTHLY" and interval == "1" and set(parts) == {"BYDAY"}:
        sentence = _monthly_weekday(parts["BYDAY"], words)
    elif frequency == "MONTHLY" and interval == "1" and set(parts) == {"BYMONTHDAY"}:
        sentence = _monthly_day(parts["BYMONTHDAY"], words)
    return sentence or words.gettext("New essays arrive on a regular schedule.")


def describe_rule(rule: str) -> str:
    """The sentence in English, as the command line shows it (`publish schedule`)."""
    return cadence_sentence(rule, ENGLISH)


def _every_day(code: str, words: Words) -> str:
    """A weekday's name as it follows 'every' in the language."""
    names = {
        "MO": words.pgettext("after every", "Monday"),
        "TU": words.pgettext("after every", "Tuesday"),
        "WE": words.pgettext("after every", "Wednesday"),
        "TH": words.pgettext("after every", "Thursday"),
        "FR": words.pgettext("after every", "Friday"),
        "SA": words.pgettext("after every", "Saturday"),
        "SU": words.pgettext("after every", "Sunday"),
    }
    return names[code]


def _ordinal_day(code: str, words: Words) -> str:
    """A weekday's name as it follows an ordinal ('the first …') in the language."""
    names = {
        "MO": words.pgettext("after an ordinal", "Monday"),
        "TU": words.pgettext("after an ordinal", "Tuesday"),
        "WE": words.pgettext("after an ordinal", "Wednesday"),
        "TH": words.pgettext("after an ordinal", "Thursday"),
        "FR": words.pgettext("after an ordinal", "Friday"),
        "SA": words.pgettext("after an ordinal", "Saturday"),
        "SU": words.pgettext("after an ordinal", "Sunday"),
    }
    return names[code]


def _weekly(byday: str, interval: str, words: Words) -> str | None:
    """Every Monday; every other Monday; on Monday every 3 weeks."""
    codes = []
    for item in byday.split(","):
        match = BYDAY_PATTERN.match(item)
        if match is None or match.group(1):
            return None
        codes.append(match.group(2))
    days = words.join([_every_day(code, words) for code in codes])
    if interval == "1":
        return words.gettext("New essays arrive every %(days)s.") % {"days": days}
    if interval == "2":
        return words.gettext("New essays arrive every other %(days)s.") % {"days": days}
    if interval.isdigit() and int(interval) > 2:
        count = int(interval)
        sentence = words.ngettext(
            "New essays arrive on %(days)s every %(num)s weeks.",
            "New essays arrive on %(days)s every %(num)s weeks.",
            count,
        )
        return sentence % {"num": words.number(count), "days": days}
    return None


def _monthly_weekday(byday: str, words: Words) -> str | None:
    """On the first (second, …, last) Tuesday of each month."""
    match = BYDAY_PATTERN.match(byday)
    if match is None or not match.group(1):
        return None
    sentences = {
        1: words.gettext("New essays arrive on the first %(day)s of each month."),
        2: words.gettext("New essays arrive on the second %(day)s of each month."),
        3: words.gettext("New essays arrive on the third %(day)s of each month."),
        4: words.gettext("New essays arrive on the fourth %(day)s of each month."),
        5: words.gettext("New essays arrive on the fifth %(day)s of each month."),
        -1: words.gettext("New essays arrive on the last %(day)s of each month."),
    }
    sentence = sentences.get(int(match.group(1)))
    if sentence is None:
        return None
    return sentence % {"day": _ordinal_day(match.group(2), words)}


def _monthly_day(bymonthday: str, words: Words) -> str | None:
    """On the 15th (or the last day) of each month."""
    if bymonthday == "-1":
        return words.gettext("New essays arrive on the last day of each month.")
    if not bymonthday.isdigit() or not 1 <= int(bymonthday) <= 31:
        return None
    day = int(bymonthday)
    # Translators: %(ordinal)s is English's '15th'; write %(day)s, the plain day number.
    sentence = words.gettext("New essays arrive on the %(ordinal)s of each month.")
    return sentence % {"ordinal": ordinal_number(day), "day": words.number(day)}

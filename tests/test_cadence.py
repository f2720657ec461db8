"""RRULEs described in plain English, as `publish schedule` shows them."""

from __future__ import annotations

import pytest

from publish.i18n.cadence import describe_rule

GENERIC_SENTENCE = "New essays arrive on a regular schedule."


@pytest.mark.parametrize(
    ("rule", "sentence"),
    [
        ("FREQ=MONTHLY;BYDAY=+1TU", "New essays arrive on the first Tuesday of each month."),
        ("FREQ=MONTHLY;BYDAY=1TU", "New essays arrive on the first Tuesday of each month."),
        ("FREQ=MONTHLY;BYDAY=+2MO", "New essays arrive on the second Monday of each month."),
        ("FREQ=MONTHLY;BYDAY=-1FR", "New essays arrive on the last Friday of each month."),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "New essays arrive every other Monday."),
        ("FREQ=WEEKLY;BYDAY=TH", "New essays arrive every Thursday."),
        ("FREQ=WEEKLY;BYDAY=MO,TH", "New essays arrive every Monday and Thursday."),
        ("FREQ=MONTHLY;BYMONTHDAY=15", "New essays arrive on the 15th of each month."),
        ("FREQ=MONTHLY;BYMONTHDAY=1", "New essays arrive on the 1st of each month."),
        ("FREQ=MONTHLY;BYMONTHDAY=22", "New essays arrive on the 22nd of each month."),
        ("FREQ=MONTHLY;BYMONTHDAY=11", "New essays arrive on the 11th of each month."),
        ("RRULE:FREQ=WEEKLY;BYDAY=TH", "New essays arrive every Thursday."),
        ("freq=weekly;byday=th", "New essays arrive every Thursday."),
        (
            "DTSTART:20270107\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
            "New essays arrive every other Thursday.",
        ),
    ],
)
def test_known_rules_read_as_sentences(rule: str, sentence: str) -> None:
    assert describe_rule(rule) == sentence


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY",
        "FREQ=YEARLY;BYMONTH=3",
        "FREQ=MONTHLY;BYDAY=TU",
        "FREQ=MONTHLY;BYDAY=+7TU",
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=+1TU",
        "FREQ=WEEKLY;BYDAY=+1MO",
        "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9",
        "",
    ],
)
def test_other_rules_fall_back_to_generic_sentence(rule: str) -> None:
    assert describe_rule(rule) == GENERIC_SENTENCE

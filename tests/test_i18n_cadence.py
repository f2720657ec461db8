"""The cadence sentence made from the RRULE in every shipped language (issue 22), and the
language's words: dates, numbers and plurals through Babel."""

from __future__ import annotations

from datetime import datetime

import msgspec
import pytest
from babel.dates import format_date
from hypothesis import given
from hypothesis import strategies as st

from publish.i18n.cadence import cadence_sentence, describe_rule
from publish.i18n.catalogs import shipped_languages
from publish.i18n.words import ENGLISH, Words, words_for
from publish.mail.personal import greeting_for
from publish.support.safetext import fold_controls

LANGUAGES = shipped_languages()
ENGLISH_SENTENCES = {  # as the English-only describe_rule wrote them before the catalogs
    "FREQ=MONTHLY;BYDAY=+1TU": "New essays arrive on the first Tuesday of each month.",
    "FREQ=MONTHLY;BYDAY=+2TH": "New essays arrive on the second Thursday of each month.",
    "FREQ=MONTHLY;BYDAY=-1FR": "New essays arrive on the last Friday of each month.",
    "FREQ=MONTHLY;BYMONTHDAY=15": "New essays arrive on the 15th of each month.",
    "FREQ=MONTHLY;BYMONTHDAY=-1": "New essays arrive on the last day of each month.",
    "FREQ=WEEKLY;BYDAY=TH": "New essays arrive every Thursday.",
    "FREQ=WEEKLY;BYDAY=MO,TH": "New essays arrive every Monday and Thursday.",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH": "New essays arrive every other Thursday.",
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU": "New essays arrive on Sunday every 3 weeks.",
    "FREQ=DAILY": "New essays arrive on a regular schedule.",
}
RULES = list(ENGLISH_SENTENCES)


@pytest.mark.parametrize(
    ("language", "rule", "sentence"),
    [
        (
            "de",
            "FREQ=MONTHLY;BYDAY=+1TU",
            "Neue Essays erscheinen am ersten Dienstag jedes Monats.",
        ),
        (
            "de",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
            "Neue Essays erscheinen jeden zweiten Donnerstag.",
        ),
        ("de", "FREQ=MONTHLY;BYMONTHDAY=15", "Neue Essays erscheinen am 15. jedes Monats."),
        ("fr", "FREQ=WEEKLY;BYDAY=MO,TH", "De nouveaux essais paraissent chaque lundi et jeudi."),
        (
            "es",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "Los nuevos ensayos llegan el último viernes de cada mes.",
        ),
        ("ja", "FREQ=MONTHLY;BYDAY=+1TU", "新しいエッセイは毎月第1火曜日に届きます。"),
        ("ja", "FREQ=MONTHLY;BYMONTHDAY=15", "新しいエッセイは毎月 15 日に届きます。"),
        ("ar", "FREQ=WEEKLY;BYDAY=TH", "تصل مقالات جديدة كل يوم خميس."),
        (
            "pl",
            "FREQ=WEEKLY;INTERVAL=5;BYDAY=MO",
            "Nowe eseje ukazują się co 5 tygodni: poniedziałek.",
        ),
        ("uk", "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO", "Нові есеї виходять раз на 3 тижні: понеділок."),
        ("pt", "FREQ=WEEKLY;BYDAY=SA", "Novos ensaios chegam aos sábados."),
        (
            "it",
            "FREQ=MONTHLY;BYDAY=+1SU",
            "Nuovi saggi escono ogni mese, la domenica della prima settimana.",
        ),
    ],
)
def test_the_cadence_reads_in_the_language(language: str, rule: str, sentence: str) -> None:
    assert cadence_sentence(rule, words_for(language)) == sentence


@pytest.mark.parametrize("rule", RULES)
def test_english_reads_as_before(rule: str) -> None:
    assert cadence_sentence(rule, ENGLISH) == ENGLISH_SENTENCES[rule]


DAYS = st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1, max_size=3)
ORDINALS = st.sampled_from(["+1", "+2", "+3", "+4", "+5", "-1"])
SHAPES = st.one_of(
    st.builds(
        lambda d, n: f"FREQ=WEEKLY;INTERVAL={n};BYDAY={','.join(d)}", DAYS, st.integers(1, 52)
    ),
    st.builds(lambda o, d: f"FREQ=MONTHLY;BYDAY={o}{d[0]}", ORDINALS, DAYS),
    st.builds(lambda day: f"FREQ=MONTHLY;BYMONTHDAY={day}", st.integers(-1, 31).filter(bool)),
)


@given(rule=SHAPES, language=st.sampled_from([x for x in LANGUAGES if x != "en"]))
def test_every_rule_is_one_whole_sentence_in_every_language(rule: str, language: str) -> None:
    sentence = cadence_sentence(rule, words_for(language))
    english = describe_rule(rule)
    assert "%(" not in sentence and "%" not in sentence
    assert sentence != english and sentence[-1] in ".。"
    assert not any(day in sentence for day in ("Monday", "Tuesday", "Friday", "first", "15th"))


@pytest.mark.parametrize("language", [x for x in LANGUAGES if x != "en"])
def test_dates_numbers_and_plurals_come_from_cldr(language: str) -> None:
    words = words_for(language)
    moment = datetime(2026, 12, 2, 9, 0)
    assert words.long_date(moment) == format_date(moment.date(), "long", locale=language)
    assert words.direction == ("rtl" if language == "ar" else "ltr")
    one, five = words.reading_time(1), words.reading_time(5)
    assert "min read" not in one + five


def test_plural_rules_follow_the_language() -> None:
    polish = words_for("pl")
    assert [
        polish.ngettext("%(num)s essay", "%(num)s essays", n) % {"num": n} for n in (1, 3, 5, 22)
    ] == [
        "1 esej",
        "3 eseje",
        "5 esejów",
        "22 eseje",
    ]
    arabic = words_for("ar")
    assert arabic.reading_time(2) == "قراءة في دقيقتين"
    assert arabic.reading_time(11) == "قراءة في 11 دقيقة"
    assert ENGLISH.reading_time(1) == "1 min read"
    assert ENGLISH.long_date(datetime(2026, 11, 3)) == "3 November 2026"


@given(
    name=st.text(min_size=1, max_size=40).filter(lambda n: n.strip() and n.isprintable()),
    language=st.sampled_from(LANGUAGES),
)
def test_a_readers_name_in_any_script_is_greeted_in_every_language(
    name: str, language: str
) -> None:
    words = words_for(language)
    greeting = greeting_for(name, words)
    assert fold_controls(name) in greeting
    assert greeting != greeting_for("", words) and "%(" not in greeting


@given(
    language=st.sampled_from(LANGUAGES),
    minutes=st.lists(st.integers(0, 10_000), min_size=1, max_size=6),
)
def test_a_reading_time_is_the_languages_plural_and_number_written_once(
    language: str, minutes: list[int]
) -> None:
    """Each whole number of minutes is written by the language's plural rule and Babel's
    number once in a process (every page and listing item shows one), and reads the same
    each time it is shown."""
    words = words_for(language)
    for number in minutes * 2:
        expected = words.ngettext("%(num)s min read", "%(num)s min read", number) % {
            "num": words.number(number)
        }
        assert words.reading_time(number) == expected


def test_each_reading_time_is_written_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Babel writes each number of minutes once for a language's words, however many pages
    and listing items show it."""
    words = msgspec.structs.replace(words_for("de"))  # a fresh copy: nothing written yet
    written: list[object] = []
    real_number = Words.number

    def number(self: Words, value: int | float) -> str:
        written.append(value)
        return real_number(self, value)

    monkeypatch.setattr(Words, "number", number)
    minutes = (7, 12, 7, 7, 12, 7)
    texts = {7: "7 Min. Lesezeit", 12: "12 Min. Lesezeit"}
    assert [words.reading_time(number) for number in minutes] == [texts[n] for n in minutes]
    assert written == [7, 12]

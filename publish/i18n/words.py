"""A language's words: its translations, its direction, and its dates, numbers and plurals
from CLDR through Babel.

`words_for(language, site_root)` is kept per process; English without a catalog of the
site's own reads the msgids as they are and writes dates as before ('3 November 2026'),
never loading Babel. Within `one_build()` each language's words are looked up once: the
site's catalog is found and stamped on first use, not once per essay (a long-lived process
sees an edited catalog at its next build).
"""

from __future__ import annotations

import contextlib
import gettext
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import msgspec

from publish.i18n.catalogs import site_catalog, translations
from publish.model import Essay, Settings


class BodyWords(msgspec.Struct, frozen=True):
    """The words an essay's rendered body holds (kept with the body by the build cache, so
    they are plain values that tell two languages apart)."""

    notes: str = "Notes"
    back_to_reference: str = "Back to reference %(ref)s"
    back_to_citation: str = "Back to citation %(letter)s of note %(note)s"
    on_the_web: str = "This part of the essay is on the web:"


ENGLISH_BODY = BodyWords()


class Words(msgspec.Struct, frozen=True, eq=False, dict=True):
    """The fixed words of one language, and how it writes dates and numbers."""

    language: str
    direction: str = "ltr"
    catalog: gettext.NullTranslations = msgspec.field(default_factory=gettext.NullTranslations)
    locale: Any = None  # babel.Locale, or None on the English fast path

    @cached_property
    def body(self) -> BodyWords:
        """The words of an essay's rendered body in this language."""
        if type(self.catalog) is gettext.NullTranslations:
            return ENGLISH_BODY
        return BodyWords(
            notes=self.gettext("Notes"),
            back_to_reference=self.gettext("Back to reference %(ref)s"),
            back_to_citation=self.gettext("Back to citation %(letter)s of note %(note)s"),
            on_the_web=self.gettext("This part of the essay is on the web:"),
        )

    def gettext(self, message: str) -> str:
        """The translation of `message`, or the message itself."""
        return self.catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The translation of `singular`/`plural` for `count` by the language's plural rules."""
        return self.catalog.ngettext(singular, plural, count)

    def pgettext(self, context: str, message: str) -> str:
        """The translation of `message` in `context`."""
        return self.catalog.pgettext(context, message)

    def npgettext(self, context: str, singular: str, plural: str, count: int) -> str:
        """`ngettext` in `context`."""
        return self.catalog.npgettext(context, singular, plural, count)

    def long_date(self, moment: datetime | None) -> str:
        """A date as the language writes it in full: '3 November 2026', '2. Dezember 2026'
        (each day written once: a listing of every essay repeats each date many times)."""
        if moment is None:
            return ""
        day = moment.date()
        written = self._long_dates.get(day)
        if written is None:
            written = self._long_dates[day] = self._write_long_date(day)
        return written

    @cached_property
    def _long_dates(self) -> dict[date, str]:
        """The days written so far, by `long_date`."""
        return {}

    def _write_long_date(self, day: date) -> str:
        """One day as the language writes it in full."""
        if self.locale is None:
            return f"{day.day} {day:%B %Y}"
        from babel.dates import format_date

        return format_date(day, format="long", locale=self.locale)

    def number(self, value: int | float) -> str:
        """A number with the language's separators."""
        if self.locale is None:
            return str(value)
        from babel.numbers import format_decimal

        return format_decimal(value, locale=self.locale)

    def join(self, items: list[str]) -> str:
        """Items joined as the language lists them: 'Monday and Thursday'."""
        if self.locale is None:
            return (
                " and ".join(items)
                if len(items) <= 2
                else ", ".join(items[:-1]) + (" and " + items[-1])
            )
        from babel.lists import format_list

        return format_list(items, locale=self.locale)

    def reading_time(self, minutes: int) -> str:
        """'5 min read', with the language's plural rules (each whole number of minutes
        written once: every page and listing item shows one, and Babel writes the number)."""
        if type(minutes) is not int:
            return self._write_reading_time(minutes)
        written = self._reading_times.get(minutes)
        if written is None:
            written = self._reading_times[minutes] = self._write_reading_time(minutes)
        return written

    @cached_property
    def _reading_times(self) -> dict[int, str]:
        """The reading times written so far, by `reading_time`."""
        return {}

    def _write_reading_time(self, minutes: int) -> str:
        """One reading time in this language's words."""
        return self.ngettext("%(num)s min read", "%(num)s min read", minutes) % {
            "num": self.number(minutes)
        }


ENGLISH = Words("en")


def is_english(language: str) -> bool:
    """True for 'en' and its regional tags ('en-GB')."""
    return language.replace("_", "-").split("-")[0].lower() == "en"


def essay_words(essay: Essay, settings: Settings, site_root: Path | None) -> Words:
    """The words of an essay's own language (`language:` in its front matter), else the
    site's."""
    return words_for(essay.language or settings.site.language, site_root)


_THIS_BUILD: ContextVar[dict[tuple[str, Path | None], Words] | None] = ContextVar(
    "words_this_build", default=None
)


@contextlib.contextmanager
def one_build() -> Iterator[None]:
    """Within: `words_for` finds (and stamps) each catalog once, for the whole build."""
    token = _THIS_BUILD.set({})
    try:
        yield
    finally:
        _THIS_BUILD.reset(token)


def words_for(language: str, site_root: Path | None = None) -> Words:
    """The words of `language`, with the site's own catalog (if any) laid over the packaged
    (within `one_build()`, as the build first found them)."""
    found = _THIS_BUILD.get()
    if found is None:
        return _words_now(language, site_root)
    key = (language, site_root)
    if key not in found:
        found[key] = _words_now(language, site_root)
    return found[key]


def _words_now(language: str, site_root: Path | None) -> Words:
    """The words of `language` as its catalogs are now."""
    own = site_catalog(site_root, language) if site_root is not None else None
    if is_english(language) and own is None:
        return ENGLISH if language == "en" else _english(language)
    return _words(language, str(site_root) if site_root is not None else None, _own_stamp(own))


def _own_stamp(path: Path | None) -> tuple[int, int] | None:
    """A catalog's size and modification time: words made again when it changes."""
    if path is None:
        return None
    status = path.stat()
    return status.st_size, status.st_mtime_ns


@lru_cache(maxsize=8)
def _english(language: str) -> Words:
    """English under a regional tag: the msgids, the same dates."""
    return Words(language)


@lru_cache(maxsize=32)
def _words(language: str, site_root: str | None, stamp: tuple[int, int] | None) -> Words:
    """The words of a language Babel knows (or, if it does not, its catalog with English
    dates)."""
    from babel import Locale, UnknownLocaleError

    catalog = translations(language, Path(site_root) if site_root else None)
    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Words(language, catalog=catalog)
    direction = "rtl" if locale.character_order == "right-to-left" else "ltr"
    return Words(language, direction, catalog, locale)


def known_language(language: str) -> bool:
    """True when CLDR knows the language (its dates and plurals can be written)."""
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return False
    return True

"""The reader's language: gettext catalogs installed into Jinja's i18n extension, dates,
numbers and plurals from CLDR through Babel, and the cadence sentence in the language.

English with no catalog of the site's own takes a fast path that never loads Babel.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the name gettext's tools look for
    """Mark `message` for the catalog without translating it here (it is translated where
    it is shown, in the reader's language)."""
    return message

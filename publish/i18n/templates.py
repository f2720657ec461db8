"""Jinja's i18n extension fed from a language's catalog: one environment per language, each
compiling its templates once, so that every `{% trans %}` and `_()` reads that language."""

from __future__ import annotations

from jinja2 import Environment

from publish.i18n.words import ENGLISH, Words

I18N_EXTENSION = "jinja2.ext.i18n"


def install_words(env: Environment, words: Words) -> None:
    """Give `env`'s templates the words of a language: gettext and its kin, the `long_date`
    and `number` filters, and `lang` and `dir` for the page's root element."""
    env.install_gettext_callables(  # type: ignore[attr-defined]
        words.gettext,
        words.ngettext,
        newstyle=True,
        pgettext=words.pgettext,
        npgettext=words.npgettext,
    )
    env.filters["long_date"] = words.long_date
    env.filters["number"] = words.number
    env.filters["reading_time"] = words.reading_time
    env.globals["words"] = words
    env.globals["lang"] = words.language
    env.globals["dir"] = words.direction


def localized(env: Environment, words: Words) -> Environment:
    """`env` speaking `words`' language: itself for English, else an overlay kept on it (its
    own globals, filters and template cache, so two languages never share a compiled page)."""
    if words is ENGLISH:
        return env
    kept: dict[object, Environment] = env.__dict__.setdefault("localized_overlays", {})
    found = kept.get(words)
    if found is None:
        found = env.overlay(cache_size=400)
        found.globals = dict(env.globals)
        found.filters = dict(env.filters)
        found.__dict__["localized_overlays"] = {}
        install_words(found, words)
        kept[words] = found
    return found

"""Jinja's i18n extension fed from a language's catalog: one environment per language, each
compiling its templates once, so that every `{% trans %}` and `_()` reads that language.

The callables follow the extension's "newstyle" gettext: variables are given as keywords and
put in after translation, escaped where autoescape is on.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from publish.i18n.words import ENGLISH, Words

I18N_EXTENSION = "jinja2.ext.i18n"


def install_words(env: Environment, words: Words) -> None:
    """Give `env`'s templates the words of a language: gettext and its kin, the `long_date`,
    `number` and `reading_time` filters, and `lang` and `dir` for the root element."""
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.globals.update(_callables(words))
    env.globals["words"] = words
    env.globals["lang"] = words.language
    env.globals["dir"] = words.direction
    env.filters["long_date"] = words.long_date
    env.filters["number"] = words.number
    env.filters["reading_time"] = words.reading_time


def _callables(words: Words) -> dict[str, Any]:
    """gettext, ngettext, pgettext and npgettext for templates, and `_`."""

    def shown(context: Context, text: str, variables: dict[str, Any]) -> str:
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    plain: dict[tuple[str, bool], str] = {}  # a message without variables, as shown

    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        if variables:
            return shown(context, words.gettext(message), variables)
        key = (message, context.eval_ctx.autoescape)
        found = plain.get(key)
        if found is None:
            found = plain[key] = shown(context, words.gettext(message), variables)
        return found

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        return shown(context, words.ngettext(singular, plural, num), variables)

    @pass_context
    def pgettext(context: Context, where: str, message: str, **variables: Any) -> str:
        return shown(context, words.pgettext(where, message), variables)

    @pass_context
    def npgettext(
        context: Context, where: str, singular: str, plural: str, num: int, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        return shown(context, words.npgettext(where, singular, plural, num), variables)

    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        "pgettext": pgettext,
        "npgettext": npgettext,
    }


def localized(env: Environment, words: Words) -> Environment:
    """`env` speaking `words`' language: itself for English, else an overlay kept on it (its
    own globals, filters and template cache, so two languages never share a compiled page)."""
    if words is ENGLISH:
        return env
    kept: dict[Words, Environment] = env.__dict__.setdefault("localized_overlays", {})
    found = kept.get(words)
    if found is None:
        found = env.overlay(cache_size=400)
        found.globals = dict(env.globals)
        found.filters = dict(env.filters)
        found.__dict__["localized_overlays"] = {}
        install_words(found, words)
        kept[words] = found
    return found

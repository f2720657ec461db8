"""Front matter read without a YAML parser where it is the plainest kind: one `key: value`
a line, each value a quoted string without escapes, a plain word or date, or a flow list of
plain words. YAML's own resolver still decides what each plain word is (text, a boolean, a
number, a date ...), so the mapping is the one the YAML loaders of `source` would make;
anything else (a comment, an escape, a nested value, a key that is not text, a number
written oddly) is left to them. tests/test_flatyaml.py holds it to the loaders.

The commonest words are told without the resolver, so that front matter of nothing else
loads no YAML at all: a date, a whole number, and a word that starts with a letter and is
none of YAML 1.1's booleans and nulls (no other type starts with a letter).
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import Any

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOUBLE_QUOTED = re.compile(r'"[^"\\]*"')
SINGLE_QUOTED = re.compile(r"'[^']*'")
# A plain word or phrase YAML scans as written, in a block or a flow (no indicator in it).
PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]*")
DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# The words YAML 1.1 (PyYAML's resolver) reads as a boolean or a null that start with a letter.
NOT_TEXT = frozenset(
    spelling
    for word in ("yes", "no", "true", "false", "on", "off", "null")
    for spelling in (word, word.title(), word.upper())
)
# What YAML reads as a line break (or a byte order mark) besides a newline: left to it.
OTHER_BREAKS = ("\x85", "\u2028", "\u2029", "\ufeff")


class NotFlat(Exception):
    """The front matter is not of the plainest kind: a YAML loader reads it."""


def flat_front_matter(front_matter: str) -> dict[str, Any] | None:
    """The mapping of the plainest front matter, or None for any other kind."""
    metadata: dict[str, Any] = {}
    if any(mark in front_matter for mark in OTHER_BREAKS):
        return None
    try:
        for line in front_matter.split("\n"):
            if not line:
                continue
            key, separator, value = line.partition(": ")
            if not separator or not KEY.fullmatch(key) or _tag(key) != STR_TAG:
                return None
            metadata[key] = _value(value)
    except NotFlat:
        return None
    return metadata


def _value(value: str) -> Any:
    """One value as YAML constructs it (NotFlat where it is not of the plainest kind)."""
    first = value[:1]
    if (
        first == '"'
        and DOUBLE_QUOTED.fullmatch(value)
        or first == "'"
        and SINGLE_QUOTED.fullmatch(value)
    ):
        return value[1:-1]
    if first == "[" and value.endswith("]"):
        inner = value[1:-1]
        return [_word(item.strip(" ")) for item in inner.split(",")] if inner.strip(" ") else []
    return _word(value)


def _word(word: str) -> Any:
    """A plain scalar: text, `true`/`false`, a whole number or a date, as YAML makes them."""
    if not PLAIN.fullmatch(word) or word.endswith(" "):
        raise NotFlat
    tag = _tag(word)
    if tag == STR_TAG:
        return word
    if tag == "tag:yaml.org,2002:bool" and word in ("true", "false"):
        return word == "true"
    if tag == INT_TAG and word.isdigit() and (word == "0" or word[0] != "0"):
        return int(word)
    date = DATE.fullmatch(word) if tag == TIMESTAMP_TAG else None
    if date is None:
        raise NotFlat
    try:
        return datetime.date(*map(int, date.groups()))
    except ValueError:  # no such day: kept as text (`source.StrictConstruction`)
        return word


@lru_cache(maxsize=4096)
def _tag(word: str) -> str:
    """The tag YAML's resolver gives a plain scalar written `word` (the commonest told here)."""
    if DATE.fullmatch(word):
        return TIMESTAMP_TAG
    if word.isascii() and word.isdigit() and (word == "0" or word[0] != "0"):
        return INT_TAG
    if word.isascii() and word[:1].isalpha() and word not in NOT_TEXT:
        return STR_TAG
    return str(_resolver().resolve(_scalar_node(), word, (True, False)))


@lru_cache(maxsize=1)
def _resolver() -> Any:
    """YAML's resolver (YAML loaded by the first word it has to tell)."""
    import yaml.resolver

    return yaml.resolver.Resolver()


def _scalar_node() -> type:
    """YAML's scalar node type, to ask the resolver about."""
    import yaml

    return yaml.ScalarNode

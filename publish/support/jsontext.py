"""JSON text exactly as `json.dumps(value, ensure_ascii=False, indent=n, sort_keys=...)`
writes it, made by msgspec (in C): with an indent the standard library always takes its
pure-Python encoder, a chain of generators that yields every bracket, comma and key on its own
(its C encoder knows no indent before Python 3.13).

msgspec writes plain JSON as `json.dumps` does, but for a float in exponent form (`1e16`, not
`1e+16`) and for what `json.dumps` refuses or writes otherwise (a key that is not text, a date,
a circle). So only a value made of text, whole numbers, true, false, null, lists and objects
keyed by text, with an indent of at least one space, is written by msgspec; anything else is
left to `json.dumps`, which writes it or says why it cannot."""

from __future__ import annotations

import json
from typing import Any

import msgspec


def indented_json(value: Any, indent: int, sort_keys: bool = False) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys)`."""
    if indent >= 1 and _plain(value):
        try:
            encoded = msgspec.json.encode(value, order="sorted" if sort_keys else None)
        except (TypeError, ValueError, OverflowError):  # a lone surrogate, a huge number
            pass
        else:
            return msgspec.json.format(encoded, indent=indent).decode()
    return json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys)


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether a value is plain JSON without a float (lists and objects at most 100 deep:
    deeper, or a circle, is left to `json.dumps`)."""
    if value is None or isinstance(value, str | int):  # bool is an int
        return True
    if depth > 100:
        return False
    if isinstance(value, list | tuple):
        return all(_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False

"""JSON text exactly as `json.dumps(value, ensure_ascii=False, indent=n, sort_keys=...)`
writes it, made in one recursive pass: with an indent the standard library always takes its
pure-Python encoder, a chain of generators that yields every bracket, comma and key on its own
(its C encoder knows no indent before Python 3.13). Anything but plain JSON values (a key that
is not text, a value JSON cannot hold, a circle) is left to `json.dumps` itself."""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # the C version where there is one
from typing import Any

INFINITY = float("inf")


class _NotPlain(Exception):
    """A value this module leaves to `json.dumps` (which writes it or says why it cannot)."""


def indented_json(value: Any, indent: int, sort_keys: bool = False) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys)`."""
    pieces: list[str] = []
    try:
        _write(value, pieces, "\n", " " * indent, sort_keys)
    except (_NotPlain, RecursionError, TypeError):
        return json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
    return "".join(pieces)


def _write(value: Any, pieces: list[str], newline: str, step: str, sort_keys: bool) -> None:
    """Add one value's text, its inner lines indented one `step` beyond `newline`'s."""
    if isinstance(value, str):
        pieces.append(encode_basestring(value))
    elif value is None:
        pieces.append("null")
    elif value is True:
        pieces.append("true")
    elif value is False:
        pieces.append("false")
    elif isinstance(value, int):
        pieces.append(int.__repr__(value))
    elif isinstance(value, float):
        pieces.append(_float_text(value))
    elif isinstance(value, dict):
        _write_object(value, pieces, newline, step, sort_keys)
    elif isinstance(value, list | tuple):
        _write_array(value, pieces, newline, step, sort_keys)
    else:
        raise _NotPlain


def _write_object(
    value: dict[Any, Any], pieces: list[str], newline: str, step: str, sort_keys: bool
) -> None:
    """An object: `{}`, or each member on a line of its own."""
    if not value:
        pieces.append("{}")
        return
    inner = newline + step
    separator = "{" + inner
    for key, item in sorted(value.items()) if sort_keys else value.items():
        if not isinstance(key, str):
            raise _NotPlain
        pieces.append(separator)
        pieces.append(encode_basestring(key))
        pieces.append(": ")
        _write(item, pieces, inner, step, sort_keys)
        separator = "," + inner
    pieces.append(newline + "}")


def _write_array(
    value: list[Any] | tuple[Any, ...], pieces: list[str], newline: str, step: str, sort_keys: bool
) -> None:
    """An array: `[]`, or each item on a line of its own."""
    if not value:
        pieces.append("[]")
        return
    inner = newline + step
    separator = "[" + inner
    for item in value:
        pieces.append(separator)
        _write(item, pieces, inner, step, sort_keys)
        separator = "," + inner
    pieces.append(newline + "]")


def _float_text(value: float) -> str:
    """A number as `json` writes it (NaN and the infinities by their JavaScript names)."""
    if value != value:
        return "NaN"
    if value == INFINITY:
        return "Infinity"
    if value == -INFINITY:
        return "-Infinity"
    return float.__repr__(value)

"""Deep comparison of markdown-it token lists: every field of every token, children too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it.token import Token

FIELDS = (
    "type",
    "tag",
    "nesting",
    "attrs",
    "map",
    "level",
    "content",
    "markup",
    "info",
    "meta",
    "block",
    "hidden",
)


def token_difference(
    left: Sequence[Token] | None, right: Sequence[Token] | None, where: str = "tokens"
) -> str | None:
    """Where two token lists first differ (a path and both values), or None if equal."""
    if left is None or right is None:
        return None if left is right else f"{where}: {left!r} != {right!r}"
    if len(left) != len(right):
        shown = [t.type for t in left], [t.type for t in right]
        return f"{where}: {len(left)} tokens != {len(right)}: {shown[0]} != {shown[1]}"
    for index, (one, other) in enumerate(zip(left, right, strict=True)):
        for field in FIELDS:
            mine, theirs = getattr(one, field), getattr(other, field)
            if _plain(mine) != _plain(theirs):
                return f"{where}[{index}] ({one.type}).{field}: {mine!r} != {theirs!r}"
        found = token_difference(one.children, other.children, f"{where}[{index}].children")
        if found:
            return found
    return None


def _plain(value: Any) -> Any:
    """A field's value for comparison: tokens inside meta compared field by field too."""
    if isinstance(value, Token):
        return tuple(_plain(getattr(value, f)) for f in FIELDS) + (
            tuple(_plain(c) for c in value.children or ()) if value.children else None,
        )
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def env_difference(left: dict[str, Any], right: dict[str, Any]) -> str | None:
    """Where two parse environments differ (keys in order too), or None if equal."""
    if _plain(left) != _plain(right) or repr(_order(left)) != repr(_order(right)):
        return f"env: {left!r} != {right!r}"
    return None


def _order(value: Any) -> Any:
    """The key order of nested dictionaries (dict equality ignores it)."""
    if isinstance(value, dict):
        return [(key, _order(item)) for key, item in value.items()]
    return None

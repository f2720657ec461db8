"""Quick tests of a text for two-character marks (`](`, `![`, `]:`): `str.find` of one
character is a `memchr`, of two a slower scan of the whole text, so a pair is sought through
its first character's (rare) occurrences."""

from __future__ import annotations

# Occurrences of the first character looked at before the plain search takes over.
MAX_PROBES = 32


def holds_pair(text: str, pair: str) -> bool:
    """`pair in text`, for a pair of two characters whose first is rare in prose."""
    return pair_count(text, pair, limit=1) > 0


def pair_count(text: str, pair: str, limit: int | None = None) -> int:
    """`text.count(pair)` (counting at most `limit`), for a two-character pair whose first
    character differs from its second and is rare in prose."""
    first, second = pair
    count = probes = 0
    at = text.find(first)
    while at >= 0:
        probes += 1
        if probes > MAX_PROBES:  # a text full of the first character: the plain search
            found = text.count(pair)
            return found if limit is None else min(found, limit)
        if text.startswith(second, at + 1):
            count += 1
            if count == limit:
                return count
        at = text.find(first, at + 1)
    return count

"""Values made once for an object and kept while a process runs, found by the object's
identity: for objects that cannot be hashed (a token, a frozen Struct holding lists) and are
handed around as the same object (a glossary entry, the term marker every essay citing it
holds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

Made = TypeVar("Made")

KEPT_AT_MOST = 4096  # values kept; past it all are forgotten, so a long-lived process stays flat


class MadeOnce(Generic[Made]):
    """What `make` gave for each object asked about, kept by the object's identity (the
    object kept with it, so that its id cannot be reused by another while it is kept), at
    most `limit` of them."""

    def __init__(self, limit: int = KEPT_AT_MOST):
        self.limit = limit
        self.kept: dict[int, tuple[object, Made]] = {}

    def get(self, owner: object, make: Callable[[], Made]) -> Made:
        """The value kept for `owner`, or `make()`'s, kept from now on."""
        found = self.kept.get(id(owner))
        if found is not None and found[0] is owner:
            return found[1]
        if len(self.kept) >= self.limit:
            self.kept.clear()
        made = make()
        self.kept[id(owner)] = (owner, made)
        return made

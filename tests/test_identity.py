"""`MadeOnce` (publish.support.identity): a value made once for each object, found by the
object's identity, never for another object that happens to get the same id."""

from __future__ import annotations

import gc

from publish.support.identity import MadeOnce


class Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unhashable)


def test_a_value_is_made_once_for_the_same_object_and_again_for_an_equal_one() -> None:
    made = MadeOnce[list[int]]()
    calls: list[int] = []
    first, second = Unhashable(), Unhashable()

    def make() -> list[int]:
        calls.append(1)
        return [len(calls)]

    assert made.get(first, make) is made.get(first, make)
    assert made.get(second, make) == [2], "an equal object is another owner"
    assert len(calls) == 2


def test_an_id_reused_by_a_new_object_is_not_taken_for_the_old_one() -> None:
    """The owner is kept with its value, so while it is kept no other object can get its id;
    and a value is served only to the very object it was made for."""
    made = MadeOnce[str]()
    owner = Unhashable()
    made.get(owner, lambda: "old")
    kept_id = id(owner)
    del owner
    gc.collect()
    assert kept_id in made.kept, "the owner lives on with its value"
    stranger = Unhashable()
    assert made.get(stranger, lambda: "new") == "new"


def test_past_its_limit_it_forgets_everything_and_stays_small() -> None:
    made = MadeOnce[int](limit=3)
    owners = [Unhashable() for _ in range(10)]
    for number, owner in enumerate(owners):
        assert made.get(owner, lambda number=number: number) == number
        assert len(made.kept) <= 3

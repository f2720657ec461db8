"""Forked workers: the parent's objects are frozen for them (`gc.freeze`), so a worker's
garbage collector never writes to the pages it shares with its parent, and thawed again in
the parent once the pool is shut down."""

from __future__ import annotations

import gc

from publish.support.parallel import forked_pool, in_forked_runs


def _frozen_in_worker(_: object) -> int:
    return gc.get_freeze_count()


def _nothing() -> None:
    return None


def test_workers_inherit_the_parents_objects_frozen_and_the_parent_thaws_them() -> None:
    assert gc.get_freeze_count() == 0
    counts = list(in_forked_runs(list(range(8)), _frozen_in_worker, workers=2, run=2))
    assert len(counts) == 8 and min(counts) > 1000  # the whole loaded program, at least
    assert gc.get_freeze_count() == 0


def test_a_pool_shut_down_without_waiting_thaws_the_parent_too() -> None:
    pool = forked_pool(2, _nothing, ())
    assert pool.submit(_frozen_in_worker, None).result() > 1000
    pool.shutdown(wait=False, cancel_futures=True)
    assert gc.get_freeze_count() == 0

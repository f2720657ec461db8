"""Reading a site's essays through the build cache: each essay the cache holds loaded from its
record, the rest parsed (across the cores when there are many) and kept (see `parses.py`
for the records and `EssayCache`, the one cache of a load)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from publish.cache.bodies import NO_PAIRS, Pairs, close_packs
from publish.cache.parses import BodyPlan, EssayCache, EssayParser, Parsed
from publish.cache.store import BuildCache
from publish.model import Glossary, Settings
from publish.support.parallel import in_forked_runs, weighed_runs, workers_beside

PARALLEL_THRESHOLD = 48  # essays to parse before the parse forks workers


def read_essays(
    paths: Sequence[Path],
    root: Path,
    settings: Settings,
    glossary: Glossary,
    parse: EssayParser,
    plan: BodyPlan | None = None,
    build_cache: BuildCache | None = None,
    meanwhile: Sequence[Callable[[], object]] = (),
    pairs: Pairs = NO_PAIRS,
) -> list[Parsed]:
    """Every essay, in order: cached where `build_cache` holds, the rest parsed (by `parse`,
    the content's own reader of one file) across cores, each rendered as `plan` says (the
    bodies `pairs` names written together); when
    worker processes parse them, this process takes the steps of `meanwhile` as they do."""
    if build_cache is None or not build_cache.enabled:
        return [parse(path, root, settings, glossary) for path in paths]
    # parses kept for bodies a record lacks hold only within one build: a record's name does
    # not hash the glossary, so a later build of `publish serve` must not reuse them
    build_cache.recent_parses.clear()
    close_packs()
    cache = EssayCache(build_cache, settings, glossary, parse, plan, pairs)
    if build_cache.read_only:
        peeked = [cache.peek(path) for path in paths]
        cache.sources.clear()
        return peeked
    results: list[Parsed | None] = []
    missing: list[tuple[int, bytes | None]] = []  # each essay the cache lacks, and its key
    keys: set[str] = set()
    for index, path in enumerate(paths):
        key = cache.key_of(path)
        cached = cache.load(key, path) if key is not None else None
        results.append(cached)
        if cached is None:
            missing.append((index, key))
        else:
            keys.add(key.hex())  # type: ignore[union-attr]
    pairs = [(paths[index], key) for index, key in missing]
    parsed = _parse_missing(pairs, cache, meanwhile)
    for (index, _), (result, key) in zip(missing, parsed, strict=True):
        results[index] = result
        keys.add(key.hex())
    cache.sources.clear()
    loaded = build_cache.loaded_records
    for stale in [name for name in loaded if name not in keys]:
        del loaded[stale]
    cache.keep_index(keys)
    return [r for r in results if r is not None]


def _parse_missing(
    pairs: list[tuple[Path, bytes | None]],
    cache: EssayCache,
    meanwhile: Sequence[Callable[[], object]] = (),
) -> list[tuple[Parsed, bytes]]:
    """Parse the essays the cache did not hold (under their keys, or keyed as they are
    read), across the cores when there are many (forked workers inherit the cache; this
    process takes the steps of `meanwhile` as they work, then parses runs too); each comes
    back with its bodies rendered and kept, never its tokens, and its key."""
    workers = workers_beside(len(pairs), PARALLEL_THRESHOLD)
    if not workers:
        found = list(map(cache.parse_pair, pairs))
    else:
        runs = weighed_runs([1] * len(pairs), workers + 1, 32)  # small results: flat memory
        # each attached as it comes; essays weigh alike and none waits for another, so a
        # worker holds its next run as it parses one (never waiting for this process to end
        # an essay of its own before it is handed more)
        found = in_forked_runs(
            pairs,
            cache.parse_pair,
            workers,
            runs,
            meanwhile=meanwhile,
            here=cache.parse_pair,
            hold=2,
        )
    return [cache.attach(made, path) for made, (path, _) in zip(found, pairs, strict=True)]

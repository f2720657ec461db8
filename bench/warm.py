"""A warm rebuild inside one process, as `publish serve` does it: build, edit one essay, build.

    python -m bench.warm SITE        # prints the seconds of the second build

The first build is not timed (it fills the cache and warms the process); the second runs
after one essay in the middle of the site gains a sentence, the way the preview server
rebuilds when a file is saved.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

from bench.measure import TODAY
from bench.run import edit_one_essay
from publish.cache.store import BuildCache
from publish.pipeline.build import BuildOptions, build


def warm_rebuild_seconds(root: Path) -> float:
    """Build once, edit one essay, and time the next build in this same process."""
    options = BuildOptions(today=date.fromisoformat(TODAY))
    cache = BuildCache.for_site(root)  # kept between builds, as `publish serve` keeps it
    build(root, options, cache=cache)
    edit_one_essay(root, "Another sentence, added while the preview server runs.")
    started = time.perf_counter()
    build(root, options, cache=cache)
    return time.perf_counter() - started


def main() -> None:
    """Command line: print the warm rebuild's seconds for the site given."""
    print(f"{warm_rebuild_seconds(Path(sys.argv[1])):.4f}")


if __name__ == "__main__":
    main()

"""`publish check --links`: every external link of every essay fetched once, a few at a time.

Each address is asked with HEAD, then with GET when HEAD is refused (an error status: many
servers answer HEAD with 405, 501 or worse while GET works). Redirects are followed; a
permanent one (301, 308) is reported as a hint to update the link. A broken link (an error
status, no such host, no connection, no answer in time) is a warning at each place it is
written. Each request has a timeout and the whole check a deadline; a small thread pool
bounds how many requests run at once.

Results are kept in `build/.cache/links.json` with the time they were fetched, so a check run
again soon after fetches nothing it already knows (good answers for a day, broken ones for
an hour).

The standard library's urllib does the fetching: it follows redirects (and lets us see each
one), honours a timeout, and needs no new dependency for a handful of requests per essay.
"""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

import msgspec

from publish.cache.store import BuildCache
from publish.errors import Problem, hint, warning
from publish.model import Essay, Located

LINKS_FILE = "links.json"  # in the cache folder
MAGIC = b"PUBLINKS"
USER_AGENT = "publish-link-check/1"  # some servers refuse requests without one
PERMANENT = frozenset({301, 308})
BROKEN_MAX_AGE = 3600.0  # seconds a broken link's answer is kept


class LinkCheckOptions(msgspec.Struct, frozen=True):
    """How hard to try: seconds per request, seconds for the whole check, requests at once,
    and how old (seconds) a kept answer may be to be used instead of fetching again."""

    timeout: float = 10.0
    deadline: float = 60.0
    workers: int = 8
    max_age: float = 24 * 3600.0


class LinkResult(msgspec.Struct, frozen=True):
    """One address's answer: final status (0 for none), why none, where it ended, whether a
    permanent redirect was on the way, and when it was fetched (seconds since the epoch)."""

    status: int
    reason: str
    final: str
    permanent: bool
    fetched: float

    @property
    def broken(self) -> bool:
        """No answer, or an error status."""
        return self.status == 0 or self.status >= 400


Places = dict[str, list[tuple[str, int, int]]]
Sources = Sequence[tuple[str, Sequence[Located]]]  # a file's path and its located links
_DECODER = msgspec.json.Decoder(dict[str, LinkResult])


def external_links(essays: Sequence[Essay], more: Sources = ()) -> Places:
    """Every http(s) link of the essays (and of `more` files: the glossary's definitions),
    with every place it is written, in order."""
    places: Places = {}
    sources = [*((essay.path, essay.links) for essay in essays), *more]
    for path, links in sources:
        for href, line, col in links:
            if urlsplit(href).scheme.lower() in ("http", "https"):
                places.setdefault(href, []).append((path, line, col))
    return places


def check_links(
    cache: BuildCache,
    essays: Sequence[Essay],
    options: LinkCheckOptions,
    now: Callable[[], float] = time.time,
    more: Sources = (),
) -> list[Problem]:
    """Fetch every external link not answered recently (of the essays, and of the `more`
    files); the broken ones as warnings and the permanent redirects as hints, at each place
    they are written; the answers are kept in `cache` for the next check."""
    places = external_links(essays, more)
    kept = read_results(cache)
    started = now()
    fresh = {
        url: kept[url] for url in places if url in kept and _young(kept[url], started, options)
    }
    fetched, unanswered = fetch_all([u for u in places if u not in fresh], options)
    results = {**fresh, **fetched}
    young = {url: result for url, result in kept.items() if _young(result, started, options)}
    save_results(cache, {**young, **fetched})
    problems = []
    for url, where in places.items():
        for path, line, col in where:
            problems += _problems_of(url, results.get(url), url in unanswered, path, line, col)
    return problems


def fetch_all(
    urls: Sequence[str], options: LinkCheckOptions
) -> tuple[dict[str, LinkResult], set[str]]:
    """Fetch each address in a small pool; what answered, and what the deadline cut off."""
    results: dict[str, LinkResult] = {}
    if not urls:
        return results, set()
    pool = ThreadPoolExecutor(max_workers=max(1, options.workers), thread_name_prefix="links")
    futures = {pool.submit(fetch, url, options.timeout): url for url in urls}
    end = time.monotonic() + options.deadline
    pending = set(futures)
    while pending and time.monotonic() < end:
        done, pending = wait(pending, timeout=end - time.monotonic(), return_when=FIRST_COMPLETED)
        for future in done:
            results[futures[future]] = future.result()
    pool.shutdown(wait=False, cancel_futures=True)
    return results, {futures[f] for f in pending}


class _Redirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handling, noting whether any step was permanent."""

    def __init__(self) -> None:
        super().__init__()
        self.permanent = False

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        """Follow as urllib does, a HEAD as a HEAD (urllib would GET); remember a 301 or 308."""
        self.permanent = self.permanent or code in PERMANENT
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and req.get_method() == "HEAD":
            new.method = "HEAD"
        return new


def fetch(url: str, timeout: float) -> LinkResult:
    """HEAD the address, then GET it if HEAD got an error status; never raises."""
    result = _request(url, "HEAD", timeout)
    if result.status >= 400:
        result = _request(url, "GET", timeout)
    return result


def _request(url: str, method: str, timeout: float) -> LinkResult:
    """One request, redirects followed, as a result (status 0 and a reason on failure)."""
    redirects = _Redirects()
    opener = urllib.request.build_opener(redirects)
    request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
    fetched = time.time()
    try:
        with opener.open(request, timeout=timeout) as response:
            return LinkResult(response.status, "", response.geturl(), redirects.permanent, fetched)
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            exc.close()
        return LinkResult(
            exc.code, str(exc.reason), exc.geturl() or url, redirects.permanent, fetched
        )
    except urllib.error.URLError as exc:
        return LinkResult(0, _reason(exc.reason), url, redirects.permanent, fetched)
    except TimeoutError:
        return LinkResult(0, f"no answer within {timeout:g} s", url, redirects.permanent, fetched)
    except (OSError, ValueError) as exc:
        return LinkResult(0, str(exc) or type(exc).__name__, url, redirects.permanent, fetched)


def _reason(reason: object) -> str:
    """A URLError's reason in words."""
    if isinstance(reason, socket.gaierror):
        return "no such host"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer in time"
    return str(getattr(reason, "strerror", None) or reason)


def _problems_of(
    url: str, result: LinkResult | None, cut_off: bool, path: str, line: int, col: int
) -> list[Problem]:
    """What one place of one link shows: a broken link, a permanent redirect, or nothing."""
    if result is None:
        if not cut_off:
            return []
        return [warning(path, line, col, f"link to {url} not checked: the check's deadline passed")]
    if result.broken:
        what = f"status {result.status}" if result.status else result.reason
        detail = f" {result.reason}" if result.status and result.reason else ""
        return [warning(path, line, col, f"broken link to {url} ({what}{detail})")]
    if result.permanent and result.final != url:
        return [
            hint(path, line, col, f"link to {url} moved permanently to {result.final}; update it")
        ]
    return []


def read_results(cache: BuildCache) -> dict[str, LinkResult]:
    """The answers kept by earlier checks (none when the file is absent or damaged)."""
    return cache.read_json(LINKS_FILE, MAGIC, _DECODER) or {}


def save_results(cache: BuildCache, results: dict[str, LinkResult]) -> None:
    """Keep the answers for the next check (a disk that refuses only costs time)."""
    cache.write_json(LINKS_FILE, MAGIC, results)


def _young(result: LinkResult, now: float, options: LinkCheckOptions) -> bool:
    """Whether a kept answer may stand for a fetch: a good one for `max_age`, a broken one
    for at most an hour (a server that was down may be back)."""
    age = now - result.fetched
    return 0 <= age < (min(options.max_age, BROKEN_MAX_AGE) if result.broken else options.max_age)

"""Each essay delivered once to every follower: a signed `Create(Article)` (or `Update`)
POSTed to each shared inbox (a follower without one: its own inbox) through the ledger of
publish.state.fedisends, with the mail's guarantees.

- Claimed before sent: a delivery's claim is committed before its request goes out, so a
  crash leaves at most one delivery in flight per connection, tried once more by the next
  run (`unknown`).
- Concurrent, with bounded timeouts: CONNECTIONS requests at once, each waiting at most the
  fetcher's timeout, so a slow server holds up only itself.
- Retried over later runs: a timeout, a refused connection, 408, 429 and 5xx leave the
  delivery pending until a backoff (doubling with each attempt) is over, MAX_ATTEMPTS in
  all; `410 Gone`, or a `404` NOT_FOUND_LIMIT times, removes the followers of that inbox.

Requests are signed with the wall clock, whatever `--today` a command pretends.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import msgspec

from publish.errors import PublishError
from publish.fediverse.keys import signing_fetcher
from publish.fediverse.remote import ACCEPT, Fetcher, RemoteError
from publish.model import Essay, Settings, Site
from publish.outputs.activitypub import article_id, create_activity
from publish.state import db, fedisends, followers
from publish.state.fedisends import FediDelivery
from publish.support.testhooks import crash_at

CONNECTIONS = 8  # requests in flight at once
MAX_ATTEMPTS = 10  # a server failing this often is given up for this activity
NOT_FOUND_LIMIT = 2  # a 404 this often removes the inbox's followers
BACKOFF_ENV = "PUBLISH_FEDIVERSE_BACKOFF"
DEFAULT_BACKOFF = 600.0  # seconds before the first retry; it doubles after
MAX_BACKOFF = 86_400.0
RETRY_STATUSES = frozenset({408, 425, 429})


class DeliveryReport(msgspec.Struct):
    """What one round of deliveries did: inboxes reached, to be retried, failed, removed."""

    recovered: int = 0
    sent: list[str] = msgspec.field(default_factory=list)
    retrying: list[tuple[str, str]] = msgspec.field(default_factory=list)
    failed: list[tuple[str, str]] = msgspec.field(default_factory=list)
    removed: list[tuple[str, str]] = msgspec.field(default_factory=list)

    def lines(self) -> list[str]:
        """The round as log lines (nothing when there was nothing to deliver)."""
        tried = self.sent or self.retrying or self.failed or self.removed
        if not tried:
            return []
        lines = [
            f"fediverse: delivered to {len(self.sent)} inbox(es)"
            + (f", {len(self.retrying)} to retry in a later run" if self.retrying else "")
            + (f", {len(self.failed)} failed" if self.failed else "")
            + (f", {len(self.removed)} gone (their followers removed)" if self.removed else "")
        ]
        lines += [f"fediverse: retrying later: {inbox}: {why}" for inbox, why in self.retrying]
        lines += [f"fediverse: failed: {inbox}: {why}" for inbox, why in self.failed]
        lines += [f"fediverse: removed: {inbox}: {why}" for inbox, why in self.removed]
        return lines

    @property
    def ok(self) -> bool:
        """Whether every delivery tried got through or is settled."""
        return not self.retrying and not self.failed


def start_essay_send(conn: sqlite3.Connection, site: Site, essay: Essay, kind: str) -> int:
    """Fix the `Create` (or `Update`) of an essay and its inboxes in the ledger, once; how
    many inboxes it goes to (0 when already started). An Update's id names the text it
    carries, so sending the same edit twice sends it once."""
    activity_id = ""
    if kind == "Update":
        activity_id = f"{article_id(site, essay)}#updates/{essay.content_hash[:16]}"
    activity = create_activity(site, essay, kind, activity_id)
    body = json.dumps(activity, ensure_ascii=False)
    return fedisends.start_send(conn, activity["id"], essay.slug, kind, body)


def backoff() -> float:
    """Seconds before the first retry ($PUBLISH_FEDIVERSE_BACKOFF, default 600)."""
    try:
        return max(0.0, float(os.environ.get(BACKOFF_ENV, DEFAULT_BACKOFF)))
    except ValueError:
        raise PublishError.single(BACKOFF_ENV, 1, 1, "must be a number of seconds") from None


def deliver_due(
    conn: sqlite3.Connection, fetcher: Fetcher, clock: Callable[[], float] = time.time
) -> DeliveryReport:
    """Deliver every activity due to its inboxes, CONNECTIONS at a time, recording each
    outcome as it comes. Call it holding the run lock (one round at a time)."""
    report = DeliveryReport()
    with db.transaction(conn):
        report.recovered = fedisends.recover_claims(conn)
    rows = iter(fedisends.due(conn, clock()))
    first_backoff = backoff()
    in_flight: dict[Future[tuple[int, str]], FediDelivery] = {}
    with ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="fediverse") as pool:
        while True:
            while len(in_flight) < CONNECTIONS and (row := next(rows, None)) is not None:
                with db.transaction(conn):
                    fedisends.claim(conn, row)
                crash_at("fedi-claimed")
                in_flight[pool.submit(_post, fetcher, row)] = row
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            with db.transaction(conn):
                for future in done:
                    row = in_flight.pop(future)
                    _record(conn, row, *future.result(), report, clock(), first_backoff)
    with db.transaction(conn):
        fedisends.finish_sends(conn)
    return report


def _post(fetcher: Fetcher, row: FediDelivery) -> tuple[int, str]:
    """POST one activity, signed; its status (0 when no answer came) and the reason."""
    headers = {"Content-Type": "application/activity+json", "Accept": ACCEPT}
    try:
        status, _, _ = fetcher.request("POST", row.inbox, row.body.encode("utf-8"), headers)
    except RemoteError as exc:
        return 0, str(exc)[:300]
    if 200 <= status < 300:
        crash_at("fedi-accepted")
    return status, f"answered {status}"


def _record(
    conn: sqlite3.Connection,
    row: FediDelivery,
    status: int,
    reason: str,
    report: DeliveryReport,
    now: float,
    first_backoff: float,
) -> None:
    """Record one answer: sent, retried later, failed, or its inbox gone."""
    if 200 <= status < 300:
        fedisends.mark(conn, row, fedisends.SENT)
        report.sent.append(row.inbox)
        return
    not_found = row.not_found + (status == 404)
    if status == 410 or not_found >= NOT_FOUND_LIMIT:
        fedisends.mark(conn, row, fedisends.GONE, reason, not_found=not_found)
        fedisends.remove_inbox_followers(conn, row.inbox)
        report.removed.append((row.inbox, reason))
        return
    retryable = status in (0, 404) or status >= 500 or status in RETRY_STATUSES
    if retryable and row.attempts + 1 < MAX_ATTEMPTS:
        next_at = now + min(MAX_BACKOFF, first_backoff * 2**row.attempts)
        fedisends.mark(conn, row, fedisends.PENDING, reason, next_at, not_found)
        report.retrying.append((row.inbox, reason))
        return
    fedisends.mark(conn, row, fedisends.FAILED, reason, not_found=not_found)
    report.failed.append((row.inbox, reason))


def start_release_sends(conn: sqlite3.Connection, site: Site, slugs: list[str]) -> list[str]:
    """Start the `Create` of each newly released essay (a site with an actor); log lines."""
    if not site.settings.fediverse.enabled:
        return []
    lines = []
    for essay in site.essays:
        if essay.slug in slugs:
            inboxes = start_essay_send(conn, site, essay, "Create")
            lines.append(f"fediverse: {essay.slug} goes to {inboxes} inbox(es)")
    return lines


def deliver_round(state_dir: Path, settings: Settings, conn: sqlite3.Connection) -> list[str]:
    """Deliver what is due (a site with an actor that has something to deliver); log lines."""
    if not settings.fediverse.enabled or not fedisends.pending_sends(conn):
        return []
    return deliver_due(conn, signing_fetcher(state_dir, settings)).lines()


def planned(conn: sqlite3.Connection | None, settings: Settings, slugs: list[str]) -> list[str]:
    """What a run would deliver (read only): each new release's inboxes, and the deliveries
    still pending. A database from before the fediverse tables has no followers yet."""
    if not settings.fediverse.enabled:
        return []
    inboxes, pending = 0, []
    if conn is not None:
        try:
            inboxes = len(followers.delivery_inboxes(conn))
            pending = fedisends.pending_sends(conn)
        except sqlite3.OperationalError:
            pass
    lines = [f"fediverse: would deliver {slug} to {inboxes} inbox(es)" for slug in slugs]
    lines += [
        f"fediverse: would retry the {send.kind} of {send.slug} to {send.waiting} inbox(es)"
        for send in pending
    ]
    return lines

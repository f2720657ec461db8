"""The one place where reports about delivered mail change a subscriber: hard and soft
bounces, complaints and unsubscribe requests, from the bounce mailbox or a provider's hook.

Rules:
- a hard bounce makes a pending, active or unsubscribed reader `bounced`: never mailed again
  (an unsubscribed reader's address is marked dead too, so a later import cannot revive it);
- soft bounces are counted, once per send (two reports about the same essay count once; a
  report that names no essay counts on its own); `soft_limit` of them in a row make the
  reader `bounced`. The run is broken, and the count starts again, when the reader was
  mailed another essay between two soft-bounced sends and that one drew no report, or when
  the reader becomes active again (re-subscribes, re-confirms);
- a complaint makes the reader `complained` at once, whatever the status was;
- an unsubscribe request makes a pending or active reader `unsubscribed`.
A reader a report takes off the list loses every open confirmation link too: a pending reader
who asked to leave, or whose confirmation email bounced, never becomes active by following a
link mailed before (only a new signup, confirmed, brings a reader back).
A status only ever moves towards "never mail": active/pending, then unsubscribed, bounced,
complained. Every report is kept in the `reports` table by its reference, so applying the
same report twice changes nothing; a report about an address that is not on the list is
kept too and changes nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from collections.abc import Iterable

import msgspec

from publish.state import confirmations, db, subscribers
from publish.state.statuses import DeliveryStatus, SubscriberStatus
from publish.state.subscribers import Subscriber
from publish.support.safetext import fold_controls, now_text

HARD_BOUNCE, SOFT_BOUNCE, COMPLAINT, UNSUBSCRIBE = (
    "hard_bounce",
    "soft_bounce",
    "complaint",
    "unsubscribe",
)
KINDS = (HARD_BOUNCE, SOFT_BOUNCE, COMPLAINT, UNSUBSCRIBE)
DEFAULT_SOFT_LIMIT = 3

# How far towards "never mail" each status is; a report never moves a reader back.
_RANK = {
    SubscriberStatus.PENDING: 0,
    SubscriberStatus.ACTIVE: 0,
    SubscriberStatus.UNSUBSCRIBED: 1,
    SubscriberStatus.BOUNCED: 2,
    SubscriberStatus.COMPLAINED: 3,
}


class Outcome(msgspec.Struct, frozen=True):
    """One report about mail sent to a reader."""

    kind: str  # one of KINDS
    address: str  # the reader's address as reported
    source: str  # where it came from: "imap", "maildir", "ses", "postmark", "mailgun"...
    reference: str  # a stable id of the report: the same reference applies once
    detail: str = ""  # status code or diagnostic, for the record (no secrets)
    slug: str = ""  # the essay the report is about, when known
    subscriber_id: int | None = None  # the reader, when the report proves it (a signed token)


class AppliedSummary(msgspec.Struct):
    """What a batch of outcomes did: new reports by kind, repeats, unknown addresses, and
    the readers whose status changed (address -> new status)."""

    applied: dict[str, int] = msgspec.field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    repeated: int = 0
    unknown: int = 0
    changed: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many reports were new."""
        return sum(self.applied.values())


def apply_outcomes(
    connection: sqlite3.Connection,
    outcomes: Iterable[Outcome],
    *,
    soft_limit: int = DEFAULT_SOFT_LIMIT,
) -> AppliedSummary:
    """Record each outcome once and change its reader's status by the rules above.

    The caller holds the transaction (publish.state.db.transaction) so that a batch is
    applied whole or not at all."""
    summary = AppliedSummary()
    for outcome in outcomes:
        apply_outcome(connection, outcome, summary, soft_limit=soft_limit)
    return summary


def apply_outcome(
    connection: sqlite3.Connection,
    outcome: Outcome,
    summary: AppliedSummary,
    *,
    soft_limit: int = DEFAULT_SOFT_LIMIT,
) -> None:
    """Apply one outcome, adding what it did to `summary`."""
    if outcome.kind not in KINDS:
        raise ValueError(f"unknown outcome kind {outcome.kind!r}")
    if _seen(connection, outcome.reference):
        summary.repeated += 1
        return
    reader = _reader(connection, outcome)
    repeat_send = reader is not None and _soft_bounced_send(connection, reader.id, outcome.slug)
    _record(connection, outcome, reader)
    summary.applied[outcome.kind] += 1
    if reader is None:
        summary.unknown += 1
        return
    target = _target_status(connection, outcome, reader, soft_limit, repeat_send)
    if target and _RANK[target] > _RANK.get(reader.status, 0):
        subscribers.set_status(connection, reader.id, target)
        confirmations.close_confirmations(connection, reader.id)
        summary.changed[reader.email] = target


def _seen(connection: sqlite3.Connection, reference: str) -> bool:
    """Whether a report with this reference was applied before."""
    row = connection.execute("SELECT 1 FROM reports WHERE reference = ?", (reference,))
    return row.fetchone() is not None


def _reader(connection: sqlite3.Connection, outcome: Outcome) -> Subscriber | None:
    """The subscriber a report is about: by the proven id, else by the reported address."""
    if outcome.subscriber_id is not None:
        found = subscribers.get_subscriber(connection, outcome.subscriber_id)
        if found is not None:
            return found
    if not outcome.address:
        return None
    return subscribers.find_subscriber(connection, outcome.address)


def _record(connection: sqlite3.Connection, outcome: Outcome, reader: Subscriber | None) -> None:
    """Keep the report, so the same reference never applies twice."""
    connection.execute(
        "INSERT INTO reports (reference, kind, address, subscriber_id, slug, source, detail,"
        " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            outcome.reference,
            outcome.kind,
            fold_controls(outcome.address or (reader.email if reader else "")),
            reader.id if reader else None,
            outcome.slug,
            outcome.source,
            fold_controls(outcome.detail)[:500],
            now_text(),
        ),
    )


def _target_status(
    connection: sqlite3.Connection,
    outcome: Outcome,
    reader: Subscriber,
    soft_limit: int,
    repeat_send: bool,
) -> str:
    """The status the outcome asks for ('' for none)."""
    if outcome.kind == HARD_BOUNCE:
        return SubscriberStatus.BOUNCED
    if outcome.kind == COMPLAINT:
        return SubscriberStatus.COMPLAINED
    if outcome.kind == UNSUBSCRIBE:
        return SubscriberStatus.UNSUBSCRIBED
    if repeat_send:
        return ""
    count = _soft_count(connection, reader, outcome.slug) + 1
    connection.execute("UPDATE subscribers SET soft_bounces = ? WHERE id = ?", (count, reader.id))
    return SubscriberStatus.BOUNCED if count >= max(1, soft_limit) else ""


def _soft_bounced_send(connection: sqlite3.Connection, subscriber_id: int, slug: str) -> bool:
    """Whether this send already drew a soft bounce from this reader (it counts once)."""
    if not slug:
        return False
    row = connection.execute(
        "SELECT 1 FROM reports WHERE subscriber_id = ? AND kind = ? AND slug = ?",
        (subscriber_id, SOFT_BOUNCE, slug),
    ).fetchone()
    return row is not None


def _soft_count(connection: sqlite3.Connection, reader: Subscriber, slug: str) -> int:
    """The reader's current run of soft bounces, or 0 when a send in between went through."""
    row = connection.execute(
        "SELECT soft_bounces FROM subscribers WHERE id = ?", (reader.id,)
    ).fetchone()
    count = int(row[0]) if row else 0
    if count and slug and _delivered_since_last_soft_bounce(connection, reader.id, slug):
        return 0
    return count


def _delivered_since_last_soft_bounce(
    connection: sqlite3.Connection, subscriber_id: int, slug: str
) -> bool:
    """Whether the reader was sent an essay, with no bounce back, between the last
    soft-bounced send and the send `slug` (in the order the sends started: by their start,
    then, for two started in the same second, by which was recorded first)."""
    row = connection.execute(
        "SELECT COUNT(*) FROM deliveries d JOIN sends s ON s.slug = d.slug"
        f" WHERE d.subscriber_id = :reader AND d.status = '{DeliveryStatus.SENT}'"
        " AND d.slug != :slug"
        " AND (s.started_at, s.rowid) < (SELECT started_at, rowid FROM sends WHERE slug = :slug)"
        " AND (s.started_at, s.rowid) > (SELECT b.started_at, b.rowid FROM reports r"
        "   JOIN sends b ON b.slug = r.slug"
        "   WHERE r.subscriber_id = :reader AND r.kind = :kind AND r.slug != :slug"
        "   ORDER BY b.started_at DESC, b.rowid DESC LIMIT 1)"
        " AND d.slug NOT IN (SELECT slug FROM reports WHERE subscriber_id = :reader)",
        {"reader": subscriber_id, "slug": slug, "kind": SOFT_BOUNCE},
    ).fetchone()
    return bool(row[0])


def soft_bounce_count(connection: sqlite3.Connection, subscriber_id: int) -> int:
    """The reader's current run of soft bounces."""
    row = connection.execute(
        "SELECT soft_bounces FROM subscribers WHERE id = ?", (subscriber_id,)
    ).fetchone()
    return int(row[0]) if row else 0


# --- Signed return paths (VERP) and unsubscribe addresses ----------------------------------

RETURN_PATH_PURPOSE = "return-path"
_RETURN_PATH = re.compile(r"b(\d{1,12})-([0-9a-f]{8})-([0-9a-f]{20})")
_UNSUBSCRIBE = re.compile(r"u(\d{1,12}-[0-9a-f]{32})")


class Tag(msgspec.Struct, frozen=True):
    """What a signed `+tag` of the bounce address proves: the reader, and for a return path
    the digest of the essay's slug (publish.state.standing.send_with_digest finds the slug)."""

    kind: str  # "return_path" or "unsubscribe"
    subscriber_id: int
    digest: str = ""


def slug_digest(slug: str) -> str:
    """A short digest of an essay's slug, for return paths (slugs can be long)."""
    return hashlib.sha256(slug.encode("utf-8")).hexdigest()[:8]


def return_path_tag(secret: bytes, subscriber_id: int, slug: str) -> str:
    """The `+tag` of one delivery's return path: `b<id>-<slug digest>-<signature>`, lowercase
    hex so that a server folding the address's case keeps it readable."""
    value = f"{subscriber_id}-{slug_digest(slug)}"
    return f"b{value}-{db.sign(secret, RETURN_PATH_PURPOSE, value)[:20]}"


def unsubscribe_tag(token: str) -> str:
    """The `+tag` of a reader's mailto unsubscribe address: `u` and the unsubscribe token."""
    return f"u{token}"


def read_tag(secret: bytes, tag: str) -> Tag | None:
    """What a `+tag` proves, or None when it is not one of ours or its signature is forged."""
    tag = tag.strip().lower()
    found = _RETURN_PATH.fullmatch(tag)
    if found:
        value = f"{found[1]}-{found[2]}"
        if not hmac.compare_digest(db.sign(secret, RETURN_PATH_PURPOSE, value)[:20], found[3]):
            return None
        return Tag("return_path", int(found[1]), found[2])
    found = _UNSUBSCRIBE.fullmatch(tag)
    if found:
        subscriber_id = subscribers.read_unsubscribe_token(secret, found[1])
        return None if subscriber_id is None else Tag("unsubscribe", subscriber_id)
    return None


def send_with_digest(connection: sqlite3.Connection, digest: str) -> str:
    """The slug of the send whose slug has this digest ('' when none has)."""
    for (slug,) in connection.execute("SELECT slug FROM sends"):
        if slug_digest(slug) == digest:
            return str(slug)
    return ""

"""What one message of the bounce mailbox reports, and about which reader.

- An abuse report in ARF (RFC 5965, `multipart/report; report-type=feedback-report`) is a
  complaint.
- A bounce is anything flufl.bounce recognises: RFC 3464 delivery status notifications
  first, then the non-standard shapes of qmail, Postfix, Exim, Sendmail and others.
  A permanent failure is a hard bounce, a temporary one (a delay) a soft bounce.
- A message to a reader's signed unsubscribe address (`bounces+u<token>@...`), or one to
  the shared List-Unsubscribe address whose subject asks to unsubscribe, is an unsubscribe
  request (the shared address can only trust the From header).

The reader is found, most trusted first: by the signed return path the report came back
to (VERP), or that an abuse report quotes (Original-Mail-From); by the signed unsubscribe
link in the headers of our message that the report quotes; by the addresses the report
names. A message addressed to one of our tags whose signature is wrong is ignored.

With VERP on (`[email] bounce_address`), a report changes a reader only with proof that it
is about that reader: the reader's signed return path or unsubscribe address, the signed
unsubscribe link of the message it quotes, or a Message-ID we sent to that reader (signed
for the essay and the reader) in a Message-ID, In-Reply-To or References line of the
report or of what it quotes. A report naming readers
without such proof is counted as unverified and changes nobody: anyone can send a report
to the bare bounce address. Without VERP, reports are believed by the addresses they name.

A message is read only when it is safe to: one whose MIME parts hold more than
MAX_CONTAINERS others (a cheap scan of its bytes, before parsing) or that the parser
or a detector chokes on is UNREADABLE, with the reason, and the caller sets it aside.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import logging
import re
import sqlite3
from collections.abc import Callable
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

import msgspec
from flufl.bounce import all_failures
from msgspec.structs import replace

from publish.errors import PublishError
from publish.state import db, standing
from publish.state.standing import Outcome, Tag
from publish.state.subscribers import read_unsubscribe_token
from publish.support.addresses import address_tag

MESSAGE_ID_PURPOSE = "message-id"  # as publish.mail.rounds signs the Message-ID's tag
REPORT, NOT_A_REPORT, NOT_UNDERSTOOD = "report", "not_a_report", "not_understood"
UNREADABLE = "unreadable"
MAX_CONTAINERS = 64  # multipart and message parts in one message; a real report has < 10
_CONTAINER = re.compile(rb"(?im)^content-type:\s*(?:\([^)]*\)\s*)*[\"']?(?:multipart|message)/")
_MESSAGE_ID = re.compile(
    rb"(?im)^[> \t]*(?:message-id|in-reply-to|references):\s*<([^<>\s]{1,300})>"
)
MAX_MESSAGE_IDS = 20  # Message-IDs tried as proof, per report
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}
_UNSUBSCRIBE_LINK = re.compile(r"/unsubscribe/(\d+-[0-9a-f]{32})")
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mdaemon)@", re.I)

# flufl.bounce logs a detector's exception with its traceback before raising it; _failures
# takes such a message as not understood, so its log would only put a traceback on stderr.
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())
logging.getLogger("flufl.bounce").propagate = False


class Context(msgspec.Struct, frozen=True):
    """What reading needs to know: the secret, the bounce and unsubscribe addresses, where
    the messages come from, and how to find a send's slug from its digest."""

    secret: bytes
    bounce_address: str  # '' when the site does not use VERP
    mailto_address: str  # the shared List-Unsubscribe address
    source: str  # "imap" or "maildir"
    slug_for_digest: Callable[[str], str]
    reader_for_address: Callable[[str], int | None] = lambda address: None


class Reading(msgspec.Struct, frozen=True):
    """What a message turned out to be, and the outcomes it reports."""

    verdict: str  # REPORT, NOT_A_REPORT, NOT_UNDERSTOOD or UNREADABLE
    outcomes: tuple[Outcome, ...] = ()
    reason: str = ""
    unverified: int = 0  # readers it named without proof (VERP on): left alone


def read_report(raw: bytes, context: Context) -> Reading:
    """Read one message (its bytes as the mailbox holds them); UNREADABLE, with the
    reason, for a message nested too deep or one that cannot be parsed."""
    containers = len(_CONTAINER.findall(raw))
    if containers > MAX_CONTAINERS:
        reason = f"it has {containers} MIME parts holding others, more than {MAX_CONTAINERS}"
        return Reading(UNREADABLE, reason=reason)
    try:
        reading = _read(raw, context)
    except (sqlite3.Error, PublishError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a hostile message makes the parser do
        return Reading(UNREADABLE, reason=f"it cannot be parsed ({type(exc).__name__})")
    return _require_proof(reading, raw, context)


def _read(raw: bytes, context: Context) -> Reading:
    """What one message reports, believed as it says."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    reference = message_reference(message, raw)
    tags = [found for found in _recipient_tags(message, context)]
    if any(tag is None for tag in tags):
        return Reading(NOT_UNDERSTOOD, reason="its return-path tag is forged or damaged")
    tag = tags[0] if tags else None
    if _report_type(message) == "feedback-report":
        return _complaint(message, reference, tag, context)
    if tag is not None and tag.kind == "unsubscribe":
        return _unsubscribe(reference, "", tag, context)
    temporary, permanent = _failures(message)
    if temporary or permanent:
        return _bounce(message, reference, tag, context, permanent, temporary)
    if _asks_to_unsubscribe(message, context):
        sender = parseaddr(str(message.get("From", "")))[1]
        return _unsubscribe(reference, sender, None, context)
    if tag is not None or _looks_like_a_bounce(message):
        return Reading(NOT_UNDERSTOOD, reason="it looks like a bounce but names no recipient")
    return Reading(NOT_A_REPORT)


def _require_proof(reading: Reading, raw: bytes, context: Context) -> Reading:
    """With VERP on, keep only the outcomes proven to be about their reader: by a signed
    tag or link already, else by a Message-ID we sent to the reader the report names."""
    if not context.bounce_address or reading.verdict != REPORT:
        return reading
    found = dict.fromkeys(m.decode("ascii", "replace") for m in _MESSAGE_ID.findall(raw))
    message_ids = list(found)[:MAX_MESSAGE_IDS]
    proven = [_proven(outcome, message_ids, context) for outcome in reading.outcomes]
    kept = tuple(outcome for outcome in proven if outcome is not None)
    return replace(reading, outcomes=kept, unverified=len(proven) - len(kept))


def _proven(outcome: Outcome, message_ids: list[str], context: Context) -> Outcome | None:
    """The outcome tied to its reader, or None when nothing proves it."""
    if outcome.subscriber_id is not None:
        return outcome
    reader = context.reader_for_address(outcome.address) if outcome.address else None
    if reader is None:
        return None
    for message_id in message_ids:
        slug = _slug_of(message_id, reader, context)
        if slug:
            return replace(outcome, subscriber_id=reader, slug=outcome.slug or slug)
    return None


def message_reference(message: Message, raw: bytes) -> str:
    """A stable id of a report: its Message-ID, else a digest of its bytes."""
    message_id = str(message.get("Message-ID", "")).strip()
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def _recipient_tags(message: Message, context: Context) -> list[Tag | None]:
    """Our tags among the addresses the message was delivered to (None for a forged one)."""
    if not context.bounce_address:
        return []
    found: list[Tag | None] = []
    for _, address in _addresses(message, RECIPIENT_HEADERS):
        tag = address_tag(address, context.bounce_address)
        if tag:
            found.append(standing.read_tag(context.secret, tag))
    return found


def _addresses(message: Message, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every (name, address) in these headers."""
    values = [str(value) for name in names for value in message.get_all(name, [])]
    return getaddresses(values)


def _report_type(message: Message) -> str:
    """The report-type of a multipart/report, lowercase ('' for other messages)."""
    if message.get_content_type() != "multipart/report":
        return ""
    return str(message.get_param("report-type", "") or "").lower()


def _failures(message: Message) -> tuple[list[str], list[str]]:
    """The addresses flufl.bounce finds (temporary, permanent), as text."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - a detector choking on odd mail: not understood
        return [], []
    decode = lambda found: sorted(a.decode("utf-8", "replace") for a in found)  # noqa: E731
    return decode(temporary - permanent), decode(permanent)


def _bounce(
    message: Message,
    reference: str,
    tag: Tag | None,
    context: Context,
    permanent: list[str],
    temporary: list[str],
) -> Reading:
    """The bounce outcomes: one for the tagged or quoted reader, else one per address."""
    statuses = _dsn_statuses(message)
    reader, slug = _reader_from(tag, _quoted_headers(message), context)
    kinds = [(a, standing.HARD_BOUNCE) for a in permanent]
    kinds += [(a, standing.SOFT_BOUNCE) for a in temporary]
    if reader is not None:
        address, kind = kinds[0]
        detail = statuses.get(address.lower(), "") or "non-standard bounce"
        outcome = Outcome(kind, address, context.source, reference, detail, slug, reader)
        return Reading(REPORT, (outcome,))
    outcomes = tuple(
        Outcome(
            kind,
            address,
            context.source,
            f"{reference}:{address.lower()}",
            statuses.get(address.lower(), "") or "non-standard bounce",
            slug,
        )
        for address, kind in kinds
    )
    return Reading(REPORT, outcomes)


def _dsn_statuses(message: Message) -> dict[str, str]:
    """Each recipient's `Status` and diagnostic in a delivery status notification."""
    statuses: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in part.get_payload():
            if not isinstance(block, Message):
                continue
            recipient = str(block.get("Final-Recipient", "")).partition(";")[2].strip()
            if recipient:
                status = str(block.get("Status", "")).strip()
                diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
                statuses[recipient.lower()] = f"{status} {diagnostic}".strip()
    return statuses


def _quoted_headers(message: Message) -> Message | None:
    """The headers of our message that a report quotes (message/rfc822 or
    text/rfc822-headers), or None."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if kind == "text/rfc822-headers":
            return HeaderParser(policy=email.policy.default).parsestr(_text(part))
    return None


def _text(part: Message) -> str:
    """A part's decoded text."""
    content = part.get_payload(decode=True)
    if isinstance(content, bytes):
        return content.decode(part.get_content_charset() or "utf-8", "replace")
    return str(part.get_payload())


def _reader_from(
    tag: Tag | None, quoted: Message | None, context: Context
) -> tuple[int | None, str]:
    """The reader and essay a report is about: by our tag, else by the signed unsubscribe
    link and the Message-ID of the quoted message."""
    if tag is not None and tag.kind == "return_path":
        return tag.subscriber_id, context.slug_for_digest(tag.digest)
    if quoted is None:
        return None, ""
    link = _UNSUBSCRIBE_LINK.search(str(quoted.get("List-Unsubscribe", "")))
    reader = read_unsubscribe_token(context.secret, link[1]) if link else None
    if reader is None:
        return None, ""
    return reader, _slug_of(str(quoted.get("Message-ID", "")), reader, context)


def _slug_of(message_id: str, reader: int, context: Context) -> str:
    """The essay of one of our Message-IDs, `<slug.tag@domain>` (publish.mail.rounds),
    when its tag is genuine for this reader ('' otherwise)."""
    local = message_id.strip().strip("<>").partition("@")[0]
    slug, _, tag = local.rpartition(".")
    expected = db.sign(context.secret, MESSAGE_ID_PURPOSE, f"{slug}:{reader}")[:16]
    return slug if slug and hmac.compare_digest(expected, tag) else ""


def _complaint(message: Message, reference: str, tag: Tag | None, context: Context) -> Reading:
    """An ARF abuse report: a complaint about the reader it quotes or names."""
    fields = _feedback_fields(message)
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        return Reading(NOT_UNDERSTOOD, reason=f"a feedback report of type '{feedback_type}'")
    quoted = _quoted_headers(message)
    if tag is None:
        tag = _mail_from_tag(fields, context)
    reader, slug = _reader_from(tag, quoted, context)
    address = parseaddr(str(fields.get("Original-Rcpt-To", "")))[1]
    if not address and quoted is not None:
        address = parseaddr(str(quoted.get("To", "")))[1]
    if reader is None and not address:
        return Reading(NOT_UNDERSTOOD, reason="an abuse report that names no recipient")
    detail = f"feedback-type {feedback_type}"
    outcome = Outcome(standing.COMPLAINT, address, context.source, reference, detail, slug, reader)
    return Reading(REPORT, (outcome,))


def _feedback_fields(message: Message) -> Message:
    """The fields of the message/feedback-report part (empty when there is none)."""
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            return HeaderParser(policy=email.policy.default).parsestr(_text(part))
    return Message()


def _mail_from_tag(fields: Message, context: Context) -> Tag | None:
    """Our return path as an abuse report quotes it (Original-Mail-From), when genuine."""
    address = parseaddr(str(fields.get("Original-Mail-From", "")))[1]
    tag = address_tag(address, context.bounce_address) if context.bounce_address else None
    return standing.read_tag(context.secret, tag) if tag else None


def _unsubscribe(reference: str, address: str, tag: Tag | None, context: Context) -> Reading:
    """An unsubscribe request: by the reader's signed address, or by its From."""
    reader = tag.subscriber_id if tag is not None else None
    detail = "signed unsubscribe address" if reader is not None else "From of a request"
    outcome = Outcome(standing.UNSUBSCRIBE, address, context.source, reference, detail, "", reader)
    return Reading(REPORT, (outcome,))


def _asks_to_unsubscribe(message: Message, context: Context) -> bool:
    """Whether a message to the shared unsubscribe address asks, in its subject, to
    unsubscribe (an automatic reply never does)."""
    if str(message.get("Auto-Submitted", "no")).strip().lower() != "no":
        return False
    if "unsubscribe" not in str(message.get("Subject", "")).lower():
        return False
    wanted = context.mailto_address.lower()
    return any(a.lower() == wanted for _, a in _addresses(message, RECIPIENT_HEADERS))


def _looks_like_a_bounce(message: Message) -> bool:
    """Whether a message came from a mail system rather than a person."""
    sender = parseaddr(str(message.get("From", "")))[1]
    return bool(_BOUNCE_SENDERS.match(sender)) or _report_type(message) == "delivery-status"

"""The subscriber lists writers bring, recognised by their columns, read into plain records.

Each format is one row of `FORMATS`: a name, a test on the header's columns and a function
from one CSV row to a `Record` (a reader to import, with status, dates and full name) or a
`Skip` (a row that is not a reader: a deletion request, a placeholder, a deleted member).
The formats are publish's own export, Substack's `email_list` CSV, Ghost's members CSV,
Buttondown's subscribers CSV, Mailchimp's audience exports (one file per status) and any
other CSV with an email column. Nothing here touches the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import msgspec
from dateutil import parser as date_parser

from publish.state.statuses import SubscriberStatus

EMAIL_COLUMNS = ("email", "e-mail", "email_address", "e-mail_address", "mail", "address")
NAME_COLUMNS = ("name", "full_name", "fullname", "display_name")

# Domains that can never receive mail (RFC 2606, RFC 6761), and the addresses platforms put
# in place of a reader who asked to be deleted.
SPECIAL_USE_SUFFIXES = (".invalid", ".test", ".localhost", ".example", ".local")
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
DELETION_DOMAINS = ("deletion-request.substack.com",)
DELETED_LOCAL_PART = re.compile(r"^deleted[-_.+]?(user|member|account)?[-_.+]?\d*$", re.I)

# Buttondown's subscriber types: who may be mailed, who has not confirmed, who opted out.
BUTTONDOWN_ACTIVE = (
    "regular",
    "premium",
    "trialed",
    "unpaid",
    "gifted",
    "churning",
    "paused",
    "past_due",
)
BUTTONDOWN_PENDING = ("unactivated",)
BUTTONDOWN_OPTED_OUT = (
    "unsubscribed",
    "undeliverable",
    "complained",
    "spammy",
    "removed",
    "banned",
    "bounced",
)

Row = Mapping[str, str]


class Record(msgspec.Struct, frozen=True):
    """One reader read from a row: normalised later; dates are ISO 8601 UTC text or None."""

    email: str
    name: str = ""
    status: str = SubscriberStatus.ACTIVE
    created_at: str | None = None
    confirmed_at: str | None = None
    unsubscribed_at: str | None = None
    bounced_at: str | None = None
    complained_at: str | None = None


class Skip(msgspec.Struct, frozen=True):
    """A row that is not a reader to import, and why."""

    reason: str


class BadValue(ValueError):
    """A cell that cannot be read; `column` names it."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column


class Format(msgspec.Struct, frozen=True):
    """One kind of subscriber CSV: how to recognise it and how to read a row."""

    name: str
    recognise: Callable[[frozenset[str]], bool]
    read: Callable[[Row, frozenset[str]], Record | Skip]


def column_key(header_cell: str) -> str:
    """A header cell as a lookup key: lower case, spaces and underscores as one `_`."""
    return re.sub(r"[\s_]+", "_", header_cell.strip().lower())


def email_column(columns: frozenset[str] | list[str]) -> str | None:
    """The key of the address column, if the header has one."""
    return next((key for key in EMAIL_COLUMNS if key in columns), None)


def detect(columns: frozenset[str]) -> Format | None:
    """The format whose columns these are, or None when there is no email column."""
    return next((f for f in FORMATS if f.recognise(columns)), None)


# --- Shared reading ------------------------------------------------------------------


def placeholder_reason(address: str, strict: bool) -> str | None:
    """Why an address is a placeholder rather than a reader, or None.

    Deletion requests and special-use domains are skipped in every file; example.com,
    example.net and example.org only in a platform's export (`strict`), since a hand-made
    list may hold them on purpose, for a test against a local mail server.
    """
    local, _, domain = address.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if any(domain == d or domain.endswith("." + d) for d in DELETION_DOMAINS):
        return "deletion request"
    if DELETED_LOCAL_PART.match(local) and "." in domain and strict:
        return "deleted-user placeholder"
    if domain.endswith(SPECIAL_USE_SUFFIXES) or domain in ("invalid", "test", "localhost"):
        return "placeholder address (a domain that cannot receive mail)"
    if strict and any(domain == d or domain.endswith("." + d) for d in EXAMPLE_DOMAINS):
        return "placeholder address (an example domain)"
    return None


def moment(row: Row, column: str) -> str | None:
    """A date cell as ISO 8601 UTC text (naive times taken as UTC), or None when empty."""
    text = (row.get(column) or "").strip()
    if not text or text.lower() in ("null", "none"):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = date_parser.parse(text)
        except (ValueError, OverflowError):
            raise BadValue(column, f"'{text[:80]}' is not a date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError):
        raise BadValue(column, f"'{text[:80]}' is out of range") from None


def truth(row: Row, column: str) -> bool | None:
    """A yes/no cell as a bool, or None when empty."""
    text = (row.get(column) or "").strip().lower()
    if not text:
        return None
    if text in ("true", "yes", "1", "y", "t"):
        return True
    if text in ("false", "no", "0", "n", "f"):
        return False
    raise BadValue(column, f"'{text[:80]}' is neither true nor false")


def full_name(*parts: str | None) -> str:
    """Name parts joined by single spaces, blanks left out."""
    return " ".join(p.strip() for p in parts if p and p.strip())


def _cell(row: Row, column: str) -> str:
    """A cell's text, '' when the row lacks it."""
    return row.get(column) or ""


# --- The formats ------------------------------------------------------------------------


def _read_publish(row: Row, columns: frozenset[str]) -> Record:
    """publish's own export: status and every date, as written."""
    status = _cell(row, "status").strip().lower()
    if status not in set(SubscriberStatus):
        expected = ", ".join(SubscriberStatus)
        raise BadValue("status", f"unknown status '{status[:40]}' (expected one of {expected})")
    return Record(
        email=_cell(row, "email"),
        name=_cell(row, "name"),
        status=status,
        created_at=moment(row, "created_at"),
        confirmed_at=moment(row, "confirmed_at"),
        unsubscribed_at=moment(row, "unsubscribed_at"),
        bounced_at=moment(row, "bounced_at") if status == SubscriberStatus.BOUNCED else None,
        complained_at=moment(row, "complained_at")
        if status == SubscriberStatus.COMPLAINED
        else None,
    )


def _read_substack(row: Row, columns: frozenset[str]) -> Record:
    """Substack's email_list: `email_disabled` true means the reader opted out of email."""
    created = moment(row, "created_at")
    opted_out = truth(row, "email_disabled") is True
    return Record(
        email=_cell(row, "email"),
        name=_cell(row, "name"),
        status=SubscriberStatus.UNSUBSCRIBED if opted_out else SubscriberStatus.ACTIVE,
        created_at=created,
        confirmed_at=None if opted_out else created,
    )


def _read_ghost(row: Row, columns: frozenset[str]) -> Record | Skip:
    """Ghost's members CSV: `subscribed_to_emails` false is an opt-out; deleted rows go."""
    if _cell(row, "deleted_at").strip():
        return Skip("deleted member")
    created = moment(row, "created_at")
    opted_out = truth(row, "subscribed_to_emails") is False
    return Record(
        email=_cell(row, "email"),
        name=_cell(row, "name"),
        status=SubscriberStatus.UNSUBSCRIBED if opted_out else SubscriberStatus.ACTIVE,
        created_at=created,
        confirmed_at=None if opted_out else created,
    )


def _read_buttondown(row: Row, columns: frozenset[str]) -> Record | Skip:
    """Buttondown's subscribers CSV: `subscriber_type` says active, unconfirmed or gone."""
    kind = _cell(row, "subscriber_type").strip().lower() or "regular"
    created = moment(row, "creation_date")
    email = _cell(row, email_column(columns) or "email")
    name = _buttondown_name(_cell(row, "metadata"))
    if kind in BUTTONDOWN_ACTIVE:
        return Record(email, name, SubscriberStatus.ACTIVE, created, created)
    if kind in BUTTONDOWN_PENDING:
        return Record(email, name, SubscriberStatus.PENDING, created)
    if kind in BUTTONDOWN_OPTED_OUT:
        return Record(
            email,
            name,
            SubscriberStatus.UNSUBSCRIBED,
            created,
            unsubscribed_at=moment(row, "unsubscription_date"),
        )
    raise BadValue("subscriber_type", f"unknown Buttondown subscriber type '{kind[:40]}'")


def _buttondown_name(metadata: str) -> str:
    """A reader's name from Buttondown's metadata JSON (name, or first and last name)."""
    try:
        data = json.loads(metadata) if metadata.strip() else {}
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    values = {column_key(str(k)): v for k, v in data.items() if isinstance(v, str)}
    return values.get("name") or full_name(values.get("first_name"), values.get("last_name"))


def _read_mailchimp(row: Row, columns: frozenset[str]) -> Record:
    """A Mailchimp audience export; the unsubscribed and cleaned files carry UNSUB_TIME and
    CLEAN_TIME, and every row of those files is an opt-out (cleaned: the address bounced)."""
    name = full_name(_cell(row, "first_name"), _cell(row, "last_name"))
    created = moment(row, "optin_time") or moment(row, "confirm_time")
    confirmed = moment(row, "confirm_time")
    for column in ("unsub_time", "clean_time"):
        if column in columns:
            return Record(
                _cell(row, "email_address"),
                name,
                SubscriberStatus.UNSUBSCRIBED,
                created,
                confirmed,
                moment(row, column),
            )
    return Record(
        _cell(row, "email_address"), name, SubscriberStatus.ACTIVE, created, confirmed or created
    )


def _read_generic(row: Row, columns: frozenset[str]) -> Record:
    """Any other CSV: an email column and, if present, a name (or first and last names) and
    a status column, which is honoured (an unsubscribed reader must not come back active)."""
    email = _cell(row, email_column(columns) or "email")
    named = next((_cell(row, key) for key in NAME_COLUMNS if key in columns), "")
    name = named or full_name(_cell(row, "first_name"), _cell(row, "last_name"))
    return Record(email=email, name=name, status=_generic_status(row))


GENERIC_STATUSES = {
    "": SubscriberStatus.ACTIVE,
    "active": SubscriberStatus.ACTIVE,
    "subscribed": SubscriberStatus.ACTIVE,
    "confirmed": SubscriberStatus.ACTIVE,
    "pending": SubscriberStatus.PENDING,
    "unconfirmed": SubscriberStatus.PENDING,
    "unsubscribed": SubscriberStatus.UNSUBSCRIBED,
    "inactive": SubscriberStatus.UNSUBSCRIBED,
    "cleaned": SubscriberStatus.UNSUBSCRIBED,
    "bounced": SubscriberStatus.BOUNCED,
    "opted_out": SubscriberStatus.UNSUBSCRIBED,
    "complained": SubscriberStatus.COMPLAINED,
}


def _generic_status(row: Row) -> str:
    """The status a plain CSV's optional `status` column gives (active when it has none)."""
    text = column_key(_cell(row, "status"))
    if text not in GENERIC_STATUSES:
        known = ", ".join(sorted(k for k in GENERIC_STATUSES if k))
        raise BadValue("status", f"unknown status '{text[:40]}' (expected one of {known})")
    return GENERIC_STATUSES[text]


MAILCHIMP_MARKS = frozenset(
    {"optin_time", "confirm_time", "member_rating", "leid", "euid", "unsub_time", "clean_time"}
)

FORMATS: tuple[Format, ...] = (
    Format(
        "publish export",
        lambda c: {"email", "status", "created_at", "confirmed_at"} <= c,
        _read_publish,
    ),
    Format("Ghost members export", lambda c: {"email", "subscribed_to_emails"} <= c, _read_ghost),
    Format(
        "Substack email list",
        lambda c: "email" in c and bool({"email_disabled", "active_subscription"} & c),
        _read_substack,
    ),
    Format(
        "Buttondown subscribers export",
        lambda c: "subscriber_type" in c and email_column(c) is not None,
        _read_buttondown,
    ),
    Format(
        "Mailchimp audience export",
        lambda c: "email_address" in c and bool(MAILCHIMP_MARKS & c),
        _read_mailchimp,
    ),
    Format("CSV", lambda c: email_column(c) is not None, _read_generic),
)

PLATFORM_FORMATS = frozenset(f.name for f in FORMATS[1:-1])

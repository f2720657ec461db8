"""The newsletter message itself: headers (From, List-Id, List-Unsubscribe, …) and the MIME
message of a text and an HTML part, all by the email package with the SMTP policy."""

from __future__ import annotations

import hashlib
import re
from email.contentmanager import ContentManager, raw_data_manager
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP, SMTPUTF8, EmailPolicy
from email.utils import format_datetime, getaddresses, parseaddr
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit

import msgspec

from publish.content.essays import slugify
from publish.mail import mimebody
from publish.model import Essay, Settings
from publish.outputs.urls import preview_unsubscribe_url
from publish.support.addresses import address_parts, ascii_domain
from publish.support.safetext import fold_controls

LINE_LENGTH = 78  # RFC 5322: lines should be no longer (the SMTP policy folds there)
HARD_LINE_LIMIT = 998  # RFC 5322: no line of a message may be longer (in bytes, without CRLF)
ADDRESS_FIELDS = frozenset({"from", "to", "cc", "reply-to", "sender"})
ADDRESS_HEADERS = ("From", "To", "Reply-To")  # the address fields of a newsletter message
UTF8_NAME_LIMIT = 600  # bytes of a display name an SMTPUTF8 message keeps
LIST_ID_SLUG = 40  # at most this much of the site title's slug goes into the List-Id
_FIELD_START = re.compile(rb"[!-9;-~]+:")
# What may stay as it is in a URL (RFC 3986 reserved and unreserved characters, and `%`).
_URL_SAFE = ":/?#[]@!$&'()*+,;=-._~%"
_URL_UNSAFE = re.compile(r"[^A-Za-z0-9" + re.escape(_URL_SAFE) + "]")


Field = tuple[str, str]  # a header field's name and text


class MessageHeaders(msgspec.Struct, frozen=True):
    """Everything a newsletter message says in its headers."""

    subject: str
    from_address: str
    reply_to: str
    date: str
    message_id: str
    list_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    to: str = ""


# --- The message ------------------------------------------------------------------


class ListUnsubscribeHeader:
    """The List-Unsubscribe header (RFC 2369, RFC 8058): `<url>` items in plain ASCII.

    The email package would write a long value as RFC 2047 encoded words, which no mail
    client reads as a link; this class folds only between the items instead. An item too
    long for any line (over 998 bytes) is folded inside its brackets, where RFC 2369 says
    whitespace is ignored.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, object]) -> None:
        """Keep the value as given, on one line."""
        kwds["decoded"] = " ".join(value.split())
        kwds["parse_tree"] = None

    def fold(self, *, policy: EmailPolicy) -> str:
        """The header as `<a>,` items, at most `policy.max_line_length` a line where possible."""
        name = self.name  # type: ignore[attr-defined]
        items = _unsubscribe_items(str(self))
        lines, line, limit = [], f"{name}:", policy.max_line_length or LINE_LENGTH
        for index, item in enumerate(items):
            piece = item + ("," if index < len(items) - 1 else "")
            if line != f"{name}:" and len(line) + 1 + len(piece) > limit:
                lines.append(line)
                line = ""
            line = f"{line} {piece}"
        lines.append(line)
        return "".join(_split_long(text) + policy.linesep for text in lines)


def _unsubscribe_items(value: str) -> list[str]:
    """The `<…>` items of a List-Unsubscribe value, each with any whitespace removed."""
    return ["<" + "".join(item.split()) + ">" for item in re.findall(r"<([^<>]*)>", value)]


def _split_long(line: str) -> str:
    """A header line longer than RFC 5322's 998 bytes, folded every 900 characters."""
    if len(line) <= HARD_LINE_LIMIT:
        return line
    return "\r\n ".join(line[i : i + 900] for i in range(0, len(line), 900))


class UTF8AddressPolicy(EmailPolicy):
    """The policy of an SMTPUTF8 message (RFC 6532): UTF-8 in the address headers, which a
    non-ASCII local part needs, and RFC 2047 encoded words (foldable at 78) everywhere else."""

    def fold_binary(self, name: str, value: object) -> bytes:
        """Fold an address header as UTF-8, any other as the ASCII SMTP policy does."""
        if name.lower() in ADDRESS_FIELDS:
            return super().fold_binary(name, value)
        return _POLICIES[False].fold_binary(name, value)


class HeaderClasses(HeaderRegistry):
    """The email package's header registry, making each header class once: the stock one
    makes a new class at every lookup, which was a tenth of the time a message took."""

    def __init__(self) -> None:
        super().__init__()
        self.made: dict[str, type] = {}

    def map_to_type(self, name: str, cls: type) -> None:
        """Use `cls` for the header `name` (forgetting any class made before)."""
        super().map_to_type(name, cls)
        self.made.clear()

    def __getitem__(self, name: str) -> type:
        """The class for the header `name`, made on first use."""
        key = name.lower()
        if key not in self.made:
            self.made[key] = super().__getitem__(name)
        return self.made[key]


def _message_policy(utf8: bool) -> EmailPolicy:
    """The SMTP policy (UTF-8 addresses if `utf8`), 7-bit bodies, our List-Unsubscribe."""
    registry = HeaderClasses()
    registry.map_to_type("list-unsubscribe", ListUnsubscribeHeader)
    if utf8:
        return UTF8AddressPolicy(
            **{**SMTPUTF8.__dict__, "header_factory": registry, "cte_type": "7bit"}
        )
    return SMTP.clone(header_factory=registry)


_POLICIES: dict[bool, EmailPolicy] = {}
_POLICIES.update({utf8: _message_policy(utf8) for utf8 in (False, True)})


@lru_cache(maxsize=256)
def header_text(value: str) -> str:
    """A value safe for a header: no control characters, and no encoded-word that decodes
    to one (CVE-2024-6923: the email package could otherwise emit a raw newline)."""
    folded = fold_controls(value)
    decoded = str(SMTP.header_factory("subject", folded))
    if fold_controls(decoded) != decoded:
        folded = folded.replace("=?", "= ?")
    return folded


def site_domain(settings: Settings) -> str:
    """The host name of the site's URL (punycode for an IDN), for Message-ID and List-Id."""
    return ascii_domain(urlsplit(settings.site.url).hostname or "") or "localhost"


def ascii_url(url: str) -> str:
    """A URL in plain ASCII: an IDN host (or a mailto: domain) in punycode, anything else
    percent-encoded as UTF-8."""
    if url.isascii() and not _URL_UNSAFE.search(url):
        return url
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme.lower() == "mailto" and "@" in path:
        local, _, domain = path.rpartition("@")
        path = f"{local}@{ascii_domain(domain)}"
    netloc, host = parts.netloc, parts.hostname or ""
    if host and not host.isascii() and host in netloc:
        netloc = netloc.replace(host, ascii_domain(host))
    return urlunsplit(
        (
            parts.scheme,
            quote(netloc, safe=_URL_SAFE),
            quote(path, safe=_URL_SAFE),
            quote(parts.query, safe=_URL_SAFE),
            quote(parts.fragment, safe=_URL_SAFE),
        )
    )


def preview_headers(settings: Settings, essay: Essay) -> MessageHeaders:
    """The headers of the built copy: deterministic, with the preview unsubscribe link."""
    domain = site_domain(settings)
    return MessageHeaders(
        subject=header_text(essay.title),
        from_address=settings.email.from_address,
        reply_to=settings.email.reply_to,
        date=format_datetime(essay.date) if essay.date else "",
        message_id=f"<{essay.slug}@{domain}>",
        list_id=list_id(settings),
        unsubscribe_url=preview_unsubscribe_url(settings),
        unsubscribe_mailto=unsubscribe_mailto(settings),
    )


def preview_message(settings: Settings, essay: Essay, text: str, html: str) -> bytes:
    """The built `.eml` copy of an essay's email: the preview headers, text part, then HTML."""
    return compose_message(preview_headers(settings, essay), text, html)


def list_id(settings: Settings) -> str:
    """The List-Id header: the site title and `<site-slug.domain>`."""
    title = header_text(settings.site.title).replace('"', "'").replace("\\", "/")
    name = slugify(settings.site.title)[:LIST_ID_SLUG].strip("-") or "list"
    phrase = f'"{title}"' if title.isascii() else title
    return f"{phrase} <{name}.{site_domain(settings)}>"


def unsubscribe_mailto(settings: Settings) -> str:
    """A mailto: unsubscribe address (the reply address, else the sender), in ASCII."""
    _, address = parseaddr(fold_controls(settings.email.reply_to or settings.email.from_address))
    if "@" not in address:
        return ""
    local, domain = address_parts(address)
    return f"mailto:{quote(local, safe=_URL_SAFE)}@{domain}?subject=unsubscribe"


def compose_message(
    headers: MessageHeaders,
    text: str,
    html: str,
    *,
    utf8: bool = False,
    content_manager: ContentManager = raw_data_manager,
) -> bytes:
    """A complete multipart/alternative message (text part, then HTML) as SMTP-ready bytes.

    Made by the email package (`EmailMessage`, SMTP policy): RFC 2047 encoded words only
    where needed, every header folded at 78 columns, domains in punycode. An address with a
    non-ASCII local part (or `utf8=True`) makes it an SMTPUTF8 message (RFC 6532), whose
    headers are UTF-8. The text parts are set by `content_manager`, the email package's own
    by default; a send passes `mimebody.TEXT_PARTS`, which gives the same bytes faster when
    many copies of one essay differ in a few lines.
    """
    message = _headed_message(headers, utf8)
    message.set_content(text, content_manager=content_manager)
    message.make_alternative(boundary=_boundary(headers.message_id, text, html))
    html_part = MIMEPart(policy=message.policy)
    html_part.set_content(html, subtype="html", content_manager=content_manager)
    message.attach(html_part)
    data = message.as_bytes()
    _refuse_unsafe_head(data)
    return data


def compose_copy(headers: MessageHeaders, text: str, html: str) -> bytes:
    """`compose_message(headers, text, html, content_manager=mimebody.TEXT_PARTS)`, byte for
    byte, faster: when both text parts are quoted-printable (as an essay's are), they are
    encoded by `mimebody.quoted_printable_part` and laid out as the email package's
    generator lays out a multipart/alternative, and each header field is folded by the
    package once per value (most of a send's fields are the same in every copy). Any other
    message is the package's. `tests/test_mime_parts.py` compares the bytes."""
    utf8, fields = _header_fields(headers)
    policy = _POLICIES[utf8]
    parts = [
        mimebody.quoted_printable_part(text, "plain", policy),
        mimebody.quoted_printable_part(html, "html", policy),
    ]
    if None in parts:
        return compose_message(headers, text, html, content_manager=mimebody.TEXT_PARTS)
    boundary = _boundary(headers.message_id, text, html)
    fields += [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    newline = policy.linesep.encode("ascii")
    delimiter = b"--" + boundary.encode("ascii")
    data = b"".join(
        [
            *(_folded_field(name, value, utf8) for name, value in fields),
            newline,
            delimiter + newline,
            parts[0],
            newline + delimiter + newline,
            parts[1],
            newline + delimiter + b"--" + newline,
        ]
    )
    _refuse_unsafe_head(data)
    return data


def _headed_message(headers: MessageHeaders, utf8: bool = False) -> EmailMessage:
    """A message with the headers of `headers` (SMTPUTF8 if `utf8` or an address needs it)
    and no content yet."""
    utf8, fields = _header_fields(headers, utf8)
    message = EmailMessage(policy=_POLICIES[utf8])
    for name, value in fields:
        message[name] = _field_value(name, value, utf8)
    return message


def _header_fields(headers: MessageHeaders, utf8: bool = False) -> tuple[bool, list[Field]]:
    """Whether the message is SMTPUTF8 (`utf8`, or an address needs it), and its header
    fields in order, as text (the address fields as given; see `_field_value`)."""
    addresses = [
        ("From", headers.from_address),
        ("To", headers.to),
        ("Reply-To", headers.reply_to),
    ]
    utf8 = utf8 or any(
        not address.username.isascii() for _, value in addresses for address in _addresses(value)
    )
    targets = [ascii_url(u) for u in (headers.unsubscribe_url, headers.unsubscribe_mailto) if u]
    fields = [
        *((name, value) for name, value in addresses if _addresses(value)),
        ("Date", headers.date),
        ("Message-ID", headers.message_id),
        ("List-Id", header_text(headers.list_id)),
        ("List-Unsubscribe", ", ".join(f"<{target}>" for target in targets)),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click" if targets else ""),
    ]
    return utf8, [("Subject", header_text(headers.subject))] + [f for f in fields if f[1]]


def _field_value(name: str, value: str, utf8: bool) -> str | tuple[Address, ...]:
    """What a field of `_header_fields` is set to: an address field's addresses (without a
    display name too long for a UTF-8 header), any other field's text."""
    if name not in ADDRESS_HEADERS:
        return value
    group = _addresses(value)
    return tuple(map(_utf8_safe, group)) if utf8 else group


@lru_cache(maxsize=256)
def _folded_field(name: str, value: str, utf8: bool) -> bytes:
    """One header field as the email package writes it (parsed, then folded by the policy)."""
    message = EmailMessage(policy=_POLICIES[utf8])
    message[name] = _field_value(name, value, utf8)
    return b"".join(message.policy.fold_binary(n, v) for n, v in message.raw_items())


def _boundary(message_id: str, text: str, html: str) -> str:
    """A MIME boundary that is the same for the same message and cannot occur in it."""
    digest = hashlib.sha256()
    for piece in (message_id, text, html):
        digest.update(piece.encode("utf-8", "surrogatepass") + b"\0")
    return "=_publish_" + digest.hexdigest()[:32]


def _refuse_unsafe_head(data: bytes) -> None:
    """Raise ValueError unless every header line is a field or a folded continuation, ends
    in CRLF, and is at most 998 bytes (defence in depth against header injection)."""
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if (
            b"\r" in line
            or b"\n" in line
            or len(line) > HARD_LINE_LIMIT
            or not (line[:1] in (b" ", b"\t") or _FIELD_START.match(line))
        ):
            raise ValueError("refusing to write an unsafe header line")


@lru_cache(maxsize=256)
def _addresses(value: str) -> tuple[Address, ...]:
    """The addresses of `Name <a@b>, …` text, each with a safe display name."""
    if not value:
        return ()
    parsed = getaddresses([fold_controls(value)])
    return tuple(_address(name, addr) for name, addr in parsed if "@" in addr)


def _utf8_safe(address: Address) -> Address:
    """The address without its display name if that is too long to be sure of fitting in a
    998-byte line: UTF-8 headers have no encoded words to fold a long word into."""
    if len(address.display_name.encode("utf-8", "surrogatepass")) <= UTF8_NAME_LIMIT:
        return address
    return Address(username=address.username, domain=address.domain)


def _address(name: str, address: str) -> Address:
    """One address with a safe display name and its domain in punycode."""
    local, domain = address_parts(address)
    return Address(display_name=header_text(name), username=local, domain=domain)


def addressed_message(from_address: str, to: str) -> EmailMessage:
    """A new message from `from_address` to `to` (`Name <a@b>` text), addressed as every
    publish message is: safe display names, punycode domains, SMTPUTF8 when a local part
    needs it. For mail other than the newsletter, such as the service's confirmations."""
    sender, recipients = _addresses(from_address), _addresses(to)
    utf8 = any(not a.username.isascii() for a in (*sender, *recipients))
    message = EmailMessage(policy=_POLICIES[utf8])
    message["From"] = sender
    message["To"] = recipients
    return message


def recipient_address(email: str, name: str) -> str:
    """`Name <address>` (or just the address), for the To header."""
    address = _address(name, email)
    return str(address) if address.display_name else address.addr_spec

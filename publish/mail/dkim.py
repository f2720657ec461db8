"""DKIM signatures (RFC 6376) on every message that leaves, with the key of `[email]`.

`dkim_selector` and `dkim_key_file` (a PEM RSA private key, relative to the site root) turn
signing on; the signing domain is `dkim_domain`, else the domain of `[email] from`. The key
is read from its file when a send or the service opens its transport and parsed once per
process; it is never copied, shown or written anywhere else. The signature is dkimpy's:
its parser, header canonicalisation, tag layout and folding, with the RSA by OpenSSL
(through `cryptography`; in dkimpy it is a pure-Python `pow()`, most of a signature's CPU).
The readers' copies of one send differ in a few lines and header fields (address, greeting,
unsubscribe link, Message-ID, boundary), so the relaxed canonicalisation is done a line and
a field at a time and remembered: each copy canonicalises only what the last ones did not
share (see `relaxed_lines`).
RSASSA-PKCS1-v1_5 is deterministic, so the header is byte for byte what `dkim.sign` makes
(tests/test_dkim.py compares them). The setup is checked in `publish.mail.dkimsetup`,
which `check` reads without loading dkimpy and its DNS resolver.
"""

from __future__ import annotations

import base64
import hashlib
import time
from functools import cached_property, lru_cache
from pathlib import Path

import dkim
import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import CanonicalizationPolicy

from publish.errors import PublishError
from publish.mail.dkimsetup import key_problems, signing_domain
from publish.mail.transport import Transport
from publish.model import Settings

# The headers a reader's mail provider judges the message by; each present one is signed.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
# Signed once more than they occur, so nobody can add a second one without breaking it.
OVERSIGNED = ("From", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post")
HEADER_NAME = b"DKIM-Signature"
RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
REMEMBERED_LINES = 8192  # canonical body lines kept: a long essay's, with room to spare
REMEMBERED_FIELDS = 256  # canonical header fields kept: a send's constant ones stay


class DkimSigner(msgspec.Struct, frozen=True, dict=True):
    """A selector, a signing domain and the private key (kept out of repr), parsed once."""

    selector: str
    domain: str
    key: bytes

    def __post_init__(self) -> None:
        self.private_key  # noqa: B018  parsed now, so that a key that is not RSA is refused

    def __repr__(self) -> str:
        return f"DkimSigner(selector={self.selector!r}, domain={self.domain!r})"  # no key

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The parsed key (kept beside the fields: not compared, shown or pickled)."""
        key = serialization.load_pem_private_key(self.key, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("DKIM here signs with an RSA key")
        return key

    def sign(self, message: bytes, now: int | None = None) -> bytes:
        """The message with its DKIM-Signature header on top, made at `now` (the t= tag,
        seconds since the epoch; the present moment by default). ValueError for a message
        that cannot be signed."""
        moment = int(time.time()) if now is None else now
        try:
            return self.signature(message, signed_headers(message), moment) + message
        except dkim.DKIMException as exc:
            raise ValueError(f"it cannot be signed: {exc}") from None

    def signature(self, message: bytes, include: tuple[bytes, ...], now: int) -> bytes:
        """The DKIM-Signature header (rsa-sha256, relaxed/relaxed) that
        `dkim.sign(message, selector, domain, key, canonicalize=(b"relaxed", b"relaxed"),
        include_headers=include)` makes at `now`, the steps of its `DKIM.sign` and
        `gen_header` with the RSA step done by OpenSSL."""
        if b"from" not in include:
            raise dkim.ParameterError("The From header field MUST be signed")
        message_headers, body = canonical_parts(message)
        domain = self.domain.encode("ascii")
        body_hash = hashlib.sha256(body).digest()
        fields = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", RELAXED.to_c_value()),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector.encode("ascii")),
            (b"t", str(now).encode("ascii")),
            (b"h", b" : ".join(include)),
            (b"bh", base64.b64encode(body_hash)),
            (b"b", b"0" * 60),  # dkimpy's placeholder: b= folds onto a line of its own
        ]
        unsigned = dkim.RE_BTAG.sub(b"\\1", _folded(fields, b""))
        value = self.private_key.sign(
            _headers_hash(message_headers, include, unsigned),
            padding.PKCS1v15(),
            Prehashed(hashes.SHA256()),
        )
        fields[-1] = (b"b", base64.b64encode(value))
        return HEADER_NAME + b": " + _folded(fields, b"\r\n")


class SigningTransport:
    """A transport that signs each message before handing it to the one it wraps."""

    def __init__(self, transport: Transport, signer: DkimSigner) -> None:
        self.transport = transport
        self.signer = signer

    def check(self, recipient: str) -> None:
        """As the wrapped transport."""
        self.transport.check(recipient)

    def send(self, sender: str, recipient: str, message: bytes, name: str) -> None:
        """Sign, then deliver."""
        self.transport.send(sender, recipient, self.signer.sign(message), name)

    def close(self) -> None:
        """As the wrapped transport."""
        self.transport.close()


def signing(transport: Transport, signer: DkimSigner | None) -> Transport:
    """The transport itself without a signer, else one that signs what it sends."""
    return transport if signer is None else SigningTransport(transport, signer)


def signer_for(root: Path, settings: Settings) -> DkimSigner | None:
    """The signer of this site, None when DKIM is not set up; PublishError for a bad key."""
    if not settings.email.dkim_selector and not settings.email.dkim_key_file:
        return None
    problems = key_problems(root, settings)
    if problems:
        raise PublishError(problems)
    key = (root / settings.email.dkim_key_file).read_bytes()
    return DkimSigner(settings.email.dkim_selector, signing_domain(settings), key)


def _headers_hash(headers: list[list[bytes]], include: tuple[bytes, ...], unsigned: bytes) -> bytes:
    """The SHA-256 that dkimpy's `hash_headers` makes of the signed fields (each relaxed,
    remembered) and of the DKIM-Signature field `unsigned` (its b= empty, no final CRLF)."""
    hashed = hashlib.sha256()
    for name, value in _selected(headers, include):
        canonical_name, canonical_value = _relaxed_field(name, value)
        hashed.update(canonical_name + b":" + canonical_value)
    [(name, value)] = RELAXED.canonicalize_headers(
        [(HEADER_NAME, dkim.RE_BTAG.sub(b"\\1", b" " + unsigned))]
    )
    hashed.update(name + b":" + value.rstrip())
    return hashed.digest()


def _selected(headers: list[list[bytes]], include: tuple[bytes, ...]) -> list[list[bytes]]:
    """The fields dkimpy's `select_headers` signs: for each name of `include`, the field of
    that name nearest the bottom not yet taken (none once all are taken)."""
    where: dict[bytes, list[int]] = {}
    for index, (name, _) in enumerate(headers):
        where.setdefault(name.lower(), []).append(index)
    return [headers[where[name].pop()] for name in include if where.get(name)]


def canonical_parts(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """The header fields as dkimpy's `rfc822_parse` gives them, and the body canonicalised
    "relaxed" as dkimpy's `Relaxed.canonicalize_body` does the body that parser gives. For a
    message whose every line ends in CRLF (as publish writes them) the body is that of the
    message as it is, canonicalised a line at a time (`relaxed_lines`); any other message
    goes through dkimpy's parser."""
    end = message.find(b"\r\n\r\n")
    head = message[:end] if end > 0 else b"\r\n"  # no header field: dkimpy's parser decides
    if not head.startswith(b"\r\n") and head.count(b"\n") == head.count(b"\r\n"):
        body = message[end + 4 :]
        lines = body.split(b"\r\n")
        if body.count(b"\n") == len(lines) - 1:  # no bare LF, which the parser would change
            return dkim.rfc822_parse(head + b"\r\n\r\n")[0], relaxed_lines(lines)
    headers, body = dkim.rfc822_parse(message)
    return headers, relaxed_lines(body.split(b"\r\n"))


def relaxed_body(body: bytes) -> bytes:
    """The body canonicalised "relaxed" (RFC 6376 3.4.4), byte for byte dkimpy's
    `Relaxed.canonicalize_body`."""
    return relaxed_lines(body.split(b"\r\n"))


def relaxed_lines(lines: list[bytes]) -> bytes:
    """The relaxed canonicalisation of the body whose CRLF-separated `lines` these are: each
    line's runs of spaces and tabs made one space and a space at its end dropped (a line at
    a time, remembered: the line before a CRLF is all that decides its canonical form), the
    empty lines at the end dropped. The last piece (after the last CRLF) keeps a space at
    its end and gains a CRLF, as in dkimpy."""
    *ended, tail = lines
    canonical = list(map(_relaxed_line, ended))
    if tail:
        canonical.append(_compressed(tail))
        return b"\r\n".join(canonical) + b"\r\n"
    while canonical and not canonical[-1]:
        canonical.pop()
    return b"\r\n".join(canonical) + b"\r\n" if canonical else b""


@lru_cache(maxsize=REMEMBERED_LINES)
def _relaxed_line(line: bytes) -> bytes:
    """One line (without its CRLF) canonicalised relaxed."""
    return _compressed(line).rstrip(b" ")


def _compressed(text: bytes) -> bytes:
    """Every run of spaces and tabs made one space (dkimpy's `compress_whitespace`, as
    replacements rather than its regular expression)."""
    spaced = text.replace(b"\t", b" ")
    while b"  " in spaced:
        spaced = spaced.replace(b"  ", b" ")
    return spaced


@lru_cache(maxsize=REMEMBERED_FIELDS)
def _relaxed_field(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """One header field canonicalised relaxed, as dkimpy's `Relaxed.canonicalize_headers`."""
    [(canonical_name, canonical_value)] = RELAXED.canonicalize_headers([(name, value)])
    return canonical_name, canonical_value


def signed_headers(message: bytes) -> tuple[bytes, ...]:
    """The h= list of a message: each of SIGNED_HEADERS it has, then OVERSIGNED again."""
    present = _header_names(message)
    names = [n for n in SIGNED_HEADERS if n.lower() in present]
    names += [n for n in OVERSIGNED if n.lower() in present]
    return tuple(n.lower().encode("ascii") for n in names)


def _folded(fields: list[tuple[bytes, bytes]], end: bytes) -> bytes:
    """The tags as one header value ending in `end`, folded as dkimpy folds it."""
    value = b"; ".join(name + b"=" + tag for name, tag in fields) + end
    return dkim.fold(value, namelen=len(HEADER_NAME), linesep=b"\r\n")


def _header_names(message: bytes) -> set[str]:
    """The lower-case names of the message's header fields."""
    end = message.find(b"\r\n\r\n")
    head = (message if end < 0 else message[:end]).split(b"\n\n", 1)[0]
    names = set()
    for line in head.splitlines():
        if line and line[:1] not in (b" ", b"\t") and b":" in line:
            names.add(line.split(b":", 1)[0].strip().decode("ascii", "replace").lower())
    return names

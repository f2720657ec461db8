"""DKIM signatures (RFC 6376) on every message that leaves, with the key of `[email]`.

`dkim_selector` and `dkim_key_file` (a PEM RSA private key, relative to the site root) turn
signing on; the signing domain is `dkim_domain`, else the domain of `[email] from`. The key
is read from its file when a send or the service opens its transport and parsed once per
process; it is never copied, shown or written anywhere else. The signature is dkimpy's:
its parser, header canonicalisation, tag layout and folding, with the body's relaxed
canonicalisation done as bytes replacements and the RSA by OpenSSL (through
`cryptography`; in dkimpy it is a pure-Python `pow()`, most of a signature's CPU).
RSASSA-PKCS1-v1_5 is deterministic, so the header is byte for byte what `dkim.sign` makes
(tests/test_dkim.py compares them). The setup is checked in `publish.mail.dkimsetup`,
which `check` reads without loading dkimpy and its DNS resolver.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import (
    CanonicalizationPolicy,
    correct_empty_body,
    strip_trailing_lines,
)

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


@dataclass(frozen=True)
class DkimSigner:
    """A selector, a signing domain and the private key (kept out of repr), parsed once."""

    selector: str
    domain: str
    key: bytes = field(repr=False)
    private_key: rsa.RSAPrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = serialization.load_pem_private_key(self.key, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("DKIM here signs with an RSA key")
        object.__setattr__(self, "private_key", key)

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
        message_headers, body = head_and_body(message)
        domain = self.domain.encode("ascii")
        body_hash = hashlib.sha256(relaxed_body(body)).digest()
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
        hashed = hashlib.sha256()
        headers = RELAXED.canonicalize_headers(message_headers)
        dkim.hash_headers(hashed, RELAXED, headers, include, (HEADER_NAME, b" " + unsigned), None)
        value = self.private_key.sign(
            hashed.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256())
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


def head_and_body(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """The header fields and the body, as dkimpy's `rfc822_parse` gives them; for a message
    whose every line ends in CRLF (as publish writes them) the body is cut off without
    splitting it into lines and joining them again."""
    head, blank, body = message.partition(b"\r\n\r\n")
    if not blank or message.startswith(b"\r\n") or message.count(b"\n") != message.count(b"\r\n"):
        return dkim.rfc822_parse(message)
    headers, _ = dkim.rfc822_parse(head + b"\r\n\r\n")
    return headers, body


def relaxed_body(body: bytes) -> bytes:
    """The body canonicalised "relaxed" (RFC 6376 3.4.4), byte for byte dkimpy's
    `Relaxed.canonicalize_body`, with its two regular expressions (most of a signature's
    CPU on a 38 KB body) done as replacements: every run of spaces and tabs becomes one
    space, then a space at the end of a line goes."""
    spaced = body.replace(b"\t", b" ")
    while b"  " in spaced:
        spaced = spaced.replace(b"  ", b" ")
    return correct_empty_body(strip_trailing_lines(spaced.replace(b" \r\n", b"\r\n")))


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
    head = message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    names = set()
    for line in head.splitlines():
        if line and line[:1] not in (b" ", b"\t") and b":" in line:
            names.add(line.split(b":", 1)[0].strip().decode("ascii", "replace").lower())
    return names

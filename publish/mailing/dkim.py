"""DKIM signatures (RFC 6376) on every message that leaves, with the key of `[email]`.

`dkim_selector` and `dkim_key_file` (a PEM RSA private key, relative to the site root) turn
signing on; the signing domain is `dkim_domain`, else the domain of `[email] from`. The key
is read from its file when a send or the service opens its transport and parsed once per
process; it is never copied, shown or written anywhere else. The signature is dkimpy's:
its parser, header canonicalisation, tag layout and folding, with the body's relaxed
canonicalisation done as bytes replacements and the RSA by OpenSSL (through
`cryptography`; in dkimpy it is a pure-Python `pow()`, most of a signature's CPU).
RSASSA-PKCS1-v1_5 is deterministic, so the header is byte for byte what `dkim.sign` makes
(tests/test_dkim.py compares them).
"""

from __future__ import annotations

import base64
import hashlib
import re
import stat
import time
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import (
    CanonicalizationPolicy,
    correct_empty_body,
    strip_trailing_lines,
)

from publish.content.settings import SETTINGS_FILE
from publish.errors import Problem, PublishError, error
from publish.mailing.setup import locate_setting
from publish.mailing.transport import Transport
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
MIN_KEY_BITS = 1024  # receivers ignore shorter keys (RFC 8301)
DNS_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?:\.(?!-)[A-Za-z0-9_-]{1,63})*")
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


def signing_domain(settings: Settings) -> str:
    """The d= domain: `[email] dkim_domain`, else the domain of `[email] from`."""
    email = settings.email
    if email.dkim_domain:
        return email.dkim_domain.strip().rstrip(".").lower()
    return parseaddr(email.from_address)[1].rpartition("@")[2].lower()


def signer_for(root: Path, settings: Settings) -> DkimSigner | None:
    """The signer of this site, None when DKIM is not set up; PublishError for a bad key."""
    if not settings.email.dkim_selector and not settings.email.dkim_key_file:
        return None
    problems = key_problems(root, settings)
    if problems:
        raise PublishError(problems)
    key = (root / settings.email.dkim_key_file).read_bytes()
    return DkimSigner(settings.email.dkim_selector, signing_domain(settings), key)


def key_problems(root: Path, settings: Settings) -> list[Problem]:
    """What is wrong with the DKIM setup, as errors located in publish.toml ([] when fine)."""
    email = settings.email
    if not email.dkim_selector and not email.dkim_key_file:
        return []
    text = _settings_text(root)
    if not email.dkim_selector:
        return [
            _problem(
                text,
                "dkim_key_file",
                "[email] dkim_key_file is set but dkim_selector "
                "is not; set the selector your DNS publishes the key under",
            )
        ]
    if not email.dkim_key_file:
        return [
            _problem(
                text,
                "dkim_selector",
                "[email] dkim_selector is set but dkim_key_file "
                "is not; set the path of the PEM private key",
            )
        ]
    for key, value in (("dkim_selector", email.dkim_selector), ("dkim_domain", email.dkim_domain)):
        if value and not DNS_NAME.fullmatch(value.strip().rstrip(".")):
            return [_problem(text, key, f"[email] {key} must be a DNS name such as 'mail2026'")]
    fault = _key_file_fault(root, email.dkim_key_file)
    if fault:
        return [_problem(text, "dkim_key_file", f"[email] dkim_key_file {fault}")]
    if not signing_domain(settings):
        return [_problem(text, "dkim_domain", "there is no domain to sign for: set [email] from")]
    return []


def public_key_der(private_pem: bytes) -> bytes:
    """The public half of a PEM private key, as the DER bytes DNS publishes in base64."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def dns_record(private_pem: bytes) -> str:
    """The TXT record value that publishes the public half of a private key."""
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public_key_der(private_pem)).decode()


def _key_file_fault(root: Path, relative: str) -> str:
    """Why the key file cannot be used, or ''."""
    path = root / relative
    shown = f"'{relative}'"
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        return f"{shown} does not exist (paths are relative to the site folder)"
    except IsADirectoryError:
        return f"{shown} is a folder, not a key file"
    except PermissionError:
        return f"{shown} cannot be read by this user; make it readable by the user who sends"
    except OSError as exc:
        return f"{shown} cannot be read: {exc.strerror or exc}"
    if mode & stat.S_IROTH:
        return (
            f"{shown} can be read by every user of this machine (mode {stat.S_IMODE(mode):o}); "
            f"a private key must not be: run 'chmod 600 {relative}'"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return f"{shown} is not an unencrypted PEM private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return f"{shown} is not an RSA key; DKIM here signs with RSA (rsa-sha256)"
    if key.key_size < MIN_KEY_BITS:
        return f"{shown} is a {key.key_size}-bit key; receivers ignore keys under 1024 bits"
    return ""


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


def _settings_text(root: Path) -> str:
    """publish.toml's text, for locating keys ('' when unreadable)."""
    try:
        return (root / SETTINGS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _problem(text: str, key: str, message: str) -> Problem:
    """An error at `key` of `[email]` in publish.toml."""
    line, col = locate_setting(text, "email", key)
    return error(SETTINGS_FILE, line, col, message)

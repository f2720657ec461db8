"""HTTP Signatures for ActivityPub: signing as Mastodon does (draft-cavage-12 `Signature`
with a `Digest` of the body) and verifying both that and RFC 9421 (`Signature-Input`).

Cavage signing and verifying is a few lines over `cryptography` (the PyPI packages for it,
`httpsig` and kin, were last released in 2018); RFC 9421 is verified by
`http-message-signatures`, which implements the standard's signature base, its structured
fields and `Content-Digest`. Either way the caller's `KeyLookup` gives the signer's public
key, from a cache first: a signature that fails with a cached key is tried once more with
the key fetched anew, as a remote actor may have changed its key.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from types import SimpleNamespace
from urllib.parse import urlsplit

import msgspec
from cryptography.exceptions import InvalidSignature as BadSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

MAX_SKEW_SECONDS = 300  # how far a signed Date or `created` may be from the wall clock
SKEW = timedelta(seconds=MAX_SKEW_SECONDS)
SIGNED_POST = ("(request-target)", "host", "date", "digest", "content-type")
SIGNED_GET = ("(request-target)", "host", "date")
_PARAMETER = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*,?')


class SignatureError(Exception):
    """A request whose signature, digest or date does not hold; the message says why."""


class PublicKey(msgspec.Struct, frozen=True):
    """A remote actor's public key: its id, the actor that owns it, and the key (PEM)."""

    key_id: str
    owner: str
    pem: str


# (key id, fetch anew) -> the key; raises SignatureError when it cannot be had
KeyLookup = Callable[[str, bool], PublicKey]


class Request(msgspec.Struct, frozen=True):
    """What of an HTTP request a signature covers: method, the absolute URL it was sent to,
    its header fields (names lower case) and its body."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


def sign_request(
    method: str,
    url: str,
    body: bytes | None,
    private_key: rsa.RSAPrivateKey,
    key_id: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers of a request signed with draft-cavage-12 as Mastodon signs: Host, Date
    (the wall clock), and for a body its Digest and Content-Type, then `Signature`."""
    parts = urlsplit(url)
    headers = {
        "host": parts.netloc,
        "date": format_datetime(now or datetime.now(UTC), usegmt=True),
    }
    if body is not None:
        headers["digest"] = "SHA-256=" + _b64(hashlib.sha256(body).digest())
        headers["content-type"] = "application/activity+json"
    covered = SIGNED_POST if body is not None else SIGNED_GET
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    base = _cavage_base(covered, method, target or "/", headers, {})
    signature = private_key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(covered)}",'
        f'signature="{_b64(signature)}"'
    )
    return {name.title(): value for name, value in headers.items()}


def verify_request(request: Request, lookup: KeyLookup, now: datetime | None = None) -> PublicKey:
    """The key that signed `request` (RFC 9421 where it carries `Signature-Input`, else
    draft-cavage); SignatureError when no valid signature covers its method, target, host,
    date and body, or the date is more than MAX_SKEW_SECONDS from `now`."""
    now = now or datetime.now(UTC)
    if "signature-input" in request.headers:
        return _verify_rfc9421(request, lookup, now)
    return _verify_cavage(request, lookup, now)


def body_digest_matches(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the request's `Digest` (SHA-256 or SHA-512) matches its body."""
    for member in headers.get("digest", "").split(","):
        name, _, value = member.strip().partition("=")
        algorithm = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}.get(name.lower())
        if algorithm and value == _b64(algorithm(body).digest()):
            return True
    return False


def _check_content_digest(value: str, body: bytes) -> None:
    """SignatureError unless an RFC 9530 `Content-Digest` matches the body."""
    from http_message_signatures.digests import ContentDigest
    from http_message_signatures.exceptions import HTTPMessageSignaturesException

    try:
        ContentDigest.verify(value, body)
    except HTTPMessageSignaturesException:
        raise SignatureError("the Content-Digest does not match the body") from None


# --- draft-cavage ---------------------------------------------------------------------


def _verify_cavage(request: Request, lookup: KeyLookup, now: datetime) -> PublicKey:
    """Verify a draft-cavage `Signature` (or `Authorization: Signature ...`) header."""
    raw = request.headers.get("signature") or request.headers.get("authorization", "")
    params = dict(_PARAMETER.findall(raw.removeprefix("Signature ")))
    if not {"keyId", "signature"} <= params.keys():
        raise SignatureError("the request carries no HTTP Signature")
    covered = tuple(params.get("headers", "date").lower().split())
    required = ["(request-target)", "host"]
    required.append("date" if "date" in request.headers else "(created)")
    if request.body:
        required.append("digest")
    missing = [name for name in required if name not in covered]
    if missing:
        raise SignatureError(f"the signature does not cover {', '.join(missing)}")
    if request.body and not body_digest_matches(request.headers, request.body):
        raise SignatureError("the Digest does not match the body")
    if "content-digest" in request.headers:
        _check_content_digest(request.headers["content-digest"], request.body)
    _check_time(_signed_time(request.headers, params), now)
    target = urlsplit(request.url)
    path = target.path + (f"?{target.query}" if target.query else "")
    try:
        base = _cavage_base(covered, request.method, path, request.headers, params)
        signature = base64.b64decode(params["signature"], validate=True)
    except (KeyError, ValueError) as exc:
        raise SignatureError(f"the signature cannot be read ({exc})") from None
    return _with_fresh_key(
        params["keyId"], lookup, lambda key: _cavage_valid(key, base.encode(), signature)
    )


def _cavage_base(
    covered: tuple[str, ...],
    method: str,
    target: str,
    headers: Mapping[str, str],
    params: Mapping[str, str],
) -> str:
    """The signing string of draft-cavage-12 section 2.3 (KeyError for a missing header)."""
    lines = []
    for name in covered:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in ("(created)", "(expires)"):
            lines.append(f"{name}: {params[name.strip('()')]}")
        else:
            lines.append(f"{name}: {headers[name]}")
    return "\n".join(lines)


def _cavage_valid(key: PublicKey, base: bytes, signature: bytes) -> bool:
    """Whether `signature` over `base` verifies with the key (RSA SHA-256 or Ed25519)."""
    public = _load(key)
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, base, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, base)
        else:
            return False
    except BadSignature:
        return False
    return True


def _signed_time(headers: Mapping[str, str], params: Mapping[str, str]) -> datetime:
    """When the request says it was signed: its Date header, else the `created` parameter."""
    try:
        if "date" in headers:
            return parsedate_to_datetime(headers["date"])
        return datetime.fromtimestamp(int(params["created"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise SignatureError("the request's date cannot be read") from None


# --- RFC 9421 -------------------------------------------------------------------------


def _verify_rfc9421(request: Request, lookup: KeyLookup, now: datetime) -> PublicKey:
    """Verify an RFC 9421 signature covering method, target URI and the body's
    Content-Digest, created within MAX_SKEW_SECONDS."""
    import http_sf
    from http_message_signatures import HTTPMessageVerifier, algorithms
    from http_message_signatures.exceptions import HTTPMessageSignaturesException
    from http_message_signatures.resolvers import HTTPSignatureKeyResolver

    try:
        inputs = http_sf.parse(request.headers["signature-input"].encode(), tltype="dictionary")
        (_, params), *_ = inputs.values()
        key_id, created = str(params["keyid"]), int(params["created"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"the Signature-Input cannot be read ({exc})") from None
    _check_time(datetime.fromtimestamp(created, UTC), now)
    required = ["@method", "@target-uri"] + (["content-digest"] if request.body else [])
    message = SimpleNamespace(
        method=request.method.upper(), url=request.url, headers=request.headers
    )

    def valid(key: PublicKey) -> bool:
        public = _load(key)
        algorithm = (
            algorithms.ED25519
            if isinstance(public, ed25519.Ed25519PublicKey)
            else algorithms.RSA_V1_5_SHA256
            if params.get("alg", "rsa-v1_5-sha256") == "rsa-v1_5-sha256"
            else algorithms.RSA_PSS_SHA512
        )

        class Resolver(HTTPSignatureKeyResolver):
            def resolve_public_key(self, asked: str) -> object:
                return public

        verifier = HTTPMessageVerifier(signature_algorithm=algorithm, key_resolver=Resolver())
        verifier.max_clock_skew = SKEW
        try:
            verifier.verify(message, max_age=SKEW, require_components=required, body=request.body)
        except HTTPMessageSignaturesException:
            return False
        return True

    return _with_fresh_key(key_id, lookup, valid)


# --- Shared ---------------------------------------------------------------------------


def _with_fresh_key(
    key_id: str, lookup: KeyLookup, valid: Callable[[PublicKey], bool]
) -> PublicKey:
    """The key if the signature verifies with it: first as cached, then fetched anew."""
    key = lookup(key_id, False)
    if valid(key):
        return key
    fresh = lookup(key_id, True)
    if fresh.pem != key.pem and valid(fresh):
        return fresh
    raise SignatureError("the signature does not verify with the signer's key")


def _load(key: PublicKey) -> object:
    """The public key object of a PEM; SignatureError if it is not one."""
    try:
        return serialization.load_pem_public_key(key.pem.encode())
    except (ValueError, TypeError):
        raise SignatureError(f"the key {key.key_id} is not a public key") from None


def _check_time(signed: datetime, now: datetime) -> None:
    """SignatureError unless `signed` is within MAX_SKEW_SECONDS of `now`."""
    if signed.tzinfo is None:
        signed = signed.replace(tzinfo=UTC)
    if abs((now - signed).total_seconds()) > MAX_SKEW_SECONDS:
        raise SignatureError(f"the request's date is more than {MAX_SKEW_SECONDS} s from now")


def _b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")

"""Amazon SNS messages, as Amazon SES posts its bounce and complaint notifications: the
signature check and the reports they carry.

SNS signs the canonical string of a message (the fields its documentation lists for each
message type, each as `name\\nvalue\\n`) with the key of its signing certificate: SHA1 with
RSA for SignatureVersion 1, SHA256 with RSA for 2. The operator may pin that certificate
by file; then no other is accepted and nothing is fetched. Otherwise the certificate is
fetched from SigningCertURL, and only over https from a host `sns.<region>.amazonaws.com`.
A valid signature proves the message came from SNS, not from the operator's topic: the
hook also requires the TopicArn to be one the operator named.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from publish.state.standing import COMPLAINT, HARD_BOUNCE, SOFT_BOUNCE, Outcome

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SIGNED_FIELDS = {
    "Notification": NOTIFICATION_FIELDS,
    "SubscriptionConfirmation": CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": CONFIRMATION_FIELDS,
}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
FETCH_TIMEOUT = 10
MAX_CERTIFICATE = 64 * 1024
MAX_JSON_DEPTH = 32  # the providers' posts nest 4 or 5 levels
_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"?')  # a string (or its unclosed start)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")

CertificateSource = Callable[[str], x509.Certificate]


class Refused(Exception):
    """The message is not one to believe; the reason is safe to log."""


class Malformed(ValueError):
    """The post is not the shape its provider documents; the reason is safe to log."""


def read_json(body: bytes) -> Any:
    """A post's body as JSON; Malformed when it is not JSON or is nested deeper than
    MAX_JSON_DEPTH (measured on the bytes before parsing, so nothing recurses deep)."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise Malformed(f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        raise Malformed("the body is not JSON") from None


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped); a cheap scan
    that never parses."""
    depth = deepest = 0
    for bracket in _BRACKETS.sub(b"", body).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def read_message(body: bytes) -> dict[str, Any]:
    """The JSON object of an SNS post; Malformed when it is not one."""
    message = read_json(body)
    if not isinstance(message, dict) or message.get("Type") not in SIGNED_FIELDS:
        raise Malformed("the body is not an SNS message")
    return message


def canonical_string(message: dict[str, Any]) -> bytes:
    """What SNS signed: each signed field present, as `name\\nvalue\\n`, in the order of
    the documentation (Subject only when the message has one)."""
    fields = SIGNED_FIELDS[message["Type"]]
    parts = []
    for name in fields:
        if name not in message:
            if name == "Subject":
                continue
            raise Malformed(f"the message has no {name}")
        parts.append(f"{name}\n{message[name]}\n")
    return "".join(parts).encode("utf-8")


def verify(message: dict[str, Any], certificate: x509.Certificate) -> None:
    """Raise Refused unless the message's Signature is the certificate key's over its
    canonical string, with the hash of its SignatureVersion."""
    algorithm = HASHES.get(str(message.get("SignatureVersion", "")))
    if algorithm is None:
        raise Refused("unknown SignatureVersion")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("the signature is not base64") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused("the signing certificate has no RSA key")
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Refused("the signing certificate is not valid now")
    try:
        key.verify(signature, canonical_string(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Refused("the signature does not match") from None


def pinned_certificates(path: Path) -> CertificateSource:
    """The pinned certificate, whatever the message names (nothing is fetched)."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Refused(f"the pinned certificate cannot be read ({type(exc).__name__})") from None
    return lambda url: certificate


def fetched_certificates(cache: dict[str, x509.Certificate]) -> CertificateSource:
    """Certificates fetched from SNS's own https hosts (kept in `cache` by URL)."""

    def source(url: str) -> x509.Certificate:
        refuse_certificate_url(url)
        if url not in cache:
            try:
                with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
                    data = response.read(MAX_CERTIFICATE)
                cache[url] = x509.load_pem_x509_certificate(data)
            except (OSError, ValueError) as exc:
                raise Refused(f"the signing certificate could not be fetched ({exc})") from None
        return cache[url]

    return source


def refuse_certificate_url(url: str) -> None:
    """Raise Refused unless the URL is https on an SNS host (`sns.<region>.amazonaws.com`)
    with the default port and a .pem path."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme != "https"
        or not SNS_HOST.fullmatch(parts.hostname or "")
        or port not in (None, 443)
        or parts.username is not None
        or not parts.path.endswith(".pem")
    ):
        raise Refused("SigningCertURL is not an https address of Amazon SNS")


def ses_outcomes(message: dict[str, Any]) -> list[Outcome]:
    """The reports of an SES notification: a Permanent bounce is hard, Transient or
    Undetermined soft; a complaint is a complaint; anything else (deliveries) nothing."""
    try:
        notification = json.loads(message["Message"])
    except (TypeError, json.JSONDecodeError):
        raise Malformed("the notification's Message is not JSON") from None
    if not isinstance(notification, dict):
        raise Malformed("the notification's Message is not an object")
    kind = notification.get("notificationType") or notification.get("eventType")
    message_id = str(message["MessageId"])
    if kind == "Bounce":
        bounce = _object(notification, "bounce")
        hard = bounce.get("bounceType") == "Permanent"
        detail = f"{bounce.get('bounceType', '')}/{bounce.get('bounceSubType', '')}"
        return [
            Outcome(
                HARD_BOUNCE if hard else SOFT_BOUNCE,
                address,
                "ses",
                f"ses:{message_id}:{address.lower()}",
                f"{detail} {recipient.get('status', '')}".strip(),
            )
            for recipient, address in _recipients(bounce, "bouncedRecipients")
        ]
    if kind == "Complaint":
        complaint = _object(notification, "complaint")
        detail = str(complaint.get("complaintFeedbackType", ""))
        return [
            Outcome(COMPLAINT, address, "ses", f"ses:{message_id}:{address.lower()}", detail)
            for _, address in _recipients(complaint, "complainedRecipients")
        ]
    return []


def _object(notification: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object of a notification; Refused when it is missing."""
    value = notification.get(name)
    if not isinstance(value, dict):
        raise Malformed(f"the notification has no {name} object")
    return value


def _recipients(report: dict[str, Any], name: str) -> list[tuple[dict[str, Any], str]]:
    """Each recipient of a bounce or complaint, with its address."""
    listed = report.get(name)
    if not isinstance(listed, list):
        raise Malformed(f"the notification has no {name}")
    return [
        (item, str(item["emailAddress"]))
        for item in listed
        if isinstance(item, dict) and isinstance(item.get("emailAddress"), str)
    ]

"""The providers' webhooks over real HTTP, with their real proofs: SNS messages signed with a
key and certificate made here, Postmark's basic auth, Mailgun's HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.service.app import create_app
from publish.service.hooks import MAX_HOOK_BODY
from publish.service.sns import Refused, refuse_certificate_url
from publish.state import db, replays, subscribers
from publish.state.imports import import_csv
from tests.servicesite import build, running_service, send, service_site
from tests.tools import RecordingSMTPServer, free_port

TOPIC = "arn:aws:sns:eu-west-1:123456789012:publish-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123.pem"
POSTMARK_PASSWORD = "pm-hook-Pa55-9f8e7d"
MAILGUN_KEY = "key-mailgun-signing-1a2b3c4d5e6f"
SECRET = "test-secret-webhooks-0123456789"
READERS = [f"reader{n}@example.net" for n in range(1, 5)]


@dataclass(frozen=True)
class Signer:
    """An RSA key and its self-signed certificate, standing in for SNS's."""

    key: rsa.RSAPrivateKey
    certificate_pem: bytes


def make_signer() -> Signer:
    """A fresh key and a certificate for it, valid from yesterday to tomorrow."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, certificate.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def signer() -> Signer:
    """The test's SNS signing key."""
    return make_signer()


def sns_message(
    signer: Signer,
    notification: dict[str, Any] | None = None,
    *,
    kind: str = "Notification",
    version: str = "1",
    topic: str = TOPIC,
    cert_url: str = CERT_URL,
    **extra: str,
) -> dict[str, Any]:
    """An SNS message signed as SNS signs: the canonical string of its signed fields."""
    message: dict[str, Any] = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(notification) if notification is not None else "confirm",
        "Timestamp": "2026-12-01T09:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        **extra,
    }
    if kind == "Notification":
        fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{f}\n{message[f]}\n" for f in fields if f in message)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = signer.key.sign(canonical.encode(), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def ses_bounce(address: str, bounce_type: str) -> dict[str, Any]:
    """An SES bounce notification for one recipient."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1"}],
            "timestamp": "2026-12-01T09:00:00.000Z",
            "feedbackId": str(uuid.uuid4()),
        },
        "mail": {"messageId": str(uuid.uuid4()), "source": "letters@example.org"},
    }


def ses_complaint(address: str) -> dict[str, Any]:
    """An SES complaint notification for one recipient."""
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": address}],
            "complaintFeedbackType": "abuse",
            "feedbackId": str(uuid.uuid4()),
        },
        "mail": {"messageId": str(uuid.uuid4())},
    }


@dataclass
class Hooks:
    """The running service of a built site with four active readers."""

    root: Path
    base: str
    smtp: RecordingSMTPServer

    def post(self, hook: str, body: Any, headers: dict[str, str] | None = None) -> int:
        """POST JSON to /hooks/<hook>; the status code."""
        return self.answer(hook, body, headers)[0]

    def answer(
        self, hook: str, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """POST JSON to /hooks/<hook>; the status code, content type and text of the answer."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}hooks/{hook}",
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return (
                    response.status,
                    response.headers.get_content_type(),
                    response.read().decode(),
                )
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers.get_content_type(), error.read().decode()

    def status(self, address: str) -> str:
        """The reader's status now."""
        with closing(db.connect(self.root / "state" / "publish.db")) as conn:
            found = subscribers.find_subscriber(conn, address)
            assert found is not None
            return found.status

    def snapshot(self) -> list[str]:
        """Every row of the state, to show that a refused post changed nothing."""
        with closing(db.connect(self.root / "state" / "publish.db")) as conn:
            return list(conn.iterdump())

    def mailed(self) -> set[str]:
        """The readers the essay was sent to."""
        return {r.lower() for _, rcpts, _ in self.smtp.messages for r in rcpts}


@pytest.fixture
def hooks(
    tmp_path: Path,
    smtp_server: RecordingSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
    signer: Signer,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Hooks]:
    """A built site with four active readers, its service running with all three hooks."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    certificate = tmp_path / "sns-signing.pem"
    certificate.write_bytes(signer.certificate_pem)
    monkeypatch.setenv("PUBLISH_SES_TOPIC_ARN", TOPIC)
    monkeypatch.setenv("PUBLISH_SES_CERTIFICATE", str(certificate))
    monkeypatch.setenv("PUBLISH_POSTMARK_USER", "postmark")
    monkeypatch.setenv("PUBLISH_POSTMARK_PASSWORD", POSTMARK_PASSWORD)
    monkeypatch.setenv("PUBLISH_MAILGUN_SIGNING_KEY", MAILGUN_KEY)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    build(root)
    readers = root / "readers.csv"
    readers.write_text("email,name\n" + "\n".join(READERS) + "\n", encoding="utf-8")
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        import_csv(conn, readers)
    with running_service(create_app(root), port) as base:
        yield Hooks(root, base, smtp_server)
    for secret in (POSTMARK_PASSWORD, MAILGUN_KEY, SECRET):
        assert secret not in caplog.text


def test_ses_bounces_and_complaints_through_signed_sns_messages(
    hooks: Hooks, signer: Signer
) -> None:
    hard = sns_message(signer, ses_bounce(READERS[0], "Permanent"), version="1")
    assert hooks.post("ses", hard) == 200
    assert hooks.post("ses", sns_message(signer, ses_complaint(READERS[1]), version="2")) == 200
    soft = sns_message(signer, ses_bounce(READERS[2], "Transient"), Subject="Bounce")
    assert hooks.post("ses", soft) == 200
    assert [hooks.status(a) for a in READERS] == ["bounced", "complained", "active", "active"]
    before = hooks.snapshot()
    assert hooks.post("ses", hard) == 200  # SNS delivers again: nothing changes
    assert hooks.snapshot() == before
    send(hooks.root, "second-letter")
    assert hooks.mailed() == {READERS[2], READERS[3]}


def test_forged_or_foreign_sns_messages_are_refused_and_change_nothing(
    hooks: Hooks, signer: Signer
) -> None:
    before = hooks.snapshot()
    tampered = sns_message(signer, ses_bounce(READERS[0], "Permanent"))
    tampered["Message"] = json.dumps(ses_bounce(READERS[1], "Permanent"))
    other = sns_message(make_signer(), ses_bounce(READERS[0], "Permanent"), version="2")
    foreign = sns_message(signer, ses_complaint(READERS[0]), topic=TOPIC + "-other")
    unknown = sns_message(signer, ses_complaint(READERS[0]))
    unknown["SignatureVersion"] = "3"
    for message in (tampered, other, foreign, unknown):
        assert hooks.post("ses", message) == 403
    assert hooks.post("ses", b"not json") == 400
    assert hooks.snapshot() == before
    assert [hooks.status(a) for a in READERS] == ["active"] * 4


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that counts connections and answers nothing."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def stop(self) -> None:
        self.running = False
        self.thread.join(5)
        self.socket.close()


def test_unpinned_a_certificate_url_off_amazon_sns_is_refused_without_fetching(
    hooks: Hooks, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBLISH_SES_CERTIFICATE")
    counter = ConnectionCounter()
    try:
        for url in (
            f"http://127.0.0.1:{counter.port}/cert.pem",
            f"https://127.0.0.1:{counter.port}/SimpleNotificationService-1.pem",
            f"https://sns.eu-west-1.amazonaws.com@127.0.0.1:{counter.port}/c.pem",
            f"http://sns.eu-west-1.amazonaws.com:{counter.port}/c.pem",
        ):
            message = sns_message(signer, ses_bounce(READERS[0], "Permanent"), cert_url=url)
            assert hooks.post("ses", message) == 403
        time.sleep(0.1)
        assert counter.connections == 0
    finally:
        counter.stop()
    assert hooks.status(READERS[0]) == "active"


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        (CERT_URL, True),
        ("https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-1.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem", True),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService.pem", False),
        ("https://evil.example/sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-1.pem", False),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.txt", False),
    ],
)
def test_which_certificate_urls_count_as_amazon_sns(url: str, accepted: bool) -> None:
    try:
        refuse_certificate_url(url)
    except Refused:
        assert not accepted
    else:
        assert accepted


def test_a_subscription_confirmation_is_logged_for_the_operator_not_visited(
    hooks: Hooks, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    counter = ConnectionCounter()
    try:
        subscribe_url = f"http://127.0.0.1:{counter.port}/?Action=ConfirmSubscription&Token=t1"
        message = sns_message(
            signer,
            kind="SubscriptionConfirmation",
            version="2",
            SubscribeURL=subscribe_url,
            Token="t1",
        )
        before = hooks.snapshot()
        assert hooks.post("ses", message) == 200
        time.sleep(0.1)
        assert counter.connections == 0
    finally:
        counter.stop()
    assert hooks.snapshot() == before
    assert f"to confirm the subscription, open its SubscribeURL: {subscribe_url}" in caplog.text


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def postmark_bounce(address: str, kind: str, record: str = "Bounce") -> dict[str, Any]:
    """A Postmark bounce (or spam complaint) webhook record."""
    return {
        "RecordType": record,
        "ID": uuid.uuid4().int % 10**12,
        "Type": kind,
        "TypeCode": 1,
        "Email": address,
        "From": "letters@example.org",
        "BouncedAt": "2026-12-01T09:00:00Z",
        "Description": "The server was unable to deliver your message",
    }


def test_postmark_bounces_and_complaints_with_basic_auth(hooks: Hooks) -> None:
    auth = basic("postmark", POSTMARK_PASSWORD)
    hard = postmark_bounce(READERS[0], "HardBounce")
    assert hooks.post("postmark", hard, auth) == 200
    assert hooks.post("postmark", postmark_bounce(READERS[1], "SoftBounce"), auth) == 200
    complaint = postmark_bounce(READERS[2], "SpamComplaint", record="SpamComplaint")
    assert hooks.post("postmark", complaint, auth) == 200
    assert [hooks.status(a) for a in READERS] == ["bounced", "active", "complained", "active"]
    before = hooks.snapshot()
    assert hooks.post("postmark", hard, auth) == 200
    assert hooks.snapshot() == before
    send(hooks.root, "second-letter")
    assert hooks.mailed() == {READERS[1], READERS[3]}


def test_postmark_without_the_right_password_is_refused(hooks: Hooks) -> None:
    before = hooks.snapshot()
    record = postmark_bounce(READERS[0], "HardBounce")
    assert hooks.post("postmark", record) == 403
    assert hooks.post("postmark", record, basic("postmark", POSTMARK_PASSWORD + "x")) == 403
    assert hooks.post("postmark", record, basic("someone", POSTMARK_PASSWORD)) == 403
    assert hooks.snapshot() == before


def mailgun_event(
    address: str, event: str, severity: str = "", *, timestamp: int | None = None
) -> dict[str, Any]:
    """A Mailgun webhook post, signed with the signing key."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = uuid.uuid4().hex
    signature = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256)
    data: dict[str, Any] = {"event": event, "id": uuid.uuid4().hex, "recipient": address}
    if severity:
        data |= {"severity": severity, "delivery-status": {"code": 550}, "reason": "bounce"}
    return {
        "signature": {"timestamp": stamp, "token": token, "signature": signature.hexdigest()},
        "event-data": data,
    }


def test_the_hooks_answer_a_provider_in_plain_text_a_reader_gets_the_page(
    hooks: Hooks,
) -> None:
    record = postmark_bounce(READERS[0], "HardBounce")
    assert hooks.answer("postmark", record) == (403, "text/plain", "403 Forbidden\n")
    status, kind, text = hooks.answer("ses", b"{not json")
    assert (status, kind) == (400, "text/plain")
    assert text == "400 Bad Request\nThis is not a notification this hook understands.\n"
    assert hooks.answer("sendgrid", {})[:2] == (404, "text/plain")
    with pytest.raises(urllib.error.HTTPError) as wrong_link:
        urllib.request.urlopen(f"{hooks.base}confirm/not-a-token", timeout=30)
    with wrong_link.value as error:
        assert (error.code, error.headers.get_content_type()) == (404, "text/html")
        assert "This link is not valid" in error.read().decode()


def test_mailgun_failures_and_complaints_with_a_valid_hmac(hooks: Hooks) -> None:
    permanent = mailgun_event(READERS[0], "failed", "permanent")
    assert hooks.post("mailgun", permanent) == 200
    assert hooks.post("mailgun", mailgun_event(READERS[1], "failed", "temporary")) == 200
    assert hooks.post("mailgun", mailgun_event(READERS[2], "complained")) == 200
    assert [hooks.status(a) for a in READERS] == ["bounced", "active", "complained", "active"]
    send(hooks.root, "second-letter")
    assert hooks.mailed() == {READERS[1], READERS[3]}


def test_mailgun_wrong_stale_or_replayed_signatures_are_refused(hooks: Hooks) -> None:
    before = hooks.snapshot()
    wrong = mailgun_event(READERS[0], "failed", "permanent")
    wrong["signature"]["signature"] = "0" * 64
    stale = mailgun_event(READERS[0], "failed", "permanent", timestamp=int(time.time()) - 3600)
    assert hooks.post("mailgun", wrong) == 403
    assert hooks.post("mailgun", stale) == 403
    assert hooks.post("mailgun", {"event-data": {}}) == 403
    assert hooks.snapshot() == before
    first = mailgun_event(READERS[1], "failed", "temporary")
    assert hooks.post("mailgun", first) == 200
    after_first = hooks.snapshot()
    replay = json.loads(json.dumps(first))
    replay["event-data"] = {"event": "complained", "id": "x1", "recipient": READERS[0]}
    assert hooks.post("mailgun", replay) == 403  # the token was used: refused, signed or not
    assert hooks.snapshot() == after_first
    assert hooks.status(READERS[0]) == "active"


def test_a_hook_without_its_settings_is_not_there(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "PUBLISH_SES_TOPIC_ARN",
        "PUBLISH_POSTMARK_PASSWORD",
        "PUBLISH_MAILGUN_SIGNING_KEY",
    ):
        monkeypatch.delenv(name)
    assert hooks.post("ses", {}) == 404
    assert hooks.post("postmark", {}, basic("postmark", "")) == 404
    assert hooks.post("mailgun", {}) == 404
    assert hooks.post("sendgrid", {}) == 404


# --- Hostile bodies -------------------------------------------------------------------------


def raw_post(
    base: str, hook: str, body: bytes, headers: dict[str, str] | None = None, chunked: bool = False
) -> int:
    """POST `body` to /hooks/<hook> as it is (with a Content-Length, or chunked without one);
    the status code."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    sent: Any = (body[i : i + 65536] for i in range(0, len(body), 65536)) if chunked else body
    try:
        connection.request(
            "POST",
            f"/hooks/{hook}",
            body=sent,
            headers={"Content-Type": "application/json", **(headers or {})},
            encode_chunked=chunked,
        )
        return connection.getresponse().status
    finally:
        connection.close()


def nested(depth: int, opening: bytes = b"[") -> bytes:
    """JSON arrays (or objects) nested `depth` deep."""
    closing_bracket = b"]" if opening == b"[" else b"}"
    inner = b'"k":' if opening == b"{" else b""
    return (
        (opening + inner) * depth
        + b"1" * (opening == b"[")
        + b"{}" * (opening == b"{")
        + (closing_bracket * depth)
    )


HOSTILE_DEPTH = 100_000


def test_deep_oversized_or_garbage_bodies_are_refused_as_400_or_413_never_500(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    auth = basic("postmark", POSTMARK_PASSWORD)
    deep = nested(HOSTILE_DEPTH)
    for hook, headers in (("ses", None), ("mailgun", None), ("postmark", auth)):
        assert raw_post(hooks.base, hook, deep, headers) == 400
        assert raw_post(hooks.base, hook, nested(HOSTILE_DEPTH // 2, b"{"), headers) == 400
        assert raw_post(hooks.base, hook, b"\xff\xfe\x00{[", headers) == 400
    for hook, headers in (("ses", None), ("mailgun", None), ("postmark", auth), ("postmark", None)):
        big = b" " * (600 * 1024) + b"{}"
        assert raw_post(hooks.base, hook, big, headers) == 413
        assert raw_post(hooks.base, hook, big, headers, chunked=True) == 413
    mailgun_deep = b'{"signature": ' + nested(900) + b"}"
    assert raw_post(hooks.base, "mailgun", mailgun_deep) == 400
    ses_deep = json.dumps({"Type": "Notification", "TopicArn": TOPIC, "Message": "m"}).encode()
    assert raw_post(hooks.base, "ses", ses_deep.replace(b'"m"', nested(900))) == 400
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text
    assert [hooks.status(a) for a in READERS] == ["active"] * 4


hostile_bodies = st.one_of(
    st.binary(max_size=4096),
    st.builds(nested, st.integers(1, 200_000), st.sampled_from([b"[", b"{"])),
    st.builds(
        lambda size, fill: fill * size,
        st.integers(MAX_HOOK_BODY - 64, MAX_HOOK_BODY + 4096),
        st.sampled_from([b" ", b"[", b"{", b"\x00", b'"']),
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=40,
    ).map(lambda value: json.dumps(value).encode()),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=hostile_bodies,
    target=st.sampled_from(["ses", "mailgun", "postmark", "postmark-with-password"]),
    chunked=st.booleans(),
)
def test_no_body_makes_a_webhook_fail(
    hooks: Hooks, body: bytes, target: str, chunked: bool
) -> None:
    hook, _, with_password = target.partition("-")
    headers = basic("postmark", POSTMARK_PASSWORD) if with_password else None
    assert raw_post(hooks.base, hook, body, headers, chunked) in {400, 403, 413}


# --- Mailgun tokens across a restart ---------------------------------------------------------


def test_a_mailgun_token_used_before_a_restart_is_refused_after_it(hooks: Hooks) -> None:
    first = mailgun_event(READERS[1], "failed", "temporary")
    assert hooks.post("mailgun", first) == 200
    after_first = hooks.snapshot()
    port = free_port()
    with running_service(create_app(hooks.root), port) as restarted:
        replay = json.loads(json.dumps(first))
        replay["event-data"] = {"event": "complained", "id": "x2", "recipient": READERS[0]}
        again = Hooks(hooks.root, restarted, hooks.smtp)
        assert again.post("mailgun", replay) == 403
        assert again.snapshot() == after_first
        assert again.status(READERS[0]) == "active"
        assert again.post("mailgun", mailgun_event(READERS[2], "complained")) == 200
    with closing(db.connect(hooks.root / "state" / "publish.db")) as conn:
        kept = [row[0] for row in conn.execute("SELECT proof FROM used_proofs")]
    assert len(kept) == 2 and first["signature"]["token"] not in kept


def test_used_mailgun_tokens_are_pruned_once_stale(hooks: Hooks) -> None:
    with closing(db.connect(hooks.root / "state" / "publish.db")) as conn, db.transaction(conn):
        assert replays.first_use(conn, "mailgun:old", now=1000.0, expires_at=1300.0)
        assert not replays.first_use(conn, "mailgun:old", now=1200.0, expires_at=1300.0)
        assert replays.first_use(conn, "mailgun:new", now=1301.0, expires_at=1601.0)
        assert conn.execute("SELECT COUNT(*) FROM used_proofs").fetchone()[0] == 1

"""HTTP Signatures: what the site signs verifies, and a tampered body, signature or date, or
a key that does not match, is refused; RFC 9421 signatures verify too."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from publish.fediverse.keys import actor_key, public_pem
from publish.fediverse.signatures import (
    PublicKey,
    Request,
    SignatureError,
    sign_request,
    verify_request,
)

INBOX = "https://example.org/activitypub/inbox"
KEY_ID = "https://remote.example/users/ann#main-key"
BODY = b'{"type": "Follow", "actor": "https://remote.example/users/ann"}'
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def lookup_of(*keys: rsa.RSAPrivateKey):
    """A key lookup answering with `keys[0]` from its cache and `keys[-1]` when asked to
    fetch anew; it records each call."""
    calls = []

    def lookup(key_id: str, fresh: bool) -> PublicKey:
        calls.append(fresh)
        return PublicKey(
            key_id, "https://remote.example/users/ann", public_pem(keys[-1 if fresh else 0])
        )

    lookup.calls = calls  # type: ignore[attr-defined]
    return lookup


def signed(
    body: bytes = BODY, key: rsa.RSAPrivateKey = KEY, now: datetime | None = None
) -> Request:
    """A POST to the inbox signed as Mastodon signs it."""
    headers = sign_request("POST", INBOX, body, key, KEY_ID, now)
    return Request("POST", INBOX, {k.lower(): v for k, v in headers.items()}, body)


def test_a_signed_request_verifies_and_names_its_key() -> None:
    key = verify_request(signed(), lookup_of(KEY))
    assert key.key_id == KEY_ID
    assert key.owner == "https://remote.example/users/ann"


def test_a_tampered_body_is_refused() -> None:
    request = signed()
    with pytest.raises(SignatureError, match="Digest does not match"):
        verify_request(replace(request, body=BODY.replace(b"Follow", b"Delete")), lookup_of(KEY))


def test_a_body_with_a_matching_new_digest_still_fails_the_signature() -> None:
    request = signed()
    body = BODY.replace(b"Follow", b"Delete")
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    tampered = replace(request, body=body, headers={**request.headers, "digest": digest})
    with pytest.raises(SignatureError, match="does not verify"):
        verify_request(tampered, lookup_of(KEY))


def test_a_tampered_signature_is_refused() -> None:
    request = signed()
    header = request.headers["signature"]
    value = header.split('signature="')[1].rstrip('"')
    flipped = ("A" if value[0] != "A" else "B") + value[1:]
    headers = {**request.headers, "signature": header.replace(value, flipped)}
    with pytest.raises(SignatureError):
        verify_request(replace(request, headers=headers), lookup_of(KEY))


def test_a_stale_date_is_refused() -> None:
    request = signed(now=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(SignatureError, match="date"):
        verify_request(request, lookup_of(KEY))


def test_a_key_that_does_not_match_is_refused_after_fetching_it_again() -> None:
    lookup = lookup_of(OTHER)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_request(signed(), lookup)
    assert lookup.calls == [False, True]


def test_a_changed_key_is_fetched_again_and_then_verifies() -> None:
    lookup = lookup_of(OTHER, KEY)  # the cache holds the old key, the actor the new one
    assert verify_request(signed(), lookup).pem == public_pem(KEY)
    assert lookup.calls == [False, True]


def test_a_signature_that_leaves_out_the_digest_is_refused() -> None:
    request = signed()
    header = request.headers["signature"].replace(" digest", "")
    with pytest.raises(SignatureError, match="does not cover digest"):
        verify_request(
            replace(request, headers={**request.headers, "signature": header}), lookup_of(KEY)
        )


def rfc9421_signed(body: bytes, key: rsa.RSAPrivateKey, created: datetime | None = None) -> Request:
    """A POST signed with RFC 9421 by http-message-signatures, as Fedify 2 signs."""
    from http_message_signatures import HTTPMessageSigner, algorithms
    from http_message_signatures.resolvers import MappingKeyResolver

    message = SimpleNamespace(
        method="POST", url=INBOX, headers={"content-type": "application/activity+json"}
    )
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: key}),
    )
    signer.sign(
        message,
        key_id=KEY_ID,
        created=created,
        covered_component_ids=("@method", "@target-uri", "content-digest"),
        body=body,
    )
    return Request("POST", INBOX, {k.lower(): v for k, v in message.headers.items()}, body)


def test_an_rfc9421_signature_verifies() -> None:
    assert verify_request(rfc9421_signed(BODY, KEY), lookup_of(KEY)).key_id == KEY_ID


def test_an_rfc9421_signature_over_another_body_is_refused() -> None:
    request = rfc9421_signed(BODY, KEY)
    with pytest.raises(SignatureError):
        verify_request(replace(request, body=b"{}"), lookup_of(KEY))


def test_an_rfc9421_signature_by_another_key_or_too_old_is_refused() -> None:
    with pytest.raises(SignatureError):
        verify_request(rfc9421_signed(BODY, OTHER), lookup_of(KEY))
    old = datetime.now(UTC) - timedelta(minutes=10)
    with pytest.raises(SignatureError, match="date"):
        verify_request(rfc9421_signed(BODY, KEY, created=old), lookup_of(KEY))


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=80)


@given(
    signature=HEADER_TEXT,
    date=HEADER_TEXT,
    digest=HEADER_TEXT,
    signature_input=st.one_of(st.none(), HEADER_TEXT),
    body=st.binary(max_size=64),
)
def test_any_malformed_signature_is_a_signature_error(
    signature: str, date: str, digest: str, signature_input: str | None, body: bytes
) -> None:
    headers = {"signature": signature, "date": date, "digest": digest, "host": "example.org"}
    if signature_input is not None:
        headers["signature-input"] = signature_input
    with pytest.raises(SignatureError):
        verify_request(Request("POST", INBOX, headers, body), lookup_of(KEY))


def test_the_actor_key_is_made_once_with_mode_0600(tmp_path) -> None:
    first = actor_key(tmp_path / "state")
    path = tmp_path / "state" / "actor.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_pem(actor_key(tmp_path / "state")) == public_pem(first)
    assert list((tmp_path / "state").iterdir()) == [path]


def test_a_content_digest_beside_the_digest_must_match_too() -> None:
    request = signed()
    wrong = "sha-256=:" + base64.b64encode(hashlib.sha256(b"other").digest()).decode() + ":"
    with pytest.raises(SignatureError, match="Content-Digest"):
        verify_request(
            replace(request, headers={**request.headers, "content-digest": wrong}), lookup_of(KEY)
        )

"""The actor's key pair: made once, kept beside the state database with mode 0600, never
shown. Every signed request the site sends uses it; its public half is in the actor."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from publish.errors import PublishError
from publish.fediverse.remote import Fetcher
from publish.fediverse.signatures import sign_request
from publish.model import Settings
from publish.outputs.activitypub import key_id

KEY_FILE = "actor.pem"
KEY_BITS = 2048  # what Mastodon makes and expects


def actor_key(state_dir: Path) -> rsa.RSAPrivateKey:
    """The actor's private key from `state_dir/actor.pem`, made there (0600) the first time.
    Two processes making it at once end with the same key: the second reads the first's."""
    path = state_dir / KEY_FILE
    if not path.exists():
        _make_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        reason = type(exc).__name__ if not isinstance(exc, OSError) else exc.strerror
        message = (
            f"cannot read the fediverse actor's key ({reason}); restore it from a backup "
            "(a new key makes remote servers distrust the actor until they fetch it again)"
        )
        raise PublishError.single(str(path), 1, 1, message) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PublishError.single(str(path), 1, 1, "the fediverse actor's key is not RSA")
    return key


def signing_fetcher(state_dir: Path, settings: Settings) -> Fetcher:
    """A Fetcher that signs every request with the actor's key (made now if need be), for
    the inbox's answers, deliveries, moves and follows."""
    key = actor_key(state_dir)

    def signer(method: str, url: str, body: bytes | None) -> dict[str, str]:
        return sign_request(method, url, body, key, key_id(settings))

    return Fetcher(allow_private=settings.fediverse.allow_private_addresses, signer=signer)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """The public half of the key, as the actor document shows it (SPKI PEM)."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _make_key(path: Path) -> None:
    """Write a new key to `path`, created 0600 and only if no other process wrote one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # fails if another process linked its key first
    except FileExistsError:
        pass
    finally:
        temporary.unlink()

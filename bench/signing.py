"""DKIM in the sending benchmark: the benchmark site's key, and the CPU one signature costs
with dkimpy alone and with publish's signer (OpenSSL's RSA), measured in one process."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SELECTOR = "bench"
KEY_FILE = "keys/dkim.pem"
DOMAIN = "bench.example.org"  # the domain of the generated site's [email] from
SIGNATURES = 200  # signatures timed each way


def with_dkim(root: Path) -> Path:
    """Write a new 2048-bit RSA key to the site's KEY_FILE (mode 600); its path."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = root / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def cpu_ms_each(sign: Callable[[bytes], bytes], message: bytes, times: int = SIGNATURES) -> float:
    """CPU milliseconds per call of `sign(message)`, over `times` calls."""
    started = time.process_time()
    for _ in range(times):
        sign(message)
    return 1000 * (time.process_time() - started) / times


def signing_cost(copy: Path, key_file: Path) -> str:
    """One line: the CPU of a signature of `copy`, dkimpy's `dkim.sign` (what publish used
    before) against publish's signer, each with the key as a send holds it."""
    try:
        from publish.mail.dkim import DkimSigner, signed_headers
    except ImportError:  # a publish from before the signer (measuring an older checkout)
        return "DKIM signature CPU: skipped (this publish signs with dkimpy alone)"
    message, pem = copy.read_bytes(), key_file.read_bytes()
    include = list(signed_headers(message))

    def with_dkimpy(data: bytes) -> bytes:
        return dkim.sign(
            data,
            SELECTOR.encode(),
            DOMAIN.encode(),
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )

    signer = DkimSigner(SELECTOR, DOMAIN, pem)
    before, after = cpu_ms_each(with_dkimpy, message), cpu_ms_each(signer.sign, message)
    return (
        f"DKIM signature of one {len(message) / 1024:.0f} KB copy, CPU ms "
        f"({SIGNATURES} each, one process): dkimpy's dkim.sign {before:.2f}, "
        f"publish's signer {after:.2f} ({before / after:.0f}× less)"
    )

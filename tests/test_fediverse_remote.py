"""Fetching from other servers: over https the connection goes to the address checked and
the certificate must name the host asked for; private addresses need the test setting."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from publish.fediverse.remote import Fetcher, RemoteError


def certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for `localhost` only: (CA file, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)

    def make(subject: str, issuer_key: Any, key: Any, issuer: str, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = x509.SubjectAlternativeName([x509.DNSName("localhost")])
            builder = builder.add_extension(names, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = make("Test CA", ca_key, ca_key, "Test CA", ca=True)
    leaf = make("localhost", ca_key, key, "Test CA", ca=False)
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(leaf.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextmanager
def https_server(cert: Path, key: Path) -> Iterator[int]:
    """An https server on 127.0.0.1 answering every GET with a small actor; its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"id": f"https://localhost:{port}{self.path}"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_https_checks_the_certificate_against_the_host_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    with https_server(cert, key) as port:
        fetcher = Fetcher(allow_private=True)
        document = fetcher.get_json(f"https://localhost:{port}/users/ann")
        assert document == {"id": f"https://localhost:{port}/users/ann"}
        with pytest.raises(RemoteError, match="certificate"):
            fetcher.get_json(f"https://127.0.0.1:{port}/users/ann")  # not the name it has


def test_private_addresses_are_refused_unless_allowed(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:9/users/ann", "http://localhost:9/x", "http://[::1]:9/x",
                "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data"):  # fmt: skip
        with pytest.raises(RemoteError, match="private address"):
            Fetcher().get_json(url)
    with pytest.raises(RemoteError, match="not an http"):
        Fetcher().get_json("file:///etc/passwd")

"""A real Dovecot IMAP server on a loopback port, with one user and a Maildir, for the
bounce tests (the recipe of TESTING-SERVERS.md section 2: Dovecot 2.3), plain IMAP on one
port and IMAP over TLS, with a self-signed certificate made here, on another."""

from __future__ import annotations

import grp
import ipaddress
import mailbox
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.tools import free_port, requires

USER, PASSWORD = "bounces", "imap-Pa55word-q7"


@dataclass
class ImapServer:
    """A running Dovecot: where it listens, its user, and the user's Maildir."""

    host: str
    port: int
    tls_port: int
    certificate: Path  # the self-signed certificate of the imaps listener
    user: str
    password: str
    maildir: Path
    uid: int
    gid: int

    def url(self, password: str | None = None, folder: str = "INBOX", tls: bool = False) -> str:
        """The PUBLISH_BOUNCE_URL of the mailbox (plain IMAP, or IMAP over TLS)."""
        secret = self.password if password is None else password
        scheme, port = ("imaps", self.tls_port) if tls else ("imap", self.port)
        return f"{scheme}://{self.user}:{secret}@{self.host}:{port}/{folder}"

    def deliver(self, raw: bytes) -> str:
        """Put a message into INBOX as an MTA would (tmp/, then new/)."""
        key = mailbox.Maildir(str(self.maildir), create=False).add(raw)
        for path in self.maildir.glob(f"new/{key}*"):
            os.chown(path, self.uid, self.gid)
        return key

    def empty(self) -> None:
        """Remove every message (and Dovecot's index of them), for the next test."""
        for sub in ("cur", "new", "tmp"):
            for path in (self.maildir / sub).iterdir():
                path.unlink()
        for path in self.maildir.glob("dovecot*"):
            if path.is_file():
                path.unlink()


@contextmanager
def dovecot() -> Iterator[ImapServer]:
    """Start Dovecot in a short temporary folder; stop it and remove the folder after."""
    dovecot_program = requires("dovecot")["dovecot"]
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)  # the unprivileged mail process must reach the Maildir
    maildir = root / "mail" / USER / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for sub in ("run", "state"):
        (root / sub).mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "passwd").chmod(0o600)
    port, tls_port = free_port(), free_port()
    certificate = _self_signed(root)
    uid, gid, users, userdb, no_chroot = _accounts(root)
    for path in [root / "mail", *(root / "mail").rglob("*")]:
        os.chown(path, uid, gid)
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, (port, tls_port), users, userdb, no_chroot))
    log_path = root / "dovecot.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [dovecot_program, "-F", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_for(port, process, log_path)
            yield ImapServer(
                "127.0.0.1", port, tls_port, certificate, USER, PASSWORD, maildir, uid, gid
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            shutil.rmtree(root, ignore_errors=True)


def _accounts(root: Path) -> tuple[int, int, str, str, str]:
    """Who the mail processes run as, and the settings that say so (root or not)."""
    if os.geteuid() == 0:  # mail as 'nobody', login as 'dovenull', internal services as root
        nobody = pwd.getpwnam("nobody")
        users = "default_internal_user = root\ndefault_login_user = dovenull\n"
        userdb = f"uid={nobody.pw_uid} gid={nobody.pw_gid} home={root}/mail/%u"
        return nobody.pw_uid, nobody.pw_gid, users, userdb, ""
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    users = (
        f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        f"default_internal_group = {group}\n"
    )
    return os.getuid(), os.getgid(), users, f"home={root}/mail/%u", "  chroot =\n"


def _self_signed(root: Path) -> Path:
    """A key and a self-signed certificate for 127.0.0.1 in `root`; the certificate's path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (root / "key.pem").chmod(0o600)
    (root / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return root / "cert.pem"


def _config(root: Path, ports: tuple[int, int], users: str, userdb: str, no_chroot: str) -> str:
    """dovecot.conf for one passwd-file user with a Maildir: plain IMAP on the first port,
    IMAP over TLS on the second."""
    port, tls_port = ports
    return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = /dev/stderr
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
{users}mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = {userdb}
}}
service anvil {{
{no_chroot}}}
service imap-login {{
{no_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait (at most 15 s) until Dovecot accepts connections."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("dovecot exited: " + log.read_text(errors="replace"))
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("dovecot did not listen: " + log.read_text(errors="replace"))

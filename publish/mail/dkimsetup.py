"""The DKIM setup of `[email]` checked, without signing anything: the selector, the key file
(present, private, an RSA key of at least 1024 bits), the signing domain, and the DNS
record that publishes a key. `check`, `status` and `doctor` read it; it loads neither
dkimpy nor dnspython, which only signing needs (`publish.mail.dkim`).
"""

from __future__ import annotations

import base64
import re
import stat
from email.utils import parseaddr
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from publish.content.settings import SETTINGS_FILE
from publish.errors import Problem, error
from publish.mail.setup import locate_setting
from publish.model import Settings

MIN_KEY_BITS = 1024  # receivers ignore shorter keys (RFC 8301)
DNS_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?:\.(?!-)[A-Za-z0-9_-]{1,63})*")


def signing_domain(settings: Settings) -> str:
    """The d= domain: `[email] dkim_domain`, else the domain of `[email] from`."""
    email = settings.email
    if email.dkim_domain:
        return email.dkim_domain.strip().rstrip(".").lower()
    return parseaddr(email.from_address)[1].rpartition("@")[2].lower()


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

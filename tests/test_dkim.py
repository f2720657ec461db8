"""DKIM: every message that leaves is signed with the configured key, and verifies (dkimpy)."""

from __future__ import annotations

import base64
import email.headerregistry
import email.message
import email.policy
import os
import pickle
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import dkim
import dns.resolver
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dkim.canonicalization import Relaxed
from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver
from hypothesis import assume, example, given
from hypothesis import strategies as st
from msgspec.structs import replace

from publish.cli.main import cli
from publish.content.settings import load_settings
from publish.errors import PublishError
from publish.mail import dkim as signing
from publish.mail import mime
from publish.mail.built import load_built_email
from publish.mail.composer import FORK_THRESHOLD, Composer, Context, copy_for
from publish.mail.dkim import DkimSigner, canonical_parts, relaxed_body, signed_headers
from publish.mail.mailer import Letter, Mailer
from publish.mail.transport import DeliveryFailure
from publish.service.app import create_app
from publish.state import db
from publish.state.imports import import_csv
from publish.state.ledger import Delivery
from publish.support.testhooks import HOLD, HOOK_ENV, hook_value
from tests.mailsite import SLUG, copy_site, make_mail_site
from tests.tools import RawServer

SECRET = "test-secret-dkim-0123456789"
SELECTOR = "mail2026"
KEY_FILE = "keys/dkim.pem"
SIGNED = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
]


def private_pem(key: Any) -> bytes:
    """A key as unencrypted PKCS#8 PEM (what OpenSSL 3's genrsa writes)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def dkim_record(key: rsa.RSAPrivateKey) -> bytes:
    """The TXT value that publishes a key's public half."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    """The test's DKIM key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The email fixture site, built once for the module."""
    return make_mail_site(tmp_path_factory.mktemp("dkim") / "built")


@pytest.fixture
def site(
    built_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> Path:
    """A copy of the built site whose [email] signs with the test key (mode 600)."""
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0.001")
    monkeypatch.delenv("PUBLISH_SMTP_URL", raising=False)
    root = copy_site(built_site, tmp_path / "site")
    add_email_settings(root, f'dkim_selector = "{SELECTOR}"\ndkim_key_file = "{KEY_FILE}"\n')
    path = root / KEY_FILE
    path.parent.mkdir()
    path.write_bytes(private_pem(key))
    path.chmod(0o600)
    return root


@pytest.fixture
def server() -> Iterator[RawServer]:
    """A started RawServer."""
    with RawServer() as running:
        yield running


def add_email_settings(root: Path, lines: str) -> None:
    """Append keys to the [email] table (the last table of the fixture's publish.toml)."""
    settings = root / "publish.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + lines, encoding="utf-8")


def subscribe(root: Path, count: int) -> None:
    """Import `count` active subscribers."""
    path = root / "readers.csv"
    rows = [f"reader{n}@example.net,Reader {n}" for n in range(1, count + 1)]
    path.write_text("email,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with closing(db.connect(db.database_path(root, load_settings(root)))) as conn:
        import_csv(conn, path)


def run_cli(root: Path, *args: str) -> Any:
    """Run `publish --root ROOT ARGS…` in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def serving(records: dict[bytes, bytes]) -> Any:
    """A dkimpy dnsfunc answering from `records` (name without the final dot -> TXT)."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name.rstrip(b".").lower())

    return dnsfunc


def signature_tags(message: bytes) -> dict[str, str]:
    """The tags of a message's DKIM-Signature header."""
    head = message.split(b"\r\n\r\n", 1)[0].decode()
    unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ")
    line = next(h for h in unfolded.split("\r\n") if h.lower().startswith("dkim-signature:"))
    value = line.split(":", 1)[1]
    pairs = (part.split("=", 1) for part in value.split(";") if "=" in part)
    return {name.strip(): "".join(tag.split()) for name, tag in pairs}


def test_every_reader_gets_a_message_that_verifies(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    subscribe(site, 3)
    result = run_cli(site, "send", SLUG)
    assert result.exit_code == 0, result.output
    assert len(server.raw) == 3
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    for raw in server.raw:
        assert dkim.verify(raw, dnsfunc=serving(records))
        tags = signature_tags(raw)
        assert (tags["d"], tags["s"], tags["a"]) == ("example.org", SELECTOR, "rsa-sha256")
        signed = tags["h"].lower().split(":")
        assert set(SIGNED) <= set(signed)
        assert signed.count("from") == 2  # over-signed: a second From breaks the signature
    tampered = server.raw[0].replace(b"Subject: On Margins", b"Subject: On Margins!")
    assert tampered != server.raw[0]
    assert not dkim.verify(tampered, dnsfunc=serving(records))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(other)}
    assert not dkim.verify(server.raw[0], dnsfunc=serving(wrong))
    assert private_pem(key).decode() not in result.output


def test_dkim_domain_sets_the_signing_domain_and_a_test_copy_is_signed_too(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    add_email_settings(site, 'dkim_domain = "mail.example.org"\n')
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    result = run_cli(site, "send", SLUG, "--to", "editor@example.org")
    assert result.exit_code == 0, result.output
    (raw,) = server.raw
    assert signature_tags(raw)["d"] == "mail.example.org"
    records = {f"{SELECTOR}._domainkey.mail.example.org".encode(): dkim_record(key)}
    assert dkim.verify(raw, dnsfunc=serving(records))


def test_a_message_verifies_against_the_key_a_dns_server_publishes(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    value = dkim_record(key).decode()
    strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    zone = ZoneResolver(f"{SELECTOR}._domainkey.example.org. 300 IN TXT {strings}\n")
    quiet = DNSLogger(log="-request,-reply,-truncated", prefix=False)
    dns_server = DNSServer(zone, address="127.0.0.1", port=0, logger=quiet)
    thread = threading.Thread(
        target=dns_server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = dns_server.server.server_address[1]

        def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
            try:
                answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                return None
            return b"".join(answer[0].strings)

        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        subscribe(site, 1)
        assert run_cli(site, "send", SLUG).exit_code == 0
        assert dkim.verify(server.raw[0], dnsfunc=dnsfunc)
    finally:
        dns_server.stop()
        dns_server.server.server_close()
        thread.join(5)


def key_error(site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """What `check` and `send` say about the key; asserts both fail and nothing is mailed."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    subscribe(site, 2)
    checked = run_cli(site, "check", "--today", "2027-01-01")
    sent = run_cli(site, "send", SLUG)
    assert (checked.exit_code, sent.exit_code) == (1, 1), checked.output + sent.output
    assert server.raw == []
    assert "Traceback" not in checked.output + sent.output
    return checked.output, sent.output


def key_line(site: Path) -> int:
    """The line of `dkim_key_file` in publish.toml."""
    lines = (site / "publish.toml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith("dkim_key_file"))


def test_a_missing_key_file_is_an_error_located_in_the_settings(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (site / KEY_FILE).unlink()
    line = key_line(site)
    for output in key_error(site, server, monkeypatch):
        assert (
            f"publish.toml:{line}:17: error: [email] dkim_key_file '{KEY_FILE}' does not exist"
        ) in output


def test_the_subscription_service_does_not_start_with_a_missing_key(site: Path) -> None:
    (site / KEY_FILE).unlink()
    with pytest.raises(PublishError) as caught:
        create_app(site)
    [problem] = caught.value.problems
    assert (problem.line, problem.is_error) == (key_line(site), True)
    assert "dkim_key_file" in problem.message


def test_a_key_every_user_can_read_is_refused(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    (site / KEY_FILE).chmod(0o644)
    line = key_line(site)
    for output in key_error(site, server, monkeypatch):
        assert f"publish.toml:{line}:17: error: [email] dkim_key_file '{KEY_FILE}'" in output
        assert "can be read by every user of this machine (mode 644)" in output
        assert f"chmod 600 {KEY_FILE}" in output
        assert private_pem(key).decode().splitlines()[1] not in output


def test_a_key_path_that_is_not_a_readable_file_is_refused(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (site / KEY_FILE).unlink()
    (site / KEY_FILE).mkdir()  # unreadable as a key even for root (who reads any chmod 000 file)
    for output in key_error(site, server, monkeypatch):
        assert f"error: [email] dkim_key_file '{KEY_FILE}' is a folder, not a key file" in output


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not a key\n", "is not an unencrypted PEM private key"),
        ("ec", "is not an RSA key"),
    ],
)
def test_a_file_that_is_not_an_rsa_key_is_refused(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch, content: Any, words: str
) -> None:
    if content == "ec":
        content = private_pem(ec.generate_private_key(ec.SECP256R1()))
    (site / KEY_FILE).write_bytes(content)
    for output in key_error(site, server, monkeypatch):
        assert f"error: [email] dkim_key_file '{KEY_FILE}' {words}" in output


def test_a_selector_without_a_key_file_is_an_error(
    built_site: Path, tmp_path: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    root = copy_site(built_site, tmp_path / "site")
    add_email_settings(root, f'dkim_selector = "{SELECTOR}"\n')
    checked, sent = key_error(root, server, monkeypatch)
    for output in (checked, sent):
        assert "error: [email] dkim_selector is set but dkim_key_file is not" in output


def test_messages_written_to_the_outbox_are_signed_too(site: Path, key: rsa.RSAPrivateKey) -> None:
    subscribe(site, 2)
    result = run_cli(site, "send", SLUG, "--outbox")
    assert result.exit_code == 0, result.output
    written = sorted((site / "state" / "outbox" / SLUG).glob("*.eml"))
    assert len(written) == 2
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    for path in written:
        assert dkim.verify(path.read_bytes(), dnsfunc=serving(records))


def test_a_new_site_keeps_its_keys_folder_out_of_git(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert "keys/" in (tmp_path / "new" / ".gitignore").read_text().split()


def test_mail_through_the_service_relay_is_signed_too(
    site: Path, server: RawServer, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    monkeypatch.setenv("PUBLISH_SERVICE_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    message = (
        b"From: Letters <letters@example.org>\r\nTo: reader@example.net\r\n"
        b"Subject: Confirm\r\nDate: Tue, 01 Dec 2026 09:00:00 +0000\r\n"
        b"Message-ID: <confirm-1@example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease confirm.\r\n"
    )
    mailer = Mailer(site, load_settings(site), 4)
    assert mailer.submit(Letter("letters@example.org", "reader@example.net", message, "c1"))
    assert mailer.drain(30)
    mailer.close()
    [raw] = server.raw
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    assert dkim.verify(raw, dnsfunc=serving(records))


def pkcs1_pem(key: rsa.RSAPrivateKey) -> bytes:
    """A key as unencrypted PKCS#1 PEM (BEGIN RSA PRIVATE KEY)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def signed_by_dkimpy(message: bytes, pem: bytes, include: tuple[bytes, ...]) -> bytes:
    """dkimpy's own DKIM-Signature header for the message, as publish asks for it."""
    return dkim.sign(
        message,
        SELECTOR.encode(),
        b"example.org",
        pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(include),
    )


def assert_as_dkimpy_signs(message: bytes, pem: bytes, records: dict[bytes, bytes]) -> None:
    """publish's signature is byte for byte dkimpy's at the same moment, and verifies."""
    include = signed_headers(message)
    expected = signed_by_dkimpy(message, pem, include)
    moment = int(re.search(rb"; t=(\d+);", expected).group(1))  # type: ignore[union-attr]
    signer = DkimSigner(SELECTOR, "example.org", pem)
    assert signer.signature(message, include, moment) == expected
    assert signer.sign(message, moment) == expected + message
    assert dkim.verify(expected + message, dnsfunc=serving(records))


def reader_copies(root: Path, signer: DkimSigner | None = None) -> tuple[Context, list[bytes]]:
    """The send's context and readers' copies of the fixture essay, names in many scripts."""
    settings = load_settings(root)
    context = Context(
        load_built_email(root, SLUG), settings, SECRET.encode(), mime.site_domain(settings), signer
    )
    names = ["Ada", "Zoë Ångström", "Иван Петров", "李小龙", "عمر", 'O\'Brien, Jr. "Bob"']
    copies = [copy_for(context, n, f"r{n}@example.net", name) for n, name in enumerate(names)]
    return context, copies


@pytest.mark.parametrize("form", ["pkcs1", "pkcs8"])
def test_signatures_are_byte_for_byte_those_dkimpy_makes(
    site: Path, key: rsa.RSAPrivateKey, form: str
) -> None:
    pem = pkcs1_pem(key) if form == "pkcs1" else private_pem(key)
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    _, copies = reader_copies(site)
    for copy in copies:
        assert_as_dkimpy_signs(copy, pem, records)


def test_the_rsa_step_is_openssls_not_dkimpys_pure_python(
    site: Path, key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: object) -> bytes:
        raise AssertionError("dkimpy's pure-Python RSA was used")

    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", refused)
    signer = DkimSigner(SELECTOR, "example.org", private_pem(key))
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    _, copies = reader_copies(site)
    for copy in copies:
        assert dkim.verify(signer.sign(copy), dnsfunc=serving(records))


def test_each_copy_is_signed_where_it_is_composed(site: Path, key: rsa.RSAPrivateKey) -> None:
    signer = DkimSigner(SELECTOR, "example.org", private_pem(key))
    context, _ = reader_copies(site, signer)
    composer = Composer(context, 1)  # a small send: composed in this process
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    try:
        for n in range(3):
            copy = composer.copy(Delivery(n, f"r{n}@example.net", "", "active")).result()
            assert copy.startswith(b"DKIM-Signature: ")
            assert dkim.verify(copy, dnsfunc=serving(records))
    finally:
        composer.close()


@pytest.mark.slow
def test_a_large_send_signs_in_its_forked_composers_and_every_copy_verifies(
    site: Path, key: rsa.RSAPrivateKey
) -> None:
    subscribe(site, FORK_THRESHOLD)
    env = {**os.environ, "PUBLISH_SECRET": SECRET, HOOK_ENV: hook_value(HOLD, "worker", 0)}
    result = subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(site), "send", SLUG, "--outbox"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "holding at worker" in result.stderr  # the copies were made by forked composers
    written = sorted((site / "state" / "outbox" / SLUG).glob("*.eml"))
    assert len(written) == FORK_THRESHOLD
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    for path in written:
        assert dkim.verify(path.read_bytes(), dnsfunc=serving(records))


SPACES = st.sampled_from([" ", "\t", "  \t ", "\r", "\n", "\r\n", "\r\n\r\n"])
LINE = st.lists(
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=120) | SPACES, max_size=8
).map("".join)
WORDS = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80)


@given(subject=WORDS, name=WORDS, lines=st.lists(LINE, max_size=6), raw=st.booleans())
def test_any_message_is_signed_as_dkimpy_signs_it_and_verifies(
    key: rsa.RSAPrivateKey, subject: str, name: str, lines: list[str], raw: bool
) -> None:
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    assert_as_dkimpy_signs(message_of(subject, name, lines, raw=raw), pkcs1_pem(key), records)


def message_of(subject: str, name: str, lines: list[str], *, raw: bool) -> bytes:
    """A message with this subject, reader's name and body: built by the email package, or
    (`raw`) with the body's UTF-8 lines as they are, however long."""
    message = email.message.EmailMessage(policy=email.policy.SMTP)
    message["From"] = email.headerregistry.Address("Letters", "letters", "example.org")
    message["To"] = email.headerregistry.Address(name, "reader", "example.net")
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    message["Message-ID"] = "<copy-1@example.org>"
    message["List-Unsubscribe"] = "<https://subs.example.org/u/1-abc>"
    if raw:
        head = message.as_bytes().rstrip(b"\r\n") + b"\r\n"
        return head + b"\r\n" + b"\r\n".join(line.encode("utf-8") for line in lines)
    message.set_content("\n".join(lines))
    return message.as_bytes()


@given(st.lists(st.binary(max_size=40) | SPACES.map(str.encode), max_size=30))
@example([b"\x00", b"\r\n\r\n"])  # after an empty first line, the body starts at once
@example([b"From: a@example.org\r\n", b"\r\n", b" \t", b"\r\n\r\n \r\n"])
def test_the_relaxed_body_and_the_split_are_dkimpys(pieces: list[bytes]) -> None:
    text = b"".join(pieces)
    assert relaxed_body(text) == Relaxed.canonicalize_body(text)
    for message in (text, b"From: a@example.org\r\n\r\n" + text, b"\r\n" + text):
        assert parsed(canonical_parts, message) == parsed(as_dkimpy_parts, message)


NAMES = st.sampled_from([b"From", b"from", b"To", b"Subject", b"X-Other", b"DATE"])


@given(
    st.lists(st.tuples(NAMES, st.binary(max_size=3)), max_size=12),
    st.lists(NAMES.map(bytes.lower), max_size=12),
)
def test_the_signed_fields_are_those_dkimpy_selects(
    headers: list[tuple[bytes, bytes]], include: list[bytes]
) -> None:
    fields = [list(field) for field in headers]
    assert signing._selected(fields, tuple(include)) == dkim.select_headers(fields, include)


def as_dkimpy_parts(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """The header fields and the relaxed body of a message, as dkimpy's `sign` has them."""
    headers, body = dkim.rfc822_parse(message)
    return headers, Relaxed.canonicalize_body(body)


def test_a_copy_canonicalises_only_the_lines_the_copies_before_it_did_not_share(
    site: Path, key: rsa.RSAPrivateKey
) -> None:
    pem = private_pem(key)
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    _, (first, second, *_) = reader_copies(site)
    signing._relaxed_line.cache_clear()
    assert_as_dkimpy_signs(first, pem, records)
    seen = set(first.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    before = signing._relaxed_line.cache_info().misses
    assert_as_dkimpy_signs(second, pem, records)
    lines = second.split(b"\r\n\r\n", 1)[1].split(b"\r\n")[:-1]  # each ended by a CRLF
    new = set(lines) - seen
    assert 0 < len(new) < len(lines) / 10  # the greeting, the link, the boundary: a few
    assert signing._relaxed_line.cache_info().misses - before == len(new)


READER_NAMES = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60)
LOCAL_PARTS = st.sampled_from(["ada", "zoë", "иван.петров", "李小龙", "عمر", "o'brien", "δοκιμή"])
DOMAINS = st.sampled_from(["example.net", "bücher.example", "例え.jp", "пример.рф"])
SUBJECTS = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=200)
PARAGRAPH = "Ein Absatz — с текстом, 漢字 and  two spaces,\tand a tab.\n\n"


@given(
    readers=st.lists(st.tuples(READER_NAMES, LOCAL_PARTS, DOMAINS), min_size=1, max_size=3),
    subject=SUBJECTS,
    paragraphs=st.integers(0, 60),
)
@example(readers=[("Ada", "ada", "example.net")], subject="Long " * 40, paragraphs=0)
def test_readers_copies_are_signed_as_dkimpy_signs_them_and_verify(
    built_site: Path,
    key: rsa.RSAPrivateKey,
    readers: list[tuple[str, str, str]],
    subject: str,
    paragraphs: int,
) -> None:
    built = load_built_email(built_site, SLUG)
    built = replace(
        built,
        headers={**built.headers, "Subject": subject or "A letter"},
        text=built.text + PARAGRAPH * paragraphs,
        html=built.html.replace("</body>", f"<p>{PARAGRAPH * paragraphs}</p></body>", 1),
    )
    settings = load_settings(built_site)
    context = Context(built, settings, SECRET.encode(), mime.site_domain(settings))
    records = {f"{SELECTOR}._domainkey.example.org".encode(): dkim_record(key)}
    for number, (name, local, domain) in enumerate(readers):
        try:
            copy = copy_for(context, number, f"{local}@{domain}", name)
        except DeliveryFailure:  # a name no header can carry is that reader's failure
            assume(False)
        assert_as_dkimpy_signs(copy, private_pem(key), records)


def parsed(split: Any, message: bytes) -> Any:
    """What `split(message)` gives, or the kind of error it raises (dkimpy's own, or an
    IndexError for a first line that continues nothing)."""
    try:
        return split(message)
    except (dkim.DKIMException, IndexError) as exc:
        return type(exc)


def test_a_signer_shows_no_key_and_is_its_fields(key: rsa.RSAPrivateKey) -> None:
    pem = private_pem(key)
    signer = DkimSigner(SELECTOR, "example.org", pem)
    shown = repr(signer)
    secret = b"".join(pem.splitlines()[1:-1]).decode("ascii")
    assert SELECTOR in shown and "example.org" in shown
    assert not any(secret[n : n + 16] in shown for n in range(0, len(secret) - 16, 16))
    assert "PRIVATE" not in shown and "RSAPrivateKey" not in shown
    twin = DkimSigner(SELECTOR, "example.org", pem)
    assert signer == twin and hash(signer) == hash(twin) and signer.private_key is not None
    message = b"From: a@example.org\r\nSubject: Hi\r\n\r\nBody.\r\n"
    carried = pickle.loads(pickle.dumps(signer))  # as a worker would receive it
    assert carried == signer and carried.sign(message, 1) == signer.sign(message, 1)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    moved = replace(signer, key=private_pem(other))  # its parsed key is the new one
    assert moved.private_key.private_numbers() == other.private_numbers()
    with pytest.raises(ValueError, match="RSA"):
        DkimSigner(SELECTOR, "example.org", private_pem(ec.generate_private_key(ec.SECP256R1())))

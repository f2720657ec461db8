"""`publish doctor` against a real DNS server (dnslib on 127.0.0.1) serving test zones."""

from __future__ import annotations

import base64
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

from publish.cli.main import cli
from tests.sitebuilder import make_site, site_settings

SELECTOR = "mail2026"
KEY_FILE = "keys/dkim.pem"
GOOD_SPF = "v=spf1 ip4:192.0.2.0/24 include:_spf.relay.example -all"
RELAY_SPF = '_spf.relay.example. IN TXT "v=spf1 ip4:198.51.100.0/24 -all"\n'
REJECT = "v=DMARC1; p=reject; rua=mailto:dmarc@example.org"


def public_record(key: rsa.RSAPrivateKey) -> str:
    """The DKIM TXT value that publishes a key's public half."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def txt(name: str, value: str) -> str:
    """One zone line: a TXT record, split into strings of at most 255 bytes."""
    strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{name}. 300 IN TXT {strings}\n"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    """The site's DKIM key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def site(tmp_path: Path, key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The mail fixture site (From letters@example.org), signing with `key`."""
    monkeypatch.delenv("PUBLISH_DNS_SERVER", raising=False)
    settings = site_settings("mail") + (
        f'dkim_selector = "{SELECTOR}"\ndkim_key_file = "{KEY_FILE}"\n'
    )
    root = make_site(tmp_path / "site", {}, settings=settings, site="mail")
    path = root / KEY_FILE
    path.parent.mkdir()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return root


class Zones:
    """A DNS server on 127.0.0.1 (UDP and TCP on one port) serving whatever zone is set."""

    def __init__(self) -> None:
        self.resolver = ZoneResolver("")
        quiet = DNSLogger(log="-request,-reply,-truncated", prefix=False)
        for _ in range(20):
            udp = DNSServer(self, address="127.0.0.1", port=0, logger=quiet)
            self.port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self, address="127.0.0.1", port=self.port, tcp=True, logger=quiet)
            except OSError:
                udp.server.server_close()
                continue
            break
        self.servers = [udp, tcp]
        self.threads = [
            threading.Thread(
                target=s.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            for s in self.servers
        ]
        for thread in self.threads:
            thread.start()

    def serve(self, zone: str) -> None:
        """Answer from this zone text from now on."""
        self.resolver = ZoneResolver(zone)

    def resolve(self, request: Any, handler: Any) -> Any:
        """dnslib's resolver interface: hand the question to the current zone."""
        return self.resolver.resolve(request, handler)

    def stop(self) -> None:
        """Stop both servers and close their sockets."""
        for server in self.servers:
            server.stop()
            server.server.server_close()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture(scope="module")
def zones() -> Iterator[Zones]:
    """The running test DNS server."""
    running = Zones()
    try:
        yield running
    finally:
        running.stop()


def doctor(site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, zone: str) -> Any:
    """Serve `zone`, run `publish doctor` against it; the result, its words on one line each
    paragraph (the output wraps)."""
    zones.serve(zone)
    monkeypatch.setenv("PUBLISH_DNS_SERVER", f"127.0.0.1:{zones.port}")
    result = CliRunner().invoke(cli, ["--root", str(site), "doctor", "--timeout", "2"])
    assert "Traceback" not in result.output
    result.words = re.sub(r"\s+", " ", result.output)
    return result


def good_zone(key: rsa.RSAPrivateKey, *, spf: str = GOOD_SPF, dmarc: str = REJECT) -> str:
    """SPF, the matching DKIM key and a DMARC record for example.org."""
    zone = RELAY_SPF + txt(f"{SELECTOR}._domainkey.example.org", public_record(key))
    if spf:
        zone += txt("example.org", spf)
    if dmarc:
        zone += txt("_dmarc.example.org", dmarc)
    return zone


def test_all_good(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    result = doctor(site, zones, monkeypatch, good_zone(key))
    assert result.exit_code == 0, result.output
    assert f"asking 127.0.0.1:{zones.port}" in result.words
    assert f"SPF: ok. example.org has one SPF record: {GOOD_SPF} (ends in -all; 1 of 10" in (
        result.words
    )
    key_name = f"{SELECTOR}._domainkey.example.org"
    assert f"DKIM: ok. The key at {key_name} matches the private key in {KEY_FILE}" in result.words
    assert f"DMARC: ok. _dmarc.example.org says: {REJECT} (policy reject)" in result.words
    assert "Alignment: ok. SPF: the envelope sender (example.org) aligns with From" in result.words
    assert "DKIM: d=example.org aligns with From (example.org)" in result.words
    assert "Unsubscribe: ok. Every email carries one-click List-Unsubscribe" in result.words
    assert "must fix" not in result.words
    assert "Everything required is in place for example.org." in result.words


def test_no_spf(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    result = doctor(site, zones, monkeypatch, good_zone(key, spf=""))
    assert result.exit_code == 1
    assert "SPF: must fix. example.org has no SPF record." in result.words
    assert "To do: Add a TXT record at example.org naming the servers" in result.words
    assert "Why: SPF tells receivers which servers may send mail for the domain" in result.words
    assert "Gmail and Yahoo's rules for bulk senders" in result.words
    assert "1 thing to fix (SPF, marked 'must fix')" in result.words


def test_two_spf_records(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    zone = good_zone(key) + txt("example.org", "v=spf1 include:mail.other.example ~all")
    result = doctor(site, zones, monkeypatch, zone)
    assert result.exit_code == 1
    assert "SPF: must fix. example.org has 2 SPF records" in result.words
    assert "SPF fails for every message" in result.words
    assert "Merge them into one TXT record" in result.words


def test_spf_with_too_many_lookups_or_a_missing_include(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    includes = " ".join(f"include:s{n}.relay.example" for n in range(6))
    zone = good_zone(key, spf=f"v=spf1 {includes} ~all")
    zone += "".join(txt(f"s{n}.relay.example", "v=spf1 a mx -all") for n in range(5))
    result = doctor(site, zones, monkeypatch, zone)
    assert result.exit_code == 1
    assert "Checking it takes 16 DNS lookups; receivers stop at 10" in result.words
    zone = good_zone(key, spf="v=spf1 include:s1.relay.example include:nowhere.example ~all")
    zone += txt("s1.relay.example", "v=spf1 a mx -all")
    result = doctor(site, zones, monkeypatch, zone)
    assert result.exit_code == 1
    assert "include:nowhere.example has no SPF record" in result.words


def test_dkim_key_mismatch(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    zone = RELAY_SPF + txt("example.org", GOOD_SPF) + txt("_dmarc.example.org", REJECT)
    zone += txt(f"{SELECTOR}._domainkey.example.org", public_record(other))
    result = doctor(site, zones, monkeypatch, zone)
    assert result.exit_code == 1
    assert (
        f"DKIM: must fix. The key at {SELECTOR}._domainkey.example.org does not match the "
        f"private key in {KEY_FILE}: every message publish signs fails DKIM."
    ) in result.words
    assert "To do: Replace the record's value with:" in result.words
    assert f"\n      {public_record(key)}\n" in result.output


def test_no_dkim_key_published_says_what_to_add(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    zone = RELAY_SPF + txt("example.org", GOOD_SPF) + txt("_dmarc.example.org", REJECT)
    result = doctor(site, zones, monkeypatch, zone)
    assert result.exit_code == 1
    assert f"DKIM: must fix. There is no DKIM key at {SELECTOR}._domainkey.example.org." in (
        result.words
    )
    assert "To do: Add a TXT record at mail2026._domainkey.example.org with this value" in (
        result.words
    )
    assert f"\n      {public_record(key)}\n" in result.output
    assert "BEGIN" not in result.output  # the private key is never shown


def test_dmarc_p_none_is_advice(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    result = doctor(site, zones, monkeypatch, good_zone(key, dmarc="v=DMARC1; p=none"))
    assert result.exit_code == 0, result.output
    assert "DMARC: advice. _dmarc.example.org says: v=DMARC1; p=none." in result.words
    assert "receivers only report, and do nothing with mail that fails" in result.words
    assert "raise it to p=quarantine, then p=reject" in result.words


def test_no_dmarc(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    result = doctor(site, zones, monkeypatch, good_zone(key, dmarc=""))
    assert result.exit_code == 1
    assert "DMARC: must fix. There is no DMARC record at _dmarc.example.org" in result.words
    assert "Add a TXT record at _dmarc.example.org with 'v=DMARC1; p=none;" in result.words
    assert "1 thing to fix (DMARC, marked 'must fix')" in result.words


def test_a_signing_domain_that_strict_alignment_refuses(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    settings = site / "publish.toml"
    settings.write_text(settings.read_text() + 'dkim_domain = "news.example.org"\n')
    zone = RELAY_SPF + txt("example.org", GOOD_SPF)
    zone += txt(f"{SELECTOR}._domainkey.news.example.org", public_record(key))
    zone += txt("_dmarc.example.org", "v=DMARC1; p=quarantine; adkim=s")
    result = doctor(site, zones, monkeypatch, zone)
    assert result.exit_code == 0, result.output
    assert (
        "DKIM: d=news.example.org does not align with From (example.org) under strict alignment"
    ) in result.words
    assert "Alignment: advice." in result.words
    assert "DMARC passes on SPF alone, which a forwarded message loses" in result.words


def test_misaligned_envelope_and_signing_domains_fail_dmarc(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    settings = site / "publish.toml"
    extra = 'dkim_domain = "letters.example.net"\nbounce_address = "bounces@mail.example.net"\n'
    settings.write_text(settings.read_text() + extra)
    zone = txt("mail.example.net", "v=spf1 ip4:192.0.2.0/24 -all")
    zone += txt(f"{SELECTOR}._domainkey.letters.example.net", public_record(key))
    zone += txt("_dmarc.example.org", REJECT)
    result = doctor(site, zones, monkeypatch, zone)
    assert result.exit_code == 1
    assert "SPF: ok. mail.example.net (the domain of [email] bounce_address" in result.words
    assert (
        "Alignment: must fix. SPF: the envelope sender (mail.example.net) does not align with "
        "From (example.org) under relaxed alignment. DKIM: d=letters.example.net does not "
        "align with From (example.org) under relaxed alignment. Neither aligns, so DMARC "
        "fails for every message."
    ) in result.words
    assert "1 thing to fix (Alignment, marked 'must fix')" in result.words


def test_a_service_without_https_fails_one_click_unsubscribe(
    site: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey
) -> None:
    settings = site / "publish.toml"
    text = settings.read_text().replace("https://subs.example.org/", "http://subs.example.org/")
    settings.write_text(text)
    result = doctor(site, zones, monkeypatch, good_zone(key))
    assert result.exit_code == 1
    assert "Unsubscribe: must fix. [email] service_url is http://subs.example.org/" in (
        result.words
    )
    assert "one-click unsubscribe needs an https:// address" in result.words


def test_a_dns_server_that_never_answers_is_a_clear_error(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        monkeypatch.setenv("PUBLISH_DNS_SERVER", f"127.0.0.1:{port}")
        result = CliRunner().invoke(cli, ["--root", str(site), "doctor", "--timeout", "0.3"])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"PUBLISH_DNS_SERVER:1:1: error: the DNS server (127.0.0.1:{port}) did not answer "
        "within 0.3 s; nothing was checked."
    )
    assert "Traceback" not in result.output


def test_an_unreadable_dns_server_setting_is_an_error(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_DNS_SERVER", "127.0.0.1:port")
    result = CliRunner().invoke(cli, ["--root", str(site), "doctor"])
    assert result.exit_code == 1
    assert "PUBLISH_DNS_SERVER:1:1: error: '127.0.0.1:port' is not host[:port]" in result.output

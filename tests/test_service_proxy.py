"""The subscription service behind a reverse proxy: each reader has their own signup limit,
and no client can choose the address it is counted under. A real nginx with the docs'
configuration, the real `publish subscriptions serve`, clients on several loopback
addresses."""

from __future__ import annotations

import http.client
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from publish.service.app import create_app
from publish.service.context import ServiceOptions
from tests.servicesite import Clock, running_service, service_site, serving
from tests.tools import REPO_ROOT, RecordingSMTPServer, free_port, running_nginx

LIMIT = ServiceOptions().client_limit


def readme_nginx_server(service_port: int, nginx_port: int) -> str:
    """The docs' nginx `server` block for the service, listening on 127.0.0.1 without
    TLS and passing to the service's port: the one configuration readers are told to use."""
    guide = (REPO_ROOT / "docs" / "guide" / "subscriptions.md").read_text(encoding="utf-8")
    section = guide.split("## Behind a reverse proxy", 1)[1]
    [block] = re.findall(r"```nginx\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    assert block.count("listen 443 ssl;") == 1 and "127.0.0.1:8001;" in block
    block = block.replace("listen 443 ssl;", f"listen 127.0.0.1:{nginx_port};")
    return block.replace("127.0.0.1:8001;", f"127.0.0.1:{service_port};")


def signup_from(source: str, port: int, address: str, forwarded: str | None = None) -> int:
    """POST a signup to 127.0.0.1:`port` from the loopback address `source`, with a
    client's own X-Forwarded-For when `forwarded` is given; the answer's status."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0)
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    try:
        body = urlencode({"email": address, "website": ""})
        connection.request("POST", "/subscribe", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_behind_nginx_every_reader_has_their_own_limit(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the README's nginx, a bot that uses up its signups locks out nobody else,
    and cannot get more by sending an X-Forwarded-For of its own."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    service_port, nginx_port = free_port(), free_port()
    root = service_site(tmp_path / "site", service_port)
    server_block = readme_nginx_server(service_port, nginx_port)
    with (
        serving(root, service_port, tmp_path / "service.log", "--behind-proxy", "1"),
        running_nginx(tmp_path / "nginx", server_block),
    ):
        bot = [signup_from("127.0.0.2", nginx_port, f"bot{n}@example.com") for n in range(LIMIT)]
        assert bot == [200] * LIMIT
        assert signup_from("127.0.0.2", nginx_port, "bot-more@example.com") == 429
        for n, forged in enumerate(["127.0.0.9", "198.51.100.7", "203.0.113.5, 127.0.0.8"]):
            status = signup_from("127.0.0.2", nginx_port, f"forged{n}@example.com", forged)
            assert status == 429, forged
        assert signup_from("127.0.0.3", nginx_port, "reader@example.com") == 200
        pretender = signup_from("127.0.0.4", nginx_port, "other@example.com", "127.0.0.2")
        assert pretender == 200
        assert smtp_server.wait_for("reader@example.com")
    assert not smtp_server.messages_to("bot-more@example.com")


def test_only_the_proxy_may_name_the_client(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one trusted proxy, the service counts the right-most X-Forwarded-For entry of a
    request from the proxy's address (what the proxy wrote, not what came before it), and
    ignores the header from any other peer."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    port = free_port()
    root = service_site(tmp_path / "site", port)
    clock = Clock()
    app = create_app(root, ServiceOptions(clock=clock, trusted_proxies=1))
    with running_service(app, port):
        distinct = [
            signup_from("127.0.0.1", port, f"a{n}@example.com", f"198.51.100.7, 192.0.2.{n}")
            for n in range(LIMIT + 1)
        ]
        assert distinct == [200] * (LIMIT + 1)
        clock.now += ServiceOptions().window_seconds + 1
        same_client = [
            signup_from("127.0.0.1", port, f"b{n}@example.com", f"192.0.2.{n}, 198.51.100.8")
            for n in range(LIMIT + 1)
        ]
        assert same_client == [200] * LIMIT + [429]
        not_the_proxy = [
            signup_from("127.0.0.2", port, f"c{n}@example.com", f"192.0.2.{n + 100}")
            for n in range(LIMIT + 1)
        ]
        assert not_the_proxy == [200] * LIMIT + [429]


def test_the_proxy_can_connect_from_another_address(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `--proxy-address`, only that peer may name the client; 127.0.0.1 no longer can."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    port = free_port()
    root = service_site(tmp_path / "site", port)
    options = ServiceOptions(clock=Clock(), trusted_proxies=1, proxy_address="127.0.0.5")
    with running_service(create_app(root, options), port):
        proxied = [
            signup_from("127.0.0.5", port, f"p{n}@example.com", f"192.0.2.{n}")
            for n in range(LIMIT + 1)
        ]
        assert proxied == [200] * (LIMIT + 1)
        local = [
            signup_from("127.0.0.1", port, f"l{n}@example.com", f"192.0.2.{n + 100}")
            for n in range(LIMIT + 1)
        ]
        assert local == [200] * LIMIT + [429]


def test_a_proxy_address_must_be_an_ip_address(tmp_path: Path) -> None:
    """A misspelt `--proxy-address` is refused before the service starts, without a
    traceback (waitress would compare it with every peer and never match)."""
    root = service_site(tmp_path / "site", free_port())
    command = ["--root", str(root), "subscriptions", "serve", "--behind-proxy", "1"]
    result = CliRunner().invoke(cli, [*command, "--proxy-address", "localhost"])
    assert result.exit_code == 2
    assert "'localhost' is not an IP address" in result.output
    assert "Traceback" not in result.output

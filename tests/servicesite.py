"""The subscription service's test site and the helpers its tests share: the site, a fake
clock, the in-process harness, a real waitress server and the state as the tests read it."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from waitress import wasyncore

from publish.cli.main import cli
from publish.service.app import create_app, mailer_of
from publish.service.context import ServiceOptions
from publish.service.server import create_server
from publish.state import db, subscribers
from tests.sitebuilder import essay_text, make_site
from tests.tools import RecordingSMTPServer, free_port

START = 1_800_000_000.0  # the fake clock's first reading (January 2027)


CONFIRM_LINK = re.compile(r"https?://\S+/confirm/\S+")


def service_settings(port: int) -> str:
    """The publish.toml of a site whose subscription service listens on `port` (the fixture
    site tests/sites/service/ has it on port 8001)."""
    text = (Path(__file__).parent / "sites" / "service" / "publish.toml").read_text(
        encoding="utf-8"
    )
    return text.replace("http://127.0.0.1:8001/", f"http://127.0.0.1:{port}/")


def service_site(folder: Path, port: int) -> Path:
    """A small site with two published essays, its service on 127.0.0.1:`port`."""
    essays = {
        "01-first": essay_text(
            "The First Letter",
            "A first paragraph about reading.\n",
            date="2026-01-06",
            slug="first-letter",
        ),
        "02-second": essay_text(
            "The Second Letter",
            "A second paragraph about writing.\n",
            date="2026-02-03",
            slug="second-letter",
        ),
    }
    return make_site(folder, essays=essays, settings=service_settings(port))


@dataclass
class Clock:
    """A clock the test moves by hand, so expiry and rate windows need no waiting."""

    now: float = START

    def __call__(self) -> float:
        """The current fake time."""
        return self.now


@dataclass
class Harness:
    """A site, its service (in process), the fake clock and the SMTP server it mails to."""

    root: Path
    base: str
    app: Flask
    client: FlaskClient
    clock: Clock
    smtp: RecordingSMTPServer

    def signup(self, address: str, remote: str = "192.0.2.1", **fields: str):
        """POST the signup form as a browser would; wait until its mail has gone out."""
        response = self.client.post(
            "/subscribe",
            data={"email": address, "website": "", **fields},
            environ_base={"REMOTE_ADDR": remote},
        )
        assert mailer_of(self.app).drain(30)
        return response

    def confirm(self, link: str):
        """Press the button of a confirmation link's page (a POST, as the page's form)."""
        return self.client.post(path_of(link), data={"confirm": "yes"})

    def confirm_link(self, address: str, index: int = -1) -> str:
        """The confirmation link in the latest (or `index`th) message to `address`."""
        return confirm_link(self.smtp.messages_to(address)[index][2])

    def subscriber(self, address: str) -> subscribers.Subscriber | None:
        """The subscriber row of an address, read fresh."""
        with closing(open_state(self.root)) as conn:
            return subscribers.find_subscriber(conn, address)


@pytest.fixture
def harness(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """The service of a fresh site, mailing through a real SMTP server."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    clock = Clock()
    app = create_app(root, ServiceOptions(clock=clock))
    yield Harness(root, f"http://127.0.0.1:{port}/", app, app.test_client(), clock, smtp_server)
    mailer_of(app).close()


def open_state(root: Path) -> sqlite3.Connection:
    """The site's state database."""
    return db.connect(root / "state" / "publish.db")


def snapshot(root: Path) -> list[str]:
    """Every row of the state database, as SQL, to show that nothing changed."""
    with closing(open_state(root)) as conn:
        return list(conn.iterdump())


def people(root: Path) -> dict[str, str]:
    """Every subscriber's address and status."""
    with closing(open_state(root)) as conn:
        return {s.email: s.status for s in subscribers.list_subscribers(conn)}


def confirm_link(message: EmailMessage) -> str:
    """The one confirmation link in a confirmation email's text."""
    body = message.get_body(("plain",))
    assert body is not None
    links = CONFIRM_LINK.findall(body.get_content())
    assert len(links) == 1, links
    return links[0]


def path_of(url: str) -> str:
    """The path of a link on the service, for the in-process client."""
    return "/" + url.split("/", 3)[3]


def add_active(root: Path, address: str) -> int:
    """Add an active subscriber directly; return its id."""
    with closing(open_state(root)) as conn:
        return subscribers.add_subscriber(conn, address).id


def unsubscribe_path(root: Path, subscriber_id: int) -> str:
    """The path of a subscriber's unsubscribe link."""
    secret = db.load_secret(root / "state")
    return f"/unsubscribe/{subscribers.unsubscribe_token(secret, subscriber_id)}"


@contextmanager
def running_service(app: Flask, port: int) -> Iterator[str]:
    """Serve `app` with waitress on 127.0.0.1:`port` in a thread, configured as
    `subscriptions serve` configures it; stop it afterwards."""
    server = create_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=30)
        server.task_dispatcher.shutdown()
        mailer_of(app).close()


def http(
    url: str,
    body: bytes | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    method: str | None = None,
    timeout: float = 30,
) -> tuple[int, str, bytes]:
    """GET (or POST `body` to) a URL; return the status, the content type and the body."""
    headers = {"Content-Type": content_type} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), error.read()


def send(root: Path, slug: str) -> None:
    """Run `publish send SLUG` and check that it succeeded."""
    result = CliRunner().invoke(cli, ["--root", str(root), "send", slug], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def build(root: Path) -> None:
    """Run `publish build` and check that it succeeded."""
    result = CliRunner().invoke(
        cli, ["--root", str(root), "build", "--today", "2026-03-01"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output


def one_click_url(message: EmailMessage) -> str:
    """The https/http URL of a message's List-Unsubscribe header."""
    targets = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    [url] = [t for t in targets if t.startswith("http")]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return url


@contextmanager
def serving(root: Path, port: int, log: Path, *options: str) -> Iterator[None]:
    """Run `publish subscriptions serve` on `port` in its own process; stop it afterwards."""
    command = [sys.executable, "-m", "publish", "--root", str(root), "subscriptions", "serve"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port), *options], stdout=output, stderr=output
        )
        try:
            assert wait_for_answer(f"http://127.0.0.1:{port}/unsubscribe/forged", process) == 404
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_for_answer(url: str, process: subprocess.Popen) -> int:
    """The status of the first answer from a server that is starting up."""
    while process.poll() is None:
        try:
            return http(url)[0]
        except urllib.error.URLError:
            threading.Event().wait(0.1)
    said = process.stderr.read().decode() if process.stderr is not None else "(see its log)"
    raise AssertionError(f"the server exited: {said}")

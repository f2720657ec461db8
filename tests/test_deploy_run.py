"""`publish run` with a [deploy] table: check, build, deploy, verify, then record and send.

The site's url is a real HTTP server on 127.0.0.1 serving the deploy folder, mail goes to a
real aiosmtpd server that notes when each message arrives, and a WebSub hub stand-in
records its pings.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner
from lxml import etree

from publish.cli.main import cli
from publish.state.db import connect
from publish.state.subscribers import add_subscriber
from tests.deployservers import (
    http_folder,
    websub_hub,
)
from tests.sitebuilder import essay_text, make_site
from tests.tools import RecordingSMTPServer

SUBSCRIBERS = ["ann@example.org", "bob@example.net", "cy@example.com"]
SLOT = "2027-01-05T10:00"


class TimedSMTPServer(RecordingSMTPServer):
    """The recording SMTP server, also noting the monotonic time each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []
        self.guard = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.guard:
            self.arrivals.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[TimedSMTPServer]:
    """A started TimedSMTPServer, with the environment pointing publish at it."""
    with TimedSMTPServer() as server:
        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
        monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
        yield server


def settings(url: str, deploy: str) -> str:
    """publish.toml for a site at `url` with this [deploy] table."""
    return f"""\
[site]
title = "Test Letters"
url = "{url}"
author = "Test Author"
timezone = "Europe/London"

[email]
from = "Test Author <letters@example.org>"
service_url = "http://127.0.0.1:8001/"
postal_address = "1 Test Street, Testville"

[deploy]
{deploy}"""


def make_deployed_site(root: Path, url: str, deploy: str) -> Path:
    """Two queued essays (alder is due at the first slot) and three subscribers."""
    essays = {
        f"0{n}-{name}": essay_text(f"On the {name.title()}", f"About the {name}.\n", slug=name)
        for n, name in enumerate(["alder", "birch"])
    }
    root = make_site(root, essays, settings=settings(url, deploy))
    with closing(connect(root / "state" / "publish.db")) as connection:
        for address in SUBSCRIBERS:
            add_subscriber(connection, address)
    return root


def run(root: Path):
    """`publish run` at the first slot, in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), "run", "--today", SLOT])


def mailed(server: RecordingSMTPServer) -> list[tuple[str, str]]:
    """(recipient, subject) of every message received, sorted."""
    return sorted((rcpt[0], str(message["Subject"])) for _, rcpt, message in server.messages)


def recorded(root: Path) -> list[str]:
    """The slugs of the recorded releases."""
    with closing(sqlite3.connect(root / "state" / "publish.db")) as connection:
        return [row[0] for row in connection.execute("SELECT slug FROM releases")]


EVERYONE_ONCE = sorted((address, "On the Alder") for address in SUBSCRIBERS)


def test_the_page_is_live_before_the_first_message_arrives(
    tmp_path: Path, smtp: TimedSMTPServer
) -> None:
    live = tmp_path / "www" / "letters"
    requests: list[tuple[float, str, int]] = []
    with http_folder(live, requests=requests) as url, websub_hub() as hub:
        root = make_deployed_site(
            tmp_path / "site",
            url,
            f'target = "dir:{live}"\nverify_timeout = 20\nwebsub_hub = "{hub.url}"\n',
        )
        result = run(root)
        assert result.exit_code == 0, result.output
        assert "deployed build" in result.output and "verified: " in result.output
        assert mailed(smtp) == EVERYONE_ONCE
        page_live = min(t for t, path, status in requests if path == "/alder/" and status == 200)
        assert page_live < min(smtp.arrivals)
        assert {path for _, path, status in requests if status == 200} >= {
            "/",
            "/alder/",
            "/feed.xml",
        }
        assert hub.pings and hub.pings[0]["hub.mode"] == ["publish"]
        assert f"{url}feed.xml" in hub.pings[0]["hub.url"]
        feed = etree.parse(str(live / "feed.xml"))
        hubs = feed.xpath(
            "//atom:link[@rel='hub']/@href", namespaces={"atom": "http://www.w3.org/2005/Atom"}
        )
        assert hubs == [hub.url]
        atom = etree.parse(str(live / "atom.xml"))
        assert atom.xpath(
            "//atom:link[@rel='hub']/@href", namespaces={"atom": "http://www.w3.org/2005/Atom"}
        ) == [hub.url]
        assert json.loads((live / "feed.json").read_text())["hubs"] == [
            {"type": "WebSub", "url": hub.url}
        ]
        again = run(root)
        assert again.exit_code == 0 and "nothing due" in again.output
        deployed = CliRunner().invoke(cli, ["--root", str(root), "deploy", "--today", SLOT[:10]])
        assert "already live" in deployed.output, deployed.output
        assert mailed(smtp) == EVERYONE_ONCE


def test_a_failing_deploy_mails_nobody_and_the_next_run_does(
    tmp_path: Path, smtp: TimedSMTPServer
) -> None:
    blocker = tmp_path / "www"
    blocker.write_text("a file where the web folder should be\n")
    with http_folder(blocker / "letters") as url:
        root = make_deployed_site(
            tmp_path / "site", url, f'target = "dir:{blocker}/letters"\nverify_timeout = 5\n'
        )
        failed = run(root)
        assert failed.exit_code == 1
        assert "publish.toml:13:1: error: deploy to dir:" in failed.output
        assert "nothing was recorded and nobody was mailed" in failed.output
        assert "Traceback" not in failed.output
        assert smtp.messages == [] and recorded(root) == []
        blocker.unlink()
        fixed = run(root)
        assert fixed.exit_code == 0, fixed.output
        assert mailed(smtp) == EVERYONE_ONCE and recorded(root) == ["alder"]


def test_a_server_serving_the_old_feed_mails_nobody_until_it_serves_the_new(
    tmp_path: Path, smtp: TimedSMTPServer
) -> None:
    live = tmp_path / "www" / "letters"
    stale = {"/feed.xml": b"<?xml version='1.0'?><rss><channel></channel></rss>"}
    with http_folder(live, stale=stale) as url:
        root = make_deployed_site(
            tmp_path / "site", url, f'target = "dir:{live}"\nverify_timeout = 1\n'
        )
        started = time.monotonic()
        failed = run(root)
        assert time.monotonic() - started < 10
        assert failed.exit_code == 1
        assert (
            f"the new build is not live after 1 s: {url}feed.xml does not list "
            f"{url}alder/ yet (an old feed)" in failed.output
        )
        assert smtp.messages == [] and recorded(root) == []
        stale.clear()  # the CDN's cached feed expires
        fixed = run(root)
        assert fixed.exit_code == 0, fixed.output
        assert "already live" in fixed.output and "verified" in fixed.output
        assert mailed(smtp) == EVERYONE_ONCE


def test_a_site_without_deploy_mails_at_once_as_before(
    tmp_path: Path, smtp: TimedSMTPServer
) -> None:
    root = make_deployed_site(tmp_path / "site", "https://example.org/letters/", "")
    text = (root / "publish.toml").read_text().replace("[deploy]\n", "")
    (root / "publish.toml").write_text(text)
    result = run(root)
    assert result.exit_code == 0, result.output
    assert "deployed" not in result.output and "verified" not in result.output
    assert not (root / "state" / "deploy.json").exists()
    assert mailed(smtp) == EVERYONE_ONCE


def test_a_moved_essay_gets_a_redirects_line_beside_its_redirect_page(
    tmp_path: Path, smtp: TimedSMTPServer
) -> None:
    live = tmp_path / "www" / "letters"
    with http_folder(live) as url:
        root = make_deployed_site(
            tmp_path / "site", url, f'target = "dir:{live}"\nverify_timeout = 20\n'
        )
        assert run(root).exit_code == 0
        assert not (live / "_redirects").exists()
        essay = root / "essays" / "00-alder.md"
        essay.write_text(essay.read_text().replace("slug: alder", "slug: the-alder"))
        result = CliRunner().invoke(cli, ["--root", str(root), "deploy", "--today", "2027-01-06"])
        assert result.exit_code == 0, result.output
    assert (live / "_redirects").read_text() == "/alder /the-alder/ 301\n/alder/* /the-alder/ 301\n"
    assert (live / "alder" / "index.html").is_file()
    assert mailed(smtp) == EVERYONE_ONCE

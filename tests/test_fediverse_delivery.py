"""Each essay delivered once to every follower (publish.fediverse.delivery): after `publish
run` deployed the essay and proved it live, a Fedify peer that follows the site receives
its Create once and verifies the signature with its own code; an edit goes out as an
Update. Servers that misbehave (500 then 202, 410, 404, a hang) are a small scripted inbox
(tests/testinbox.py); a kill -9 in a delivery round and a rerun repeat at most the
deliveries that were in flight."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from publish.cli.main import cli
from publish.fediverse.delivery import CONNECTIONS
from publish.service.app import create_app
from publish.state import db, followers
from publish.state.subscribers import add_subscriber
from publish.support.testhooks import HOOK_ENV, hook_value
from tests.fedipeer import Peer, fedify_peer, running_service
from tests.sitebuilder import essay_text, make_site
from tests.test_fediverse_proxy import guide_nginx_server
from tests.testinbox import Inbox, scripted_inbox
from tests.tools import REPO_ROOT, RecordingSMTPServer, free_port, running_nginx

SLOT = "2027-01-05T10:00"  # the first slot: alder is due
READER = "ann@example.org"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingSMTPServer]:
    """A local SMTP server, publish pointed at it, retries without waiting."""
    with RecordingSMTPServer() as server:
        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
        monkeypatch.setenv("PUBLISH_FEDIVERSE_BACKOFF", "0")
        monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
        yield server


def make_letters(root: Path, url: str, deploy: str = "") -> Path:
    """A site with an actor at `url`, two queued essays (alder due at SLOT), one reader."""
    settings = (
        f'[site]\ntitle = "Peer Letters"\nurl = "{url}"\nauthor = "Pat Peer"\n'
        'description = "Letters the peer follows."\nlanguage = "en"\n'
        'timezone = "Europe/London"\n\n'
        f'[email]\nfrom = "Letters <letters@example.org>"\nservice_url = "{url}"\n'
        'postal_address = "1 Test Street, Testville"\n\n'
        '[fediverse]\nenabled = true\nhandle = "letters"\nallow_private_addresses = true\n'
    ) + (f"\n[deploy]\n{deploy}" if deploy else "")
    essays = {
        f"0{n}-{name}": essay_text(f"On the {name.title()}", f"About the {name}.\n", slug=name)
        for n, name in enumerate(["alder", "birch"])
    }
    root = make_site(root, essays, settings=settings)
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        add_subscriber(conn, READER)
    return root


def publish(root: Path, *args: str) -> Result:
    """A publish command on the site, in-process, at SLOT where it takes a day."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def run(root: Path, *args: str) -> Result:
    """`publish run` at the first slot."""
    return publish(root, "run", "--today", SLOT, *args)


def follow(root: Path, inbox: Inbox, *names: str, shared: str = "") -> None:
    """Followers whose inboxes are the scripted inbox's paths (`shared`: one shared inbox)."""
    with closing(db.connect(root / "state" / "publish.db")) as conn, db.transaction(conn):
        for name in names:
            actor = f"{inbox.base}users/{name}"
            shared_inbox = inbox.url(shared) if shared else ""
            followers.add_follower(conn, actor, inbox.url(name), shared_inbox, f"{actor}#f")


def follower_actors(root: Path) -> list[str]:
    """The actors following the site, by name."""
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        return sorted(f.actor.rsplit("/", 1)[1] for f in followers.all_followers(conn))


@contextmanager
def followed_site(tmp_path: Path) -> Iterator[tuple[Path, Peer, str]]:
    """A site deployed to a folder behind the guide's nginx routes, its service running,
    and a Fedify peer that followed it (found by WebFinger, its Follow accepted)."""
    service_port, nginx_port = free_port(), free_port()
    base = f"http://127.0.0.1:{nginx_port}/"
    live = tmp_path / "www"
    root = make_letters(tmp_path / "site", base, f'target = "dir:{live}"\nverify_timeout = 20\n')
    server = guide_nginx_server(live, service_port, nginx_port)
    with (
        running_nginx(tmp_path / "nginx", server),
        running_service(create_app(root), service_port),
        fedify_peer(tmp_path / "peer.log") as peer,
    ):
        resource = f"acct:letters@127.0.0.1:{nginx_port}"
        peer.control("follow", webfinger=f"{base}.well-known/webfinger?resource={resource}")
        peer.wait_for(lambda state: state["accepted"])
        yield root, peer, base


def test_a_fedify_follower_receives_the_essay_once_signed_then_its_update(
    tmp_path: Path, smtp: RecordingSMTPServer
) -> None:
    with followed_site(tmp_path) as (root, peer, base):
        dry = run(root, "--dry-run")
        assert "dry run: fediverse: would deliver alder to 1 inbox(es)" in dry.output, dry.output
        assert peer.state()["received"] == []

        result = run(root)
        assert result.exit_code == 0, result.output
        assert "verified: " in result.output
        assert "fediverse: delivered to 1 inbox(es)" in result.output
        [create] = peer.state()["received"]  # only activities Fedify verified get here
        assert (create["type"], create["objectType"]) == ("Create", "Article")
        assert create["actor"] == f"{base}activitypub/actor"
        assert create["objectId"] == f"{base}activitypub/articles/alder.json"
        assert create["name"] == "On the Alder" and create["url"] == f"{base}alder/"
        assert "About the alder." in create["content"]
        assert [rcpt for _, rcpt, _ in smtp.messages] == [[READER]]

        again = run(root)
        assert again.exit_code == 0 and "nothing due" in again.output
        status = publish(root, "status", "--today", SLOT)
        assert "Followers: 1 (through 1 inbox(es))" in status.output, status.output
        assert "Delivery:  nothing pending" in status.output

        essay = root / "essays" / "00-alder.md"
        essay.write_text(essay.read_text().replace("About the alder.", "About the alder, again."))
        updated = publish(root, "send", "--update", "alder")
        assert updated.exit_code == 0, updated.output
        assert "the Update of alder goes to 1 inbox(es)" in updated.output
        repeated = publish(root, "send", "--update", "alder")
        assert "this edit of alder was sent before" in repeated.output
        state = peer.state()
        assert [r["type"] for r in state["received"]] == ["Create", "Update"]
        assert "About the alder, again." in state["received"][1]["content"]
        assert state["received"][1]["objectId"] == create["objectId"]
        assert state["errors"] == []
    assert [rcpt for _, rcpt, _ in smtp.messages] == [[READER]]


def test_a_server_answering_500_gets_it_next_run_410_and_two_404s_remove_followers(
    tmp_path: Path, smtp: RecordingSMTPServer
) -> None:
    with scripted_inbox() as inbox:
        inbox.answers = {"flaky": [500, 202], "gone": [410], "missing": [404]}
        root = make_letters(tmp_path / "site", "https://example.org/letters/")
        follow(root, inbox, "ann", "bob", shared="shared")
        follow(root, inbox, "flaky", "gone", "missing")
        first = run(root)
        assert first.exit_code == 0, first.output
        assert "fediverse: delivered to 1 inbox(es), 2 to retry in a later run" in first.output
        assert [len(inbox.got(n)) for n in ("shared", "flaky", "gone", "missing")] == [1, 1, 1, 1]
        assert all(signed for _, _, signed in inbox.received)
        assert follower_actors(root) == ["ann", "bob", "flaky", "missing"]
        status = publish(root, "status", "--today", SLOT)
        assert "Delivery:  Create of alder pending to 2 inbox(es)" in status.output, status.output

        second = run(root)
        assert second.exit_code == 0, second.output
        assert [len(inbox.got(n)) for n in ("shared", "flaky", "gone", "missing")] == [1, 2, 1, 2]
        assert follower_actors(root) == ["ann", "bob", "flaky"]
        assert "Delivery:  nothing pending" in publish(root, "status", "--today", SLOT).output
        assert run(root).exit_code == 0
        assert len(inbox.received) == 6
    assert [rcpt for _, rcpt, _ in smtp.messages] == [[READER]]


def test_a_hanging_server_holds_up_neither_the_mail_nor_the_other_inboxes(
    tmp_path: Path, smtp: RecordingSMTPServer
) -> None:
    with scripted_inbox() as inbox:
        inbox.answers = {"hang": [0]}
        root = make_letters(tmp_path / "site", "https://example.org/letters/")
        follow(root, inbox, "hang", *(f"quick{n}" for n in range(CONNECTIONS + 2)))
        results: list[Result] = []
        runner = threading.Thread(target=lambda: results.append(run(root)))
        runner.start()
        try:
            assert inbox.hanging.wait(30), "the hanging server was never asked"
            deadline = time.monotonic() + 30
            while len(inbox.received) < CONNECTIONS + 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            inbox.release.set()
            runner.join(60)
        [result] = results
        assert result.exit_code == 0, result.output
        quick = [late for path, late in inbox.after_give_up if path != "/hang/inbox"]
        assert quick == [False] * (CONNECTIONS + 2)  # each came while the hang was held
        assert [rcpt for _, rcpt, _ in smtp.messages] == [[READER]]
        status = publish(root, "status", "--today", SLOT)
        assert "Delivery:  Create of alder pending to 1 inbox(es)" in status.output


@pytest.mark.parametrize(("point", "number"), [("fedi-claimed", 1), ("fedi-accepted", 3)])
def test_kill_9_in_a_delivery_round_then_a_rerun_repeats_at_most_what_was_in_flight(
    tmp_path: Path, smtp: RecordingSMTPServer, point: str, number: int
) -> None:
    names = [f"reader{n:02d}" for n in range(12)]
    with scripted_inbox() as inbox:
        root = make_letters(tmp_path / "site", "https://example.org/letters/")
        follow(root, inbox, *names)
        command = [sys.executable, "-m", "publish", "--root", str(root), "run", "--today", SLOT]
        environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        environment[HOOK_ENV] = hook_value("crash", point, number)
        crashed = subprocess.run(command, env=environment, capture_output=True, timeout=120)
        assert crashed.returncode == -9, crashed.stderr.decode()
        with closing(sqlite3.connect(root / "state" / "publish.db")) as conn:
            in_flight = {
                inbox.rsplit("/", 2)[1]
                for (inbox,) in conn.execute(
                    "SELECT inbox FROM fedi_deliveries WHERE status = 'sending'"
                )
            }
        assert in_flight and in_flight <= set(names), in_flight  # some followers' inboxes
        assert len(in_flight) <= CONNECTIONS, in_flight  # never more at once than a round allows
        if point == "fedi-claimed":  # killed at the first claim: nothing else was claimed yet
            assert len(in_flight) == number, in_flight
        del environment[HOOK_ENV]
        rerun = subprocess.run(command, env=environment, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode() + rerun.stdout.decode()
        counts = {name: len(inbox.got(name)) for name in names}
        assert all(count >= 1 for count in counts.values()), counts
        repeated = {name for name, count in counts.items() if count > 1}
        assert repeated <= in_flight and max(counts.values()) <= 2, (counts, in_flight)
        if point == "fedi-claimed":  # claimed, not yet sent: nobody gets it twice
            assert repeated == set()
    assert [rcpt for _, rcpt, _ in smtp.messages] == [[READER]]


def test_sending_an_update_of_an_essay_never_released_names_the_one_meant(
    tmp_path: Path, smtp: RecordingSMTPServer
) -> None:
    root = make_letters(tmp_path / "site", "https://example.org/letters/")
    assert run(root).exit_code == 0  # alder released, nobody follows
    result = publish(root, "send", "--update", "aldr")
    assert result.exit_code == 1
    assert (
        "aldr:1:1: error: 'aldr' has not been released, so it has no followers to update "
        "(did you mean 'alder'?)" in result.output
    )
    assert "Traceback" not in result.output
    (root / "publish.toml").write_text(
        (root / "publish.toml").read_text().replace("enabled = true", "enabled = false")
    )
    off = publish(root, "send", "--update", "alder")
    assert off.exit_code == 1 and "publish.toml:15:1: error: the site has no fediverse" in (
        off.output
    )


@pytest.mark.parametrize("point", ["fedi-claimed", "fedi-accepted"])
def test_kill_9_while_delivering_to_fedify_then_a_rerun_delivers_it_once(
    tmp_path: Path, smtp: RecordingSMTPServer, point: str
) -> None:
    """Killed after the claim: the rerun sends it once. Killed after Fedify took it and
    before the answer was recorded: the rerun sends it once more (the one in flight), and
    never again after that."""
    with followed_site(tmp_path) as (root, peer, _):
        command = [sys.executable, "-m", "publish", "--root", str(root), "run", "--today", SLOT]
        environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        crashed = subprocess.run(
            command,
            env={**environment, HOOK_ENV: hook_value("crash", point)},
            capture_output=True,
            timeout=120,
        )
        assert crashed.returncode == -9, crashed.stderr.decode()
        rerun = subprocess.run(command, env=environment, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode() + rerun.stdout.decode()
        assert run(root).exit_code == 0
        received = [r for r in peer.state()["received"] if r["type"] == "Create"]
        # killed before the request went out, it went once; killed after Fedify took it, it
        # went once more, and Fedify hands an activity id it has seen to no listener again
        assert len(received) == 1, received
        assert {r["objectId"] for r in received} == {received[0]["objectId"]}
        status = publish(root, "status", "--today", SLOT)
        assert "Delivery:  nothing pending" in status.output, status.output
    assert [rcpt for _, rcpt, _ in smtp.messages] == [[READER]]

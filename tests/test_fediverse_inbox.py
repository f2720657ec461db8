"""The actor's inbox over real HTTP: a signed Follow is stored and answered by a signed
Accept; a tampered body or signature, a stale date, a key that does not match, another
actor's activity or a key at a private address (outside tests) is refused and changes
nothing; no malformed activity ever gets a 500. Also WebFinger, the actor, its outbox and
its followers."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.cli.main import cli
from publish.fediverse.signatures import PublicKey, Request, verify_request
from publish.model import Release
from publish.service.app import create_app
from publish.service.context import ServiceOptions
from publish.state import db, releases
from tests.fedipeer import fediverse_settings, running_service
from tests.remoteactors import Received, RemoteActors, remote_actors
from tests.sitebuilder import essay_text, make_site
from tests.tools import free_port

TABLES = ("followers", "remote_keys", "replies", "reactions")


@contextmanager
def actor_site(
    folder: Path, allow_private: bool = True, extra: str = "", **options: Any
) -> Iterator[SimpleNamespace]:
    """A site with one released essay and its actor served on a loopback port, and a server
    of remote actors ("eve" with her own key)."""
    port = free_port()
    text = fediverse_settings(port, extra)
    if not allow_private:
        text = text.replace("allow_private_addresses = true", "allow_private_addresses = false")
    essays = {"01-first": essay_text("First Letter", "About reading.\n", date="2026-01-06")}
    root = make_site(folder, essays=essays, settings=text)
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        moment = datetime(2026, 1, 6, 9, tzinfo=UTC)
        releases.record_releases(conn, [Release("first-letter", moment, moment, "h")])
    app = create_app(root, ServiceOptions(**options))
    with remote_actors() as remote, running_service(app, port) as base:
        remote.add("eve")
        yield SimpleNamespace(root=root, base=base, remote=remote, inbox=f"{base}activitypub/inbox")


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to the inbox; the status code."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def get(url: str, accept: str = "application/activity+json") -> tuple[int, Any]:
    """GET a JSON document; its status and the parsed body (None when not JSON)."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, None


def rows(root: Path) -> dict[str, list[tuple]]:
    """Every row of the fediverse's tables."""
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        return {name: [tuple(r) for r in conn.execute(f"SELECT * FROM {name}")] for name in TABLES}


def follow(remote: RemoteActors, site: SimpleNamespace, name: str = "eve") -> dict[str, Any]:
    """A Follow of the site's actor by remote actor `name`."""
    actor = remote.actor_id(name)
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/follows/1",
        "type": "Follow",
        "actor": actor,
        "object": f"{site.base}activitypub/actor",
    }


def send(site: SimpleNamespace, activity: dict[str, Any], name: str = "eve", **options: Any) -> int:
    """Sign `activity` as remote actor `name` and POST it to the inbox."""
    body = json.dumps(activity).encode()
    return post(site.inbox, body, site.remote.signed_headers(name, site.inbox, body, **options))


def wait_for_post(remote: RemoteActors, count: int = 1) -> Received:
    """The first POST the remote server receives, once it has `count` (the service sends
    from a queue)."""
    deadline = time.monotonic() + 20
    while len(remote.posts()) < count:
        assert time.monotonic() < deadline, "too little was posted to the remote server"
        time.sleep(0.05)
    return remote.posts()[0]


def test_a_signed_follow_is_stored_and_answered_by_a_signed_accept(tmp_path: Path) -> None:
    with actor_site(tmp_path / "site") as site:
        eve = site.remote.actor_id("eve")
        assert send(site, follow(site.remote, site)) == 202
        assert [row[:3] for row in rows(site.root)["followers"]] == [
            (eve, f"{eve}/inbox", f"{site.remote.origin}/inbox")
        ]
        accept_request = wait_for_post(site.remote)
        _, actor = get(f"{site.base}activitypub/actor")
    accept = json.loads(accept_request.body)
    assert accept_request.path == "/users/eve/inbox"
    assert (accept["type"], accept["actor"]) == ("Accept", actor["id"])
    assert accept["object"]["id"] == f"{eve}/follows/1"
    signed = Request("POST", f"{site.remote.origin}{accept_request.path}", accept_request.headers,
                     accept_request.body)  # fmt: skip
    pem = actor["publicKey"]["publicKeyPem"]
    key = verify_request(signed, lambda key_id, fresh: PublicKey(key_id, actor["id"], pem))
    assert key.key_id == actor["publicKey"]["id"]


def tampered_body(site: SimpleNamespace) -> int:
    body = json.dumps(follow(site.remote, site)).encode()
    headers = site.remote.signed_headers("eve", site.inbox, body)
    return post(site.inbox, body.replace(b"eve/follows/1", b"eve/follows/2"), headers)


def tampered_signature(site: SimpleNamespace) -> int:
    body = json.dumps(follow(site.remote, site)).encode()
    headers = site.remote.signed_headers("eve", site.inbox, body)
    value = headers["Signature"].split('signature="')[1]
    headers["Signature"] = headers["Signature"].replace(value, value[8:] + value[:8])
    return post(site.inbox, body, headers)


def stale_date(site: SimpleNamespace) -> int:
    return send(site, follow(site.remote, site), now=datetime.now(UTC) - timedelta(minutes=10))


def key_that_does_not_match(site: SimpleNamespace) -> int:
    site.remote.add("mallory", served_key=site.remote.keys["eve"])
    return send(site, follow(site.remote, site, "mallory"), name="mallory")


def another_actors_activity(site: SimpleNamespace) -> int:
    site.remote.add("bob")
    return send(site, follow(site.remote, site, "bob"), name="eve")


def unsigned(site: SimpleNamespace) -> int:
    body = json.dumps(follow(site.remote, site)).encode()
    return post(site.inbox, body, {"Content-Type": "application/activity+json"})


@pytest.mark.parametrize(
    ("attempt", "status"),
    [
        (tampered_body, 401),
        (tampered_signature, 401),
        (stale_date, 401),
        (key_that_does_not_match, 401),
        (another_actors_activity, 403),
        (unsigned, 401),
    ],
)
def test_a_forged_follow_is_refused_and_changes_nothing(
    tmp_path: Path, attempt: Any, status: int
) -> None:
    with actor_site(tmp_path / "site") as site:
        before = rows(site.root)
        assert attempt(site) == status
        assert rows(site.root) == before
        time.sleep(0.2)  # the queue would have posted an Accept by now
        assert site.remote.posts() == []


def test_a_key_at_a_private_address_is_not_fetched_outside_tests(tmp_path: Path) -> None:
    with actor_site(tmp_path / "site", allow_private=False) as site:
        before = rows(site.root)
        assert send(site, follow(site.remote, site)) == 401
        assert rows(site.root) == before
        assert site.remote.requests == []  # not even asked


def test_a_deleted_actor_and_an_undone_follow_stop_following(tmp_path: Path) -> None:
    with actor_site(tmp_path / "site") as site:
        eve = site.remote.actor_id("eve")
        assert send(site, follow(site.remote, site)) == 202
        undo = {"id": f"{eve}/undo/1", "type": "Undo", "actor": eve,
                "object": follow(site.remote, site)}  # fmt: skip
        assert send(site, undo) == 202
        assert rows(site.root)["followers"] == []
        assert send(site, follow(site.remote, site)) == 202
        delete = {"id": f"{eve}#delete", "type": "Delete", "actor": eve, "object": eve}
        assert send(site, delete) == 202
        assert rows(site.root)["followers"] == []


def test_too_large_a_body_or_too_many_requests_are_refused(tmp_path: Path) -> None:
    with actor_site(tmp_path / "site", inbox_limit=2) as site:
        big = follow(site.remote, site) | {"padding": "x" * 300_000}
        assert send(site, big) == 413
        assert send(site, follow(site.remote, site)) == 202
        assert send(site, follow(site.remote, site)) == 202
        assert send(site, follow(site.remote, site)) == 429


def test_webfinger_actor_outbox_and_followers(tmp_path: Path) -> None:
    extra = 'also_known_as = ["https://old.example/users/pat"]\n'
    with actor_site(tmp_path / "site", extra=extra) as site:
        host = site.base.removeprefix("http://").rstrip("/")
        status, jrd = get(f"{site.base}.well-known/webfinger?resource=acct:letters@{host}")
        assert status == 200
        [self_link] = [link for link in jrd["links"] if link["rel"] == "self"]
        assert self_link["href"] == f"{site.base}activitypub/actor"
        assert get(f"{site.base}.well-known/webfinger?resource=acct:other@{host}")[0] == 404
        assert get(f"{site.base}.well-known/webfinger?resource=acct:Letters@{host}")[0] == 200
        assert get(f"{site.base}.well-known/webfinger")[0] == 400
        _, actor = get(self_link["href"])
        assert actor["inbox"] == site.inbox
        assert actor["preferredUsername"] == "letters"
        assert actor["alsoKnownAs"] == ["https://old.example/users/pat"]
        assert "BEGIN PUBLIC KEY" in actor["publicKey"]["publicKeyPem"]
        _, outbox = get(actor["outbox"])
        assert outbox["totalItems"] == 1
        _, page = get(outbox["first"])
        [item] = page["orderedItems"]
        assert item["type"] == "Create"
        assert item["object"] == f"{site.base}activitypub/articles/first-letter.json"
        send(site, follow(site.remote, site))
        _, followers = get(actor["followers"])
        assert followers["totalItems"] == 1
        assert "orderedItems" not in followers and "first" not in followers


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(["type", "actor", "object", "id", "inReplyTo", "content", "attributedTo"])
TYPES = st.sampled_from(["Follow", "Undo", "Delete", "Create", "Like", "Announce", "Move", "Note"])


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    extra=st.dictionaries(KEYS, JSON_VALUES | TYPES, max_size=5),
    kind=TYPES,
    shape=st.sampled_from(["object", "list", "text", "broken"]),
)
def test_no_malformed_activity_gets_a_500(
    tmp_path_factory: pytest.TempPathFactory, extra: dict, kind: str, shape: str
) -> None:
    site = SHARED.get("site")
    if site is None:
        pytest.skip("the shared site is not running")
    eve = site.remote.actor_id("eve")
    activity = {"type": kind, "actor": eve, **extra}
    body = {
        "object": json.dumps(activity),
        "list": json.dumps([activity]),
        "text": json.dumps(kind),
        "broken": json.dumps(activity)[:-1],
    }[shape].encode()
    status = post(site.inbox, body, site.remote.signed_headers("eve", site.inbox, body))
    assert status in (202, 400, 403), status


SHARED: dict[str, SimpleNamespace] = {}


@pytest.fixture(autouse=True, scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One running site for the property test (a server per example would be slow)."""
    with actor_site(tmp_path_factory.mktemp("shared") / "site", inbox_limit=100_000) as site:
        SHARED["site"] = site
        yield
        SHARED.clear()


def test_a_changed_key_is_fetched_again_and_cached(tmp_path: Path) -> None:
    with actor_site(tmp_path / "site") as site:
        assert send(site, follow(site.remote, site)) == 202
        [(_, _, first_pem, _)] = rows(site.root)["remote_keys"]
        site.remote.add("eve")  # a new key, served from now on
        undo = {"id": "u1", "type": "Undo", "actor": site.remote.actor_id("eve"),
                "object": follow(site.remote, site)}  # fmt: skip
        assert send(site, undo) == 202
        [(_, _, second_pem, _)] = rows(site.root)["remote_keys"]
        assert second_pem != first_pem
        assert rows(site.root)["followers"] == []


def test_move_tells_each_followers_server_once_when_the_new_account_agrees(
    tmp_path: Path,
) -> None:
    with remote_actors() as accounts:
        new = accounts.add("newme")
        extra = f'moved_to = "{new}"\n'
        with actor_site(tmp_path / "site", extra=extra) as site:
            assert send(site, follow(site.remote, site)) == 202
            site.remote.add("bob")
            assert send(site, follow(site.remote, site, "bob"), name="bob") == 202
            wait_for_post(site.remote, count=2)  # both Accepts
            refused = CliRunner().invoke(cli, ["--root", str(site.root), "move"])
            assert refused.exit_code == 1
            assert "does not name this site's actor" in refused.output
            line = (site.root / "publish.toml").read_text().splitlines().index(extra.strip()) + 1
            assert f"publish.toml:{line}:1: error:" in refused.output
            accounts.aliases["newme"] = [f"{site.base}activitypub/actor"]
            site.remote.requests.clear()
            moved = CliRunner().invoke(cli, ["--root", str(site.root), "move"])
            assert moved.exit_code == 0, moved.output
            _, actor = get(f"{site.base}activitypub/actor")
    [move] = site.remote.posts()  # eve and bob share one inbox
    assert move.path == "/inbox"
    activity = json.loads(move.body)
    assert (activity["type"], activity["object"], activity["target"]) == (
        "Move", actor["id"], new
    )  # fmt: skip
    assert actor["movedTo"] == new


def test_follow_sends_a_signed_follow_to_the_accounts_inbox(tmp_path: Path) -> None:
    with actor_site(tmp_path / "site") as site:
        eve = site.remote.actor_id("eve")
        result = CliRunner().invoke(cli, ["--root", str(site.root), "follow", eve])
        assert result.exit_code == 0, result.output
        [sent] = site.remote.posts()
        _, actor = get(f"{site.base}activitypub/actor")
        missing = CliRunner().invoke(cli, ["--root", str(site.root), "follow", f"{eve}-not"])
    activity = json.loads(sent.body)
    assert (sent.path, activity["type"], activity["object"]) == ("/users/eve/inbox", "Follow", eve)
    pem = actor["publicKey"]["publicKeyPem"]
    signed = Request("POST", f"{site.remote.origin}{sent.path}", sent.headers, sent.body)
    verify_request(signed, lambda key_id, fresh: PublicKey(key_id, actor["id"], pem))
    assert missing.exit_code == 1 and "cannot follow it" in missing.output


def test_a_follower_server_that_does_not_answer_holds_up_no_request(tmp_path: Path) -> None:
    with actor_site(tmp_path / "site") as site:
        site.remote.held = threading.Event()
        try:
            assert send(site, follow(site.remote, site)) == 202
            wait_for_post(site.remote)  # the Accept is on its way, still unanswered...
            site.remote.add("bob")  # ...and the inbox takes the next Follow meanwhile
            assert send(site, follow(site.remote, site, "bob"), name="bob") == 202
            assert len(rows(site.root)["followers"]) == 2
        finally:
            site.remote.held.set()


def test_a_follow_signed_with_rfc9421_is_taken(tmp_path: Path) -> None:
    from http_message_signatures import HTTPMessageSigner, algorithms
    from http_message_signatures.resolvers import MappingKeyResolver

    with actor_site(tmp_path / "site") as site:
        eve = site.remote.actor_id("eve")
        body = json.dumps(follow(site.remote, site)).encode()
        message = SimpleNamespace(
            method="POST", url=site.inbox, headers={"Content-Type": "application/activity+json"}
        )
        signer = HTTPMessageSigner(
            signature_algorithm=algorithms.RSA_V1_5_SHA256,
            key_resolver=MappingKeyResolver(
                public_keys={}, private_keys={f"{eve}#main-key": site.remote.keys["eve"]}
            ),
        )
        covered = ("@method", "@target-uri", "content-digest")
        signer.sign(message, key_id=f"{eve}#main-key", covered_component_ids=covered, body=body)
        assert post(site.inbox, body, dict(message.headers)) == 202
        assert [row[0] for row in rows(site.root)["followers"]] == [eve]
        tampered = body.replace(b"follows/1", b"follows/2")
        assert post(site.inbox, tampered, dict(message.headers)) == 401


def test_the_outbox_pages_and_the_actor_shows_its_icon(tmp_path: Path) -> None:
    extra = 'icon = "images/avatar.png"\n'
    with actor_site(tmp_path / "site", extra=extra) as site:
        with closing(db.connect(site.root / "state" / "publish.db")) as conn:
            moments = [datetime(2026, 2, 1, tzinfo=UTC) + timedelta(days=n) for n in range(25)]
            releases.record_releases(
                conn, [Release(f"essay-{n}", at, at, "h") for n, at in enumerate(moments)]
            )
        _, actor = get(f"{site.base}activitypub/actor")
        _, outbox = get(actor["outbox"])
        _, first = get(outbox["first"])
        _, second = get(first["next"])
    assert actor["icon"] == {
        "type": "Image", "mediaType": "image/png", "url": f"{site.base}images/avatar.png"
    }  # fmt: skip
    assert outbox["totalItems"] == 26
    assert len(first["orderedItems"]) == 20 and len(second["orderedItems"]) == 6
    assert first["orderedItems"][0]["object"].endswith("/essay-24.json")  # newest first
    assert second["prev"] == outbox["first"] and "next" not in second

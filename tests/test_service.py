"""Tests for the subscription service: the whole loop over real HTTP and SMTP, and bad input."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from lxml import html

from publish.cli.main import cli
from publish.errors import PublishError
from publish.service.app import create_app, mailer_of
from publish.service.context import ServiceOptions
from publish.state import subscribers
from tests.servicesite import (
    Harness,
    add_active,
    build,
    confirm_link,
    http,
    one_click_url,
    open_state,
    path_of,
    people,
    running_service,
    send,
    service_site,
    snapshot,
    unsubscribe_path,
    wait_for_answer,
)
from tests.tools import RecordingSMTPServer, free_port, validate_html

# --- Signup and confirmation ------------------------------------------------------------


def test_signup_mails_a_link_that_confirms_once(harness: Harness) -> None:
    """A signup is pending until its link is followed; the link then works no more."""
    response = harness.signup("reader@example.com", name="A Reader")
    assert response.status_code == 200
    assert people(harness.root) == {"reader@example.com": "pending"}
    [(_, recipients, message)] = harness.smtp.messages
    assert recipients == ["reader@example.com"]
    assert message["To"] == "reader@example.com"
    assert message["From"].addresses[0].addr_spec == "letters@example.org"
    assert "Test Letters" in message["Subject"]
    link = confirm_link(message)
    assert link.startswith(harness.base + "confirm/")

    assert harness.confirm(link).status_code == 200
    subscriber = harness.subscriber("reader@example.com")
    assert subscriber is not None and subscriber.status == "active"
    assert subscriber.name == "A Reader" and subscriber.confirmed_at

    before = snapshot(harness.root)
    replay = harness.confirm(link)
    assert replay.status_code == 410
    assert snapshot(harness.root) == before


def test_a_used_link_cannot_bring_back_someone_who_left(harness: Harness) -> None:
    """Replaying a confirmation link after unsubscribing changes nothing."""
    harness.signup("leaver@example.com")
    link = harness.confirm_link("leaver@example.com")
    harness.confirm(link)
    subscriber = harness.subscriber("leaver@example.com")
    assert subscriber is not None
    one_click = harness.client.post(
        unsubscribe_path(harness.root, subscriber.id), data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200
    assert harness.confirm(link).status_code == 410
    assert people(harness.root) == {"leaver@example.com": "unsubscribed"}


def test_signup_answers_alike_whatever_the_address_was(harness: Harness) -> None:
    """New, pending, active and unsubscribed addresses get the same answer; nothing is
    duplicated, and no known address changes status before its owner confirms."""
    add_active(harness.root, "active@example.com")
    gone = add_active(harness.root, "gone@example.com")
    with closing(open_state(harness.root)) as conn:
        subscribers.set_status(conn, gone, "unsubscribed")
    harness.signup("pending@example.com")
    statuses = people(harness.root)

    answers = {
        address: harness.signup(address.upper() if "pending" in address else address)
        for address in (
            "new@example.com",
            "pending@example.com",
            "active@example.com",
            "gone@example.com",
        )
    }
    bodies = {(r.status_code, r.get_data()) for r in answers.values()}
    assert len(bodies) == 1, "the answer differs with the address's prior state"
    for address in answers:
        assert address.encode() not in next(iter(bodies))[1]
    assert people(harness.root) == {**statuses, "new@example.com": "pending"}
    for address in answers:
        assert harness.smtp.messages_to(address), f"no confirmation mailed to {address}"


def test_an_unsubscribed_reader_returns_only_by_confirming(harness: Harness) -> None:
    """Double opt-in brings a former subscriber back; the signup alone does not."""
    gone = add_active(harness.root, "back@example.com")
    with closing(open_state(harness.root)) as conn:
        subscribers.set_status(conn, gone, "unsubscribed")
    harness.signup("back@example.com")
    assert people(harness.root) == {"back@example.com": "unsubscribed"}
    harness.confirm(harness.confirm_link("back@example.com"))
    assert people(harness.root) == {"back@example.com": "active"}


def test_the_honeypot_stores_and_sends_nothing(harness: Harness) -> None:
    """A filled hidden field gets the usual answer, but nothing is kept or mailed."""
    before = snapshot(harness.root)
    genuine = harness.signup("someone@example.com", remote="192.0.2.9")
    bot = harness.client.post(
        "/subscribe", data={"email": "bot@example.com", "website": "http://spam.example"}
    )
    assert bot.status_code == 200 and bot.get_data() == genuine.get_data()
    assert "bot@example.com" not in people(harness.root)
    assert not harness.smtp.messages_to("bot@example.com")
    assert before != snapshot(harness.root)  # the genuine signup was stored


# --- Bad input ----------------------------------------------------------------------------


BAD_SIGNUPS = {
    "json body": ({"json": {"email": "json@example.com"}}, 415),
    "plain text body": ({"data": "email=text@example.com", "content_type": "text/plain"}, 415),
    "CR LF in the address": ({"data": {"email": "a@example.com\r\nBcc: b@example.com"}}, 400),
    "LF in the address": ({"data": {"email": "a@example.com\nb@example.com"}}, 400),
    "U+2028 in the address": ({"data": {"email": "a@example.com\u2028"}}, 400),
    "LF in the name": ({"data": {"email": "a@example.com", "name": "A\nBcc: b@example.com"}}, 400),
    "2,000 characters": ({"data": {"email": "a" * 1988 + "@example.com"}}, 400),
    "not an address": ({"data": {"email": "not an address"}}, 400),
    "no address": ({"data": {"name": "Nobody"}}, 400),
    "a 20 KB body": ({"data": {"email": "big@example.com", "name": "x" * 20_000}}, 413),
    "GET": ({"method": "GET"}, 405),
}


@pytest.mark.parametrize("case", BAD_SIGNUPS)
def test_bad_signups_are_refused_and_change_nothing(harness: Harness, case: str) -> None:
    """Each bad signup gets a clear 4xx page; the database and the mail server see nothing."""
    arguments, status = BAD_SIGNUPS[case]
    arguments = {"method": "POST", **arguments}
    before = snapshot(harness.root)
    response = harness.client.open("/subscribe", **arguments)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert html.fromstring(response.get_data()).findtext(".//h1")
    assert snapshot(harness.root) == before
    assert harness.smtp.messages == []


@pytest.mark.slow
def test_a_thousand_signups_from_one_client_hit_the_limit(harness: Harness) -> None:
    """One client's signups in one window: the first ones pass, the rest get 429."""
    limit = ServiceOptions().client_limit
    statuses = [harness.signup(f"bulk{n}@example.com").status_code for n in range(1000)]
    assert statuses == [200] * limit + [429] * (1000 - limit)
    assert len(people(harness.root)) == limit
    assert len(harness.smtp.messages) == limit

    harness.clock.now += ServiceOptions().window_seconds + 1
    assert harness.signup("later@example.com").status_code == 200


def test_one_address_is_limited_whoever_asks(harness: Harness) -> None:
    """Signups of one address from many clients stop after the per-address limit."""
    limit = ServiceOptions().address_limit
    statuses = [
        harness.signup("target@example.com", remote=f"198.51.100.{n}").status_code
        for n in range(limit + 2)
    ]
    assert statuses == [200] * limit + [429, 429]
    assert len(harness.smtp.messages_to("target@example.com")) == limit


def test_forged_cut_expired_and_replayed_links_change_nothing(harness: Harness) -> None:
    """Bad confirmation links get 404 or 410 pages and leave the database as it was."""
    harness.signup("careful@example.com")
    link = path_of(harness.confirm_link("careful@example.com"))
    nonce, expires, signature = link.rsplit("/", 1)[1].split(".")
    forged_signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    bad_links = {
        f"/confirm/{nonce}.{expires}.{forged_signature}": 404,
        f"/confirm/{nonce}.{int(expires) + 86400}.{signature}": 404,  # a longer life, forged
        link[:-5]: 404,
        f"/confirm/{nonce}.{expires}": 404,
        "/confirm/": 404,
        "/confirm/..": 404,
    }
    before = snapshot(harness.root)
    for bad, status in bad_links.items():
        assert harness.client.get(bad).status_code == status, bad
        if bad != "/confirm/":
            assert harness.client.post(bad, data={"confirm": "yes"}).status_code == status
    harness.clock.now += ServiceOptions().confirm_seconds
    expired = harness.client.get(link)
    assert expired.status_code == 410
    assert harness.client.post(link, data={"confirm": "yes"}).status_code == 410
    assert "sign up again" in html.fromstring(expired.get_data()).text_content()
    assert snapshot(harness.root) == before
    assert people(harness.root) == {"careful@example.com": "pending"}


def test_unsubscribe_page_needs_the_button(harness: Harness) -> None:
    """GET shows one button and changes nothing; the button's POST unsubscribes."""
    path = unsubscribe_path(harness.root, add_active(harness.root, "reader@example.com"))
    page = harness.client.get(path)
    assert page.status_code == 200
    assert people(harness.root) == {"reader@example.com": "active"}
    form = html.fromstring(page.get_data()).find(".//main//form")
    assert form is not None and form.get("method") == "post"
    fields = {field.get("name"): field.get("value") for field in form.iter("input")}
    action = path.rsplit("/", 1)[0] + "/" + form.get("action")
    assert action == path
    done = harness.client.post(action, data=fields)
    assert done.status_code == 200 and done.mimetype == "text/html"
    assert people(harness.root) == {"reader@example.com": "unsubscribed"}
    assert b"reader@example.com" not in page.get_data() + done.get_data()


def test_one_click_unsubscribe_answers_plainly_and_repeats_harmlessly(harness: Harness) -> None:
    """RFC 8058: the one-click POST unsubscribes at once with a short plain answer."""
    path = unsubscribe_path(harness.root, add_active(harness.root, "reader@example.com"))
    for _ in range(2):
        response = harness.client.post(
            path,
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        assert len(response.get_data()) < 100
    assert people(harness.root) == {"reader@example.com": "unsubscribed"}


BAD_UNSUBSCRIBES = {
    "forged token": ("/unsubscribe/1-00000000000000000000000000000000", "form", 404),
    "cut token": ("CUT", "form", 404),
    "preview token": ("/unsubscribe/preview", "form", 404),
    "json body": ("GOOD", "json", 415),
    "another form": ("GOOD", "other", 400),
    "no body": ("GOOD", "empty", 415),
}


@pytest.mark.parametrize("case", BAD_UNSUBSCRIBES)
def test_bad_unsubscribes_change_nothing(harness: Harness, case: str) -> None:
    """Forged or cut tokens and bodies that are not the one-click form are refused."""
    good = unsubscribe_path(harness.root, add_active(harness.root, "stays@example.com"))
    path, body, status = BAD_UNSUBSCRIBES[case]
    path = {"GOOD": good, "CUT": good[:-4]}.get(path, path)
    arguments = {
        "form": {"data": {"List-Unsubscribe": "One-Click"}},
        "json": {"json": {"List-Unsubscribe": "One-Click"}},
        "other": {"data": {"List-Unsubscribe": "Yes"}},
        "empty": {},
    }[body]
    before = snapshot(harness.root)
    assert harness.client.post(path, **arguments).status_code == status
    if body == "form":
        assert harness.client.get(path).status_code == status
    assert snapshot(harness.root) == before


def test_pages_carry_security_headers_and_no_scripts(harness: Harness) -> None:
    """Every page forbids scripts and framing, and token pages send no referrer."""
    path = unsubscribe_path(harness.root, add_active(harness.root, "reader@example.com"))
    for response in (
        harness.signup("new@example.com"),
        harness.client.get(path),
        harness.client.get("/confirm/nonsense"),
    ):
        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["Content-Security-Policy"].split(";")
        )
        assert policy["default-src"] == "'none'" and "script-src" not in policy
        assert policy["frame-ancestors"] == "'none'"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert html.fromstring(response.get_data()).findall(".//script") == []


def test_service_pages_are_valid_html(harness: Harness, tmp_path: Path) -> None:
    """Every kind of page the service shows passes the Nu Html Checker."""
    subscriber_id = add_active(harness.root, "reader@example.com")
    path = unsubscribe_path(harness.root, subscriber_id)
    harness.signup("valid@example.com")
    confirm = path_of(harness.confirm_link("valid@example.com"))
    pages = {
        "subscribed": harness.signup("valid2@example.com"),
        "confirm": harness.client.get(confirm),
        "confirmed": harness.client.post(confirm, data={"confirm": "yes"}),
        "used": harness.client.get(confirm),
        "unsubscribe": harness.client.get(path),
        "unsubscribed": harness.client.post(path, data={"unsubscribe": "yes"}),
        "not-found": harness.client.get("/confirm/forged"),
        "bad-address": harness.signup("not an address"),
        "wrong-type": harness.client.post("/subscribe", json={}),
    }
    folder = tmp_path / "pages"
    folder.mkdir()
    for name, response in pages.items():
        (folder / f"{name}.html").write_bytes(response.get_data())
    assert validate_html(folder) == []


# --- The real server, end to end ------------------------------------------------------------


def test_the_whole_loop_over_http_and_smtp(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribe, confirm by the mailed link, receive a send, leave by the one-click header,
    and be left out of the next send: the real server, driven over HTTP."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    add_active(root, "regular@example.com")
    build(root)
    app = create_app(root)
    with running_service(app, port) as base:
        status, kind, page = http(
            base + "subscribe", b"email=Reader%40Example.com&name=A+Reader&website="
        )
        assert (status, kind) == (200, "text/html")
        assert b"Reader@" not in page
        assert mailer_of(app).drain(30)
        [(_, _, confirmation)] = smtp_server.messages_to("reader@example.com")
        status, _, _ = http(confirm_link(confirmation), b"confirm=yes")
        assert status == 200
        assert people(root)["Reader@example.com"] == "active"

        send(root, "first-letter")
        [(_, _, letter)] = [
            m
            for m in smtp_server.messages_to("reader@example.com")
            if m[2]["Subject"] == "The First Letter"
        ]
        assert smtp_server.messages_to("regular@example.com")

        status, kind, body = http(one_click_url(letter), b"List-Unsubscribe=One-Click")
        assert (status, kind) == (200, "text/plain") and len(body) < 100
        assert people(root)["Reader@example.com"] == "unsubscribed"

        send(root, "second-letter")
        second = [m for m in smtp_server.messages if m[2]["Subject"] == "The Second Letter"]
        assert [m[1] for m in second] == [["regular@example.com"]]


def test_subscriptions_serve_runs_the_service(tmp_path: Path) -> None:
    """`publish subscriptions serve` answers on the port it was given until stopped."""
    port = free_port()
    root = service_site(tmp_path / "site", port)
    command = [
        sys.executable,
        "-m",
        "publish",
        "--root",
        str(root),
        "subscriptions",
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        status = wait_for_answer(f"http://127.0.0.1:{port}/unsubscribe/forged", process)
        assert status == 404
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_subscriptions_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    """A port another program holds gives one error line naming it, not a traceback."""
    port = free_port()
    root = service_site(tmp_path / "site", port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = CliRunner().invoke(
            cli, ["--root", str(root), "subscriptions", "serve", "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"--port:1:1: error: cannot listen on 127.0.0.1:{port}" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


class UnsubscribingSMTPServer(RecordingSMTPServer):
    """An SMTP server that, while taking the first message, has one reader leave by the
    one-click link of the service: an unsubscribe that lands in the middle of a send."""

    def __init__(self) -> None:
        super().__init__()
        self.leave_url = ""
        self.leave_status = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        """Record the message; on the first one, post the one-click unsubscribe."""
        reply = await super().handle_DATA(server, session, envelope)
        if self.leave_url and not self.leave_status:
            self.leave_status = http(self.leave_url, b"List-Unsubscribe=One-Click")[0]
        return reply


def test_a_reader_who_leaves_during_a_send_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unsubscribe that arrives while a send runs keeps the database consistent, and the
    send skips the address when its turn comes."""
    port = free_port()
    root = service_site(tmp_path / "site", port)
    ids = [add_active(root, f"reader{n}@example.com") for n in range(1, 5)]
    build(root)
    with UnsubscribingSMTPServer() as smtp, running_service(create_app(root), port) as base:
        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp.host}:{smtp.port}")
        smtp.leave_url = base + unsubscribe_path(root, ids[2]).lstrip("/")
        send(root, "first-letter")
        assert smtp.leave_status == 200
        received = sorted(r for m in smtp.messages for r in m[1])
    assert received == ["reader1@example.com", "reader2@example.com", "reader4@example.com"]
    assert people(root)["reader3@example.com"] == "unsubscribed"
    with closing(open_state(root)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ledger = dict(conn.execute("SELECT email, status FROM deliveries"))
    assert ledger == {
        "reader1@example.com": "sent",
        "reader2@example.com": "sent",
        "reader3@example.com": "skipped",
        "reader4@example.com": "sent",
    }


# --- Link scanners and a hung mail server ------------------------------------------------


def test_opening_a_confirmation_link_never_confirms(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail scanner's GET or HEAD of the link changes nothing; the page's button (a POST)
    confirms. Over real HTTP."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    app = create_app(root)
    with running_service(app, port) as base:
        assert http(base + "subscribe", b"email=scanned%40example.com&website=")[0] == 200
        assert mailer_of(app).drain(30)
        [(_, _, message)] = smtp_server.messages_to("scanned@example.com")
        link = confirm_link(message)
        before = snapshot(root)
        status, kind, body = http(link)
        assert (status, kind) == (200, "text/html")
        assert http(link, method="HEAD")[0] == 200
        assert snapshot(root) == before
        assert people(root) == {"scanned@example.com": "pending"}

        [form] = html.fromstring(body).xpath("//main//form")
        assert form.get("method") == "post"
        target = link.rsplit("/", 1)[0] + "/" + form.get("action")
        fields = {field.get("name"): field.get("value") for field in form.iter("input")}
        assert target == link and fields == {"confirm": "yes"}
        assert http(target, b"other=field")[0] == 400
        assert snapshot(root) == before
        assert http(target, b"confirm=yes")[0] == 200
        assert people(root) == {"scanned@example.com": "active"}


class HangingSMTPServer:
    """A mail server on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.arrived = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> HangingSMTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and drop every connection (the client then sees the server gone)."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread on Linux
        self.listener.close()
        for connection in self.accepted:
            connection.close()
        self.thread.join(timeout=30)

    def _accept(self) -> None:
        """Take every connection and keep it open, silent."""
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)
            self.arrived.release()

    def still_hanging(self) -> bool:
        """Whether every accepted connection is still open at the client's end, unanswered."""
        for connection in self.accepted:
            try:
                if connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    return False  # the client gave up and closed it
            except BlockingIOError:
                continue
        return bool(self.accepted)


@pytest.fixture
def hung_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str, HangingSMTPServer, Flask]]:
    """A running service whose mail server hangs, with a one-letter queue."""
    with HangingSMTPServer() as smtp:
        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")
        monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
        monkeypatch.delenv("PUBLISH_SECRET", raising=False)
        port = free_port()
        root = service_site(tmp_path / "site", port)
        app = create_app(root, ServiceOptions(mail_queue=1))
        with running_service(app, port) as base:
            yield root, base, smtp, app
            smtp.close()  # first, so that the worker's wait ends and the service stops quickly


def test_a_hung_mail_server_never_holds_up_an_unsubscribe(
    hung_service: tuple[Path, str, HangingSMTPServer, Flask],
) -> None:
    """Signups answer at once while the worker waits on a silent server; the queue full, a
    signup gets a clear 503; and a one-click unsubscribe answers while the server still
    hangs. (Bounds are generous: the mail server's timeout is a minute.)"""
    root, base, smtp, _ = hung_service
    reader = add_active(root, "leaving@example.com")

    started = time.monotonic()
    assert http(base + "subscribe", b"email=one%40example.com&website=", timeout=10)[0] == 200
    assert smtp.arrived.acquire(timeout=10), "the worker never reached the mail server"
    assert http(base + "subscribe", b"email=two%40example.com&website=", timeout=10)[0] == 200
    status, _, page = http(base + "subscribe", b"email=three%40example.com&website=", timeout=10)
    assert status == 503
    assert html.fromstring(page).findtext(".//h1") == "Please try again later"

    one_click = base + unsubscribe_path(root, reader).lstrip("/")
    status, kind, _ = http(one_click, b"List-Unsubscribe=One-Click", timeout=10)
    assert (status, kind) == (200, "text/plain")
    assert smtp.still_hanging(), "the mail server's connection was given up before the answer"
    assert time.monotonic() - started < 20
    assert people(root)["leaving@example.com"] == "unsubscribed"
    assert {"one@example.com", "two@example.com"} <= set(people(root))


def test_the_service_will_not_start_without_its_own_url(tmp_path: Path) -> None:
    """With no service_url, links could only come from the request's Host header: refused."""
    root = service_site(tmp_path / "site", free_port())
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(re.sub(r"(?m)^service_url = .*\n", "", text), encoding="utf-8")
    with pytest.raises(PublishError) as caught:
        create_app(root)
    [problem] = caught.value.problems
    lines = settings.read_text(encoding="utf-8").splitlines()
    assert (problem.path, problem.line) == ("publish.toml", lines.index("[email]") + 1)
    assert "service_url is not set" in problem.message
    result = CliRunner().invoke(cli, ["--root", str(root), "subscriptions", "serve"])
    assert result.exit_code == 1 and "service_url is not set" in result.output


def test_links_never_come_from_the_host_header(harness: Harness) -> None:
    """A forged Host (or X-Forwarded-Host) changes nothing in the mailed link."""
    harness.client.post(
        "/subscribe",
        data={"email": "host@example.com", "website": ""},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert mailer_of(harness.app).drain(30)
    assert harness.confirm_link("host@example.com").startswith(harness.base + "confirm/")

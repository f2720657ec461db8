"""A confirmation email the relay refuses: the service logs the relay's reply and which
signup it was (never the reader's whole address), and `publish status` shows it. The real
`publish subscriptions serve`, a real SMTP relay that refuses."""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

from publish.cli.main import cli
from publish.state import subscribers
from publish.support.addresses import masked_address, without_address
from tests.servicesite import http, open_state, service_site, serving
from tests.tools import RecordingSMTPServer, free_port

READER = "Gone.Reader@example.com"
REFUSAL = f"550 5.1.1 <{READER.lower()}>: Recipient address rejected: User unknown"


def logged_failure(log: Path, timeout: float = 30) -> str:
    """The service's log line about a letter that was not sent, once it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in log.read_text().splitlines() if "was not sent" in line]
        if lines:
            return lines[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing was logged about the refusal: {log.read_text()}")


def status_output(root: Path) -> str:
    """What `publish status` prints for the site."""
    return CliRunner().invoke(cli, ["--root", str(root), "status"]).output


def test_a_refused_confirmation_is_logged_and_shown_in_status(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log line names the signup by id and masked address and gives the relay's reply;
    `publish status` counts the unconfirmed signup and repeats the latest reason."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    port = free_port()
    root = service_site(tmp_path / "site", port)
    assert "Confirmations: none failed" in status_output(root)
    smtp_server.refuse_every_rcpt = REFUSAL
    log = tmp_path / "service.log"
    with serving(root, port, log):
        status, _, _ = http(f"http://127.0.0.1:{port}/subscribe", f"email={READER}".encode())
        assert status == 200
        line = logged_failure(log)
        smtp_server.refuse_every_rcpt = None
        status, _, _ = http(f"http://127.0.0.1:{port}/subscribe", b"email=fine%40example.com")
        assert status == 200 and smtp_server.wait_for("fine@example.com")
    with closing(open_state(root)) as conn:
        found = subscribers.find_subscriber(conn, READER)
    assert found is not None
    masked_reply = "550 5.1.1 <G***@example.com>: Recipient address rejected: User unknown"
    assert line.endswith(
        f"the confirmation email of signup {found.id} (G***@example.com) was not sent: "
        + masked_reply
    )
    assert READER.lower() not in log.read_text().lower()
    shown = status_output(root)
    [confirmations] = [s for s in shown.splitlines() if s.startswith("Confirmations:")]
    assert confirmations.startswith("Confirmations: 1 unconfirmed signup(s) whose email failed")
    assert confirmations.endswith(f"signup {found.id} (G***@example.com): {masked_reply}")


@given(address=st.emails(), shout=st.booleans(), reply=st.sampled_from(["<{}>", "{} unknown"]))
def test_a_masked_reply_never_holds_the_address(address: str, shout: bool, reply: str) -> None:
    """Whatever the address and however a relay writes it back (in capitals, say), the
    masked reply holds no copy of it, and keeps the domain and the rest of the reply."""
    assume("*" not in address)  # the mask's own character
    written = address.upper() if shout else address
    assume(written.lower() == address.lower())
    text = without_address("550 5.1.1 " + reply.format(written), address)
    assert address.lower() not in text.lower()
    assert text == "550 5.1.1 " + reply.format(masked_address(address))
    assert masked_address(address).endswith("@" + address.rpartition("@")[2])

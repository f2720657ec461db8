"""Where a send's messages go: the SMTP server of PUBLISH_SMTP_URL, or the outbox folder.

With `--outbox` the messages are written to `state/outbox/<slug>/` and recorded in the
outbox's own ledger (`state/outbox/ledger.db`), never in the real one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import msgspec

from publish.errors import PublishError
from publish.mail.dkim import DkimSigner, signer_for, signing
from publish.mail.environment import environment_file, shown_path
from publish.mail.smtp_url import SMTP_URL_ENV, SMTPEndpoint, parse_smtp_url
from publish.mail.transport import SMTP_TIMEOUT, OutboxTransport, SMTPTransport, Transport
from publish.model import Settings
from publish.state import db

BACKOFF_ENV = "PUBLISH_RETRY_BACKOFF"  # seconds before the first retry; doubles each time
DEFAULT_BACKOFF = 2.0
TIMEOUT_ENV = "PUBLISH_SMTP_TIMEOUT"  # seconds to wait for each reply of the relay
OUTBOX_DIR = "outbox"
OUTBOX_LEDGER = "ledger.db"


class Destination(msgspec.Struct, frozen=True):
    """Where a send's messages go: an SMTP server, or a folder of the outbox (never both)."""

    endpoint: SMTPEndpoint | None = None
    outbox: Path | None = None
    shown: str = ""  # the outbox folder as messages show it
    signer: DkimSigner | None = None  # signs each message when [email] sets up DKIM

    def open(
        self,
        settings: Settings,
        on_event: Callable[[str, str], None] | None = None,
        *,
        signs: bool = True,
    ) -> Transport:
        """The transport for this destination, signing each message when DKIM is set up
        and `signs` (a send's composers sign its copies themselves: `signs=False`)."""
        signer = self.signer if signs else None
        if self.outbox is not None:
            return signing(OutboxTransport(self.outbox), signer)
        assert self.endpoint is not None
        smtp = SMTPTransport(
            self.endpoint, settings.email.max_retries, retry_backoff(), on_event, smtp_timeout()
        )
        return signing(smtp, signer)

    @property
    def label(self) -> str:
        """Where the messages go, in words."""
        if self.outbox is not None:
            return f"the outbox {self.shown}/"
        assert self.endpoint is not None
        return self.endpoint.label


def choose_destination(root: Path, settings: Settings, slug: str, *, outbox: bool) -> Destination:
    """The outbox when asked for, else the server of PUBLISH_SMTP_URL; PublishError if unset.

    Nothing is read from or written to the state before this is decided.
    """
    if outbox:
        folder = outbox_folder(root, settings) / slug if slug else outbox_folder(root, settings)
        signer = signer_for(root, settings)
        return Destination(outbox=folder, shown=shown_path(root, folder), signer=signer)
    url = os.environ.get(SMTP_URL_ENV, "").strip()
    if not url:
        env_file = shown_path(root, environment_file(root, settings))
        folder = shown_path(root, outbox_folder(root, settings))
        raise PublishError.single(
            SMTP_URL_ENV,
            1,
            1,
            f"is not set, so there is no server to send through; nothing was sent or "
            f"recorded. Set it in the environment or in {env_file} (mode 600), or pass "
            f"--outbox to write the messages to {folder}/ instead",
        )
    endpoint = parse_smtp_url(url)
    smtp_timeout()  # a bad value stops the send here, before anything is recorded
    return Destination(endpoint=endpoint, signer=signer_for(root, settings))


def open_transport(
    root: Path, settings: Settings, slug: str, on_event: Callable[[str, str], None] | None = None
) -> Transport:
    """SMTP when PUBLISH_SMTP_URL is set, else the outbox (the service's confirmation mail).

    `publish send` and `publish run` never fall back to the outbox: see choose_destination.
    """
    outbox = not os.environ.get(SMTP_URL_ENV, "").strip()
    return choose_destination(root, settings, slug, outbox=outbox).open(settings, on_event)


def retry_backoff() -> float:
    """Seconds before the first retry ($PUBLISH_RETRY_BACKOFF, default 2); it doubles after."""
    try:
        return max(0.0, float(os.environ.get(BACKOFF_ENV, DEFAULT_BACKOFF)))
    except ValueError:
        raise PublishError.single(BACKOFF_ENV, 1, 1, "must be a number of seconds") from None


def smtp_timeout() -> float:
    """Seconds to wait for each reply of the relay ($PUBLISH_SMTP_TIMEOUT, default 60)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        seconds = float(text) if text else SMTP_TIMEOUT
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise PublishError.single(
            TIMEOUT_ENV, 1, 1, "must be a number of seconds above 0, at most 3600"
        )
    return seconds


def state_dir(root: Path, settings: Settings) -> Path:
    """The folder holding the state database, its secret, the lock and the outbox."""
    return db.database_path(root, settings).parent


def outbox_folder(root: Path, settings: Settings) -> Path:
    """The outbox: `state/outbox/`, one folder per essay and the outbox's own ledger."""
    return state_dir(root, settings) / OUTBOX_DIR

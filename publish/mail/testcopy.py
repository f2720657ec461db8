"""A test copy of any essay's email (`publish send SLUG --to ADDRESS`): one released, queued,
dated later or a draft. An essay that is out goes as built in `build/email/` (made there now
if the build left it out); any other is made as the preview makes it (`publish build
--future --drafts`, into `build/preview/email/`), whose emails read as the real ones will.
The copy is marked as a test in a header only (`X-Publish-Test: 1`, which a reader never
sees), and it is never written in the ledger nor counted as a release.
"""

from __future__ import annotations

from email.utils import make_msgid
from pathlib import Path

from publish.errors import PublishError
from publish.layout import EMAIL_DIR, PREVIEW_EMAIL_DIR
from publish.mail import mime
from publish.mail.built import BuiltEmail, envelope_sender, load_built_email
from publish.mail.composer import compose
from publish.mail.destination import Destination
from publish.mail.progress import SendSummary
from publish.mail.transport import DeliveryFailure, ServerUnavailable, header_address
from publish.model import Settings
from publish.outputs import urls
from publish.state.subscribers import normalise_address

TEST_HEADER = b"X-Publish-Test: 1"


def test_copy_email(
    root: Path, settings: Settings, slug: str, make: bool = True
) -> BuiltEmail | None:
    """The email a test copy of `slug` is made from: the built one when today's build shows
    the essay (made now if the build left it out, a back issue say), else the preview's, made
    now as `publish build --future --drafts` would make it. Without `make` (a dry run),
    nothing is made: None, or the PublishError of an essay neither build shows."""
    from publish.mail.ondemand import make_email  # loads the build: only when needed

    out_today = make_email(root, slug, EMAIL_DIR, write=False)
    return load_built_email(root, slug, EMAIL_DIR if out_today else PREVIEW_EMAIL_DIR, make=make)


def send_test_copy(
    root: Path,
    settings: Settings,
    slug: str,
    to: str,
    destination: Destination | None,
) -> SendSummary:
    """Send one copy of `slug` to `to` (with no `destination`, only say it would), leaving
    the ledger and the releases alone."""
    address = normalise_address(to, "--to")
    built = test_copy_email(root, settings, slug, make=destination is not None)
    if built is None:
        message = f"Dry run: a test copy of '{slug}' would go to {address}; nothing was sent."
        return SendSummary(slug=slug, message=message)
    transport = destination.open(settings)
    try:
        transport.check(address)
        data = compose(
            built,
            settings,
            to=header_address(address),
            name="",
            unsubscribe=urls.preview_unsubscribe_url(settings),
            message_id=make_msgid(domain=mime.site_domain(settings)),
        )
        transport.send(envelope_sender(settings), address, marked_as_test(data), "test")
    except (DeliveryFailure, ServerUnavailable) as exc:
        raise PublishError.single(
            "--to", 1, 1, f"the test copy for {address} was not sent: {exc}"
        ) from None
    finally:
        transport.close()
    if destination.outbox is not None:
        message = (
            f"Wrote a test copy of '{slug}' for {address} to {destination.label}; "
            "nothing was mailed and the ledger is unchanged."
        )
    else:
        message = (
            f"Sent a test copy of '{slug}' to {address} through "
            f"{destination.label}; the ledger is unchanged."
        )
    return SendSummary(slug=slug, sent=1, message=message, outbox=destination.shown)


def marked_as_test(data: bytes) -> bytes:
    """A composed message with the test header first, in the message's own line ends."""
    first_line = data.partition(b"\n")[0]
    line_end = b"\r\n" if first_line.endswith(b"\r") else b"\n"
    return TEST_HEADER + line_end + data

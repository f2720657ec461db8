"""The built email of an essay (`build/email/<slug>.*`) and one recipient's copy of it."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from publish.i18n.words import ENGLISH, Words, words_for
from publish.layout import EMAIL_DIR
from publish.mail import mime, personal
from publish.mail.missing import missing_email
from publish.model import Settings
from publish.pipeline.journal import JOURNAL_NAME, recover_interrupted_commit
from publish.state import standing
from publish.support.addresses import tagged_address
from publish.support.locks import build_lock

if TYPE_CHECKING:
    from publish.pipeline.build import BuildOptions

BUILT_HEADERS = ("Subject", "From", "Reply-To", "Date", "List-Id")
READER_TOKEN = re.compile(r"\d+-[0-9a-f]{32}")  # publish.state.subscribers.unsubscribe_token
HTML_LANG = re.compile(r'<html[^>]*\slang="([^"]+)"', re.IGNORECASE)


class BuiltEmail(msgspec.Struct, frozen=True):
    """The three built files of one essay's email: HTML, text, and the headers of the `.eml`."""

    slug: str
    html: str
    text: str
    headers: dict[str, str]
    words: Words = ENGLISH  # the language the email is in (not compared: see __eq__)

    def __eq__(self, other: object) -> bool:
        """The same files: slug, HTML, text and headers (the words they were made in aside)."""
        if type(other) is not BuiltEmail:
            return NotImplemented
        return (self.slug, self.html, self.text, self.headers) == (
            other.slug,
            other.html,
            other.text,
            other.headers,
        )

    __hash__ = None  # type: ignore[assignment]  # its headers are a dict


def load_built_email(
    root: Path,
    slug: str,
    email_dir: Path = EMAIL_DIR,
    options: BuildOptions | None = None,
    make: bool = True,
) -> BuiltEmail | None:
    """The built `.html`, `.txt` and `.eml` of an essay, or PublishError naming what is missing.

    A build makes only the emails a send could still need: one it left out (a back issue,
    say) is made now, as a build with `options` (by default today's) would make it
    (`publish.mail.ondemand`), if that build shows the essay. A build killed in the middle
    of its commit is finished first (as the next build would), so a send never reads an
    email folder that is half old and half new. `email_dir` (under `root`) is `build/email/`
    but for `publish serve`'s preview. Without `make` (a dry run), nothing is made or read:
    None when the email is there or would be made, else the same PublishError."""
    if (root / email_dir.parent / JOURNAL_NAME).exists():
        with build_lock(root / email_dir.parent):
            recover_interrupted_commit(root / email_dir.parent)
    folder = root / email_dir
    paths = {suffix: folder / f"{slug}.{suffix}" for suffix in ("html", "txt", "eml")}
    if not all(path.is_file() for path in paths.values()):
        from publish.mail.ondemand import make_email  # only when the build left it out

        if not make_email(root, slug, email_dir, options, write=make):
            make = True  # not shown: say which file is missing, as below
        if not make:
            return None
    elif not make:
        return None
    for path in paths.values():
        if not path.is_file():
            built = sorted({p.stem for p in folder.glob("*.eml")}) if folder.is_dir() else []
            raise missing_email(root, slug, str(path.relative_to(root)), built)
    message = email.message_from_bytes(paths["eml"].read_bytes(), policy=email.policy.SMTP)
    headers = {name: str(message.get(name, "")) for name in BUILT_HEADERS}
    html = paths["html"].read_text(encoding="utf-8")
    language = HTML_LANG.search(html[:2000])
    return BuiltEmail(
        slug=slug,
        html=html,
        text=paths["txt"].read_text(encoding="utf-8"),
        headers=headers,
        words=words_for(language.group(1), root) if language else ENGLISH,
    )


def personal_message(
    built: BuiltEmail, settings: Settings, *, to: str, name: str, unsubscribe: str, message_id: str
) -> bytes:
    """One recipient's copy: their greeting, their unsubscribe link, their Message-ID.

    Subject comes from the built `.eml` and Date is the moment of sending (the built copy
    carries the essay's date); the addresses and List-Id come from the settings,
    as in the build (read back from the `.eml`, a display name split over two encoded words
    would gain a space in Python 3.11's address parser).
    """
    source = built.headers
    headers = mime.MessageHeaders(
        subject=source["Subject"],
        from_address=settings.email.from_address,
        reply_to=settings.email.reply_to,
        date=format_datetime(datetime.now(UTC)),
        message_id=message_id,
        list_id=mime.list_id(settings),
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=reader_unsubscribe_mailto(settings, unsubscribe),
        to=mime.recipient_address(to, name),
    )
    html = personal.personalise_html(built.html, settings, name, unsubscribe, built.words)
    text = personal.personalise_text(built.text, settings, name, unsubscribe, built.words)
    return mime.compose_copy(headers, text, html)


def envelope_sender(
    settings: Settings,
    *,
    secret: bytes | None = None,
    subscriber_id: int | None = None,
    slug: str = "",
) -> str:
    """The MAIL FROM address: the bare address of the From setting; with `[email]
    bounce_address`, that address, and for one reader's copy of an essay that address
    tagged with a signed return path naming the delivery (VERP: bounces+<tag>@domain)."""
    bounce = settings.email.bounce_address
    if not bounce:
        return parseaddr(settings.email.from_address)[1]
    if secret is None or subscriber_id is None:
        return bounce
    return tagged_address(bounce, standing.return_path_tag(secret, subscriber_id, slug))


def reader_unsubscribe_mailto(settings: Settings, unsubscribe: str) -> str:
    """The List-Unsubscribe mailto: with a bounce address, the reader's own address on it,
    tagged with the token of their unsubscribe link, so a request proves who sent it
    (whatever its From says); else the shared address of publish.mail.mime."""
    token = unsubscribe.rstrip("/").rpartition("/")[2]
    bounce = settings.email.bounce_address
    if not bounce or not READER_TOKEN.fullmatch(token):
        return mime.unsubscribe_mailto(settings)
    return f"mailto:{tagged_address(bounce, standing.unsubscribe_tag(token))}?subject=unsubscribe"

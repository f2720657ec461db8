"""The welcome email: a newly confirmed reader gets the essay most recently sent, once.

The copy is the built email of that essay, personalised as a send would personalise it, with
a short welcome line (the `email_welcome.txt` template) above the greeting. It is claimed in
the send ledger as a delivery of that essay before it is queued and marked sent only when
the server accepts it (a copy that could not go stays pending for the essay's next send), so
a second confirmation or a later send of the essay never mails the reader twice
(`[email] welcome = "none"` turns it off). It goes out through the service's mail queue,
like the confirmation emails.
"""

from __future__ import annotations

import logging
import sqlite3
from html import escape
from pathlib import Path

import msgspec
from jinja2 import Environment

from publish.errors import PublishError
from publish.i18n.templates import localized
from publish.mail.built import BuiltEmail, envelope_sender, load_built_email, personal_message
from publish.mail.mailer import Letter
from publish.mail.mime import header_text, site_domain
from publish.mail.transport import header_address
from publish.model import Settings
from publish.outputs import mail
from publish.outputs.templates import plain_templates
from publish.outputs.urls import unsubscribe_url
from publish.state import db, welcomes
from publish.state.subscribers import Subscriber, unsubscribe_token

WELCOME_TEMPLATE = "email_welcome.txt"
WELCOME_START, WELCOME_END = "<!--welcome-->", "<!--/welcome-->"
LOG = logging.getLogger("publish.service.welcome")


class Mailing(msgspec.Struct, frozen=True):
    """Where a welcome copy comes from: the site, its settings, secret and templates."""

    root: Path
    settings: Settings
    secret: bytes
    templates: Environment


def welcome_letter(
    mailing: Mailing, conn: sqlite3.Connection, subscriber: Subscriber
) -> Letter | None:
    """The welcome copy for a subscriber who just confirmed, recorded in the ledger (inside
    the caller's transaction), or None: welcome is off, nothing was sent yet, its email is
    not built, or the reader already has (or is about to get) that essay."""
    if mailing.settings.email.welcome == "none":
        return None
    slug = welcomes.latest_sent_slug(conn)
    if slug is None:
        return None
    try:
        built = load_built_email(mailing.root, slug)
    except PublishError:
        LOG.warning("no welcome email: the email of '%s' is not built", slug)
        return None
    if not welcomes.claim_welcome(conn, slug, subscriber.id, subscriber.email):
        return None
    message = personal_message(
        with_welcome(built, mailing),
        mailing.settings,
        to=header_address(subscriber.email),
        name=subscriber.name,
        unsubscribe=unsubscribe_url(
            mailing.settings, unsubscribe_token(mailing.secret, subscriber.id)
        ),
        message_id=message_id(mailing, slug, subscriber.id),
    )
    sender = envelope_sender(mailing.settings)
    name = f"welcome-{subscriber.id:06d}-{slug}"
    return Letter(sender, subscriber.email, message, name, delivery=(slug, subscriber.id))


def with_welcome(built: BuiltEmail, mailing: Mailing) -> BuiltEmail:
    """The built email with the welcome line above its greeting and a welcoming subject."""
    settings, words = mailing.settings, built.words
    line = " ".join(
        plain_templates(localized(mailing.templates, words))
        .get_template(WELCOME_TEMPLATE)
        .render(site=settings.site, subject=built.headers["Subject"])
        .split()
    )
    welcome = words.gettext("Welcome to %(site)s: %(subject)s")
    subject = header_text(
        welcome % {"site": settings.site.title, "subject": built.headers["Subject"]}
    )
    greeting = mail.preview_greeting(words)
    return msgspec.structs.replace(
        built,
        html=welcome_html(built.html, line),
        text=built.text.replace(f"\n{greeting}\n", f"\n{line}\n\n{greeting}\n", 1),
        headers={**built.headers, "Subject": subject},
    )


def welcome_html(html: str, line: str) -> str:
    """The HTML with the welcome line in its `<!--welcome-->` slot (a template without one
    gets it at the start of the greeting)."""
    paragraph = f'<p style="margin: 0 0 16px 0; font-style: italic;">{escape(line)}</p>'
    slot = WELCOME_START + WELCOME_END
    if slot in html:
        return html.replace(slot, WELCOME_START + paragraph + WELCOME_END, 1)
    marker = mail.GREETING_START
    return html.replace(marker, f"{escape(line)}<br><br>{marker}", 1)


def message_id(mailing: Mailing, slug: str, subscriber_id: int) -> str:
    """The Message-ID a send of this essay would give this reader (one copy, one id)."""
    tag = db.sign(mailing.secret, "message-id", f"{slug}:{subscriber_id}")[:16]
    return f"<{slug}.{tag}@{site_domain(mailing.settings)}>"

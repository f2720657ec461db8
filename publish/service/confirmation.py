"""The confirmation of a signup: the signed, expiring link and the email that carries it.

The email goes through the queue of `publish.mail.mailer`, so no request ever waits for
the mail server; a full queue answers the signup with "try again later" (503).
"""

from __future__ import annotations

import secrets
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import abort, current_app

from publish.i18n.templates import localized
from publish.mail.built import envelope_sender
from publish.mail.mailer import Letter
from publish.mail.mime import addressed_message, header_text, site_domain
from publish.outputs.urls import service_link
from publish.service.context import Service
from publish.state import db, subscribers

CONFIRM_PURPOSE = "confirm"
EMAIL_TEMPLATE = "service_confirm_email.txt"


def confirm_token(service: Service, nonce: str) -> str:
    """A signed confirmation token: `<nonce>.<expiry as Unix time>.<hmac>`."""
    expires = int(service.options.clock()) + service.options.confirm_seconds
    value = f"{nonce}.{expires}"
    return f"{value}.{db.sign(service.secret, CONFIRM_PURPOSE, value)}"


def read_confirm_token(service: Service, token: str) -> str:
    """The nonce of a genuine, unexpired token; 404 for a forged or cut one, 410 if expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        abort(404)
    nonce, expires, signature = parts
    if not db.verify(service.secret, CONFIRM_PURPOSE, f"{nonce}.{expires}", signature):
        abort(404)
    if service.options.clock() >= int(expires):
        abort(410, "expired")
    return nonce


def send_confirmation(service: Service, subscriber: subscribers.Subscriber, nonce: str) -> None:
    """Queue the confirmation email of link `nonce` for the mail worker; 503 when the queue
    is full (the mail server is slow or down), so the reader knows to try again later."""
    message = confirmation_message(service, subscriber.email, confirm_token(service, nonce))
    letter = Letter(
        envelope_sender(service.settings),
        subscriber.email,
        message.as_bytes(),
        f"{subscriber.id:06d}-{secrets.token_hex(4)}",
        confirmation=(nonce, subscriber.id),
    )
    if not service.mailer.submit(letter):
        current_app.logger.warning("the confirmation queue is full; a signup was turned away")
        abort(503, "Too many confirmation emails are waiting to be sent just now.")


def confirmation_message(service: Service, address: str, token: str) -> EmailMessage:
    """The confirmation email: plain text with the signed link, from the site's sender."""
    settings = service.settings
    link = service_link(settings, f"confirm/{token}")
    hours = max(1, service.options.confirm_seconds // 3600)
    words = service.pages.words
    text = (
        localized(service.pages.templates, words)
        .get_template(EMAIL_TEMPLATE)
        .render(site=settings.site, link=link, hours=hours)
    )
    message = addressed_message(settings.email.from_address, address)
    subject = words.gettext("Confirm your subscription to %(site)s")
    message["Subject"] = header_text(subject % {"site": settings.site.title})
    message["Date"] = formatdate(service.options.clock(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=site_domain(settings))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message

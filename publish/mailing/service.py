"""The subscription service: double opt-in signup, confirmation and RFC 8058 one-click unsubscribe.

A small Flask application that shares the site's SQLite state with `publish send`.
Signups are stored as pending (an address already known keeps its status until its owner
confirms), confirmation links are signed and expire, and every answer to a signup is the
same whatever the address's prior state, so the service never reveals who subscribes.

Opening a confirmation link (GET or HEAD, as mail scanners do) only shows a button; the
button's POST confirms. Confirmation mail goes through the queue of `publish.mailing.mailer`,
so no request ever waits for the mail server; a full queue answers a signup with "try
again later". Every link the service writes starts with `[email] service_url`, never with
the request's Host header.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, redirect, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from publish.content.settings import SETTINGS_FILE, load_settings
from publish.errors import PublishError
from publish.mailing import webhooks
from publish.mailing.built import envelope_sender
from publish.mailing.dkim import signer_for
from publish.mailing.mailer import Letter, Mailer
from publish.mailing.setup import locate_setting
from publish.mailing.welcome import Mailing, welcome_letter
from publish.model import Glossary, Settings, Site
from publish.outputs.mime import addressed_message, header_text, site_domain
from publish.outputs.templates import template_environment
from publish.outputs.urls import service_link
from publish.outputs.web import Head, PageRenderer
from publish.safetext import has_controls
from publish.state import confirmations, db, subscribers
from publish.state.statuses import SubscriberStatus

CONFIRM_PURPOSE = "confirm"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_ADDRESS = 320  # RFC 3696's longest address; email-validator is stricter still
MAX_NAME = 200
MAX_BODY = 16 * 1024
# waitress buffers a body before the application sees it: a bound, above what the hooks
# answer 413 for themselves (waitress just closes the connection)
SERVER_LIMITS = {"max_request_body_size": 2 * webhooks.MAX_HOOK_BODY}


@dataclass(frozen=True)
class ServiceOptions:
    """How the service behaves: link lifetime, rate limits, proxies and the clock."""

    confirm_seconds: int = 48 * 3600
    client_limit: int = 20  # signups per client address per window
    address_limit: int = 3  # signups per email address per window
    window_seconds: int = 3600
    trusted_proxies: int = 0  # proxies in front whose X-Forwarded-For is believed
    proxy_address: str = "127.0.0.1"  # the peer address of the proxy nearest the service
    mail_queue: int = 100  # confirmation emails waiting for the mail server, at most
    inbox_limit: int = 600  # activities per client address per window (the fediverse inbox)
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Service:
    """What every request needs: the site root, its settings, secret, database and pages."""

    root: Path
    settings: Settings
    secret: bytes
    database: Path
    pages: PageRenderer
    options: ServiceOptions
    mailer: Mailer


def create_app(root: Path, options: ServiceOptions | None = None) -> Flask:
    """The subscription service of the site at `root`, as a WSGI application."""
    settings = load_settings(root)
    if not settings.email.from_address:
        raise PublishError.single(
            SETTINGS_FILE,
            1,
            1,
            "[email] from is not set; the subscription service sends confirmation emails from it",
        )
    if not settings.email.service_url:
        line, _ = locate_setting((root / SETTINGS_FILE).read_text(encoding="utf-8"), "email", None)
        raise PublishError.single(
            SETTINGS_FILE,
            line,
            1,
            (
                "[email] service_url is not set; set it to the public address this service "
                "answers on: its links are built from it, never from a request's Host header"
            ),
        )
    signer_for(root, settings)  # a broken DKIM key stops the start, not each confirmation
    database = db.database_path(root, settings)
    db.connect(database).close()  # create and migrate before the first request
    site = Site(root=root, settings=settings, glossary=Glossary({}), essays=())
    pages = PageRenderer(site, template_environment(site.templates_dir))
    options = options or ServiceOptions()
    service = Service(
        root=root,
        settings=settings,
        secret=db.load_secret(database.parent),
        database=database,
        pages=pages,
        options=options,
        mailer=Mailer(root, settings, options.mail_queue),
    )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["publish"] = service
    app.add_url_rule("/", view_func=home, methods=["GET"])
    app.add_url_rule("/subscribe", view_func=subscribe, methods=["POST"])
    app.add_url_rule("/confirm/<token>", view_func=confirm_page, methods=["GET"])
    app.add_url_rule("/confirm/<token>", view_func=confirm, methods=["POST"])
    app.add_url_rule("/unsubscribe/<token>", view_func=unsubscribe_page, methods=["GET"])
    app.add_url_rule("/unsubscribe/<token>", view_func=unsubscribe, methods=["POST"])
    app.add_url_rule("/hooks/<provider>", view_func=webhooks.receive, methods=["POST"])
    from publish.service import activitypub  # it imports this module's request helpers

    activitypub.register(app, service)  # the site's ActivityPub actor, when enabled
    app.register_error_handler(HTTPException, error_page)
    app.after_request(security_headers)
    return app


def mailer_of(app: Flask) -> Mailer:
    """The mail queue of a service application."""
    return app.extensions["publish"].mailer


# --- Requests -------------------------------------------------------------------


def home() -> WerkzeugResponse:
    """The service has no front page of its own: send visitors to the site."""
    return redirect(current().settings.site.url)


def subscribe() -> Response:
    """Take a signup: validate, rate-limit, store as pending and mail a confirmation link."""
    service = current()
    form = form_fields()
    address, name = checked_signup(form)
    with database(service) as conn:
        if not allow(conn, service, "client", client_address(), service.options.client_limit):
            abort(429)
        if form.get("website", ""):
            return page("service_subscribed.html", "Check your inbox")  # a bot: pretend
        if not allow(conn, service, "address", address.lower(), service.options.address_limit):
            abort(429)
        subscriber, nonce = confirmations.record_signup(conn, address, name)
    send_confirmation(service, subscriber, nonce)
    return page("service_subscribed.html", "Check your inbox")


def confirm_page(token: str) -> Response:
    """The page a confirmation link opens: one button that confirms. A GET or HEAD (a mail
    scanner following every link) changes nothing."""
    service = current()
    nonce = read_confirm_token(service, token)
    with database(service) as conn:
        open_confirmation(conn, nonce)
    return page("service_confirm.html", "Confirm your subscription", token_page=True, token=token)


def confirm(token: str) -> Response:
    """Activate the subscriber a valid, unexpired and unused confirmation link names."""
    service = current()
    nonce = read_confirm_token(service, token)
    if form_fields().get("confirm") != "yes":
        abort(400, "The request did not come from the confirmation button.")
    with database(service) as conn, db.transaction(conn):
        found = open_confirmation(conn, nonce)
        subscriber = subscribers.get_subscriber(conn, found.subscriber_id)
        if subscriber is None:
            abort(404)
        if subscriber.status != SubscriberStatus.ACTIVE:
            subscribers.set_status(conn, subscriber.id, SubscriberStatus.ACTIVE)
        confirmations.close_confirmations(conn, subscriber.id)
        welcome = welcome_letter(welcome_mailing(service), conn, subscriber)
    if welcome is not None and not service.mailer.submit(welcome):
        current_app.logger.warning("the mail queue is full; a welcome email was not sent")
    return page("service_confirmed.html", "You are subscribed", token_page=True)


def welcome_mailing(service: Service) -> Mailing:
    """What the welcome email of this service is made from."""
    return Mailing(service.root, service.settings, service.secret, service.pages.templates)


def unsubscribe_page(token: str) -> Response:
    """The one-button page an unsubscribe link opens; a GET never changes anything."""
    read_unsubscribe(token)
    return page("service_unsubscribe.html", "Unsubscribe", token_page=True, token=token)


def unsubscribe(token: str) -> Response:
    """Unsubscribe at once: RFC 8058 one-click from a mail client, or the page's button."""
    service = current()
    subscriber_id = read_unsubscribe(token)
    form = form_fields()
    one_click = form.get("List-Unsubscribe") == "One-Click"
    if not one_click and form.get("unsubscribe") != "yes":
        abort(400, "The request did not say List-Unsubscribe=One-Click.")
    with database(service) as conn, db.transaction(conn):
        subscriber = subscribers.get_subscriber(conn, subscriber_id)
        if subscriber is not None:  # a removed row: answer alike, reveal nothing
            # an unsubscribe request, as a report's: never back from bounced or complained
            if subscriber.status in (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE):
                subscribers.set_status(conn, subscriber.id, SubscriberStatus.UNSUBSCRIBED)
            confirmations.close_confirmations(conn, subscriber.id)
    if one_click:
        return plain_response("You are unsubscribed.\n")
    return page("service_unsubscribed.html", "You are unsubscribed", token_page=True)


# --- Checking what arrives ------------------------------------------------------------


def form_fields() -> ImmutableMultiDict[str, str]:
    """The request's form fields; 415 for a body that is not a form (JSON, say)."""
    if request.mimetype not in FORM_TYPES:
        abort(415)
    return request.form


def checked_signup(form: ImmutableMultiDict[str, str]) -> tuple[str, str]:
    """The normalised address and the name of a signup; 400 when either is unacceptable."""
    raw = form.get("email", "")
    name = form.get("name", "")
    if not raw.strip():
        abort(400, "Please give an email address.")
    if len(raw) > MAX_ADDRESS or len(name) > MAX_NAME:
        abort(400, "That is longer than any email address or name we can take.")
    if has_controls(raw) or has_controls(name):
        abort(400, "An address or name cannot contain line breaks or control characters.")
    try:
        return subscribers.normalise_address(raw), name.strip()
    except subscribers.AddressError:
        abort(400, "That does not look like an email address; please check it.")


def client_address() -> str:
    """Who is asking: the peer address, which waitress takes from X-Forwarded-For when the
    request came through a trusted proxy (see `create_server`)."""
    return request.remote_addr or "unknown"


# --- State -----------------------------------------------------------------------------


@contextmanager
def database(service: Service) -> Iterator[sqlite3.Connection]:
    """A connection to the state database for one request, closed afterwards."""
    conn = db.connect(service.database)
    try:
        yield conn
    finally:
        conn.close()


def allow(conn: sqlite3.Connection, service: Service, kind: str, key: str, limit: int) -> bool:
    """Count one attempt in a sliding window; False once `limit` attempts were counted.

    The key is stored only as an HMAC, so the table never holds client or email addresses.
    """
    now = service.options.clock()
    bucket = f"{kind}:{db.sign(service.secret, 'rate-' + kind, key)}"
    return confirmations.count_attempt(
        conn, bucket, now, now - service.options.window_seconds, limit
    )


def open_confirmation(conn: sqlite3.Connection, nonce: str) -> confirmations.Confirmation:
    """The confirmation link of a nonce; 404 if there is none, 410 if it was used."""
    found = confirmations.find_confirmation(conn, nonce)
    if found is None:
        abort(404)
    if found.used:
        abort(410, "used")
    return found


# --- Tokens ----------------------------------------------------------------------------


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


def read_unsubscribe(token: str) -> int:
    """The subscriber id of a genuine unsubscribe token; 404 otherwise."""
    subscriber_id = subscribers.read_unsubscribe_token(current().secret, token)
    if subscriber_id is None:
        abort(404)
    return subscriber_id


# --- The confirmation email ---------------------------------------------------------------


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
    text = service.pages.templates.get_template("service_confirm_email.txt").render(
        site=settings.site, link=link, hours=hours
    )
    message = addressed_message(settings.email.from_address, address)
    message["Subject"] = header_text(f"Confirm your subscription to {settings.site.title}")
    message["Date"] = formatdate(service.options.clock(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=site_domain(settings))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


# --- Responses --------------------------------------------------------------------------


def current() -> Service:
    """The service of the running application."""
    return current_app.extensions["publish"]


def page(
    template: str, title: str, status: int = 200, token_page: bool = False, **values: Any
) -> Response:
    """A page of the service in the site's look, linking back to the static site."""
    service = current()
    site = service.settings.site
    head = Head(title=f"{title} · {site.title}", description="", canonical="")
    html = service.pages.render(template, template, head, root=site.url, **values)
    response = Response(html, status=status, mimetype="text/html")
    if token_page:
        response.headers["Cache-Control"] = "no-store"
    return response


def plain_response(text: str) -> Response:
    """A short plain-text answer, for mail clients that post one-click unsubscribes."""
    return Response(text, status=200, mimetype="text/plain")


ERROR_TITLES = {
    400: "That did not work",
    404: "This link is not valid",
    405: "Not here",
    410: "This link has run out",
    413: "Too much",
    415: "Please use the form",
    429: "Too many tries",
    503: "Please try again later",
}


def error_page(exc: HTTPException) -> Response:
    """Every error as a short page of the service, with its status code."""
    status = exc.code or 500
    detail = exc.description if isinstance(exc.description, str) else ""
    title = ERROR_TITLES.get(status, "Something went wrong")
    return page(
        "service_error.html",
        title,
        status=status,
        token_page=True,
        status_code=status,
        detail=detail if status in (400, 410) else "",
    )


def security_headers(response: Response) -> Response:
    """Headers on every answer: a strict CSP (the site's stylesheet only), no sniffing, no
    referrer (token pages would leak their token), no framing."""
    site_origin = origin(current().settings.site.url)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'self' {site_origin}; img-src 'self' {site_origin}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def origin(url: str) -> str:
    """The scheme, host and port of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"

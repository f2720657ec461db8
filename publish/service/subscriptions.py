"""The readers' side of the service: double opt-in signup, confirmation and RFC 8058
one-click unsubscribe, with the pages they see (errors included) in the site's look.

Signups are stored as pending (an address already known keeps its status until its owner
confirms), confirmation links are signed and expire (`publish.service.confirmation`), and
every answer to a signup is the same whatever the address's prior state, so the service
never reveals who subscribes. Opening a confirmation link (GET or HEAD, as mail scanners
do) only shows a button; the button's POST confirms.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from publish.i18n import N_
from publish.outputs.web import Head
from publish.service.confirmation import read_confirm_token, send_confirmation
from publish.service.context import Service, current, database
from publish.service.welcome import Mailing, welcome_letter
from publish.state import confirmations, db, subscribers
from publish.state.statuses import SubscriberStatus
from publish.support.safetext import has_controls

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_ADDRESS = 320  # RFC 3696's longest address; email-validator is stricter still
MAX_NAME = 200
# The pages of this blueprint (a site may override each in its templates/).
SUBSCRIBED_PAGE = "service_subscribed.html"
CONFIRM_PAGE = "service_confirm.html"
CONFIRMED_PAGE = "service_confirmed.html"
UNSUBSCRIBE_PAGE = "service_unsubscribe.html"
UNSUBSCRIBED_PAGE = "service_unsubscribed.html"
ERROR_PAGE = "service_error.html"
ERROR_TITLES = {
    400: N_("That did not work"),
    404: N_("This link is not valid"),
    405: N_("Not here"),
    410: N_("This link has run out"),
    413: N_("Too much"),
    415: N_("Please use the form"),
    429: N_("Too many tries"),
    503: N_("Please try again later"),
}

blueprint = Blueprint("subscriptions", __name__)


@blueprint.get("/")
def home() -> WerkzeugResponse:
    """The service has no front page of its own: send visitors to the site."""
    return redirect(current().settings.site.url)


@blueprint.post("/subscribe")
def subscribe() -> Response:
    """Take a signup: validate, rate-limit, store as pending and mail a confirmation link."""
    service = current()
    form = form_fields()
    address, name = checked_signup(form)
    with database(service) as conn:
        if not allow(conn, service, "client", client_address(), service.options.client_limit):
            abort(429)
        if form.get("website", ""):
            return page(SUBSCRIBED_PAGE, "Check your inbox")  # a bot: pretend
        if not allow(conn, service, "address", address.lower(), service.options.address_limit):
            abort(429)
        subscriber, nonce = confirmations.record_signup(conn, address, name)
    send_confirmation(service, subscriber, nonce)
    return page(SUBSCRIBED_PAGE, "Check your inbox")


@blueprint.get("/confirm/<token>")
def confirm_page(token: str) -> Response:
    """The page a confirmation link opens: one button that confirms. A GET or HEAD (a mail
    scanner following every link) changes nothing."""
    service = current()
    nonce = read_confirm_token(service, token)
    with database(service) as conn:
        open_confirmation(conn, nonce)
    return page(CONFIRM_PAGE, "Confirm your subscription", token_page=True, token=token)


@blueprint.post("/confirm/<token>")
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
    return page(CONFIRMED_PAGE, "You are subscribed", token_page=True)


def welcome_mailing(service: Service) -> Mailing:
    """What the welcome email of this service is made from."""
    return Mailing(service.root, service.settings, service.secret, service.pages.templates)


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Response:
    """The one-button page an unsubscribe link opens; a GET never changes anything."""
    read_unsubscribe(token)
    return page(UNSUBSCRIBE_PAGE, "Unsubscribe", token_page=True, token=token)


@blueprint.post("/unsubscribe/<token>")
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
        return plain_response(current().pages.words.gettext("You are unsubscribed.") + "\n")
    return page(UNSUBSCRIBED_PAGE, "You are unsubscribed", token_page=True)


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
    request came through a trusted proxy (see `publish.service.server.create_server`)."""
    return request.remote_addr or "unknown"


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


def read_unsubscribe(token: str) -> int:
    """The subscriber id of a genuine unsubscribe token; 404 otherwise."""
    subscriber_id = subscribers.read_unsubscribe_token(current().secret, token)
    if subscriber_id is None:
        abort(404)
    return subscriber_id


# --- Responses --------------------------------------------------------------------------


def page(
    template: str, title: str, status: int = 200, token_page: bool = False, **values: Any
) -> Response:
    """A page of the service in the site's look, linking back to the static site."""
    service = current()
    site = service.settings.site
    shown = service.pages.titled(service.pages.words.gettext(title))
    head = Head(title=shown, description="", canonical="")
    html = service.pages.render(template, template, head, root=site.url, **values)
    response = Response(html, status=status, mimetype="text/html")
    if token_page:
        response.headers["Cache-Control"] = "no-store"
    return response


def plain_response(text: str) -> Response:
    """A short plain-text answer, for mail clients that post one-click unsubscribes."""
    return Response(text, status=200, mimetype="text/plain")


@blueprint.app_errorhandler(HTTPException)
def error_page(exc: HTTPException) -> Response:
    """Every error a reader meets (an address of no blueprint too) as a short page of the
    service, with its status code."""
    status = exc.code or 500
    detail = exc.description if isinstance(exc.description, str) else ""
    title = ERROR_TITLES.get(status, N_("Something went wrong"))
    return page(
        ERROR_PAGE,
        title,
        status=status,
        token_page=True,
        status_code=status,
        detail=detail if status in (400, 410) else "",
    )

"""The site's ActivityPub actor, served: WebFinger, the actor document, its outbox of
released essays, its followers (a count), and its inbox.

Every POST to the inbox must carry a valid HTTP Signature (publish.fediverse.signatures)
by the activity's own actor, a Digest matching its body and a date within a few minutes;
its size and rate are limited. Every address the actor gives starts with the site's URL,
never with the request's Host header.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import msgspec
from flask import Blueprint, Flask, Response, current_app, redirect, request
from flask import abort as refuse  # answers to servers, in English: not for the catalogs
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from publish.fediverse.actors import KeyStore
from publish.fediverse.inbox import Refused, receive
from publish.fediverse.keys import actor_key, public_pem, signing_fetcher
from publish.fediverse.outgoing import Outbox
from publish.fediverse.remote import Fetcher
from publish.fediverse.signatures import (
    PublicKey,
    Request,
    SignatureError,
    verify_request,
)
from publish.outputs import activitypub as documents
from publish.service.context import Service, current, database
from publish.service.subscriptions import allow, client_address
from publish.state import followers, releases

MAX_INBOX_BODY = 256 * 1024  # bytes of one activity (Mastodon's replies are a few KB)
PAGE_SIZE = 20  # activities on one outbox page
JRD = "application/jrd+json"

log = logging.getLogger(__name__)
blueprint = Blueprint("activitypub", __name__)


def register(app: Flask, service: Service) -> None:
    """Serve the site's actor from the service when `[fediverse] enabled` is set."""
    settings = service.settings
    if not settings.fediverse.enabled:
        return
    fetcher = signing_fetcher(service.database.parent, settings)
    public_key = public_pem(actor_key(service.database.parent))
    app.extensions["fediverse"] = Fediverse(public_key, fetcher, Outbox(fetcher))
    app.register_blueprint(blueprint)


class Fediverse(msgspec.Struct, frozen=True):
    """What the actor's routes share: its public key, how it fetches, what it sends."""

    public_key: str
    fetcher: Fetcher
    outbox: Outbox


def fediverse() -> Fediverse:
    """The actor's shared parts in the running application."""
    return current_app.extensions["fediverse"]


@blueprint.get("/.well-known/webfinger")
def webfinger() -> Response:
    """The WebFinger answer for the actor's `acct:` handle or its id; 404 for anyone else."""
    settings = current().settings
    resource = request.args.get("resource", "")
    if not resource:
        refuse(400, "Ask for a resource (acct:user@host).")
    answer = documents.webfinger(settings)
    if resource.lower() != answer["subject"].lower() and resource != documents.actor_id(settings):
        refuse(404)  # acct: names are matched without case, as Mastodon matches them
    return json_response(answer, JRD)


@blueprint.get("/activitypub/actor")
def actor() -> WerkzeugResponse:
    """The actor document (a browser asking for HTML goes to the site)."""
    settings = current().settings
    if wants_html():
        return redirect(settings.site.url)
    return json_response(documents.actor_document(settings, fediverse().public_key))


@blueprint.get("/activitypub/followers")
def followers_collection() -> Response:
    """The followers: how many, never who."""
    service = current()
    with database(service) as conn:
        count = followers.follower_count(conn)
    return json_response(
        {
            "@context": documents.AS_CONTEXT,
            "id": documents.actor_url(service.settings, "followers"),
            "type": "OrderedCollection",
            "totalItems": count,
        }
    )


@blueprint.get("/activitypub/outbox")
def outbox() -> Response:
    """The outbox: a `Create` of each released essay's Article, newest first, in pages."""
    service = current()
    settings = service.settings
    with database(service) as conn:
        released = sorted(
            releases.read_releases(conn, "UTC").values(),
            key=lambda r: (r.released_at, r.slug),
            reverse=True,
        )
    collection = documents.actor_url(settings, "outbox")
    page = request.args.get("page", "")
    if not page:
        return json_response(
            {
                "@context": documents.AS_CONTEXT,
                "id": collection,
                "type": "OrderedCollection",
                "totalItems": len(released),
                "first": f"{collection}?page=1",
            }
        )
    if not page.isdigit() or int(page) < 1 or len(page) > 6:
        refuse(404)
    number = int(page)
    shown = released[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    document: dict[str, Any] = {
        "@context": documents.AS_CONTEXT,
        "id": f"{collection}?page={number}",
        "type": "OrderedCollectionPage",
        "partOf": collection,
        "orderedItems": [outbox_item(service, r.slug, r.released_at) for r in shown],
    }
    if number * PAGE_SIZE < len(released):
        document["next"] = f"{collection}?page={number + 1}"
    if number > 1:
        document["prev"] = f"{collection}?page={number - 1}"
    return json_response(document)


def outbox_item(service: Service, slug: str, released_at: datetime) -> dict[str, Any]:
    """The Create of one released essay's Article, naming the Article by its id."""
    settings = service.settings
    article = settings.site.url + documents.article_path(slug)
    return {
        "id": f"{article}#create",
        "type": "Create",
        "actor": documents.actor_id(settings),
        "published": released_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "to": [documents.PUBLIC],
        "cc": [documents.actor_url(settings, "followers")],
        "object": article,
    }


@blueprint.post("/activitypub/inbox")
def inbox() -> Response:
    """Take one signed activity: verify, rate-limit, act on it, and answer 202."""
    service = current()
    if (request.content_length or 0) > MAX_INBOX_BODY:
        refuse(413)
    request.max_content_length = MAX_INBOX_BODY  # a body without Content-Length, too
    body = request.get_data()
    with database(service) as conn:
        limit = service.options.inbox_limit
        if not allow(conn, service, "inbox", client_address(), limit):
            refuse(429)
        store = KeyStore(conn, fediverse().fetcher, service.options.clock)
        key = verified_key(service, store, body)
        try:
            activity = json.loads(body)
        except (ValueError, RecursionError):
            refuse(400, "The body is not JSON.")
        try:
            answer = receive(conn, service.settings, fediverse().fetcher, key.owner, activity)
        except Refused as refused:
            refuse(refused.status, str(refused))
        store.keep(key)  # a key is cached only for an activity taken
    if answer is not None:
        fediverse().outbox.submit(answer)
    return Response(status=202)


def verified_key(service: Service, store: KeyStore, body: bytes) -> PublicKey:
    """The key that signed this request; 401 when the signature does not hold."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    url = documents.actor_url(service.settings, "inbox")
    try:
        return verify_request(Request(request.method, url, headers, body), store)
    except SignatureError as exc:
        log.info("an inbox request was refused: %s", exc)
        refuse(401, f"The HTTP Signature does not hold: {exc}")


def wants_html() -> bool:
    """Whether the client asks for a web page rather than ActivityPub JSON."""
    best = request.accept_mimetypes.best_match(
        ["application/activity+json", "application/ld+json", "application/json", "text/html"]
    )
    return best == "text/html"


def json_response(document: dict[str, Any], mimetype: str = documents.ACTIVITY_JSON) -> Response:
    """A JSON document with its media type, for anyone to read (CORS)."""
    response = Response(json.dumps(document, ensure_ascii=False), mimetype=mimetype)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.errorhandler(HTTPException)
def error(exc: HTTPException) -> Response:
    """Errors of the actor's routes as short JSON, with their status."""
    status = exc.code or 500
    detail = exc.description if isinstance(exc.description, str) else ""
    return Response(json.dumps({"error": detail[:300]}), status=status, mimetype="application/json")

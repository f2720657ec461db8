"""The providers' webhooks of the subscription service, a blueprint: `POST /hooks/<provider>`
for Amazon SES (through SNS), Postmark and Mailgun, each believed only with the provider's
proof.

* `ses`: an SNS message whose signature verifies against the signing certificate (pinned
  by $PUBLISH_SES_CERTIFICATE, else fetched from SNS) and whose TopicArn is one of
  $PUBLISH_SES_TOPIC_ARN. A SubscriptionConfirmation is logged with its SubscribeURL for
  the operator to open; it is never visited by the service.
* `postmark`: HTTP basic auth with $PUBLISH_POSTMARK_USER and $PUBLISH_POSTMARK_PASSWORD.
* `mailgun`: the HMAC-SHA256 of timestamp and token under $PUBLISH_MAILGUN_SIGNING_KEY;
  a timestamp more than MAILGUN_MAX_AGE seconds off, or a token seen before, is refused.

A hook whose variables are unset answers 404. A refused post answers 403 and changes
nothing. A body over MAX_HOOK_BODY answers 413 (its Content-Length is checked before
anything is read), one that is not JSON or nests deeper than sns.MAX_JSON_DEPTH answers
400; nothing a post holds makes the service fail. Errors are answered in plain text (a
provider reads no page). Mailgun tokens already used are kept
in the state database (publish.state.replays) until they would be stale, so a restart
does not forget them. What a hook reports becomes Outcome values applied by publish.state.standing,
each once by the provider's event id. Neither secrets nor addresses are logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
from flask import Blueprint, Response, abort, current_app, request
from werkzeug.exceptions import HTTPException

from publish.service import sns
from publish.service.context import current
from publish.service.sns import Malformed, Refused
from publish.state import db, replays
from publish.state.standing import (
    COMPLAINT,
    HARD_BOUNCE,
    SOFT_BOUNCE,
    UNSUBSCRIBE,
    AppliedSummary,
    Outcome,
    apply_outcomes,
)

SES_TOPIC_ENV = "PUBLISH_SES_TOPIC_ARN"  # one ARN, or several separated by commas
SES_CERTIFICATE_ENV = "PUBLISH_SES_CERTIFICATE"  # a PEM file (site-relative or absolute)
POSTMARK_USER_ENV = "PUBLISH_POSTMARK_USER"
POSTMARK_PASSWORD_ENV = "PUBLISH_POSTMARK_PASSWORD"
MAILGUN_KEY_ENV = "PUBLISH_MAILGUN_SIGNING_KEY"
MAILGUN_MAX_AGE = 300  # seconds between Mailgun's timestamp and now, either way
MAX_HOOK_BODY = 512 * 1024  # an SES notification can carry the message's headers
POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
POSTMARK_SOFT = {"SoftBounce", "Transient", "DnsError", "Blocked"}

blueprint = Blueprint("hooks", __name__)


class Post(msgspec.Struct, frozen=True):
    """What a post proved: its reports, and the proof that must not have been used before
    (with the moment after which it would be stale anyway)."""

    outcomes: list[Outcome]
    proof: str = ""
    proof_expires: float = 0.0


class HookState(msgspec.Struct):
    """What the hooks keep in memory between requests: the SNS certificates fetched."""

    certificates: dict[str, Any] = msgspec.field(default_factory=dict)


@blueprint.post("/hooks/<provider>")
def receive(provider: str) -> Response:
    """Take one post of a provider's webhook: check its size and proof, apply what it
    reports."""
    hook = HOOKS.get(provider)
    if hook is None:
        abort(404)
    if (request.content_length or 0) > MAX_HOOK_BODY:
        abort(413)
    request.max_content_length = MAX_HOOK_BODY  # a body without Content-Length, too
    try:
        post = hook(os.environ)
        summary = _apply(post)
    except Refused as exc:
        current_app.logger.warning("the %s webhook refused a post: %s", provider, exc)
        abort(403)
    except Malformed as exc:
        current_app.logger.warning("the %s webhook could not read a post: %s", provider, exc)
        abort(400, "This is not a notification this hook understands.")
    current_app.logger.info(
        "the %s webhook took %d new report(s), %d already known",
        provider,
        summary.total,
        summary.repeated,
    )
    return Response(f"ok: {summary.total} new, {summary.repeated} known\n", mimetype="text/plain")


def _apply(post: Post) -> AppliedSummary:
    """Apply the outcomes in one transaction of the site's state database, with the
    post's proof recorded as used (Refused, and nothing applied, if it was used before)."""
    service = current()
    connection = db.connect(service.database)
    try:
        with db.transaction(connection):
            now = service.options.clock()
            if post.proof and not replays.first_use(
                connection, post.proof, now, post.proof_expires
            ):
                raise Refused("the token was used before")
            return apply_outcomes(
                connection, post.outcomes, soft_limit=service.settings.email.soft_bounce_limit
            )
    finally:
        connection.close()


@blueprint.errorhandler(HTTPException)
def error_answer(exc: HTTPException) -> Response:
    """A refused or unreadable post: its status and, for a 400, why, in plain text."""
    status = exc.code or 500
    detail = exc.description if status == 400 and isinstance(exc.description, str) else ""
    return Response(f"{status} {exc.name}\n{detail}".rstrip() + "\n", status, mimetype="text/plain")


def _state() -> HookState:
    """The hooks' memory, one per application."""
    return current_app.extensions.setdefault("publish-webhooks", HookState())


def _json_body() -> Any:
    """The request body as JSON; Malformed when it is not (or nests too deep)."""
    return sns.read_json(request.get_data())


# --- Amazon SES through SNS ---------------------------------------------------------------


def ses_hook(environ: Mapping[str, str]) -> Post:
    """An SNS post from one of the operator's topics, its signature checked."""
    topics = {t.strip() for t in environ.get(SES_TOPIC_ENV, "").split(",") if t.strip()}
    if not topics:
        abort(404)
    message = sns.read_message(request.get_data())
    if message.get("TopicArn") not in topics:
        raise Refused(f"the TopicArn is not one of {SES_TOPIC_ENV}")
    sns.verify(message, _certificates(environ)(str(message.get("SigningCertURL", ""))))
    if message["Type"] != "Notification":
        current_app.logger.warning(
            "Amazon SNS sent a %s for %s; to confirm the subscription, open its SubscribeURL: %s",
            message["Type"],
            message["TopicArn"],
            message.get("SubscribeURL", ""),
        )
        return Post([])
    return Post(sns.ses_outcomes(message))


def _certificates(environ: Mapping[str, str]) -> sns.CertificateSource:
    """The pinned certificate when the operator set one, else SNS's own, fetched."""
    pinned = environ.get(SES_CERTIFICATE_ENV, "").strip()
    if pinned:
        return sns.pinned_certificates(current().root / Path(pinned))
    return sns.fetched_certificates(_state().certificates)


# --- Postmark ---------------------------------------------------------------------------


def postmark_hook(environ: Mapping[str, str]) -> Post:
    """A Postmark post carrying the hook's basic-auth user and password."""
    password = environ.get(POSTMARK_PASSWORD_ENV, "")
    if not password:
        abort(404)
    user = environ.get(POSTMARK_USER_ENV, "")
    auth = request.authorization
    given_user = (auth.username or "") if auth and auth.type == "basic" else ""
    given_password = (auth.password or "") if auth and auth.type == "basic" else ""
    same_user = hmac.compare_digest(given_user.encode(), user.encode())
    same_password = hmac.compare_digest(given_password.encode(), password.encode())
    if not (auth and same_user and same_password):
        raise Refused("wrong or missing credentials")
    return Post(postmark_outcomes(_json_body()))


def postmark_outcomes(record: Any) -> list[Outcome]:
    """A Bounce record (hard or soft by its Type) or a SpamComplaint record."""
    if not isinstance(record, dict) or not isinstance(record.get("Email"), str):
        raise Malformed("the record has no Email")
    record_type = record.get("RecordType")
    bounce_type = str(record.get("Type", ""))
    if record_type == "SpamComplaint" or bounce_type == "SpamComplaint":
        kind = COMPLAINT
    elif record_type != "Bounce":
        return []
    elif bounce_type in POSTMARK_HARD:
        kind = HARD_BOUNCE
    elif bounce_type in POSTMARK_SOFT:
        kind = SOFT_BOUNCE
    elif bounce_type == "Unsubscribe":
        kind = UNSUBSCRIBE
    else:
        return []
    if not record.get("ID"):
        raise Malformed("the record has no ID")
    reference = f"postmark:{record_type}:{record['ID']}"
    return [Outcome(kind, record["Email"], "postmark", reference, bounce_type)]


# --- Mailgun ----------------------------------------------------------------------------


def mailgun_hook(environ: Mapping[str, str]) -> Post:
    """A Mailgun post whose signature is the HMAC of its timestamp and token; the token
    is its proof, good once."""
    key = environ.get(MAILGUN_KEY_ENV, "")
    if not key:
        abort(404)
    body = _json_body()
    proof = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(proof, dict):
        raise Refused("there is no signature")
    timestamp, token = str(proof.get("timestamp", "")), str(proof.get("token", ""))
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), str(proof.get("signature", "")).encode()):
        raise Refused("the signature does not match")
    now = current().options.clock()
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAILGUN_MAX_AGE:
        raise Refused("the timestamp is stale")
    outcomes = mailgun_outcomes(body.get("event-data"))
    return Post(outcomes, proof=f"mailgun:{token}", proof_expires=int(timestamp) + MAILGUN_MAX_AGE)


def mailgun_outcomes(event: Any) -> list[Outcome]:
    """A failed delivery (permanent: hard; temporary: soft), a complaint, an unsubscribe."""
    if not isinstance(event, dict) or not isinstance(event.get("recipient"), str):
        raise Malformed("the event has no recipient")
    name, severity = event.get("event"), event.get("severity")
    kinds = {"complained": COMPLAINT, "unsubscribed": UNSUBSCRIBE}
    if name == "failed":
        kind = HARD_BOUNCE if severity == "permanent" else SOFT_BOUNCE
    elif name in kinds:
        kind = kinds[name]
    else:
        return []
    status = event.get("delivery-status")
    code = status.get("code", "") if isinstance(status, dict) else ""
    detail = f"{name} {severity or ''} {code} {event.get('reason', '')}".split()
    if not event.get("id"):
        raise Malformed("the event has no id")
    reference = f"mailgun:{event['id']}"
    return [Outcome(kind, event["recipient"], "mailgun", reference, " ".join(detail))]


HOOKS: dict[str, Callable[[Mapping[str, str]], Post]] = {
    "ses": ses_hook,
    "postmark": postmark_hook,
    "mailgun": mailgun_hook,
}

"""The subscription service as a WSGI application: one blueprint per concern, registered by
`create_app` on an application that holds the site's `Service`.

A small Flask application that shares the site's SQLite state with `publish send`. Every
link the service writes starts with `[email] service_url`, never with the request's Host
header. Serving one more concern is one more entry in BLUEPRINTS.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response

from publish.content.settings import SETTINGS_FILE, load_settings
from publish.errors import PublishError
from publish.mail.dkim import signer_for
from publish.mail.mailer import Mailer
from publish.mail.setup import locate_setting
from publish.model import Glossary, Settings, Site
from publish.outputs.templates import template_environment
from publish.outputs.web import PageRenderer
from publish.service import activitypub, hooks, subscriptions
from publish.service.context import EXTENSION, Service, ServiceOptions, current
from publish.state import db

BLUEPRINTS = (subscriptions.blueprint, hooks.blueprint)
MAX_BODY = 16 * 1024  # a form's body, at most (a hook allows more for itself)


def create_app(root: Path, options: ServiceOptions | None = None) -> Flask:
    """The subscription service of the site at `root`, as a WSGI application."""
    settings = load_settings(root)
    refuse_incomplete_settings(root, settings)
    signer_for(root, settings)  # a broken DKIM key stops the start, not each confirmation
    database = db.database_path(root, settings)
    db.connect(database).close()  # create and migrate before the first request
    site = Site(root=root, settings=settings, glossary=Glossary({}), essays=())
    options = options or ServiceOptions()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions[EXTENSION] = Service(
        root=root,
        settings=settings,
        secret=db.load_secret(database.parent),
        database=database,
        pages=PageRenderer(site, template_environment(site.templates_dir)),
        options=options,
        mailer=Mailer(root, settings, options.mail_queue),
    )
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    activitypub.register(app, app.extensions[EXTENSION])  # the site's actor, when enabled
    app.after_request(security_headers)
    return app


def refuse_incomplete_settings(root: Path, settings: Settings) -> None:
    """PublishError when the settings lack what the service cannot run without: the
    sender of its emails and the public address its links start with."""
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


def mailer_of(app: Flask) -> Mailer:
    """The mail queue of a service application."""
    return app.extensions[EXTENSION].mailer


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

"""What every request of the service needs: the site's settings, secret, database, pages,
options and mail queue, kept on the application (`current()`), and a connection per request."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
from flask import current_app

from publish.mail.mailer import Mailer
from publish.model import Settings
from publish.outputs.web import PageRenderer
from publish.state import db

EXTENSION = "publish"  # the key of the Service in the application's extensions


class ServiceOptions(msgspec.Struct, frozen=True):
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


class Service(msgspec.Struct, frozen=True):
    """What every request needs: the site root, its settings, secret, database and pages."""

    root: Path
    settings: Settings
    secret: bytes
    database: Path
    pages: PageRenderer
    options: ServiceOptions
    mailer: Mailer


def current() -> Service:
    """The service of the running application."""
    return current_app.extensions[EXTENSION]


@contextmanager
def database(service: Service) -> Iterator[sqlite3.Connection]:
    """A connection to the state database for one request, closed afterwards."""
    conn = db.connect(service.database)
    try:
        yield conn
    finally:
        conn.close()

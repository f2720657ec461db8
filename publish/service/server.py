"""The subscription service under waitress: the listening server, and who the client is.

Behind trusted proxies (`subscriptions serve --behind-proxy N`), waitress itself takes the
client's address from the X-Forwarded-For of a request that comes from the nearest proxy;
from any other peer it drops the header, so a client cannot name its own address.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import waitress
from flask import Flask

from publish.errors import PublishError
from publish.service.app import mailer_of
from publish.service.context import EXTENSION
from publish.service.hooks import MAX_HOOK_BODY

# waitress buffers a body before the application sees it: a bound, above what the hooks
# answer 413 for themselves (waitress just closes the connection)
SERVER_LIMITS = {"max_request_body_size": 2 * MAX_HOOK_BODY}


def serve(app: Flask, host: str, port: int) -> None:
    """Run the service with waitress until interrupted; PublishError if it cannot listen.
    Warnings (a confirmation email the relay refused, say) go to stderr."""
    logging.basicConfig()  # as waitress.serve does; a no-op when logging is set up
    try:
        server = create_server(app, host, port)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        message = f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
        raise PublishError.single("--port", 1, 1, message) from None
    try:
        server.run()
    finally:
        mailer_of(app).close()
        if "fediverse" in app.extensions:  # Accepts still queued go out first
            app.extensions["fediverse"].outbox.close()


def create_server(app: Flask, host: str, port: int, threads: int = 4) -> Any:
    """A waitress server for the service, listening on `host`:`port` (not yet running).

    Behind trusted proxies, waitress itself takes the client's address from the
    X-Forwarded-For of a request that comes from the nearest proxy: the entry
    `trusted_proxies` places from the right, the one the proxies wrote. From any other peer
    waitress drops the header, so a client cannot name its own address.
    """
    options = app.extensions[EXTENSION].options
    proxy: dict[str, Any] = {}
    if options.trusted_proxies:
        proxy = {
            "trusted_proxy": options.proxy_address,
            "trusted_proxy_count": options.trusted_proxies,
            "trusted_proxy_headers": {"x-forwarded-for"},
        }
    return waitress.create_server(
        app, host=host, port=port, threads=threads, ident="publish", **proxy, **SERVER_LIMITS
    )

"""The signup form of the built web page, submitted in headless Chromium to the real service."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route

from publish.service.app import create_app, mailer_of
from tests.servicesite import build, confirm_link, people, running_service, service_site
from tests.tools import RecordingSMTPServer, free_port

# A few computed styles that differ between the site's stylesheet and none at all.
LOOK = """() => {
  const body = getComputedStyle(document.body);
  const title = getComputedStyle(document.querySelector('.site-title'));
  return [body.fontFamily, body.backgroundColor, title.fontFamily, title.fontSize];
}"""


def serve_site_from_build(page: Page, root: Path, site_url: str) -> None:
    """Answer requests for the site's public URL from the built folder, so the service's
    pages get the real stylesheet without leaving 127.0.0.1."""
    folder = root / "build" / "site"

    def answer(route: Route) -> None:
        relative = route.request.url.removeprefix(site_url).split("?")[0]
        path = folder / (relative or "index.html")
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            route.fulfill(status=404, body="")
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        route.fulfill(status=200, body=path.read_bytes(), content_type=kind)

    page.route(f"{site_url}**", answer)


def test_signup_form_on_the_essay_page_works_in_chromium(
    page: Page, tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fill in and submit the essay page's form; the confirmation mail arrives, and its link,
    opened in the browser, makes the reader active."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    build(root)
    serve_site_from_build(page, root, "https://example.org/letters/")
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    app = create_app(root)
    with running_service(app, port):
        page.goto((root / "build" / "site" / "first-letter" / "index.html").as_uri())
        site_look = page.evaluate(LOOK)
        page.fill("form.subscribe-form input[name=email]", "browser@example.com")
        with page.expect_navigation():
            page.click("form.subscribe-form button[type=submit]")
        assert page.url == f"http://127.0.0.1:{port}/subscribe"
        assert page.text_content("main h1") == "Check your inbox"
        assert page.evaluate(LOOK) == site_look  # the site's stylesheet, through the CSP

        assert mailer_of(app).drain(30)
        [(_, recipients, message)] = smtp_server.messages
        assert recipients == ["browser@example.com"]
        page.goto(confirm_link(message))
        assert page.text_content("main h1").startswith("Confirm your subscription")
        assert people(root) == {"browser@example.com": "pending"}, "opening it is not enough"
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.text_content("main h1") == "You are subscribed"

    assert people(root) == {"browser@example.com": "active"}
    assert blocked == []

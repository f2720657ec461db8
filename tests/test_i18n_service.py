"""The subscription service in the site's language: its pages, their titles, its error
pages, the confirmation email and the welcome email (issue 22)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import lxml.html
import pytest

from publish.content.settings import load_settings
from publish.mail.built import load_built_email, personal_message
from publish.outputs.templates import template_environment
from publish.pipeline.build import BuildOptions, build
from publish.service.app import create_app, mailer_of
from publish.service.context import ServiceOptions
from publish.service.welcome import Mailing, with_welcome
from tests.servicesite import Clock, Harness, confirm_link, service_site
from tests.sitebuilder import due_since_long_ago
from tests.tools import RecordingSMTPServer, free_port


@pytest.fixture
def japanese(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """The service of a fresh site written in Japanese, mailing through a real SMTP server."""
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    monkeypatch.delenv("PUBLISH_SECRET", raising=False)
    port = free_port()
    root = service_site(tmp_path / "site", port)
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8").replace("[site]\n", '[site]\nlanguage = "ja"\n', 1)
    settings.write_text(text, encoding="utf-8")
    clock = Clock()
    app = create_app(root, ServiceOptions(clock=clock))
    yield Harness(root, f"http://127.0.0.1:{port}/", app, app.test_client(), clock, smtp_server)
    mailer_of(app).close()


def page_of(response) -> lxml.html.HtmlElement:  # noqa: ANN001 - Flask's test response
    """The HTML page of a response."""
    return lxml.html.fromstring(response.data)


def test_the_service_speaks_the_sites_language(japanese: Harness) -> None:
    answer = japanese.signup("reader@example.com")
    shown = page_of(answer)
    assert shown.get("lang") == "ja"
    assert shown.xpath("//main//h1")[0].text == "受信トレイを確認してください"
    assert shown.xpath("//title")[0].text == "受信トレイを確認してください · Test Letters"
    [(_, _, message)] = japanese.smtp.messages
    assert message["Subject"] == "Test Letters の購読を確認してください"
    body = message.get_content()
    assert "こんにちは。" in body and "Someone" not in body and "hours" not in body
    link = confirm_link(message)
    confirmed = page_of(japanese.confirm(link))
    assert confirmed.xpath("//main//h1")[0].text == "購読が完了しました"
    assert "新しいエッセイは毎月第1火曜日に届きます。" in confirmed.text_content()
    replay = japanese.confirm(link)
    assert replay.status_code == 410
    assert page_of(replay).xpath("//main//h1")[0].text == "このリンクはすでに使われています"


def test_an_error_page_and_its_detail_in_the_language(japanese: Harness) -> None:
    missing = japanese.client.get("/confirm/not-a-token")
    assert missing.status_code == 404
    assert page_of(missing).xpath("//main//h1")[0].text == "このリンクは無効です"
    refused = japanese.client.post("/subscribe", data={"email": "", "website": ""})
    assert refused.status_code == 400
    assert "メールアドレスを入力してください。" in page_of(refused).text_content()


def test_the_welcome_and_a_readers_copy_in_the_language(japanese: Harness) -> None:
    root = due_since_long_ago(japanese.root)
    build(root, BuildOptions(today=date(2026, 3, 1)))
    built = load_built_email(root, "second-letter")
    settings = load_settings(root)
    mailing = Mailing(root, settings, b"secret", template_environment(root / "templates"))
    welcomed = with_welcome(built, mailing)
    assert welcomed.headers["Subject"] == "Test Letters へようこそ: The Second Letter"
    assert "Test Letters へようこそ。ご確認ありがとうございます。" in welcomed.text
    data = personal_message(
        welcomed, settings, to="ada@example.com", name="Ada", unsubscribe="u", message_id="<m@x>"
    )
    message = email.message_from_bytes(data, policy=email.policy.SMTP)
    text = message.get_body(("plain",)).get_content()
    assert "Ada さん、こんにちは。" in text and "Hello" not in text
    html = message.get_body(("html",)).get_content()
    assert "Ada さん、こんにちは。" in html and '<html lang="ja">' in html

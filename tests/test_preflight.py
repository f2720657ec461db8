"""Pre-flight warnings at their line and column, through `publish check` and `publish run`:
the placeholder paragraph of `publish new`, a subject too long for an inbox, embeds that mail
clients drop (and, in the built email, a link to the web page in their place)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

from lxml import html

from publish.content.markdown import build_parser
from publish.content.preflight import NEW_ESSAY_PLACEHOLDER, source_warnings
from publish.content.source import FrontMatterDocument
from tests.sitebuilder import DEFAULT_SETTINGS, essay_text, invoke, make_site

TODAY = "2026-12-01"
PAGE = "https://example.org/letters/films/"
VIDEO_BODY = (
    "A first paragraph.\n\n"
    '<iframe src="https://player.example.com/1" width="560" height="315"></iframe>\n\n'
    'Inline <video src="https://media.example.com/a.mp4"></video> here.\n\n'
    "The end.\n"
)


def warnings_of(output: str) -> list[str]:
    """The warning lines of a command's output."""
    return [line for line in output.splitlines() if ": warning: " in line]


def test_check_warns_about_a_long_subject_at_the_title(tmp_path: Path) -> None:
    title = "A title that goes on and on about many things, far longer than any inbox shows it"
    root = make_site(tmp_path / "site", essays={"01-long": essay_text(title, date="2026-11-03")})
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert any(
        w.startswith("essays/01-long.md:2:1: warning: the title is the email's subject and is 81")
        for w in warnings_of(result.output)
    ), result.output
    short = make_site(tmp_path / "short", essays={"01-a": essay_text("A" * 80)})
    assert not [
        w for w in warnings_of(invoke(short, "check", "--today", TODAY).output) if "essays/" in w
    ]


def test_check_warns_about_embeds_mail_clients_drop(tmp_path: Path) -> None:
    root = make_site(
        tmp_path / "site",
        essays={"01-films": essay_text("Films", VIDEO_BODY, date="2026-11-03")},
    )
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 0, result.output
    found = [w.split(": warning: ") for w in warnings_of(result.output)]
    assert [
        "essays/01-films.md:7:1",
        "mail clients drop <iframe>: the email shows a link to the essay's web page in its place",
    ] in found
    assert any(place == "essays/01-films.md:9:8" and "<video>" in text for place, text in found)


def test_the_email_links_to_the_web_page_in_place_of_an_embed(tmp_path: Path) -> None:
    root = make_site(
        tmp_path / "site",
        essays={"01-films": essay_text("Films", VIDEO_BODY, date="2026-11-03")},
    )
    assert invoke(root, "build", "--today", "2026-11-03").exit_code == 0  # due: emailed
    mail = html.parse(str(root / "build/email/films.html")).getroot()
    assert not mail.xpath("//iframe | //video")
    links = [a for a in mail.iter("a") if a.get("href") == PAGE and a.text == PAGE]
    assert len(links) >= 2  # one for each dropped element (plus "view in your browser")
    assert "This part of the essay is on the web:" in mail.text_content()
    text = " ".join((root / "build/email/films.txt").read_text(encoding="utf-8").split())
    assert text.count(f"This part of the essay is on the web: <{PAGE}>") == 2
    message = email.message_from_bytes(
        (root / "build/email/films.eml").read_bytes(), policy=email.policy.default
    )
    assert "<iframe" not in message.get_body(("html",)).get_content()
    page = html.parse(str(root / "build/site/films/index.html")).getroot()
    assert page.xpath("//iframe")  # the web page keeps it


def test_check_and_run_warn_about_the_placeholder_paragraph(tmp_path: Path) -> None:
    settings = DEFAULT_SETTINGS + '\n[schedule]\nrule = "FREQ=MONTHLY;BYDAY=+1TU"\ntime = "09:00"\n'
    root = make_site(
        tmp_path / "site",
        settings=settings,
        essays={"01-fresh": essay_text("Fresh", f"{NEW_ESSAY_PLACEHOLDER}\n")},
    )
    expected = "essays/01-fresh.md:4:1: warning: this is still the placeholder paragraph"
    checked = invoke(root, "check", "--today", TODAY)
    assert checked.exit_code == 0, checked.output
    assert sum(expected in line for line in checked.output.splitlines()) == 1
    ran = invoke(root, "run", "--today", "2026-12-01T10:00", "--outbox")
    assert ran.exit_code == 0, ran.output
    assert expected in ran.output


class Unsplit(str):
    """A body that fails the test if it is split into lines."""

    def split(self, *args: Any, **kwargs: Any) -> list[str]:
        raise AssertionError("the body was split into lines")


def test_a_body_with_nothing_to_warn_of_is_not_split_into_lines() -> None:
    """A body without raw HTML, an image or the placeholder gets no line-by-line look (only
    the title is checked): splitting a whole essay into lines is a pass of its own."""
    body = Unsplit("Words[^a] and *more*.\n\n[^a]: A note.\n")
    document = FrontMatterDocument("essays/a.md", {"title": "T"}, "title: T\n", body, 3)
    tokens = build_parser().parse(str(body), {})
    assert source_warnings(document, "T", tokens) == []
    assert source_warnings(document, "T" * 200, tokens)[0].message.startswith("the title")

"""The compiled email: HTML (inlined, table layout), plain text, and the complete message."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

from publish.cli.main import cli
from publish.content.markdown import build_parser
from publish.content.settings import load_settings
from publish.i18n.cadence import describe_rule
from publish.mail import mime
from publish.outputs import mail
from publish.outputs.plaintext import render_text
from publish.outputs.renderers import RenderContext, render_email
from tests.mailsite import ESSAYS, SLUG, make_mail_site
from tests.sitebuilder import essay_text
from tests.tools import validate_html

CONTEXT = RenderContext(
    slug="t",
    base="https://example.org/letters/",
    glossary_url="https://example.org/letters/glossary/",
)


@pytest.fixture(scope="module")
def site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The email fixture site, built once for this module."""
    return make_mail_site(tmp_path_factory.mktemp("mail") / "site")


@pytest.fixture(scope="module")
def email_dir(site_root: Path) -> Path:
    """The built email folder."""
    return site_root / "build" / "email"


@pytest.fixture(scope="module")
def document(email_dir: Path) -> lxml_html.HtmlElement:
    """The essay's email HTML, parsed."""
    return lxml_html.fromstring((email_dir / f"{SLUG}.html").read_bytes())


def parse_eml(path: Path) -> EmailMessage:
    """A built .eml parsed back with the email package."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_each_published_essay_has_three_files(email_dir: Path) -> None:
    names = sorted(p.name for p in email_dir.iterdir())
    expected = sorted(
        f"{slug}.{ext}" for slug in (SLUG, "a-second-letter") for ext in ("html", "txt", "eml")
    )
    assert names == expected


def test_html_has_no_script_link_or_unstyled_elements(document: lxml_html.HtmlElement) -> None:
    assert document.xpath("//script") == []
    assert document.xpath("//link") == []
    styled_tags = {
        "p",
        "a",
        "h1",
        "h2",
        "td",
        "th",
        "table",
        "li",
        "ol",
        "ul",
        "blockquote",
        "img",
        "sup",
        "body",
    }
    body = document.xpath("//body")[0]
    for element in body.iter():
        if not isinstance(element.tag, str):
            continue
        if element.get("class") or element.tag in styled_tags:
            assert element.get("style"), f"<{element.tag} class={element.get('class')}> unstyled"


def test_only_media_rules_remain_in_style(document: lxml_html.HtmlElement) -> None:
    styles = [s.text or "" for s in document.xpath("//style")]
    assert len(styles) == 1
    without_media = _strip_media_blocks(styles[0])
    assert without_media.strip() == ""
    assert "@media (prefers-color-scheme: dark)" in styles[0]


def _strip_media_blocks(css: str) -> str:
    """CSS with every `@media … { … }` block (nested braces included) removed."""
    out, depth, index = [], 0, 0
    while index < len(css):
        if depth == 0 and css.startswith("@media", index):
            index = css.index("{", index)
            depth = 0
            while True:
                depth += {"{": 1, "}": -1}.get(css[index], 0)
                index += 1
                if depth == 0:
                    break
            continue
        out.append(css[index])
        index += 1
    return "".join(out)


def test_layout_is_a_table_at_most_600px(document: lxml_html.HtmlElement) -> None:
    letter = document.xpath("//table[contains(@class, 'letter')]")[0]
    assert letter.get("width") == "600"
    assert "max-width: 600px" in letter.get("style")
    assert letter.get("role") == "presentation"


def test_head_declares_color_schemes(document: lxml_html.HtmlElement) -> None:
    metas = {m.get("name"): m.get("content") for m in document.xpath("//meta[@name]")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"


def test_header_preheader_and_browser_link(document: lxml_html.HtmlElement) -> None:
    preheader = document.xpath("//*[contains(@class, 'preheader')]")[0]
    assert "display: none" in preheader.get("style")
    assert preheader.text_content().strip() == "Why the edge of the page matters."
    assert document.xpath("//*[contains(@class, 'masthead')]")[0].text_content() == "Test Letters"
    link = document.xpath("//a[normalize-space(.) = 'View in your browser']")[0]
    assert link.get("href") == f"https://example.org/letters/{SLUG}/"


def test_title_block_and_image(document: lxml_html.HtmlElement) -> None:
    assert document.xpath("//h1")[0].text_content() == "On Margins"
    assert document.xpath("//*[contains(@class, 'subtitle')]")[0].text_content() == "Notes on notes"
    byline = document.xpath("//*[contains(@class, 'byline')]")[0].text_content()
    assert "Test Author" in byline and "3 November 2026" in byline
    image = document.xpath("//td[contains(@class, 'image-cell')]/img")[0]
    assert image.get("src") == "https://example.org/letters/images/pencil.png"
    assert image.get("width") == "560"
    assert image.get("alt") == "A pencil resting on an open book"


def test_body_links_are_absolute(document: lxml_html.HtmlElement) -> None:
    content = document.xpath("//td[contains(@class, 'content')]")[0]
    for link in content.xpath(".//a[@href]"):
        href = link.get("href")
        assert href.startswith(("https://", "#")), href
    for image in content.xpath(".//img"):
        assert image.get("src").startswith("https://example.org/letters/")


def test_endnotes_are_numbered_and_name_their_term(document: lxml_html.HtmlElement) -> None:
    refs = document.xpath("//sup[contains(@class, 'footnote-ref')]/a")
    assert [r.text_content() for r in refs] == ["1", "2"]
    for ref in refs:
        target = ref.get("href").removeprefix("#")
        assert document.xpath(f"//*[@id='{target}']"), target
    notes = document.xpath("//*[contains(@class, 'footnote-item')]")
    first, second = (" ".join(n.text_content().split()) for n in notes)
    assert first.startswith("[1] Flow (Mihaly Csikszentmihalyi): The state of complete")
    assert second.startswith("[2] A note the essay defines itself")
    assert document.xpath("//*[contains(@class, 'footnote-backref')]") == []
    assert "\u21a9" not in lxml_html.tostring(document, encoding="unicode")


def test_footer_has_cadence_reason_unsubscribe_and_address(
    document: lxml_html.HtmlElement, site_root: Path
) -> None:
    settings = load_settings(site_root)
    footer = " ".join(document.xpath("//td[contains(@class, 'footer')]")[0].text_content().split())
    assert describe_rule(settings.schedule.rule) in footer
    assert "first Tuesday of each month" in footer
    assert "you subscribed to Test Letters" in footer
    assert "Test Letters, 1 Quay Street, Testport" in footer
    unsubscribe = document.xpath("//td[contains(@class, 'footer')]//a")[0]
    assert unsubscribe.get("href") == "https://subs.example.org/unsubscribe/preview"


def test_plain_text_has_no_markup_and_lists_notes_at_the_end(email_dir: Path) -> None:
    text = (email_dir / f"{SLUG}.txt").read_text(encoding="utf-8")
    assert not re.search(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^>]*)?/?>", text)
    assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", text, re.I)
    assert "short & sharp" in text and "in a notebook than" in text
    body, notes = text.split("\nNotes\n-----\n")
    assert "writing[1]." in body and "cross-reference[2]." in body
    assert "[1] Flow (Mihaly Csikszentmihalyi): The state" in notes
    assert "[2] A note the essay defines itself" in notes
    assert (
        "the wider\nweb <https://example.com/a?b=1&c=2>" in body
        or "the wider web <https://example.com/a?b=1&c=2>" in " ".join(body.split("\n"))
    )
    assert "[Image: A pencil on a page]" in body
    assert text.startswith("On Margins\n==========\nNotes on notes\n")


def test_text_renderer_lists_quotes_headings_and_html() -> None:
    source = (
        "# Top\n\n### Small part\n\nOne &amp; <b>two</b> &copy;\n\n- a\n- b\n  1. x\n  2. y\n"
        '\n> quoted\n\n<div class="x">kept &lt;text&gt;</div>\n'
    )
    text = render_text(build_parser().parse(source, {}), CONTEXT)
    expected = "Top\n===\n\nSMALL PART\n\nOne & two \u00a9\n\n- a\n- b\n  1. x\n  2. y\n"
    assert text.startswith(expected)
    assert "> quoted" in text
    assert "kept <text>" in text
    assert "<div" not in text and "<b>" not in text


def test_email_renderer_local_note_has_number_and_no_backlink() -> None:
    tokens = build_parser().parse("Text[^a].\n\n[^a]: The note.\n", {})
    html = render_email(tokens, CONTEXT)
    document = lxml_html.fromstring(html)
    note = document.xpath("//*[contains(@class, 'footnote-item')]")[0]
    assert " ".join(note.text_content().split()) == "[1] The note."
    assert document.xpath("//sup/a")[0].get("href") == "#fn-t-1"


def test_eml_is_a_complete_multipart_message(email_dir: Path) -> None:
    message = parse_eml(email_dir / f"{SLUG}.eml")
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["Subject"] == "On Margins"
    assert message["From"].addresses[0].addr_spec == "letters@example.org"
    assert message["Reply-To"].addresses[0].addr_spec == "editor@example.org"
    assert message["Date"].datetime.isoformat() == "2026-11-03T09:00:00+00:00"
    assert message["Message-ID"] == f"<{SLUG}@example.org>"
    assert message["List-Id"].endswith("<test-letters.example.org>")
    targets = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert targets[0].startswith("https://subs.example.org/unsubscribe/")
    assert targets[1].startswith("mailto:editor@example.org")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html_part = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html_part.rstrip("\n") == (email_dir / f"{SLUG}.html").read_text(encoding="utf-8")


def test_emails_are_byte_identical_between_builds(tmp_path: Path, email_dir: Path) -> None:
    again = make_mail_site(tmp_path / "again") / "build" / "email"
    for path in email_dir.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize(
    "title",
    ["x\r\nBcc: a@b", "=?UTF-8?Q?=0A?=Bcc:a@b", "a\u2028Bcc: c@d", "tab\there\x0bvt\x1bEsc"],
)
def test_header_text_never_carries_control_characters(title: str) -> None:
    safe = mime.header_text(title)
    headers = mime.MessageHeaders(
        subject=safe,
        from_address="A <a@example.org>",
        reply_to="",
        date="",
        message_id="<m@example.org>",
        list_id="<l.example.org>",
        unsubscribe_url="https://example.org/u/1",
        unsubscribe_mailto="",
        to=mime.recipient_address("r@example.org", title),
    )
    data = mime.compose_message(headers, "text", "<p>html</p>")
    head = data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":")[0] for line in head.split(b"\r\n") if not line.startswith(b" ")]
    assert b"Bcc" not in names
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert not re.search(r"[\x00-\x1f\u2028]", str(parsed["Subject"]))
    assert parsed["Bcc"] is None


def test_html_passes_the_nu_checker(email_dir: Path) -> None:
    assert validate_html(email_dir) == []


def test_check_warns_when_email_html_passes_90_kb(tmp_path: Path) -> None:
    paragraph = "A sentence that repeats to make a very long essay indeed. " * 20
    long_body = "\n\n".join([paragraph] * 90) + "\n"
    essays = {
        **ESSAYS,
        "03-long": essay_text("A Long One", long_body, date="2026-12-15", slug="a-long-one"),
    }
    root = make_mail_site(tmp_path / "site", essays=essays)
    result = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", "2027-01-01"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if ": warning: " in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("essays/03-long.md:1:1: warning: the email HTML is ")
    size = len((root / "build" / "email" / "a-long-one.html").read_bytes())
    over = f"{(size - mail.SIZE_LIMIT) / 1024:.1f} KB over the 90 KB limit"
    assert over in warnings[0]

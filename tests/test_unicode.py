"""Unicode everywhere it can appear: headers, addresses, slugs and settings (issue 10, §1).

Property tests (Hypothesis) build messages from arbitrary Unicode text and read them back
with the email package; a few end-to-end examples build a site and send it to aiosmtpd.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import sqlite3
import traceback
from collections.abc import Iterator, Sequence
from contextlib import closing
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import msgspec
import pytest
import tomli_w
import yaml
from click.testing import CliRunner, Result
from email_validator import EmailNotValidError, validate_email
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from publish.cli.main import cli
from publish.content.essays import SLUG_PATTERN, slugify
from publish.content.settings import load_settings
from publish.mail import mime
from publish.outputs.urls import tag_slug
from publish.state import db
from publish.state.subscribers import add_subscriber, find_subscriber, list_subscribers
from publish.support.addresses import address_parts, ascii_domain
from tests.sitebuilder import make_site
from tests.tools import RecordingSMTPServer

# Any text but control characters (C0, DEL, C1), surrogates and line or paragraph
# separators: those are stripped or refused before they reach a header (the "input" work).
TEXT = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
LABELS = ("example", "bücher", "münchen", "пример", "例え", "ελληνικά", "xn--bcher-kva", "mail")
TLDS = ("org", "de", "рф", "jp", "net")
LOCAL_ASCII = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789._+-", min_size=1, max_size=20)
LOCAL_UNICODE = st.text(
    st.sampled_from("abcxyzéüøßÉÜЖжλΛ東京0123456789._-"), min_size=1, max_size=20
)


def words(max_size: int = 60) -> st.SearchStrategy[str]:
    """Display text of any script: at least one character that is not a space."""
    return st.text(TEXT, min_size=1, max_size=max_size).filter(lambda t: t.strip() != "")


@st.composite
def addresses(draw: st.DrawFn, unicode_local: bool = True) -> str:
    """A valid address, often with an internationalised domain, sometimes a non-ASCII
    local part (when `unicode_local`)."""
    local = draw(LOCAL_UNICODE if unicode_local and draw(st.booleans()) else LOCAL_ASCII)
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3))
    address = f"{local}@{'.'.join(labels)}.{draw(st.sampled_from(TLDS))}"
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        assume(False)
        raise


def service_urls() -> st.SearchStrategy[str]:
    """Subscription service URLs of any length, some with an IDN host or a non-ASCII path."""
    host = st.sampled_from(("subs.example.org", "abo.bücher.de", "例え.jp", "s.example.net:8443"))
    path = st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), max_size=1500
    )
    return st.builds(lambda h, p: f"https://{h}/{p}", host, path)


def squash(text: str) -> str:
    """Text with each run of whitespace made one space, as header folding may."""
    return " ".join(text.split())


def letters(text: str) -> str:
    """Text without any whitespace: Python 3.11's address parser keeps the folding space
    between two adjacent encoded words of a display name, which RFC 2047 says to drop."""
    return "".join(text.split())


def header_lines(data: bytes) -> list[bytes]:
    """The raw lines of a message's header block."""
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def parse(data: bytes) -> EmailMessage:
    """A message read back with the email package (UTF-8 headers decoded as such)."""
    message = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def unfolded(data: bytes, name: str) -> str:
    """One header's raw value with its folding removed."""
    text = data.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    found = re.search(rf"^{re.escape(name)}: (.*?)\r\n(?! )", text + "\r\n", re.M | re.S)
    assert found, f"no {name} header"
    return found[1].replace("\r\n", "")


def headers_for(
    subject: str, sender: str, to: str, unsubscribe: str, site_title: str = "Letters"
) -> mime.MessageHeaders:
    """MessageHeaders as a send makes them."""
    return mime.MessageHeaders(
        subject=subject,
        from_address=sender,
        reply_to="editor@example.org",
        date="Tue, 03 Nov 2026 09:00:00 +0000",
        message_id="<on-margins.0123456789abcdef@example.org>",
        list_id=f'"{site_title}" <letters.example.org>',
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto="mailto:editor@example.org?subject=unsubscribe",
        to=to,
    )


@given(
    subject=words(200),
    site_name=words(),
    reader=words(),
    reader_address=addresses(),
    sender_address=addresses(unicode_local=False),
    service=service_urls(),
)
def test_any_unicode_headers_parse_back_the_same(
    subject: str,
    site_name: str,
    reader: str,
    reader_address: str,
    sender_address: str,
    service: str,
) -> None:
    sender = str(mime.Address(display_name=site_name, addr_spec=sender_address))
    to = mime.recipient_address(reader_address, reader)
    unsubscribe = f"{service.rstrip('/')}/unsubscribe/12-0123456789abcdef"
    data = mime.compose_message(
        headers_for(subject, sender, to, unsubscribe), "Hello,\ntext\n", "<p>html</p>"
    )
    message = parse(data)
    assert squash(str(message["Subject"])) == squash(subject)
    [from_] = message["From"].addresses
    assert letters(from_.display_name) == letters(site_name)
    [recipient] = message["To"].addresses
    assert letters(recipient.display_name) == letters(reader)
    assert recipient.username == reader_address.rpartition("@")[0]
    assert recipient.domain.isascii() and from_.domain.isascii()  # IDN as punycode
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    for line in header_lines(data):
        assert len(line) <= mime.HARD_LINE_LIMIT
        if data.split(b"\r\n\r\n")[0].isascii() and not re.search(rb"<\S{20,}>", line):
            assert len(line) <= mime.LINE_LENGTH, line  # folded, but never inside a <…>


@given(service=service_urls())
def test_list_unsubscribe_is_always_ascii_url_items(service: str) -> None:
    unsubscribe = f"{service.rstrip('/')}/unsubscribe/12-0123456789abcdef"
    headers = headers_for("A title", "Letters <letters@example.org>", "r@example.org", unsubscribe)
    data = mime.compose_message(headers, "text\n", "<p>html</p>")
    value = unfolded(data, "List-Unsubscribe")
    assert value.isascii() and "=?" not in value
    items = re.fullmatch(r"<([^<>]+)>, <([^<>]+)>", value)
    assert items, value
    web, mailto = ("".join(item.split()) for item in items.groups())
    assert web.startswith("https://") and web.endswith("/unsubscribe/12-0123456789abcdef")
    assert mailto == "mailto:editor@example.org?subject=unsubscribe"
    assert all(len(line) <= mime.HARD_LINE_LIMIT for line in header_lines(data))
    if len(web) + len("List-Unsubscribe: <>,") <= mime.HARD_LINE_LIMIT:
        assert "".join(items.group(1).split()) == items.group(1)  # the URL is never broken
    message = parse(data)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


# --- End to end: check, build and send a site full of Unicode --------------------------------

TODAY = "2026-12-01"  # the day the essays are dated: each is due, so its email is built
SECRET = "test-secret-0123456789"


@pytest.fixture(scope="module")
def smtp() -> Iterator[RecordingSMTPServer]:
    """One recording SMTP server for the module's end-to-end examples."""
    with RecordingSMTPServer() as server:
        yield server


def write_site(
    root: Path,
    *,
    site_title: str,
    sender_name: str,
    title: str,
    subtitle: str = "",
    author: str = "Anne Brontë",
    tags: Sequence[str] = (),
    service_url: str = "https://subs.bronte-letters.net/",
) -> Path:
    """A one-essay site with these texts (front matter written by a YAML writer)."""
    sender = str(mime.Address(display_name=sender_name, addr_spec="letters@bronte-letters.net"))
    settings = tomli_w.dumps(
        {
            "site": {
                "title": site_title,
                "url": "https://bronte-letters.net/",
                "author": author,
                "language": "en",
                "timezone": "Europe/London",
            },
            "schedule": {"rule": "FREQ=MONTHLY;BYDAY=+1TU"},
            "email": {
                "from": sender,
                "reply_to": "editor@bronte-letters.net",
                "signup_url": "https://bronte-letters.net/subscribe/",
                "service_url": service_url,
                "postal_address": "Haworth Parsonage, Church Street, Haworth",
            },
        }
    )
    front = {"title": title, "date": "2026-12-01", "tags": list(tags), "author": author}
    if subtitle:
        front["subtitle"] = subtitle
    essay = f"---\n{yaml.safe_dump(front, allow_unicode=True)}---\nA first paragraph.\n"
    return make_site(root, {"01-essay": essay}, settings=settings)


def run(root: Path, *args: str) -> Result:
    """`publish --root ROOT ARGS…` in-process; never a traceback, whatever the outcome."""
    result = CliRunner().invoke(cli, ["--root", str(root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), "".join(
        traceback.format_exception(result.exception)
    )
    assert "Traceback" not in result.output
    return result


def build_and_send(
    root: Path, smtp: RecordingSMTPServer, reader: str, name: str
) -> tuple[Result, str]:
    """Check and build the site, subscribe one reader and send; the send's result and slug."""
    run(root, "check", "--today", TODAY)
    built = run(root, "build", "--today", TODAY)
    assert built.exit_code == 0, built.output
    [eml] = (root / "build" / "email").glob("*.eml")
    assert all(len(line) <= mime.HARD_LINE_LIMIT for line in header_lines(eml.read_bytes()))
    with closing(db.connect(db.database_path(root, load_settings(root)))) as conn:
        add_subscriber(conn, reader, name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")
        patch.setenv("PUBLISH_SECRET", SECRET)
        patch.setenv("PUBLISH_RETRY_BACKOFF", "0.001")
        return run(root, "send", eml.stem), eml.stem


def assert_arrived_intact(
    message: EmailMessage, title: str, reader_name: str, sender_name: str
) -> None:
    """The received message reads back with the same subject and display names, and one
    ASCII line of `<…>` List-Unsubscribe items."""
    assert squash(str(message["Subject"])) == squash(title)
    [recipient] = message["To"].addresses
    assert letters(recipient.display_name) == letters(reader_name)
    [sender] = message["From"].addresses
    assert letters(sender.display_name) == letters(sender_name)
    value = str(message["List-Unsubscribe"])
    assert value.isascii() and re.fullmatch(r"<[!-~]+>(, <[!-~]+>)*", value), value


@settings(max_examples=8)
@given(
    title=words(),
    subtitle=words(),
    author=words(),
    site_title=words(),
    sender_name=words(),
    reader_name=words(),
    tags=st.lists(words(20), max_size=3, unique_by=tag_slug),
    reader=addresses(unicode_local=False),
)
def test_check_build_and_send_any_unicode_site(
    tmp_path_factory: pytest.TempPathFactory,
    smtp: RecordingSMTPServer,
    title: str,
    subtitle: str,
    author: str,
    site_title: str,
    sender_name: str,
    reader_name: str,
    tags: list[str],
    reader: str,
) -> None:
    root = write_site(
        tmp_path_factory.mktemp("unicode"),
        site_title=site_title,
        sender_name=sender_name,
        title=title,
        subtitle=subtitle,
        author=author,
        tags=tags,
    )
    result, _ = build_and_send(root, smtp, reader, reader_name)
    assert result.exit_code == 0, result.output
    local, domain = address_parts(reader)
    [(_, _, message)] = smtp.messages_to(f"{local}@{ascii_domain(domain)}")  # IDN as punycode
    assert_arrived_intact(message, title, reader_name, sender_name)
    smtp.messages.clear()


# --- Regression tests: each failed on the code before issue 10 -------------------------------


def test_accented_title_site_title_sender_and_reader_name_build_and_send(
    tmp_path: Path, smtp: RecordingSMTPServer
) -> None:
    root = write_site(
        tmp_path / "site", site_title="Lettres d’été", sender_name="Éditions Zoë", title="Café"
    )
    result, _ = build_and_send(root, smtp, "zoe@example.org", "Zoë Brontë")
    assert result.exit_code == 0, result.output
    [(_, _, message)] = smtp.messages_to("zoe@example.org")
    assert str(message["Subject"]) == "Café"
    assert message["To"].addresses[0].display_name == "Zoë Brontë"
    assert message["From"].addresses[0].display_name == "Éditions Zoë"
    assert "Lettres d’été" in str(message["List-Id"])
    assert str(message["List-Id"]).endswith("<lettres-dete.bronte-letters.net>")
    assert "Hello Zoë Brontë," in message.get_body(("plain",)).get_content()
    smtp.messages.clear()


@pytest.mark.parametrize("length", [40, 120, 400, 2000])
def test_list_unsubscribe_is_never_an_encoded_word(length: int) -> None:
    unsubscribe = f"https://subs.example.org/{'p' * length}/unsubscribe/12-0123456789abcdef"
    headers = headers_for("A title", "Letters <letters@example.org>", "r@example.org", unsubscribe)
    data = mime.compose_message(headers, "text\n", "<p>html</p>")
    value = unfolded(data, "List-Unsubscribe")
    assert "=?" not in value and value.isascii()
    first, second = value.split(", ")
    assert "".join(first.split()) == f"<{unsubscribe}>"
    assert second == "<mailto:editor@example.org?subject=unsubscribe>"
    lines = [line for line in header_lines(data) if len(line) > mime.LINE_LENGTH]
    if length < mime.HARD_LINE_LIMIT - 60:  # only an item too long for any line is broken
        assert all(b"unsubscribe/12-" in line for line in lines)
        assert f"<{unsubscribe}>" in value
    assert all(len(line) <= mime.HARD_LINE_LIMIT for line in header_lines(data))


def test_non_ascii_urls_in_list_unsubscribe_are_percent_encoded() -> None:
    headers = headers_for(
        "A title",
        "Letters <letters@bücher.de>",
        "r@example.org",
        "https://abo.bücher.de/ä b/unsubscribe/1-x",
    )
    headers = msgspec.structs.replace(headers, unsubscribe_mailto="mailto:zoë@bücher.de")
    value = unfolded(mime.compose_message(headers, "t\n", "<p>h</p>"), "List-Unsubscribe")
    assert value == (
        "<https://abo.xn--bcher-kva.de/%C3%A4%20b/unsubscribe/1-x>, "
        "<mailto:zo%C3%AB@xn--bcher-kva.de>"
    )


def test_idn_domains_are_punycode_and_a_unicode_local_part_makes_utf8_headers() -> None:
    headers = headers_for(
        "Été",
        "Bücher <letters@bücher.de>",
        mime.recipient_address("zoë@bücher.de", "Zoë Brontë"),
        "https://subs.example.org/unsubscribe/1-x",
    )
    data = mime.compose_message(headers, "Hello Zoë,\n", "<p>Hello Zoë</p>")
    message = parse(data)
    assert message["From"].addresses[0].domain == "xn--bcher-kva.de"
    [recipient] = message["To"].addresses
    assert (recipient.username, recipient.domain) == ("zoë", "xn--bcher-kva.de")
    assert recipient.display_name == "Zoë Brontë"
    assert str(message["Subject"]) == "Été"
    assert b"Subject: =?utf-8?" in data  # encoded words still, outside the address fields
    ascii_only = mime.compose_message(
        msgspec.structs.replace(headers, to="zoe@bücher.de"), "t\n", "<p>h</p>"
    )
    assert ascii_only.split(b"\r\n\r\n")[0].isascii()
    assert parse(ascii_only)["To"].addresses[0].domain == "xn--bcher-kva.de"


def test_addresses_that_differ_only_by_case_merge_in_any_script(tmp_path: Path) -> None:
    with closing(db.connect(tmp_path / "state.db")) as conn:
        first = add_subscriber(conn, "élodie@example.org", "Élodie")
        assert add_subscriber(conn, "ÉLODIE@Example.org").id == first.id
        assert (
            add_subscriber(conn, "Straße@bücher.de").id
            == add_subscriber(conn, "STRASSE@xn--bcher-kva.de").id
        )
        assert find_subscriber(conn, "ÉLODIE@EXAMPLE.ORG") == first
        assert [s.email for s in list_subscribers(conn)] == [
            "élodie@example.org",
            "Straße@bücher.de",
        ]  # kept as first given


def test_the_migration_backfills_keys_and_keeps_older_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as old:  # a database as the code before made it
        for script in db.MIGRATIONS[:2]:
            for statement in db._statements(script):
                old.execute(statement)
        old.execute("PRAGMA user_version = 2")
        for address in ("élodie@example.org", "ÉLODIE@example.org", "bob@example.org"):
            old.execute(
                "INSERT INTO subscribers (email, status, created_at)"
                " VALUES (?, 'active', '2026-01-01')",
                (address,),
            )
        old.commit()
    with closing(db.connect(path)) as conn:
        assert find_subscriber(conn, "Élodie@example.org").id == 1  # the oldest row
        assert add_subscriber(conn, "BOB@example.org").id == 3
        assert len(list_subscribers(conn)) == 3  # nothing merged behind the writer's back


def test_non_latin_titles_get_distinct_usable_slugs() -> None:
    titles = ["Поэзия и проза", "東京の夜", "Ελληνικά", "🌍", "🌙"]
    slugs = [slugify(title) for title in titles]
    assert len(set(slugs)) == len(slugs)
    assert all(SLUG_PATTERN.match(slug) for slug in slugs), slugs
    assert slugs[:3] == ["poeziia-i-proza", "dong-jing-noye", "ellenika"]
    assert slugify("Café: Ünïcode!") == "cafe-unicode"


def test_non_latin_tags_get_their_own_pages(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        site_title="Letters",
        sender_name="Letters",
        title="Ночь",
        tags=["Поэзия", "東京", "Ελληνικά"],
    )
    result = run(root, "build", "--today", TODAY)
    assert result.exit_code == 0, result.output
    pages = sorted(p.parent.name for p in (root / "build" / "site" / "tags").glob("*/index.html"))
    assert pages == ["dong-jing", "ellenika", "poeziia"]


def test_init_with_an_emoji_title_writes_settings_that_parse(tmp_path: Path) -> None:
    title, author = 'Letters from 🌍 "Zoë" \\ {today}', "Zoë Brontë, Jr."
    result = CliRunner().invoke(
        cli, ["init", str(tmp_path / "site"), "--title", title, "--author", author]
    )
    assert result.exit_code == 0, result.output
    settings = load_settings(tmp_path / "site")
    assert (settings.site.title, settings.site.author) == (title, author)
    [sender] = getaddresses([settings.email.from_address])
    assert sender == (author, "you@example.org")
    assert run(tmp_path / "site", "build").exit_code == 0


def test_the_services_confirmation_is_addressed_the_same_way() -> None:
    message = mime.addressed_message("Éditions Zoë <letters@bücher.de>", "zoë@bücher.de")
    message["Subject"] = "Confirm your subscription to Lettres d’été"
    message.set_content("Confirm: https://subs.example.org/confirm/x\n")
    data = message.as_bytes()
    parsed = parse(data)
    assert parsed["From"].addresses[0].display_name == "Éditions Zoë"
    assert parsed["From"].addresses[0].domain == "xn--bcher-kva.de"
    assert parsed["To"].addresses[0].addr_spec == "zoë@xn--bcher-kva.de"
    assert str(parsed["Subject"]) == "Confirm your subscription to Lettres d’été"
    assert all(len(line) <= mime.LINE_LENGTH for line in header_lines(data))


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40))
def test_ascii_titles_keep_the_slugs_they_had(title: str) -> None:
    words = re.findall(r"[a-z0-9]+", title.lower())
    assume(words)
    assert slugify(title) == "-".join(words)  # published addresses do not move


@pytest.mark.parametrize("local", ["zoe", "zoë"])
def test_a_very_long_name_never_makes_a_line_over_998_bytes(local: str) -> None:
    name = "東" * 400
    headers = headers_for(
        "x",
        "Letters <letters@example.org>",
        mime.recipient_address(f"{local}@example.org", name),
        "https://subs.example.org/unsubscribe/1-x",
    )
    data = mime.compose_message(headers, "t\n", "<p>h</p>")
    assert all(len(line) <= mime.HARD_LINE_LIMIT for line in header_lines(data))
    [recipient] = parse(data)["To"].addresses
    assert recipient.username == local
    if local.isascii():  # encoded words fold anywhere; UTF-8 headers cannot, so it goes
        assert letters(recipient.display_name) == name


@given(subject=words(), reader=words(), reader_address=addresses())
def test_header_classes_made_once_change_no_byte(
    subject: str, reader: str, reader_address: str
) -> None:
    headers = headers_for(
        subject,
        "Éditions <letters@bücher.de>",
        mime.recipient_address(reader_address, reader),
        "https://subs.example.org/unsubscribe/1-x",
    )
    made_once = mime.compose_message(headers, "Hello,\ntext é\n", "<p>html</p>")
    with pytest.MonkeyPatch.context() as patch:  # the email package's own registry
        patch.setattr(mime, "HeaderClasses", HeaderRegistry)
        patch.setattr(mime, "_POLICIES", {})
        mime._POLICIES.update({utf8: mime._message_policy(utf8) for utf8 in (False, True)})
        assert mime.compose_message(headers, "Hello,\ntext é\n", "<p>html</p>") == made_once


@settings(max_examples=60)
@given(
    body=st.lists(
        st.sampled_from([*"ab &#x;01fF9\n[]()<>`*-_~|\\!:", "&#1;", "&#x7f;", "[^n]"]),
        max_size=40,
    ).map("".join)
)
def test_control_references_found_the_same_without_scanning_a_body_with_no_reference(
    body: str,
) -> None:
    """`referenced_controls` answers at once for a body with no `&` (so no character
    reference): exactly what scanning every token gives."""
    from publish.content.markdown import build_parser
    from publish.content.source import referenced_controls
    from publish.model import Glossary

    tokens = build_parser().parse(body, {"publish": {"glossary": Glossary({})}})
    scanned = referenced_controls("essays/x.md", tokens, body + "\n&", 3)  # never answered at once
    assert referenced_controls("essays/x.md", tokens, body, 3) == scanned


@given(st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x1FAFF), min_size=1))
@settings(max_examples=25)
def test_a_character_beyond_the_bmp_written_as_json_writes_it_is_read_as_itself(
    text: str,
) -> None:
    """`json.dumps` writes 😀 as two `\\u` escapes (a UTF-16 surrogate pair), as an export
    or a script writing front matter may: YAML 1.2 reads them as the one character, and so
    does the front matter (not as two halves refused as control characters)."""
    from publish.content.source import _load_front_matter

    front = f"---\ntitle: {json.dumps('Title ' + text)}\ntags: [{json.dumps(text)}]\n"
    metadata, problems = _load_front_matter("essays/a.md", front)
    assert problems == []
    assert metadata == {"title": "Title " + text, "tags": [text]}

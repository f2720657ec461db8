"""The remembered-line encoding of text parts (publish.mail.mimebody) writes the same bytes
as the email package alone, for any body, and is the path real essays take."""

from __future__ import annotations

from email.contentmanager import raw_data_manager
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bench.generate import generate
from publish.content.settings import load_settings
from publish.mail import mime, mimebody, personal
from publish.mail.built import load_built_email
from tests.sitebuilder import due_since_long_ago
from tests.test_build import invoke

# Characters that steer the encoder: '=' and tabs or spaces at line ends, every kind of line
# break Python knows (\r, \x0b, \x0c, \x1c-\x1e, \x85, \u2028, \u2029), accents, emoji.
TRICKY = " \t=.-aZ09\r\x0b\x0c\x1c\x85\u2028\u2029éß’—€😀東"
LINES = st.lists(st.text(alphabet=TRICKY, max_size=240), max_size=40).map("\n".join)
# Prose as essays' HTML is: mostly ASCII, some accents and punctuation, long lines, more than
# ten of them, so the email package chooses quoted-printable, the path TEXT_PARTS encodes by itself.
PROSE_LINE = st.tuples(
    st.text(alphabet="abc XYZ,.\t", min_size=80, max_size=300),
    st.text(alphabet=TRICKY, max_size=2),
).map("".join)
PROSE = st.lists(PROSE_LINE, min_size=11, max_size=40).map(lambda lines: "’\n".join(lines))
POLICY = mime._POLICIES[False]  # the policy of every message without SMTPUTF8
HEADERS = mime.MessageHeaders(
    subject="Lettres d’été",
    from_address="Éditions Zoë <letters@example.org>",
    reply_to="",
    date="Tue, 01 Dec 2026 09:00:00 +0000",
    message_id="<m1@example.org>",
    list_id="Letters <letters.example.org>",
    unsubscribe_url="https://example.org/unsubscribe/abc",
    unsubscribe_mailto="",
    to="Zoë Brontë <zoe@example.net>",
)


def both_ways(text: str, html: str) -> tuple[bytes, bytes]:
    """The message as publish composes it, and as the email package alone composes it."""
    fast = mime.compose_message(HEADERS, text, html, content_manager=mimebody.TEXT_PARTS)
    library = mime.compose_message(HEADERS, text, html, content_manager=raw_data_manager)
    return fast, library


@given(text=LINES, html=LINES)
def test_any_body_gives_the_bytes_of_the_email_package(text: str, html: str) -> None:
    fast, library = both_ways(text, html)
    assert fast == library


@given(text=PROSE, html=PROSE)
def test_any_prose_takes_the_remembered_path_and_gives_the_same_bytes(text: str, html: str) -> None:
    for body in (text, html):
        assert mimebody._chosen_encoding(body.encode("utf-8").splitlines(), POLICY) == mimebody.QP
    fast, library = both_ways(text, html)
    assert fast == library


@given(body=LINES)
def test_quoted_printable_line_by_line_is_the_whole_body_at_once(body: str) -> None:
    lines = body.encode("utf-8").splitlines()
    normal = (b"\n".join(lines) + b"\n").decode("latin-1")
    assert mimebody.quoted_printable(normal, 78) == mimebody.quoprimime.body_encode(normal, 78)


def test_real_essays_take_the_remembered_path_and_give_the_same_bytes(tmp_path: Path) -> None:
    root = tmp_path / "site"
    due_since_long_ago(generate(12, root))  # every essay due: each email is built
    assert invoke(root, "build", "--today", "2030-01-01").exit_code == 0
    settings = load_settings(root)
    slugs = sorted(p.stem for p in (root / "build" / "email").glob("*.eml"))
    assert len(slugs) == 12
    for slug in slugs:
        built = load_built_email(root, slug)
        for lines in (built.html.encode("utf-8").splitlines(), built.text.encode().splitlines()):
            assert mimebody._chosen_encoding(lines, POLICY) == mimebody.QP
        for number, name in enumerate(("Ada", "Zoë Brontë", "東京 太郎")):
            link = f"https://example.org/unsubscribe/t{number}"
            html = personal.personalise_html(built.html, settings, name, link)
            text = personal.personalise_text(built.text, settings, name, link)
            fast, library = both_ways(text, html)
            assert fast == library

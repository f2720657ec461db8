"""The remembered-line encoding of text parts (publish.mail.mimebody) writes the same bytes
as the email package alone, for any body, and is the path real essays take; so does a send's
laid-out copy (`mime.compose_copy`), for any reader's name and address, and dkimpy verifies
its signature."""

from __future__ import annotations

import base64
from email.contentmanager import raw_data_manager
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import example, given
from hypothesis import strategies as st

from bench.generate import generate
from publish.content.settings import load_settings
from publish.mail import mime, mimebody, personal
from publish.mail.built import BuiltEmail, load_built_email
from publish.mail.dkim import DkimSigner
from publish.model import Settings
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
            for body, subtype in ((text, "plain"), (html, "html")):  # laid out, not the fallback
                assert mimebody.quoted_printable_part(body, subtype, POLICY) is not None
            assert mime.compose_copy(HEADERS, text, html) == library


# Readers' names in any script (control characters, quotes and encoded-word look-alikes too),
# long enough to cross the 78-column fold; addresses with non-ASCII local parts (SMTPUTF8)
# and IDN domains.
NAMES = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=120),
    st.text(alphabet=TRICKY + '"\\<>,;:()@=?', max_size=120),
)
LOCAL_PARTS = st.text(alphabet="abcxyz019.+-_éß東", min_size=1, max_size=64).filter(
    lambda local: not local.startswith(".") and not local.endswith(".") and ".." not in local
)
DOMAINS = st.sampled_from(["example.org", "例え.jp", "bücher.example", "b" * 60 + ".example.net"])


def copy_both_ways(headers: mime.MessageHeaders, text: str, html: str) -> tuple[object, object]:
    """The send's laid-out copy and the email package's own message (or the ValueError
    each raises for a message that cannot be built)."""

    def made(compose: object) -> object:
        try:
            return compose()  # type: ignore[operator]
        except ValueError as exc:
            return type(exc)

    return (
        made(lambda: mime.compose_copy(headers, text, html)),
        made(lambda: mime.compose_message(headers, text, html, content_manager=raw_data_manager)),
    )


@given(name=NAMES, local=LOCAL_PARTS, domain=DOMAINS, sender=NAMES, text=PROSE, html=PROSE)
@example(name="Zoë " * 30, local="zoe", domain="example.org", sender="É", text="a", html="b")
def test_a_laid_out_copy_is_the_email_packages_message_for_any_reader(
    name: str, local: str, domain: str, sender: str, text: str, html: str
) -> None:
    headers = mime.MessageHeaders(
        subject=f"{sender} — lettres",
        from_address=f'"{sender}" <letters@example.org>',
        reply_to="",
        date="Tue, 01 Dec 2026 09:00:00 +0000",
        message_id=f"<{local}.tag@example.org>",
        list_id=f"{sender} <letters.example.org>",
        unsubscribe_url=f"https://example.org/unsubscribe/{local}",
        unsubscribe_mailto="mailto:letters@example.org?subject=unsubscribe",
        to=mime.recipient_address(f"{local}@{domain}", name),
    )
    fast, library = copy_both_ways(headers, text, html)
    assert fast == library


@given(text=LINES, html=LINES)
def test_a_copy_in_any_encoding_is_the_email_packages_message(text: str, html: str) -> None:
    fast, library = copy_both_ways(HEADERS, text, html)
    assert fast == library


@pytest.fixture(scope="module")
def essay(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltEmail, Settings]:
    """A generated essay's built email and its site's settings."""
    root = tmp_path_factory.mktemp("copies") / "site"
    due_since_long_ago(generate(3, root))
    assert invoke(root, "build", "--today", "2030-01-01").exit_code == 0
    slug = sorted(p.stem for p in (root / "build" / "email").glob("*.eml"))[0]
    return load_built_email(root, slug), load_settings(root)


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SIGNER = DkimSigner(
    "s1",
    "example.org",
    KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ),
)
PUBLIC = KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
RECORDS = {b"s1._domainkey.example.org": b"v=DKIM1; k=rsa; p=" + base64.b64encode(PUBLIC)}


@given(name=NAMES, local=LOCAL_PARTS, domain=DOMAINS)
@example(name="東京 太郎" * 12, local="東京", domain="例え.jp")
def test_a_readers_signed_copy_of_a_real_essay_is_the_packages_and_verifies(
    essay: tuple[BuiltEmail, Settings], name: str, local: str, domain: str
) -> None:
    built, settings = essay
    link = f"https://example.org/unsubscribe/{local}"
    html = personal.personalise_html(built.html, settings, name, link, built.words)
    text = personal.personalise_text(built.text, settings, name, link, built.words)
    headers = mime.MessageHeaders(
        subject=built.headers["Subject"],
        from_address=settings.email.from_address,
        reply_to=settings.email.reply_to,
        date="Tue, 01 Dec 2026 09:00:00 +0000",
        message_id=f"<{built.slug}.tag@example.org>",
        list_id=mime.list_id(settings),
        unsubscribe_url=link,
        unsubscribe_mailto=mime.unsubscribe_mailto(settings),
        to=mime.recipient_address(f"{local}@{domain}", name),
    )
    fast, library = copy_both_ways(headers, text, html)
    assert isinstance(fast, bytes) and fast == library
    assert dkim.verify(SIGNER.sign(fast), dnsfunc=lambda name, timeout=5: RECORDS.get(name[:-1]))

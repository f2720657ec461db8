"""Links between essays: `other.md` and `../other/` resolve to the other essay's address in
every channel (relative on the web, absolute in email and feeds); a link to no essay, or to
one that would not be out yet, is an error at the link's line and column."""

from __future__ import annotations

import email
import email.policy
import json
from contextlib import closing
from pathlib import Path, PurePosixPath
from typing import Any

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import html

from publish.content.essaylinks import file_name, may_hold_links
from publish.content.links import locate_sources
from publish.content.markdown import build_parser
from publish.state.db import connect
from publish.state.subscribers import add_subscriber
from tests.sitebuilder import (
    DEFAULT_SETTINGS,
    due_since_long_ago,
    essay_text,
    invoke,
    make_site,
    site_settings,
)
from tests.tools import RecordingSMTPServer

URL = "https://example.org/letters/"
TODAY = "2026-12-01"
RUN_SETTINGS = site_settings("run")
LINKING_BODY = (
    "A first paragraph.\n\n"
    "See [the older one](01-older.md), [its part](./older.md#a-part),\n"
    "[by address](../older/) and [by slug file](older.md).\n"
)


def linked_site(tmp_path: Path, body: str = LINKING_BODY, **older: object) -> Path:
    """Two dated essays, the newer linking to the older in every supported way; both are
    due (not back issues), so their emails are built."""
    older_front = {"date": "2026-10-06", **older}
    return due_since_long_ago(
        make_site(
            tmp_path / "site",
            essays={
                "01-older": essay_text(
                    "Older", "A paragraph.\n\n## A part\n\nMore.\n", **older_front
                ),
                "02-newer": essay_text("Newer", body, date="2026-11-03"),
            },
        )
    )


def hrefs(fragment: html.HtmlElement, text: str) -> list[str]:
    """The targets of the links whose text is `text`."""
    return [a.get("href") for a in fragment.iter("a") if a.text_content() == text]


def test_links_to_an_essay_reach_its_page_in_every_channel(tmp_path: Path) -> None:
    root = linked_site(tmp_path)
    result = invoke(root, "build", "--today", TODAY)
    assert result.exit_code == 0, result.output
    page = html.parse(str(root / "build/site/newer/index.html")).getroot()
    assert hrefs(page, "the older one") == ["../older/"]
    assert hrefs(page, "its part") == ["../older/#a-part"]
    assert hrefs(page, "by address") == ["../older/"]
    assert hrefs(page, "by slug file") == ["../older/"]
    mail = html.parse(str(root / "build/email/newer.html")).getroot()
    assert hrefs(mail, "the older one") == [f"{URL}older/"]
    assert hrefs(mail, "its part") == [f"{URL}older/#a-part"]
    assert hrefs(mail, "by address") == [f"{URL}older/"]
    text = (root / "build/email/newer.txt").read_text(encoding="utf-8")
    assert f"the older one <{URL}older/>" in text
    assert f"<{URL}older/#a-part>" in text
    assert "../older" not in text and ".md" not in text
    message = email.message_from_bytes(
        (root / "build/email/newer.eml").read_bytes(), policy=email.policy.default
    )
    html_part = message.get_body(("html",)).get_content()
    assert f'href="{URL}older/#a-part"' in html_part and "01-older.md" not in html_part


def test_links_to_an_essay_are_absolute_in_the_feeds(tmp_path: Path) -> None:
    root = linked_site(tmp_path)
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    for name in ("feed.xml", "atom.xml"):
        feed = feedparser.parse((root / "build/site" / name).read_bytes())
        entry = next(e for e in feed.entries if e.title == "Newer")
        content = entry.content[0].value if "content" in entry else entry.description
        body = html.fragment_fromstring(content, create_parent="div")
        assert hrefs(body, "by address") == [f"{URL}older/"], name
        assert hrefs(body, "its part") == [f"{URL}older/#a-part"], name
    items = json.loads((root / "build/site/feed.json").read_text(encoding="utf-8"))["items"]
    body = html.fragment_fromstring(
        next(i for i in items if i["title"] == "Newer")["content_html"], create_parent="div"
    )
    assert hrefs(body, "the older one") == [f"{URL}older/"]


def test_a_link_to_no_essay_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    body = "A first paragraph.\n\nSee [it](0lder.md) and\nalso [that](../oldr/).\n"
    root = linked_site(tmp_path, body)
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 1
    assert "essays/02-newer.md:7:10: error: link to '0lder.md': no essay" in result.output
    assert "(did you mean 'older.md'?)" in result.output
    assert "essays/02-newer.md:8:13: error: link to '../oldr/'" in result.output
    assert "(did you mean '../older/'?)" in result.output
    assert "Traceback" not in result.output
    assert invoke(root, "build", "--today", TODAY).exit_code == 1
    assert not (root / "build/site").exists()


def test_a_link_to_a_draft_is_an_error_in_check_and_build(tmp_path: Path) -> None:
    root = linked_site(tmp_path, draft="true")
    for command in ("check", "build"):
        result = invoke(root, command, "--today", TODAY)
        assert result.exit_code == 1, command
        assert (
            "essays/02-newer.md:7:21: error: link to '01-older.md': that essay is a draft"
            in result.output
        ), command


def test_a_link_to_an_essay_that_goes_out_later_is_an_error(tmp_path: Path) -> None:
    root = make_site(
        tmp_path / "site",
        settings=DEFAULT_SETTINGS,
        essays={
            "01-first": essay_text("First", "Read [the next](02-second.md).\n", date="2026-11-03"),
            "02-second": essay_text("Second", "Later.\n", date="2027-02-02"),
        },
    )
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 1
    assert (
        "essays/01-first.md:5:17: error: link to '02-second.md': that essay goes out on "
        "2027-02-02, after this essay (2026-11-03)" in result.output
    )
    # on the day the second is out, the first (already out) may link to it
    assert invoke(root, "check", "--today", "2027-02-02").exit_code == 0


def test_run_refuses_to_mail_an_essay_linking_to_a_later_one(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    essays = {
        "01-alder": essay_text("Alder", "See [the birch](02-birch.md) next month.\n"),
        "02-birch": essay_text("Birch", "A paragraph about the birch.\n"),
    }
    root = make_site(tmp_path / "site", essays, settings=RUN_SETTINGS)
    with closing(connect(root / "state" / "publish.db")) as connection:
        add_subscriber(connection, "ann@example.org")
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    result = invoke(root, "run", "--today", "2027-01-05T10:00")
    assert result.exit_code == 1
    assert (
        "essays/01-alder.md:4:17: error: link to '02-birch.md': that essay is queued and has "
        "no date yet" in result.output
    )
    assert smtp_server.messages == []
    assert not (root / "build/email").exists()
    with closing(connect(root / "state" / "publish.db")) as connection:
        assert tuple(connection.execute("SELECT COUNT(*) FROM releases").fetchone()) == (0,)


@given(st.text(alphabet="ab/.-_", max_size=12))
def test_an_essays_file_name_is_the_last_part_of_its_path(path: str) -> None:
    assert file_name(path) == PurePosixPath(path).name


# Pieces of Markdown near a link without being one: footnote definitions and citations,
# reference definitions and uses, brackets, colons and parentheses in any order.
NEAR_LINKS = st.sampled_from(
    ["word", " ", "\n", "\n\n", "[", "]", ":", "^", "(", ")", "x", "`", "> ", "- ", "    "]
    + ["[^a]: ", "[^b]:", "[^ a]: ", "[^]: ", "[r]: /u ", "[^a]", "[r]", "[r][]", "\t", "!"]
)


@given(source=st.lists(NEAR_LINKS, max_size=30).map("".join))
def test_a_text_may_hold_links_wherever_markdown_it_makes_one(source: str) -> None:
    """Where `may_hold_links` says a text can hold no link, markdown-it-py's parse of it
    (the slow path, reference definitions and all) holds none, in the body or its notes."""
    if may_hold_links(source):
        return
    tokens = build_parser().parse(source, {})
    every = [*tokens, *(child for token in tokens for child in token.children or [])]
    assert "link_open" not in {token.type for token in every}


@pytest.mark.parametrize(
    ("source", "may"),
    [
        ("Words[^a] and more.\n\n[^a]: A note.\n", False),
        ("No brackets at all.\n", False),
        ("A [link](https://e.org/).\n", True),
        ("An <https://e.org/> autolink.\n", True),
        ("A [reference].\n\n[reference]: https://e.org/\n", True),
        ("A label with a space is a reference.\n\n[^a b]: https://e.org/\n", True),
    ],
)
def test_a_text_may_hold_links_only_by_their_marks(source: str, may: bool) -> None:
    assert may_hold_links(source) is may


class Unwalked(list[Any]):
    """Tokens that fail the test if they are walked."""

    def __iter__(self) -> Any:
        raise AssertionError("the tokens were walked")


def test_an_essay_that_can_hold_no_link_or_image_is_not_walked_for_them() -> None:
    """Locating an essay's images and links walks its tokens (and splits its file into
    lines) only when its source has the marks of one."""
    raw = b"---\ntitle: T\n---\nWords[^a] and *more*.\n\n[^a]: A note.\n"
    assert locate_sources(Unwalked(), raw, "", 3) == ((), ())

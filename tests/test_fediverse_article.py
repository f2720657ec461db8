"""The fediverse Article of each essay: the feeds' full content (notes and glossary notes
included), its page, date, author, hashtags, lead image with alt text and language."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import html

from publish.content.settings import load_settings
from publish.errors import PublishError
from tests.websites import build_site, fixture_site

URL = "https://example.org/essays/"
FEDIVERSE = '[fediverse]\nenabled = true\nhandle = "letters"\n'


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture site with an actor, built."""
    site = fixture_site(tmp_path_factory.mktemp("ap") / "site", url=URL, essays=3, extra=FEDIVERSE)
    build_site(site)
    return site


def built_article(root: Path, slug: str) -> dict:
    """An essay's Article as the build wrote it."""
    path = root / "build" / "site" / "activitypub" / "articles" / f"{slug}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_article_carries_the_feed_content_with_every_note(root: Path) -> None:
    article = built_article(root, "essay-1")
    feed = json.loads((root / "build" / "site" / "feed.json").read_bytes())
    item = next(item for item in feed["items"] if item["url"] == f"{URL}essay-1/")
    assert article["content"] == item["content_html"]
    notes = html.fragment_fromstring(article["content"], create_parent="div").cssselect(
        "section.footnotes li"
    )
    assert len(notes) == 4
    texts = [note.text_content() for note in notes]
    assert any("Complete absorption in a task" in text for text in texts)  # glossary note
    assert any("written in the essay itself" in text for text in texts)


def test_the_article_names_its_page_date_author_tags_image_and_language(root: Path) -> None:
    article = built_article(root, "essay-1")
    assert article["type"] == "Article"
    assert article["id"] == f"{URL}activitypub/articles/essay-1.json"
    assert article["url"] == f"{URL}essay-1/"
    assert article["name"] == "Essay 1"
    assert article["attributedTo"] == f"{URL}activitypub/actor"
    assert article["published"].startswith("2025-01-02")
    assert article["contentMap"] == {"en-GB": article["content"]}
    tags = {tag["name"]: tag["href"] for tag in article["tag"]}
    assert tags == {"#reading": f"{URL}tags/reading/", "#notes": f"{URL}tags/notes/"}
    assert all(tag["type"] == "Hashtag" for tag in article["tag"])
    assert article["attachment"] == [
        {
            "type": "Image",
            "url": f"{URL}images/square.svg",
            "mediaType": "image/svg+xml",
            "name": "A pale square",
        }
    ]
    assert "https://www.w3.org/ns/activitystreams#Public" in article["to"]


def test_no_article_without_an_actor(tmp_path: Path) -> None:
    site = fixture_site(tmp_path / "site", url=URL, essays=1)
    build_site(site)
    assert not (site / "build" / "site" / "activitypub").exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("enabled = true", "'fediverse.enabled' is true but 'fediverse.handle' is not set"),
        ('handle = "two words"', "'fediverse.handle' must be a name like 'letters'"),
        ("enabled = 1", "'fediverse.enabled' must be true or false"),
        ('also_known_as = ["nowhere"]', "'fediverse.also_known_as' must hold account URLs"),
        ('handel = "x"', "unknown key 'fediverse.handel' (did you mean 'handle'?)"),
    ],
)
def test_a_wrong_fediverse_table_is_refused_with_its_line(
    tmp_path: Path, table: str, message: str
) -> None:
    site = fixture_site(tmp_path / "site", url=URL, essays=1, extra=f"[fediverse]\n{table}\n")
    with pytest.raises(PublishError) as caught:
        load_settings(site)
    text = str(caught.value)
    assert message in text
    line = (site / "publish.toml").read_text().splitlines().index(table) + 1
    assert f"publish.toml:{line}:" in text


def test_the_create_activity_wraps_the_article_for_the_public_and_the_followers(
    root: Path,
) -> None:
    from publish.outputs.activitypub import create_activity
    from publish.pipeline.load import load

    site = load(root).site
    essay = site.essay("essay-1")
    activity = create_activity(site, essay)
    assert activity["type"] == "Create"
    assert activity["id"] == f"{URL}activitypub/articles/essay-1.json#create"
    assert activity["actor"] == f"{URL}activitypub/actor"
    assert activity["object"]["id"] == built_article(root, "essay-1")["id"]
    assert activity["cc"] == [f"{URL}activitypub/followers"]
    update = create_activity(site, essay, "Update", f"{URL}activitypub/updates/1")
    assert (update["type"], update["id"]) == ("Update", f"{URL}activitypub/updates/1")


def test_pages_link_the_actor_the_article_and_the_profiles(tmp_path: Path) -> None:
    extra = FEDIVERSE + 'profiles = ["https://mastodon.example/@fay"]\n'
    site = fixture_site(tmp_path / "site", url=URL, essays=1, extra=extra)
    build_site(site)
    page = html.parse(str(site / "build" / "site" / "essay-1" / "index.html")).getroot()
    [alternate] = page.cssselect('link[type="application/activity+json"]')
    assert alternate.get("href") == f"{URL}activitypub/articles/essay-1.json"
    assert [link.get("href") for link in page.cssselect('link[rel="me"]')] == [
        "https://mastodon.example/@fay"
    ]
    assert page.cssselect('meta[name="fediverse:creator"]')[0].get("content") == (
        "@letters@example.org"
    )
    index = html.parse(str(site / "build" / "site" / "index.html")).getroot()
    [actor] = index.cssselect('link[type="application/activity+json"]')
    assert actor.get("href") == f"{URL}activitypub/actor"


def test_pages_of_a_site_without_an_actor_say_nothing_of_one(tmp_path: Path) -> None:
    site = fixture_site(tmp_path / "site", url=URL, essays=1)
    build_site(site)
    page = (site / "build" / "site" / "essay-1" / "index.html").read_text(encoding="utf-8")
    assert "activity+json" not in page and "fediverse:creator" not in page


def test_an_approved_reply_is_shown_cleaned_in_valid_html(tmp_path: Path) -> None:
    from contextlib import closing

    from publish.model import Release
    from publish.state import db, releases, replies
    from tests.tools import validate_html

    site = fixture_site(tmp_path / "site", url=URL, essays=1, extra=FEDIVERSE)
    with closing(db.connect(site / "state" / "publish.db")) as conn:
        moment = datetime(2025, 1, 2, 9, tzinfo=UTC)
        releases.record_releases(conn, [Release("essay-1", moment, moment, "h")])
        content = '<p>Kind <a href="javascript:alert(1)">words</a><img src=x onerror=alert(1)></p>'
        author = ("Ann <b>", "javascript:alert(1)")
        replies.add_reply(conn, "n1", "essay-1", "https://a.example/users/ann", author,
                          "https://a.example/@ann/1", content, "2025-01-03T00:00:00Z")  # fmt: skip
        replies.add_reply(conn, "n2", "essay-1", "https://a.example/users/ann", ("Ann", ""),
                          "https://a.example/@ann/2", "<p>Not approved</p>", "")  # fmt: skip
        replies.approve_reply(conn, replies.list_replies(conn)[-1].id)
    build_site(site)
    page = html.parse(str(site / "build" / "site" / "essay-1" / "index.html")).getroot()
    [shown] = page.cssselect("section.replies article.reply")
    assert shown.cssselect(".reply-content")[0].text_content() == "Kind words"
    assert not shown.cssselect("img, script, a[href^='javascript']")
    assert shown.cssselect(".p-author")[0].text_content() == "Ann <b>"
    assert "Not approved" not in html.tostring(page, encoding="unicode")
    assert validate_html(site / "build" / "site" / "essay-1") == []

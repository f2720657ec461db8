"""Tests for `publish import`: a Substack zip, a WordPress WXR file and a Ghost export
become a site that checks, builds, keeps its notes, images, old addresses and readers, and
mails nothing twice (through the command line, with a real SMTP server for `run`)."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import frontmatter
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import html as lxml_html

from publish.content.releasefile import read_releases_file
from publish.importers.convert import ConvertedPost, to_markdown
from publish.importers.essayfiles import essay_text as essay_text_of
from publish.importers.model import ImportedPost
from publish.state.subscribers import list_subscribers
from tests.exports import SUBSTACK_POSTS, ghost_export, substack_zip, wordpress_wxr, wp_item
from tests.mailsite import SETTINGS
from tests.sitebuilder import due_since_long_ago, essay_text, invoke, make_site
from tests.tools import RecordingSMTPServer

TRANSFERENCE = (
    "Transference: the redirection of feelings about one person onto another, often the analyst."
)
FREUD = "Freud, The Interpretation of Dreams (1900)."


def new_site(tmp_path: Path) -> Path:
    """An empty site whose settings pass the mailing set-up check."""
    return make_site(tmp_path / "site", {}, footnotes={}, settings=SETTINGS)


def imported(tmp_path: Path, source: str, *extra: str) -> Path:
    """A new site with an export of `source` imported; `publish check` passes."""
    root = new_site(tmp_path)
    if source == "substack":
        export = substack_zip(tmp_path / "export.zip")
    elif source == "wordpress":
        export = wordpress_wxr(tmp_path / "export.xml")
    else:
        export, _, _ = ghost_export(tmp_path)
    result = invoke(root, "import", source, str(export), *extra)
    assert result.exit_code == 0, result.output + result.stderr
    checked = invoke(root, "check")
    assert checked.exit_code == 0, checked.output + checked.stderr
    return root


def build(root: Path) -> Path:
    """Build the site as of 2027-01-01, its imported essays due rather than back issues (so
    their emails are built too); return its web folder."""
    result = invoke(due_since_long_ago(root), "build", "--today", "2027-01-01")
    assert result.exit_code == 0, result.output + result.stderr
    return root / "build" / "site"


def page(site: Path, path: str):
    """A built page, parsed."""
    return lxml_html.fromstring((site / path).read_bytes())


def note_texts(document) -> list[str]:
    """The text of each footnote of a page, in order, without its back-links."""
    notes = document.cssselect(".footnotes li.footnote-item")
    for link in document.cssselect(".footnotes a.footnote-backref"):
        link.drop_tree()
    return [" ".join(note.text_content().split()) for note in notes]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under a site, by relative path (the state database's own journal files,
    which SQLite writes on any open, left out)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-shm", "-wal"))
    }


def redirect_target(site: Path, old: str) -> str:
    """Where the redirect page at an old address sends readers (site-relative)."""
    document = page(site, f"{old}/index.html")
    refresh = document.cssselect('meta[http-equiv="refresh"]')[0].get("content")
    target = refresh.split("url=", 1)[1]
    return urljoin(f"https://x/{old}/", target).removeprefix("https://x/")


def test_substack_zip_becomes_a_site_with_notes_images_and_old_addresses(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    export = substack_zip(tmp_path / "export.zip")
    result = invoke(root, "import", "substack", str(export))
    assert result.exit_code == 0, result.stderr
    assert (
        "essays/on-margins.md:1:1: warning: images not in the export, kept at their old "
        "addresses: https://substack-post-media.s3.amazonaws.com/public/images/lost.jpg"
    ) in result.stderr
    assert "embed replaced by a link: https://www.youtube.com/watch?v=abc123" in result.stderr
    assert "4 post(s) imported as essays (2 as drafts)" in result.output
    assert invoke(root, "check").exit_code == 0
    site = build(root)
    margins = page(site, "on-margins/index.html")
    assert note_texts(margins) == [TRANSFERENCE, FREUD]
    assert [a.text_content() for a in margins.cssselect(".footnote-ref a")] == [
        "[1]",
        "[2]",
    ] or len(margins.cssselect(".footnote-ref")) == 2
    image = margins.cssselect('img[alt="A pencil on a page"]')[0]
    assert (site / "on-margins" / image.get("src")).read_bytes().startswith(b"\x89PNG")
    body = margins.cssselect(".essay-body")[0]
    text = body.text_content()
    assert "A pencil, kept sharp." in text
    assert "Subscribe now" not in text and not body.cssselect("iframe, form, button")
    assert margins.cssselect('a[href="https://www.youtube.com/watch?v=abc123"]')
    assert note_texts(page(site, "second-letter/index.html")) == [
        TRANSFERENCE,
        FREUD,
        "A note of its own.",
    ]
    assert redirect_target(site, "p/on-margins") == "on-margins/"
    assert redirect_target(site, "p/second-letter") == "second-letter/"
    rebuilt = build(root)  # from the parse cache this time: the old addresses stay
    assert redirect_target(rebuilt, "p/on-margins") == "on-margins/"
    for draft in ("a-podcast", "unfinished"):
        assert frontmatter.load(root / "essays" / f"{draft}.md")["draft"] is True
        assert not (site / draft).exists()


def test_substack_readers_come_with_their_consent(tmp_path: Path) -> None:
    root = imported(tmp_path, "substack")
    with closing(sqlite3.connect(root / "state" / "publish.db")) as connection:
        connection.row_factory = sqlite3.Row
        statuses = {s.email: s.status for s in list_subscribers(connection)}
    assert statuses == {
        "ann@mailbox.ink": "active",
        "bob@mailbox.ink": "active",
        "quiet@mailbox.ink": "unsubscribed",
    }


@pytest.mark.parametrize("flags", [(), ("--mail-back-issues",)])
def test_run_after_the_import_mails_only_the_next_new_essay(
    tmp_path: Path,
    smtp_server: RecordingSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
    flags: tuple[str, ...],
) -> None:
    """Imported posts that went out are released: not mailed even as back issues."""
    root = imported(tmp_path, "substack")
    (root / "essays" / "next.md").write_text(
        essay_text("The Next Letter", "The first one written here.\n", slug="the-next-letter"),
        encoding="utf-8",
    )
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    result = invoke(root, "run", "--today", "2026-12-01 10:00", *flags)
    assert result.exit_code == 0, result.output + result.stderr
    mailed = sorted(
        (recipients[0], str(message["Subject"])) for _, recipients, message in smtp_server.messages
    )
    assert mailed == [
        ("ann@mailbox.ink", "The Next Letter"),
        ("bob@mailbox.ink", "The Next Letter"),
    ]


def test_repeated_notes_are_proposed_and_with_glossary_cited_by_key(tmp_path: Path) -> None:
    proposed = imported(tmp_path / "a", "substack")
    assert not list((proposed / "footnotes").glob("*.md"))
    root = imported(tmp_path / "b", "substack", "--glossary")
    entry = frontmatter.load(root / "footnotes" / "transference.md")
    assert entry["term"] == "Transference"
    assert entry.content.startswith("The redirection of feelings")
    for slug in ("on-margins", "second-letter"):
        essay = frontmatter.load(root / "essays" / f"{slug}.md")
        assert "[^transference]" in essay.content
        assert "[^transference]:" not in essay.content
    site = build(root)
    assert note_texts(page(site, "second-letter/index.html"))[2] == "A note of its own."
    for slug in ("on-margins", "second-letter"):
        assert "The redirection of feelings" in note_texts(page(site, f"{slug}/index.html"))[0]


def test_glossary_candidates_are_listed_without_the_flag(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    result = invoke(root, "import", "substack", str(substack_zip(tmp_path / "e.zip")))
    lines = result.output.splitlines()
    assert "glossary candidates: 2" in lines
    assert any(
        line.startswith("  [^transference] Transference (proposed; in on-margins, second-letter)")
        for line in lines
    )


def test_a_second_import_changes_nothing_and_keeps_edits(tmp_path: Path) -> None:
    root = imported(tmp_path, "substack", "--glossary")
    edited = root / "essays" / "on-margins.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nAn edit.\n", encoding="utf-8")
    before = snapshot(root)
    again = invoke(root, "import", "substack", str(tmp_path / "export.zip"), "--glossary")
    assert again.exit_code == 0, again.stderr
    assert snapshot(root) == before
    assert "0 post(s) imported as essays (0 as drafts), 4 already there" in again.output
    assert "0 added, 0 updated, 2 unchanged, 1 kept unsubscribed" in again.output
    assert "  [^transference] Transference (already in the glossary; " in again.output


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    before = snapshot(root)
    result = invoke(
        root, "import", "substack", str(substack_zip(tmp_path / "e.zip")), "--dry-run", "--glossary"
    )
    assert result.exit_code == 0, result.stderr
    assert snapshot(root) == before
    assert "4 post(s) would be imported as essays" in result.output
    assert "3 would be imported, 1 skipped" in result.output


def test_wordpress_export_keeps_block_and_plugin_footnotes_and_dated_addresses(
    tmp_path: Path,
) -> None:
    uploads = tmp_path / "uploads" / "2026" / "09"
    uploads.mkdir(parents=True)
    (uploads / "couch.jpg").write_bytes(b"\xff\xd8\xff couch")
    root = imported(tmp_path, "wordpress", "--uploads", str(tmp_path / "uploads"))
    source = (root / "essays" / "clinical-words.md").read_text(encoding="utf-8")
    assert "wp:" not in source
    essay = frontmatter.load(root / "essays" / "clinical-words.md")
    assert (essay["author"], essay["category"], essay["tags"]) == (
        "Ann Analyst",
        "Clinic",
        ["words"],
    )
    assert frontmatter.load(root / "essays" / "not-yet.md")["draft"] is True
    site = build(root)
    words = page(site, "clinical-words/index.html")
    assert note_texts(words) == [TRANSFERENCE, FREUD]
    image = words.cssselect('img[alt="A couch"]')[0]
    assert (site / "clinical-words" / image.get("src")).read_bytes() == b"\xff\xd8\xff couch"
    classic = page(site, "a-classic-post/index.html")
    assert note_texts(classic) == [FREUD, TRANSFERENCE]
    paragraphs = classic.cssselect(".essay-body p")
    assert any(p.cssselect("br") for p in paragraphs)
    assert redirect_target(site, "2026/09/01/clinical-words") == "clinical-words/"
    assert redirect_target(site, "2026/10/06/a-classic-post") == "a-classic-post/"


def test_wordpress_export_with_an_entity_is_refused(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    export = tmp_path / "evil.xml"
    export.write_text(
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM '
        '"file:///etc/passwd">]><rss><channel>&x;</channel></rss>',
        encoding="utf-8",
    )
    result = invoke(root, "import", "wordpress", str(export))
    assert result.exit_code == 1
    assert f"{export}:1:1: error: not a WordPress export (WXR) file" in result.stderr
    assert "Traceback" not in result.stderr and not list((root / "essays").iterdir())


def test_ghost_export_and_members_become_essays_and_readers(tmp_path: Path) -> None:
    export, members, images = ghost_export(tmp_path)
    root = new_site(tmp_path)
    result = invoke(
        root,
        "import",
        "ghost",
        str(export),
        "--subscribers",
        str(members),
        "--uploads",
        str(images),
    )
    assert result.exit_code == 0, result.stderr
    assert "'the-second' was for paying members only on Ghost; it is public here" in result.output
    assert "skipped 1: deleted member" in result.output
    assert invoke(root, "check").exit_code == 0
    frame = frontmatter.load(root / "essays" / "the-frame.md")
    assert (frame["image_alt"], frame["image_credit"], frame["tags"]) == (
        "The room",
        "Photo: Ann",
        ["Clinic"],
    )
    assert (root / "essays" / frame["image"]).read_bytes().startswith(b"\x89PNG")
    for draft in ("about", "a-draft"):
        assert frontmatter.load(root / "essays" / f"{draft}.md")["draft"] is True
    site = build(root)
    document = page(site, "the-frame/index.html")
    assert note_texts(document) == [TRANSFERENCE, FREUD]
    assert document.cssselect('a[href="https://player.vimeo.com/video/42"]')
    link = document.cssselect('a[href$="the-second/"]')[0].get("href")
    assert urljoin("https://x/the-frame/", link) == "https://x/the-second/"
    with closing(sqlite3.connect(root / "state" / "publish.db")) as connection:
        connection.row_factory = sqlite3.Row
        statuses = {s.email: s.status for s in list_subscribers(connection)}
    assert statuses == {"ann@mailbox.ink": "active", "muted@mailbox.ink": "unsubscribed"}


def test_ghost_images_without_the_uploads_folder_are_named_and_the_site_checks(
    tmp_path: Path,
) -> None:
    root = imported(tmp_path, "ghost")
    frame = frontmatter.load(root / "essays" / "the-frame.md")
    assert "image" not in frame and "(image: The room)" in frame.content
    result = invoke(root, "import", "ghost", str(tmp_path / "ghost-export.json"), "--dry-run")
    assert "0 post(s) would be imported as essays (0 as drafts), 4 already there" in result.output


@pytest.mark.parametrize(
    ("source", "content", "message"),
    [
        ("substack", b"not a zip", "error: not a Substack export zip"),
        ("ghost", b'{"db": [', "error: not valid JSON"),
        ("ghost", b'{"db": []}', "error: not a Ghost export: no db[0].data.posts"),
    ],
)
def test_a_bad_export_is_one_clear_error(
    tmp_path: Path, source: str, content: bytes, message: str
) -> None:
    root = new_site(tmp_path)
    export = tmp_path / "export.bin"
    export.write_bytes(content)
    result = invoke(root, "import", source, str(export))
    assert result.exit_code == 1
    assert f"{export}:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr and not list((root / "essays").iterdir())


def test_the_converter_writes_the_markdown_a_writer_would() -> None:
    html = (
        "<h2>Kinds</h2><p>Some <strong>bold</strong>, <em>soft</em> and a "
        '<a href="https://example.com/a">link</a>,<br>then a break.</p>'
        "<ol><li>First</li><li>Second<ul><li>inner</li></ul></li></ol>"
        "<blockquote><p>Read with a pencil.</p></blockquote>"
        '<figure><img src="images/a.png" alt="A page"><figcaption>Seen <em>close</em>'
        "</figcaption></figure>"
        "<table><tr><th>Kind</th><th>Where</th></tr><tr><td>Note</td><td>Margin</td></tr>"
        "</table>"
    )
    assert to_markdown(html) == (
        "## Kinds\n\nSome **bold**, *soft* and a [link](https://example.com/a),\\\n"
        "then a break.\n\n1. First\n2. Second\n   - inner\n\n> Read with a pencil.\n\n"
        "![A page](images/a.png)\n\n_Seen *close*_\n\n"
        "| Kind | Where |\n| --- | --- |\n| Note | Margin |"
    )


@pytest.mark.parametrize("aliases", ["[../up]", "[a/./b]", '["a b"]', "{a: 1}"])
def test_an_alias_that_is_not_an_address_under_the_site_is_an_error(
    tmp_path: Path, aliases: str
) -> None:
    root = make_site(tmp_path / "site", {"x": essay_text("X", aliases=aliases)})
    result = invoke(root, "check")
    assert result.exit_code == 1
    assert (
        "essays/x.md:3:1: error: 'aliases' must be a list of old addresses under the "
        "site, such as p/on-margins"
    ) in result.stderr


@given(
    title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1),
    subtitle=st.text(st.characters(blacklist_categories=("Cs", "Cc"))),
    tags=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1), max_size=3
    ),
)
def test_front_matter_of_any_title_reads_back_as_written(
    title: str, subtitle: str, tags: list[str]
) -> None:
    post = ImportedPost(
        title=title,
        slug="a-post",
        body_html="",
        subtitle=subtitle,
        tags=tuple(tags),
        old_paths=("p/a-post",),
    )
    meta = frontmatter.loads(essay_text_of(ConvertedPost(post, "Body.", []))).metadata
    assert meta["title"] == title and meta.get("subtitle", "") == subtitle
    assert meta.get("tags", []) == tags and meta["aliases"] == ["p/a-post"]


def released_slots(root: Path) -> dict[str, datetime]:
    """The slot of every release recorded in releases.toml."""
    record = read_releases_file(root, "Europe/London")
    return {slug: release.slot for slug, release in record.releases.items()}


def wordpress_local_times(path: Path) -> Path:
    """A WXR export whose one published post has only a local time (post_date_gmt
    0000-00-00, as WordPress writes for some posts)."""
    item = wp_item(
        "Local Time",
        "local-time",
        "2026-09-01 08:00:00",
        "publish",
        "<p>Hi.</p>",
        gmt="0000-00-00 00:00:00",
    )
    return wordpress_wxr(path, [item])


def test_a_wordpress_import_after_a_substack_import_records_every_release(
    tmp_path: Path,
) -> None:
    root = imported(tmp_path, "substack")
    export = wordpress_local_times(tmp_path / "local.xml")
    result = invoke(root, "import", "wordpress", str(export))
    assert result.exit_code == 0, result.output + result.stderr
    assert "Traceback" not in result.stderr
    slots = released_slots(root)
    assert set(slots) == {"on-margins", "second-letter", "local-time"}
    london = ZoneInfo("Europe/London")  # the site's zone: the export gave no offset
    assert slots["local-time"] == datetime(2026, 9, 1, 8, 0, tzinfo=london)
    assert slots["on-margins"] == datetime(2026, 10, 6, 8, 0, tzinfo=ZoneInfo("UTC"))
    assert frontmatter.load(root / "essays" / "local-time.md")["date"] == "2026-09-01T08:00+01:00"
    assert invoke(root, "check").exit_code == 0


def test_an_import_that_fails_on_the_way_writes_nothing(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    database = root / "state" / "publish.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(b"this is not a SQLite database, and the import must notice")
    before = snapshot(root)
    result = invoke(root, "import", "substack", str(substack_zip(tmp_path / "e.zip")))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert snapshot(root) == before  # no essay, image or releases.toml
    assert [p.name for p in root.iterdir() if p.name.startswith(".publish-import")] == []


def test_a_rerun_records_the_releases_an_interrupted_import_left_out(tmp_path: Path) -> None:
    root = imported(tmp_path, "substack")
    export = wordpress_local_times(tmp_path / "local.xml")
    assert invoke(root, "import", "wordpress", str(export)).exit_code == 0
    # As an interrupted run of an earlier version left it: the essays written (one with a
    # time without its zone), no release recorded; and an essay of the writer's own.
    (root / "releases.toml").unlink()
    local = root / "essays" / "local-time.md"
    local.write_text(local.read_text().replace("08:00+01:00", "08:00"), encoding="utf-8")
    second = root / "essays" / "second-letter.md"
    second.write_text(
        essay_text("A Second Letter", "Mine.\n", slug="second-letter"), encoding="utf-8"
    )
    again = invoke(root, "import", "substack", str(tmp_path / "export.zip"))
    assert again.exit_code == 0, again.stderr
    assert "releases recorded (never mailed again): 1" in again.output
    again = invoke(root, "import", "wordpress", str(export))
    assert again.exit_code == 0, again.stderr
    assert set(released_slots(root)) == {"on-margins", "local-time"}  # not the writer's own


def test_substack_titles_lose_their_entities_on_the_page_and_in_the_email(
    tmp_path: Path,
) -> None:
    root = new_site(tmp_path)
    post = SUBSTACK_POSTS[0]
    title, subtitle = "&#x201C;Margins&#x201D; &amp; Notes", "It&#x2019;s &lt;short&gt;"
    export = substack_zip(tmp_path / "e.zip", [(*post[:6], title, subtitle, post[8])])
    assert invoke(root, "import", "substack", str(export)).exit_code == 0
    site = build(root)
    shown, shown_subtitle = "\u201cMargins\u201d & Notes", "It\u2019s <short>"
    document = page(site, "on-margins/index.html")
    assert document.cssselect("h1")[0].text_content().strip() == shown
    assert shown_subtitle in document.text_content()
    message = email.message_from_bytes(
        (site.parent / "email" / "on-margins.eml").read_bytes(), policy=email.policy.default
    )
    assert message["Subject"] == shown
    html_part = lxml_html.fromstring(message.get_body(("html",)).get_content())
    text_part = message.get_body(("plain",)).get_content()
    for text in (html_part.text_content(), text_part):
        assert shown in text and shown_subtitle in text
        assert "&#x" not in text and "&amp;" not in text


def test_a_wxr_with_a_bare_ampersand_is_read_with_a_warning_at_the_line(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    export = wordpress_wxr(tmp_path / "export.xml")
    lines = export.read_text(encoding="utf-8").splitlines()
    author = next(n for n, line in enumerate(lines, 1) if "Ann Analyst" in line)
    text = export.read_text(encoding="utf-8")
    export.write_text(text.replace("<![CDATA[Ann Analyst]]>", "Ann & Bob &amp; Co"), "utf-8")
    column = lines[author - 1].index("<![CDATA[Ann") + len("Ann ") + 1
    result = invoke(root, "import", "wordpress", str(export))
    assert result.exit_code == 0, result.stderr
    assert f"{export}:{author}:{column}: warning: a bare '&'" in result.stderr
    essay = frontmatter.load(root / "essays" / "clinical-words.md")
    assert essay["author"] == "Ann & Bob & Co"
    assert invoke(root, "check").exit_code == 0


def test_a_wxr_broken_elsewhere_is_read_past_with_a_warning(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    export = wordpress_wxr(tmp_path / "export.xml")
    broken = "<wp:post_name><![CDATA[not-yet]]></wp:post_nam>"
    text = export.read_text(encoding="utf-8")
    text = text.replace("<wp:post_name><![CDATA[not-yet]]></wp:post_name>", broken)
    export.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if broken in row)
    result = invoke(root, "import", "wordpress", str(export))
    assert result.exit_code == 0, result.stderr
    assert f"{export}:{line}:" in result.stderr and "warning: broken XML read past" in result.stderr
    assert (root / "essays" / "clinical-words.md").is_file()

"""Fixture exports in each platform's real format, written by the tests: a Substack zip,
a WordPress WXR file and a Ghost JSON export with its members CSV."""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
TRANSFERENCE = (
    "<strong>Transference</strong>: the redirection of feelings about one person "
    "onto another, often the analyst."
)
FREUD = "Freud, <em>The Interpretation of Dreams</em> (1900)."

SUBSTACK_MARGINS = f"""\
<p>Margins are where reading turns into writing<a class="footnote-anchor"
data-component-name="FootnoteAnchorToDOM" id="footnote-anchor-1" href="#footnote-1"
target="_self">1</a>, and a reader talks back<a class="footnote-anchor"
id="footnote-anchor-2" href="#footnote-2" target="_self">2</a>.</p>
<div class="captioned-image-container"><figure><a class="image-link image2 is-viewable-img"
target="_blank" href="https://substackcdn.com/image/fetch/w_1456/pencil.png"><div
class="image2-inset"><picture><source type="image/webp"
srcset="https://substackcdn.com/image/fetch/w_424/pencil.webp 424w"><img
src="https://substack-post-media.s3.amazonaws.com/public/images/pencil.png" width="600"
height="400" alt="A pencil on a page" loading="lazy"></picture><div class="image-link-expand">
<button>expand</button></div></div></a><figcaption class="image-caption">A pencil, kept
<em>sharp</em>.</figcaption></figure></div>
<p class="button-wrapper" data-attrs="{{}}"><a class="button primary"
href="https://example.substack.com/subscribe"><span>Subscribe now</span></a></p>
<div class="paywall-jump" data-component-name="PaywallToDOM"></div>
<h2>What goes in</h2>
<ul><li><p>A question.</p></li><li><p>A disagreement.</p></li></ul>
<div id="youtube2-abc123" class="youtube-wrap" data-attrs='{{"videoId":"abc123"}}'
data-component-name="Youtube2ToDOM"><div class="youtube-inner"><iframe
src="https://www.youtube-nocookie.com/embed/abc123" frameborder="0"></iframe></div></div>
<p><img src="https://substack-post-media.s3.amazonaws.com/public/images/lost.jpg"
alt="A lost image"></p>
<div class="subscription-widget-wrap"><form><input type="email"></form></div>
<div class="footnote" data-component-name="FootnoteToDOM"><a id="footnote-1"
href="#footnote-anchor-1" class="footnote-number" contenteditable="false"
target="_self">1</a><div class="footnote-content"><p>{TRANSFERENCE}</p></div></div>
<div class="footnote" data-component-name="FootnoteToDOM"><a id="footnote-2"
href="#footnote-anchor-2" class="footnote-number" contenteditable="false"
target="_self">2</a><div class="footnote-content"><p>{FREUD}</p></div></div>
"""

SUBSTACK_SECOND = f"""\
<p>The couch is a stage<a class="footnote-anchor" id="footnote-anchor-1"
href="#footnote-1">1</a>. Dreams are letters<a class="footnote-anchor"
id="footnote-anchor-2" href="#footnote-2">2</a>; so is this one<a class="footnote-anchor"
id="footnote-anchor-3" href="#footnote-3">3</a>.</p>
<div class="footnote"><a id="footnote-1" href="#footnote-anchor-1"
class="footnote-number">1</a><div class="footnote-content"><p>{TRANSFERENCE}</p></div></div>
<div class="footnote"><a id="footnote-2" href="#footnote-anchor-2"
class="footnote-number">2</a><div class="footnote-content"><p>{FREUD}</p></div></div>
<div class="footnote"><a id="footnote-3" href="#footnote-anchor-3"
class="footnote-number">3</a><div class="footnote-content"><p>A note of its own.</p>
</div></div>
"""

SUBSTACK_POSTS = [
    # post_id, post_date, is_published, email_sent_at, type, audience, title, subtitle, html
    (
        "101.on-margins",
        "2026-10-06T08:00:00.000Z",
        "true",
        "2026-10-06T08:01:00.000Z",
        "newsletter",
        "everyone",
        "On Margins",
        "Notes on notes",
        SUBSTACK_MARGINS,
    ),
    (
        "102.second-letter",
        "2026-11-03T09:00:00.000Z",
        "true",
        "2026-11-03T09:02:00.000Z",
        "newsletter",
        "only_paid",
        "A Second Letter",
        "",
        SUBSTACK_SECOND,
    ),
    (
        "103.a-podcast",
        "2026-11-10T09:00:00.000Z",
        "true",
        "",
        "podcast",
        "everyone",
        "A Podcast",
        "",
        "<p>Listen.</p>",
    ),
    (
        "104.unfinished",
        "",
        "false",
        "",
        "newsletter",
        "everyone",
        "Unfinished",
        "",
        "<p>Half a thought.</p>",
    ),
]

SUBSTACK_EMAIL_LIST = """\
email,active_subscription,expiry,plan,email_disabled,created_at,first_payment_at,name
ann@mailbox.ink,true,2027-07-06T16:20:44.000Z,yearly,false,2024-08-27T15:06:27.713Z,,Ann
bob@mailbox.ink,,,,false,2024-12-19T08:03:04.977Z,,
quiet@mailbox.ink,,,,true,2025-02-01T10:00:00.000Z,,Quiet Reader
@deletion-request.substack.com,,,,false,2024-08-27T15:22:11.139Z,,
"""


def substack_zip(path: Path, posts: list[tuple[str, ...]] = SUBSTACK_POSTS) -> Path:
    """Write a Substack export zip: posts.csv, posts/*.html, one image and an email list."""
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(
        [
            "post_id",
            "post_date",
            "is_published",
            "email_sent_at",
            "type",
            "audience",
            "title",
            "subtitle",
            "podcast_url",
        ]
    )
    with zipfile.ZipFile(path, "w") as archive:
        for *row, html in posts:
            writer.writerow([*row, ""])
            archive.writestr(f"posts/{row[0]}.html", html)
        archive.writestr("posts.csv", rows.getvalue())
        archive.writestr("images/pencil.png", PNG)
        archive.writestr("email_list.example.csv", SUBSTACK_EMAIL_LIST)
    return path


WP_FIRST = """\
<!-- wp:paragraph -->
<p>Clinics keep their own words<sup data-fn="3f2a-11" class="fn"><a href="#3f2a-11"
id="3f2a-11-link">1</a></sup> and borrow others<sup data-fn="9b7c-22" class="fn"><a
href="#9b7c-22" id="9b7c-22-link">2</a></sup>.</p>
<!-- /wp:paragraph -->

<!-- wp:image {"id":7,"sizeSlug":"large"} -->
<figure class="wp-block-image size-large"><img
src="https://old.example.com/wp-content/uploads/2026/09/couch-1024x683.jpg" alt="A couch"
class="wp-image-7"/><figcaption class="wp-element-caption">The couch.</figcaption></figure>
<!-- /wp:image -->

<!-- wp:footnotes /-->"""

WP_CLASSIC = """A classic post, written before blocks.

Its second paragraph has a line
break and a note[efn_note]Freud, <em>The Interpretation of Dreams</em> (1900).[/efn_note]."""

WP_META_FIRST = json.dumps(
    [{"content": TRANSFERENCE, "id": "3f2a-11"}, {"content": FREUD, "id": "9b7c-22"}]
)


def wp_item(
    title: str,
    slug: str,
    date: str,
    status: str,
    body: str,
    meta: str = "",
    kind: str = "post",
    extra: str = "",
    gmt: str | None = None,
) -> str:
    """One WXR <item> (`gmt`: its post_date_gmt when not the same as `date`; WordPress
    writes 0000-00-00 00:00:00 for a post it never dated in UTC)."""
    year, month, day = date[:10].split("-")
    postmeta = (
        f"<wp:postmeta><wp:meta_key><![CDATA[footnotes]]></wp:meta_key>"
        f"<wp:meta_value><![CDATA[{meta}]]></wp:meta_value></wp:postmeta>"
        if meta
        else ""
    )
    return f"""
<item>
  <title><![CDATA[{cdata(title)}]]></title>
  <link>https://old.example.com/{year}/{month}/{day}/{slug}/</link>
  <dc:creator><![CDATA[ann]]></dc:creator>
  <content:encoded><![CDATA[{cdata(body)}]]></content:encoded>
  <wp:post_id>{len(slug)}</wp:post_id>
  <wp:post_date><![CDATA[{date}]]></wp:post_date>
  <wp:post_date_gmt><![CDATA[{date if gmt is None else gmt}]]></wp:post_date_gmt>
  <wp:post_name><![CDATA[{slug}]]></wp:post_name>
  <wp:status><![CDATA[{status}]]></wp:status>
  <wp:post_type><![CDATA[{kind}]]></wp:post_type>
  <category domain="category" nicename="clinic"><![CDATA[Clinic]]></category>
  <category domain="post_tag" nicename="words"><![CDATA[words]]></category>
  {postmeta}{extra}
</item>"""


def cdata(text: str) -> str:
    """Text for a CDATA section, split where it holds `]]>` as WordPress does."""
    return text.replace("]]>", "]]]]><![CDATA[>")


def wordpress_wxr(
    path: Path, items: list[str] | None = None, title: str = "Old Clinic Notes"
) -> Path:
    """Write a WXR 1.2 export: by default a block post with 6.3 footnote meta, a classic
    post with a plugin footnote, a draft and an attachment."""
    items = (
        items
        if items is not None
        else [
            wp_item(
                "Clinical Words",
                "clinical-words",
                "2026-09-01 08:00:00",
                "publish",
                WP_FIRST,
                WP_META_FIRST,
            ),
            wp_item(
                "A Classic Post",
                "a-classic-post",
                "2026-10-06 08:00:00",
                "publish",
                WP_CLASSIC + "\n\nAlso " + '<sup data-fn="x1" class="fn"><a href="#x1">1'
                "</a></sup> transference.",
                json.dumps([{"id": "x1", "content": TRANSFERENCE}]),
            ),
            wp_item("Not Yet", "not-yet", "2026-11-01 08:00:00", "draft", "<p>Soon.</p>"),
            wp_item(
                "couch",
                "couch",
                "2026-09-01 08:00:00",
                "inherit",
                "",
                kind="attachment",
                extra="<wp:attachment_url><![CDATA[https://old.example.com/wp-content/uploads/"
                "2026/09/couch.jpg]]></wp:attachment_url>",
            ),
        ]
    )
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:wfw="http://wellformedweb.org/CommentAPI/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>{title}</title>
  <link>https://old.example.com</link>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:author><wp:author_id>1</wp:author_id><wp:author_login><![CDATA[ann]]></wp:author_login>
  <wp:author_display_name><![CDATA[Ann Analyst]]></wp:author_display_name></wp:author>
  {"".join(items)}
</channel>
</rss>
""",
        encoding="utf-8",
    )
    return path


GHOST_HTML = f"""<p>Every session has a frame<sup class="footnote-ref"><a href="#fn1"
id="fnref1">[1]</a></sup> and a history<sup class="footnote-ref"><a href="#fn2"
id="fnref2">[2]</a></sup>.</p>
<figure class="kg-card kg-image-card kg-card-hascaption"><img
src="__GHOST_URL__/content/images/2026/09/room.png" class="kg-image" alt="The room"
loading="lazy"><figcaption>The consulting room.</figcaption></figure>
<figure class="kg-card kg-embed-card"><iframe
src="https://player.vimeo.com/video/42" width="640"></iframe></figure>
<p>See <a href="__GHOST_URL__/the-second/">the next letter</a>.</p>
<hr class="footnotes-sep"><section class="footnotes"><ol class="footnotes-list">
<li id="fn1" class="footnote-item"><p>{TRANSFERENCE} <a href="#fnref1"
class="footnote-backref">↩︎</a></p></li>
<li id="fn2" class="footnote-item"><p>{FREUD} <a href="#fnref2"
class="footnote-backref">↩︎</a></p></li>
</ol></section>"""

GHOST_SECOND = f"""<p>Back to the frame<sup class="footnote-ref"><a href="#fn1"
id="fnref1">[1]</a></sup>.</p><section class="footnotes"><ol class="footnotes-list">
<li id="fn1" class="footnote-item"><p>{TRANSFERENCE} <a href="#fnref1"
class="footnote-backref">↩︎</a></p></li></ol></section>"""

GHOST_MEMBERS = """\
id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,deleted_at,labels,tiers
1,ann@mailbox.ink,Ann,,true,false,,2025-03-04T05:06:07.000Z,,,
2,muted@mailbox.ink,Muted Member,,false,false,,2025-05-05T12:00:00.000Z,,,
3,gone@mailbox.ink,Gone Member,,true,false,,2024-01-01T00:00:00.000Z,2025-01-01T00:00:00.000Z,,
"""


def ghost_export(
    folder: Path, posts: list[dict[str, object]] | None = None
) -> tuple[Path, Path, Path]:
    """Write a Ghost JSON export, its members CSV and a content/images folder."""
    posts = (
        posts
        if posts is not None
        else [
            {
                "id": "a1",
                "title": "The Frame",
                "slug": "the-frame",
                "html": GHOST_HTML,
                "feature_image": "__GHOST_URL__/content/images/2026/09/room.png",
                "type": "post",
                "status": "published",
                "visibility": "public",
                "published_at": "2026-09-01T08:00:00.000Z",
                "custom_excerpt": "On the setting",
            },
            {
                "id": "a2",
                "title": "The Second",
                "slug": "the-second",
                "html": GHOST_SECOND,
                "feature_image": None,
                "type": "post",
                "status": "published",
                "visibility": "paid",
                "published_at": "2026-10-06T08:00:00.000Z",
            },
            {
                "id": "a3",
                "title": "About",
                "slug": "about",
                "html": "<p>Who we are.</p>",
                "type": "page",
                "status": "published",
                "visibility": "public",
                "published_at": "2026-01-01T08:00:00.000Z",
            },
            {
                "id": "a4",
                "title": "Draft",
                "slug": "a-draft",
                "html": "<p>Later.</p>",
                "type": "post",
                "status": "draft",
                "visibility": "public",
                "published_at": None,
            },
        ]
    )
    data = {
        "db": [
            {
                "meta": {"exported_on": 1, "version": "5.80.0"},
                "data": {
                    "posts": posts,
                    "posts_meta": [
                        {
                            "post_id": "a1",
                            "feature_image_alt": "The room",
                            "feature_image_caption": "<span>Photo: Ann</span>",
                        }
                    ],
                    "tags": [
                        {"id": "t1", "name": "Clinic", "slug": "clinic"},
                        {"id": "t2", "name": "#internal", "slug": "hash-internal"},
                    ],
                    "posts_tags": [
                        {"post_id": "a1", "tag_id": "t1", "sort_order": 0},
                        {"post_id": "a1", "tag_id": "t2", "sort_order": 1},
                    ],
                    "users": [{"id": "u1", "name": "Ann Analyst", "slug": "ann"}],
                    "posts_authors": [{"post_id": "a1", "author_id": "u1", "sort_order": 0}],
                },
            }
        ]
    }
    export = folder / "ghost-export.json"
    export.write_text(json.dumps(data), encoding="utf-8")
    members = folder / "members.csv"
    members.write_text(GHOST_MEMBERS, encoding="utf-8")
    images = folder / "content" / "images" / "2026" / "09"
    images.mkdir(parents=True, exist_ok=True)
    (images / "room.png").write_bytes(PNG)
    return export, members, folder / "content" / "images"


MB = 1 << 20


@dataclass(frozen=True)
class CraftedMember:
    """One member of a zip written by hand: what its headers declare, and its bytes."""

    name: str
    declared_size: int
    deflated: bytes
    crc: int = 0
    mode: int = 0o100644  # the Unix mode kept in the high bits of external_attr


def deflated_zeros(megabytes: int) -> bytes:
    """A raw deflate stream of `megabytes` MiB of zero bytes, made without compressing
    them all: one flushed block of a MiB, repeated (each block stands alone), then the end."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * megabytes + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def crafted_zip(path: Path, members: list[CraftedMember]) -> Path:
    """A zip written byte by byte, so that a test can give a member any size its headers
    declare, any name and any mode (a symbolic link, say): what a hostile export does."""
    body, directory = bytearray(), bytearray()
    for member in members:
        name = member.name.encode("utf-8")
        sizes = (member.crc, len(member.deflated), member.declared_size, len(name), 0)
        offset = len(body)
        body += struct.pack("<IHHHHH", 0x04034B50, 20, 0, zipfile.ZIP_DEFLATED, 0, 0)
        body += struct.pack("<IIIHH", *sizes) + name + member.deflated
        directory += struct.pack("<IHHHHHH", 0x02014B50, 0x0314, 20, 0, zipfile.ZIP_DEFLATED, 0, 0)
        directory += struct.pack("<IIIHHHHHII", *sizes, 0, 0, 0, member.mode << 16, offset)
        directory += name
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(body), 0
    )
    path.write_bytes(bytes(body + directory + end))
    return path

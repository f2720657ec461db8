"""Hostile archives: HTML that tries to run on the built page or in the email (escaped
text, scripts, event handlers, `javascript:` addresses, forms, nested and mixed) comes out
as harmless text whichever importer reads it; a zip bomb or a zip with hostile names is
refused quickly, in little memory, before anything is written."""

from __future__ import annotations

import email
import email.policy
import html
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import html as lxml_html

from tests.exports import (
    MB,
    CraftedMember,
    crafted_zip,
    deflated_zeros,
    ghost_export,
    substack_zip,
    wordpress_wxr,
    wp_item,
)
from tests.test_importers import build, invoke, new_site, snapshot

SOURCES = ("substack", "wordpress", "ghost")
KEPT = '<script>alert("kept")</script>'
HOSTILE_TAGS = (
    *("script", "style", "form", "input", "button", "textarea", "select", "iframe"),
    *("object", "embed", "svg", "math", "template", "frame", "frameset", "base", "link"),
    *("meta", "noscript", "video", "audio", "source"),
)
HEAD_TAGS = {"meta", "link", "style", "title"}  # the page's own, in <head>
BENIGN_TAGS = (
    *("p", "div", "span", "em", "strong", "a", "code", "pre", "blockquote", "ul", "li"),
    *("h2", "table", "tr", "td", "figure", "figcaption", "sup", "img"),
)
VOID = {"img", "input", "embed", "source", "base", "link", "meta", "frame"}
SCRIPT_URLS = (
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "&#106;avascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
)
ATTRIBUTES = st.one_of(
    st.sampled_from(
        [
            ("onclick", "alert(1)"),
            ("onerror", "alert(1)"),
            ("onload", "alert(1)"),
            ("OnMouseOver", "alert(1)"),
            ("style", "background:url(javascript:alert(1))"),
            ("srcdoc", "<script>alert(1)</script>"),
            ("alt", '"><script>alert(1)</script>'),
            ("title", '"><svg onload=alert(1)>'),
            ("data-footnote", '1"><script>alert(1)</script>'),
            ("class", "footnote-anchor"),
        ]
    ),
    st.tuples(
        st.sampled_from(["href", "src", "action", "formaction", "poster"]),
        st.sampled_from(SCRIPT_URLS),
    ),
)
TEXTS = st.one_of(
    st.sampled_from(
        [
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "&lt;img src=x onerror=alert(1)&gt;",
            "&amp;lt;script&amp;gt;",
            "&lt;style&gt;body{}&lt;/style&gt;",
            "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;",
            "&#60;script&#62;alert(1)&#60;/script&#62;",
            "&lt;!-- x --&gt;",
            "[x](javascript:alert(1))",
            "<x onclick=alert(1)>",
            "\\",
            "```",
            "`",
            "&",
            "<",
            "words",
        ]
    ),
    st.text(alphabet="<>&`\\[]()*_!#-;:=\"' /ajs", max_size=12).map(html.escape),
)


def element(tag: str, attributes: list[tuple[str, str]], children: list[str]) -> str:
    """One element as HTML (its attribute values escaped as an exporter escapes them)."""
    attrs = "".join(f' {name}="{html.escape(value)}"' for name, value in attributes)
    return f"<{tag}{attrs}>" if tag in VOID else f"<{tag}{attrs}>{''.join(children)}</{tag}>"


FRAGMENTS = st.recursive(
    TEXTS,
    lambda children: st.builds(
        element,
        st.sampled_from(HOSTILE_TAGS + BENIGN_TAGS),
        st.lists(ATTRIBUTES, max_size=3),
        st.lists(children, max_size=3),
    ),
    max_leaves=12,
)
TITLES = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "</script><script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "A plain title",
    ]
)


def hostile_export(source: str, folder: Path, title: str, body: str) -> Path:
    """An export of `source` holding one published post, 'hostile', with this body."""
    if source == "substack":
        post = ("1.hostile", "2026-10-06T08:00:00.000Z", "true", "", "newsletter", "everyone")
        return substack_zip(folder / "export.zip", [(*post, title, "", body)])
    if source == "wordpress":
        item = wp_item(title, "hostile", "2026-10-06 08:00:00", "publish", body)
        return wordpress_wxr(folder / "export.xml", [item])
    record = {
        "id": "h1",
        "title": title,
        "slug": "hostile",
        "html": body,
        "type": "post",
        "status": "published",
        "visibility": "public",
        "published_at": "2026-10-06T08:00:00.000Z",
    }
    export, _, _ = ghost_export(folder, [record])
    return export


def built_documents(site: Path) -> dict[str, lxml_html.HtmlElement]:
    """The essay's page, its email's HTML file and the HTML part of its message."""
    email_dir = site.parent / "email"
    message = email.message_from_bytes(
        (email_dir / "hostile.eml").read_bytes(), policy=email.policy.default
    )
    html_part = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return {
        "page": lxml_html.fromstring((site / "hostile" / "index.html").read_bytes()),
        "email": lxml_html.fromstring((email_dir / "hostile.html").read_bytes()),
        "message": lxml_html.fromstring(html_part),
    }


def text_part(site: Path) -> str:
    """The plain-text part of the essay's message."""
    raw = (site.parent / "email" / "hostile.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def live_markup(document: lxml_html.HtmlElement) -> list[str]:
    """Everything in a document that could run or submit: hostile elements (other than the
    page's own: in <head>, its JSON-LD and its subscribe form), event handlers, script
    addresses."""
    found = []
    for node in document.iter():
        if not isinstance(node.tag, str):
            continue
        tag = node.tag.lower()
        ancestors = [node, *node.iterancestors()]
        in_head = any(a.tag == "head" for a in ancestors)
        own_form = any("subscribe-form" in (a.get("class") or "") for a in ancestors)
        json_ld = tag == "script" and node.get("type") == "application/ld+json" and in_head
        own = json_ld or own_form or (in_head and tag in HEAD_TAGS)  # the page's own
        if tag in HOSTILE_TAGS and not own:
            found.append(f"<{tag}>")
        for name, value in node.attrib.items():
            plain = re.sub(r"[\x00-\x20]", "", value).lower()
            if name.lower().startswith("on"):
                found.append(f"<{tag} {name}>")
            if plain.startswith(("javascript:", "vbscript:", "data:text")):
                found.append(f"<{tag} {name}={value!r}>")
    return found


@pytest.mark.slow
@given(source=st.sampled_from(SOURCES), title=TITLES, body=FRAGMENTS)
def test_hostile_html_never_runs_on_the_page_or_in_the_email(
    source: str, title: str, body: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = new_site(Path(folder))
        kept = f"<p>{html.escape(KEPT)}</p>"
        export = hostile_export(source, Path(folder), title, kept + body + kept)
        result = invoke(root, "import", source, str(export))
        assert result.exit_code == 0, result.output + result.stderr
        site = build(root)
        for name, document in built_documents(site).items():
            assert live_markup(document) == [], name
            assert KEPT in document.text_content(), name
        assert KEPT in text_part(site)


@pytest.mark.parametrize("source", SOURCES)
def test_escaped_text_in_an_export_stays_text(tmp_path: Path, source: str) -> None:
    root = new_site(tmp_path)
    body = (
        "<p>Escaped: &lt;script&gt;alert(1)&lt;/script&gt; and "
        '&lt;img src=x onerror="alert(2)"&gt;.</p>'
        '<p><a href="javascript:alert(3)" onclick="alert(4)">a link</a></p>'
        "<form action=/x><input name=q></form><style>p{}</style>"
    )
    export = hostile_export(source, tmp_path, "A plain title", body)
    assert invoke(root, "import", source, str(export)).exit_code == 0
    site = build(root)
    for name, document in built_documents(site).items():
        assert live_markup(document) == [], name
        text = " ".join(document.text_content().split())
        assert 'Escaped: <script>alert(1)</script> and <img src=x onerror="alert(2)">.' in text
    assert "<script>alert(1)</script>" in text_part(site)


# --- zip bombs and hostile names --------------------------------------------------

POSTS_CSV = b"post_id,post_date,is_published,title\n1.a,2026-10-06T08:00:00.000Z,true,A\n"


def deflated(data: bytes) -> bytes:
    """Raw deflate of some bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def plain_member(name: str, data: bytes, mode: int = 0o100644) -> CraftedMember:
    """A member whose headers tell the truth."""
    return CraftedMember(name, len(data), deflated(data), zlib.crc32(data), mode)


def bomb_member(name: str, megabytes: int) -> CraftedMember:
    """A member of zeros that unpacks to `megabytes` MiB, as its headers say."""
    return CraftedMember(name, megabytes * MB, deflated_zeros(megabytes))


# Runs a command and reports the most memory it held. The measured process is started from
# this small launcher, not from pytest: a child keeps the high-water mark of the process it
# was forked from across its exec, and pytest late in a run holds hundreds of MB.
LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def import_measured(root: Path, export: Path, *flags: str) -> tuple[int, str, int]:
    """`publish import substack` in a process of its own: exit code, stderr and the most
    memory it held (kB)."""
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as err:
        report = Path(folder) / "report"
        command = [sys.executable, "-m", "publish", "--root", str(root), "import", "substack"]
        launcher = [sys.executable, "-c", LAUNCHER, str(report)]
        subprocess.run([*launcher, *command, str(export), *flags], stdout=err, stderr=err)
        code, peak_kb = (int(part) for part in report.read_text().split())
        err.seek(0)
        return code, err.read().decode(), peak_kb


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (
            [plain_member("posts.csv", POSTS_CSV), bomb_member("posts/1.a.html", 4000)],
            "posts/1.a.html:1:1: error: unpacks to 4194304000 bytes, more than the limit "
            "of 128MB a member",
        ),
        (
            [plain_member("posts.csv", POSTS_CSV)]
            + [bomb_member(f"posts/{n}.a.html", 120) for n in range(12)],
            f"error: the zip unpacks to {12 * 120 * MB + len(POSTS_CSV)} bytes, more than the "
            "limit of 1024MB "
            "(raise it with --max-unpacked-size",
        ),
        (
            # the headers understate the member: 20 bytes declared, 300 MiB inside
            [CraftedMember("posts.csv", 20, deflated_zeros(300), zlib.crc32(bytes(20)) ^ 1)],
            "posts.csv:1:1: error: this member of the zip cannot be read",
        ),
    ],
    ids=["one-huge-member", "past-the-total", "understated-size"],
)
def test_a_zip_bomb_is_refused_at_once_in_little_memory(
    tmp_path: Path, members: list[CraftedMember], message: str
) -> None:
    root = new_site(tmp_path)
    export = crafted_zip(tmp_path / "bomb.zip", members)
    assert export.stat().st_size < 16 * MB
    before = snapshot(root)
    code, stderr, peak_kb = import_measured(root, export)
    assert code == 1 and message in stderr, stderr
    assert "Traceback" not in stderr
    assert snapshot(root) == before
    assert peak_kb < 200 * 1024


def test_a_member_that_packs_like_a_bomb_is_refused_within_every_size_limit(
    tmp_path: Path,
) -> None:
    """120 MiB of zeros is under the limits a member and in all, but packs a thousand times
    over: refused from the listing, and also while unpacking when the listing understates it."""
    root = new_site(tmp_path)
    before = snapshot(root)
    honest = crafted_zip(
        tmp_path / "honest.zip",
        [plain_member("posts.csv", POSTS_CSV), bomb_member("posts/1.a.html", 120)],
    )
    lying = bomb_member("posts/1.a.html", 120)
    lying = CraftedMember(lying.name, 20, lying.deflated, lying.crc)
    understated = crafted_zip(
        tmp_path / "understated.zip", [plain_member("posts.csv", POSTS_CSV), lying]
    )
    for export in (honest, understated):
        code, stderr, peak_kb = import_measured(root, export)
        assert code == 1 and "Traceback" not in stderr, stderr
        assert "error:" in stderr and snapshot(root) == before
        assert peak_kb < 200 * 1024
    code, stderr, _ = import_measured(root, honest)
    assert "posts/1.a.html:1:1: error: unpacks to more than 100 times its packed size" in stderr
    raised = invoke(
        root, "import", "substack", str(honest), "--max-ratio", "100000", "--max-member-size", "1MB"
    )
    assert "times its packed size" not in raised.stderr
    assert "more than the limit of 1MB a member" in raised.stderr


@pytest.mark.parametrize(
    ("name", "mode", "message"),
    [
        ("../evil.html", 0o100644, "a name in the zip that climbs out with '..'"),
        ("posts/../../evil.html", 0o100644, "a name in the zip that climbs out with '..'"),
        ("/etc/evil.html", 0o100644, "an absolute name in the zip"),
        ("C:\\evil.html", 0o100644, "an absolute name in the zip"),
        ("posts/1.a.html", 0o120777, "a symbolic link in the zip"),
    ],
)
def test_a_zip_with_a_hostile_name_is_refused(
    tmp_path: Path, name: str, mode: int, message: str
) -> None:
    root = new_site(tmp_path)
    members = [plain_member("posts.csv", POSTS_CSV), plain_member(name, b"/etc/passwd", mode)]
    export = crafted_zip(tmp_path / "hostile.zip", members)
    before = snapshot(root)
    result = invoke(root, "import", "substack", str(export))
    assert result.exit_code == 1
    assert f"{export}:{name}:1:1: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr and snapshot(root) == before


def test_the_limits_are_flags(tmp_path: Path) -> None:
    root = new_site(tmp_path)
    export = substack_zip(tmp_path / "export.zip")
    before = snapshot(root)
    few = invoke(root, "import", "substack", str(export), "--max-members", "3")
    assert few.exit_code == 1
    assert "holds 7 members, more than the limit of 3 (raise it with --max-members" in few.stderr
    small = invoke(root, "import", "substack", str(export), "--max-member-size", "1KB")
    assert small.exit_code == 1 and "more than the limit of 1024 bytes a member" in small.stderr
    assert snapshot(root) == before
    raised = invoke(root, "import", "substack", str(export), "--max-unpacked-size", "4GB")
    assert raised.exit_code == 0, raised.stderr

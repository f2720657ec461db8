"""Tests for the web site: every page, valid HTML, links, head tags, safety and atomic builds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.runtime import Macro
from lxml import etree, html

from publish.errors import PublishError
from publish.outputs.templates import joined, template_environment
from publish.outputs.web import Head
from tests.tools import validate_html
from tests.websites import SVG, build_site, essay_file, example_site, fixture_site, snapshot

SUB_PATH_URL = "https://example.org/essays/"
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture site (twelve essays under /essays/), built."""
    root = fixture_site(tmp_path_factory.mktemp("fixture") / "site", url=SUB_PATH_URL)
    build_site(root)
    return root


@pytest.fixture(scope="module")
def example_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example site, built."""
    root = example_site(tmp_path_factory.mktemp("example") / "site")
    build_site(root)
    return root


@pytest.fixture(scope="module")
def xss_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site whose title, tag and glossary term all try to inject a script."""
    root = fixture_site(tmp_path_factory.mktemp("xss") / "site", essays=2)
    (root / "footnotes" / "flow.md").write_text(
        f'---\nterm: "Flow {XSS}"\nsource: "{XSS}"\n---\nA definition.\n', encoding="utf-8"
    )
    (root / "essays" / "03-xss.md").write_text(
        essay_file(
            f"Hello {XSS}",
            "2026-02-03",
            f"Body citing flow[^flow].\n\n{XSS.replace('<', '&lt;')}\n",
            tags=json.dumps([XSS, "safe"]),
            summary=json.dumps(f"Summary {XSS}"),
            subtitle=json.dumps(XSS),
        ),
        encoding="utf-8",
    )
    build_site(root)
    return root


def site_dir(root: Path) -> Path:
    """The built web site of a root."""
    return root / "build" / "site"


def parse(root: Path, relative: str) -> html.HtmlElement:
    """Parse one built page."""
    return html.fromstring((site_dir(root) / relative).read_bytes())


def html_pages(root: Path) -> list[Path]:
    """Every HTML page of a build."""
    return sorted(site_dir(root).rglob("*.html"))


def test_every_page_passes_the_nu_html_checker(
    tmp_path: Path, fixture_root: Path, example_root: Path, xss_root: Path
) -> None:
    checked = tmp_path / "checked"
    for name, root in (("fixture", fixture_root), ("example", example_root), ("xss", xss_root)):
        shutil.copytree(site_dir(root), checked / name)
    assert validate_html(checked) == []


def test_the_site_has_every_page_a_reader_expects(fixture_root: Path) -> None:
    built = snapshot(site_dir(fixture_root))
    expected = [
        "index.html",
        "page/2/index.html",
        "essay-1/index.html",
        "archive/index.html",
        "tags/index.html",
        "tags/reading/index.html",
        "tags/notes/index.html",
        "glossary/index.html",
        "404.html",
        "robots.txt",
        "sitemap.xml",
        "style.css",
        "images/square.svg",
        "feed.xml",
        "atom.xml",
        "feed.json",
    ]
    assert [path for path in expected if path not in built] == []


def test_index_pages_hold_ten_essays_newest_first(fixture_root: Path) -> None:
    first, second = parse(fixture_root, "index.html"), parse(fixture_root, "page/2/index.html")
    first_titles = [a.text for a in first.cssselect(".essay-summary h2 a")]
    second_titles = [a.text for a in second.cssselect(".essay-summary h2 a")]
    assert first_titles == [f"Essay {n}" for n in range(12, 2, -1)]
    assert second_titles == ["Essay 2", "Essay 1"]
    assert first.cssselect('.pagination a[rel="next"]')[0].get("href") == "./page/2/"
    assert second.cssselect('.pagination a[rel="prev"]')[0].get("href") == "../../"
    assert not (site_dir(fixture_root) / "page" / "3").exists()


def test_drafts_and_future_essays_stay_out_unless_asked(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    assert set(build_site(root).published) == {"essay-1", "essay-2"}
    assert not (site_dir(root) / "draft-essay").exists()
    assert not (site_dir(root) / "future-essay").exists()
    assert "draft-essay" in build_site(root, drafts=True).published
    assert "future-essay" in build_site(root, future=True).published
    assert (root / "build" / "preview" / "site" / "future-essay" / "index.html").is_file()
    assert not (site_dir(root) / "future-essay").exists(), "a preview leaves build/site alone"


def test_essay_page_shows_everything_about_the_essay(fixture_root: Path) -> None:
    page = parse(fixture_root, "essay-1/index.html")
    assert page.cssselect("h1")[0].text == "Essay 1"
    assert page.cssselect(".subtitle")[0].text == "Subtitle number 1"
    assert page.cssselect("time")[0].get("datetime").startswith("2025-01-02T09:00:00")
    assert "1 min read" in page.cssselect(".byline")[0].text_content()
    assert [a.get("href") for a in page.cssselect(".tag-list a")] == [
        "../tags/reading/",
        "../tags/notes/",
    ]
    image = page.cssselect(".essay-image img")[0]
    assert (image.get("src"), image.get("alt")) == ("../images/square.svg", "A pale square")
    assert page.cssselect(".essay-image figcaption")[0].text == "Image: Drawn by the tests"
    notes = page.cssselect(".footnotes li.footnote-item")
    assert [n.get("id") for n in notes] == [f"fn-essay-1-{n}" for n in range(1, 5)]
    assert len(notes[0].cssselect("a.footnote-backref")) == 2
    assert notes[1].cssselect(".note-term a")[0].get("href") == "../glossary/#marginalia"
    assert page.cssselect('.essay-nav a[rel="next"]')[0].get("href") == "../essay-2/"
    assert page.cssselect(".subscribe .cadence")[0].text == (
        "New essays arrive on the first Tuesday of each month."
    )


def test_subscribe_form_posts_email_with_a_honeypot_only_when_signup_is_set(
    fixture_root: Path, tmp_path: Path
) -> None:
    form = parse(fixture_root, "essay-2/index.html").cssselect(".subscribe form")[0]
    assert (form.get("method"), form.get("action")) == ("post", "http://127.0.0.1:9/subscribe")
    assert form.cssselect('input[name="email"]')[0].get("type") == "email"
    assert form.cssselect('input[name="website"]')[0].getparent().get("hidden") is not None
    root = fixture_site(tmp_path / "nosignup", essays=1, signup_url="")
    build_site(root)
    page = parse(root, "essay-1/index.html")
    assert page.cssselect(".subscribe form") == []
    assert page.cssselect(".subscribe a[href$='feed.xml']")


def test_head_carries_title_description_canonical_cards_and_json_ld(fixture_root: Path) -> None:
    page = parse(fixture_root, "essay-1/index.html")
    head = page.find("head")
    assert page.get("lang") == "en-GB"
    assert head.findtext("title") == "Essay 1 · Fixture Letters"
    assert (
        head.cssselect('meta[name="description"]')[0]
        .get("content")
        .startswith("The opening paragraph")
    )
    canonical = "https://example.org/essays/essay-1/"
    assert head.cssselect('link[rel="canonical"]')[0].get("href") == canonical
    assert head.cssselect('meta[property="og:url"]')[0].get("content") == canonical
    assert head.cssselect('meta[property="og:type"]')[0].get("content") == "article"
    assert head.cssselect('meta[property="og:image"]')[0].get("content") == (
        "https://example.org/essays/images/square.svg"
    )
    assert head.cssselect('meta[name="twitter:card"]')[0].get("content") == "summary_large_image"
    feeds = {link.get("type"): link.get("href") for link in head.cssselect('link[rel="alternate"]')}
    assert feeds == {
        "application/rss+xml": "https://example.org/essays/feed.xml",
        "application/atom+xml": "https://example.org/essays/atom.xml",
        "application/feed+json": "https://example.org/essays/feed.json",
    }
    data = json.loads(head.cssselect('script[type="application/ld+json"]')[0].text)
    assert (data["@type"], data["headline"], data["url"]) == ("BlogPosting", "Essay 1", canonical)
    assert data["author"]["name"] == "Fay Fixture"


def test_every_page_has_a_head_with_an_absolute_canonical_under_the_sub_path(
    fixture_root: Path,
) -> None:
    for path in html_pages(fixture_root):
        head = html.fromstring(path.read_bytes()).find("head")
        assert head.findtext("title"), path
        canonical = head.cssselect('link[rel="canonical"]')
        if path.name == "404.html":
            assert canonical == []
            continue
        relative = path.relative_to(site_dir(fixture_root)).as_posix()
        assert canonical[0].get("href") == SUB_PATH_URL + relative.removesuffix("index.html")


def test_every_relative_link_and_asset_resolves_to_a_built_file(fixture_root: Path) -> None:
    built = site_dir(fixture_root)
    base_path = urlsplit(SUB_PATH_URL).path
    broken = []
    for path in html_pages(fixture_root):
        relative = path.relative_to(built).as_posix()
        page_url = "https://example.org" + base_path + relative
        for element, _attribute, link, _pos in html.fromstring(path.read_bytes()).iterlinks():
            if element.tag == "form":
                continue
            target = urlsplit(urljoin(page_url, link))
            if target.netloc != "example.org":
                continue
            assert target.path.startswith(base_path), (relative, link)
            local = target.path[len(base_path) :]
            file = (
                built / local / "index.html"
                if local.endswith("/") or not local
                else (built / local)
            )
            if not file.is_file():
                broken.append((relative, link))
            elif target.fragment and file.suffix == ".html":
                ids = html.fromstring(file.read_bytes()).xpath("//@id")
                if target.fragment not in ids:
                    broken.append((relative, link))
    assert broken == []


def test_404_page_links_by_absolute_path_under_the_site(fixture_root: Path) -> None:
    page = parse(fixture_root, "404.html")
    hrefs = [a.get("href") for a in page.cssselect("main a")]
    assert "/essays/" in hrefs and "/essays/archive/" in hrefs
    assert page.cssselect('link[rel="stylesheet"]')[0].get("href") == "/essays/style.css"


def test_archive_groups_essays_by_year(fixture_root: Path) -> None:
    page = parse(fixture_root, "archive/index.html")
    years = {
        section.findtext("h2"): len(section.cssselect("li"))
        for section in page.cssselect(".archive-year")
    }
    assert years == {"2026": 6, "2025": 6}
    assert [s.findtext("h2") for s in page.cssselect(".archive-year")] == ["2026", "2025"]


def test_tag_pages_list_their_essays(fixture_root: Path) -> None:
    tags = parse(fixture_root, "tags/index.html")
    assert [a.text for a in tags.cssselect(".tag-cloud a")] == ["notes", "reading"]
    notes = parse(fixture_root, "tags/notes/index.html")
    titles = [a.text for a in notes.cssselect(".essay-summary h2 a")]
    assert titles == [f"Essay {n}" for n in (11, 9, 7, 5, 3, 1)]


def test_two_tags_with_one_slug_are_refused(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=1)
    (root / "essays" / "05-clash.md").write_text(
        essay_file("Clash", "2025-06-03", tags='["Read-ing", "read ing"]'), encoding="utf-8"
    )
    with pytest.raises(PublishError) as caught:
        build_site(root)
    assert "tags/read-ing/" in str(caught.value)


def test_glossary_lists_terms_alphabetically_with_sources_and_citations(fixture_root: Path) -> None:
    page = parse(fixture_root, "glossary/index.html")
    entries = page.cssselect(".glossary-entry")
    assert [e.get("id") for e in entries] == ["flow", "marginalia", "zettelkasten"]
    flow = entries[0]
    assert flow.cssselect(".term")[0].text == "Flow"
    assert "Mihaly Csikszentmihalyi" in flow.cssselect(".source")[0].text
    assert "flow-state" in flow.cssselect(".aliases")[0].text_content()
    assert [a.get("href") for a in flow.cssselect(".cited-in-list a")] == [
        "../essay-1/#fnref-essay-1-1",
        "../essay-1/#fnref-essay-1-1",
        "../essay-1/#fnref-essay-1-1-2",
    ]
    assert flow.cssselect(".definition a")[0].get("href") == "../glossary/"
    assert [a.text for a in page.cssselect(".alphabet a")] == ["F", "M", "Z"]


def test_sitemap_lists_every_page_with_lastmod_and_robots_points_at_it(fixture_root: Path) -> None:
    tree = etree.fromstring((site_dir(fixture_root) / "sitemap.xml").read_bytes())
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = {
        u.findtext("s:loc", namespaces=ns): u.findtext("s:lastmod", namespaces=ns)
        for u in tree.findall("s:url", ns)
    }
    pages = [p for p in html_pages(fixture_root) if p.name != "404.html"]
    assert len(urls) == len(pages)
    assert urls[SUB_PATH_URL + "essay-1/"] == "2025-01-02"
    assert all(lastmod for lastmod in urls.values())
    robots = (site_dir(fixture_root) / "robots.txt").read_text()
    assert f"Sitemap: {SUB_PATH_URL}sitemap.xml" in robots


def test_the_example_sites_footer_override_is_used(example_root: Path) -> None:
    footer = parse(example_root, "index.html").cssselect(".site-footer")[0].text_content()
    assert "written by Ada Marsh" in footer


def test_script_in_title_tag_and_term_is_escaped_on_every_page(xss_root: Path) -> None:
    pages = html_pages(xss_root)
    seen_text = 0
    for path in pages:
        page = html.fromstring(path.read_bytes())
        for script in page.iter("script"):
            assert script.get("type") == "application/ld+json", path
            assert "<" not in (script.text or ""), path
            json.loads(script.text)
        if XSS in page.text_content():
            seen_text += 1
    assert seen_text >= 5  # the essay, index, archive, tag pages and the glossary show it
    assert (site_dir(xss_root) / "tags" / "script-alert-1-script" / "index.html").is_file()


HTML_FIELDS = {
    "description",
    "{http://purl.org/rss/1.0/modules/content/}encoded",
    "{http://www.w3.org/2005/Atom}content",
    "{http://www.w3.org/2005/Atom}summary",
}
TEXT_FIELDS = {"title", "category", "{http://www.w3.org/2005/Atom}title"}


def test_script_in_title_tag_and_term_is_escaped_in_the_feeds(xss_root: Path) -> None:
    for name in ("feed.xml", "atom.xml"):
        tree = etree.fromstring((site_dir(xss_root) / name).read_bytes())
        titles = [e.text for e in tree.iter() if e.tag in TEXT_FIELDS]
        assert f"Hello {XSS}" in titles, name
        categories = [e.text or e.get("term") for e in tree.iter() if e.tag.endswith("category")]
        assert XSS in categories, name
        html_fields = [e.text for e in tree.iter() if e.tag in HTML_FIELDS and e.text]
        assert any("alert(1)" in text for text in html_fields), name
        for text in html_fields:
            fragment = html.fragment_fromstring(text, create_parent="div")
            assert fragment.findall(".//script") == [], name
    feed = json.loads((site_dir(xss_root) / "feed.json").read_text())
    item = next(i for i in feed["items"] if i["id"].endswith("/hello-script-alert-1-script/"))
    assert item["title"] == f"Hello {XSS}"
    assert (
        html.fragment_fromstring(item["content_html"], create_parent="div").findall(".//script")
        == []
    )


def test_two_builds_with_the_same_today_are_byte_identical(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site")
    build_site(root)
    first = snapshot(site_dir(root))
    build_site(root)
    assert snapshot(site_dir(root)) == first


def test_a_template_error_leaves_the_previous_site_untouched(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    build_site(root)
    before = snapshot(site_dir(root))
    (root / "templates").mkdir()
    (root / "templates" / "tags.html").write_text(
        '{% extends "base.html" %}\n{% block main %}\n{{ missing.value }}\n{% endblock %}\n',
        encoding="utf-8",
    )
    (root / "essays" / "02-essay.md").write_text(essay_file("Changed", "2025-03-03"))
    with pytest.raises(PublishError) as caught:
        build_site(root)
    assert caught.value.problems[0].path == "templates/tags.html"
    assert caught.value.problems[0].line == 3
    assert snapshot(site_dir(root)) == before


def test_bad_input_leaves_the_previous_site_untouched(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    build_site(root)
    before = snapshot(site_dir(root))
    (root / "essays" / "02-essay.md").write_text(
        essay_file("Broken", "2025-03-03", "Cites an unknown note[^nosuch].\n")
    )
    with pytest.raises(PublishError):
        build_site(root)
    assert snapshot(site_dir(root)) == before
    assert not list((root / "build").glob(".site-*"))


# --- What is published from essays/, and which addresses an essay may take ------------


def test_hidden_and_editor_files_are_never_published(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    folder = root / "essays"
    private = {
        "images/.env": "SECRET=1",
        "images/.hidden/pic.svg": SVG,
        ".git/config": "[core]",
        "#02-essay.md#": "an Emacs autosave",
        "02-essay.md~": "an editor backup",
        "images/square.svg~": "a backup of an image",
        ".02-essay.md.swp": "a Vim swap file",
        "02-essay.md.swp": "a Vim swap file kept beside the file",
    }
    for relative, text in private.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")
    (folder / ".#02-essay.md").symlink_to("writer@host.4242:1700000000")  # an Emacs lock
    report = build_site(root)
    built = snapshot(site_dir(root))
    assert "images/square.svg" in built, "ordinary files beside the essays are published"
    leaked = [
        path
        for path in built
        if any(
            part.startswith((".", "#")) or part.endswith(("~", ".swp")) for part in path.split("/")
        )
    ]
    assert leaked == []
    assert sorted(report.published) == ["essay-1", "essay-2"], "no editor file read as an essay"


def test_links_out_of_essays_are_refused_naming_the_link(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the web", encoding="utf-8")
    (outside / "essay.md").write_text(essay_file("Smuggled", "2025-05-05"), encoding="utf-8")
    folder = root / "essays"
    (folder / "leak.txt").symlink_to(outside / "secret.txt")
    (folder / "images" / "more").symlink_to(outside)
    (folder / "03-smuggled.md").symlink_to(outside / "essay.md")
    (folder / "config.toml").symlink_to(root / "publish.toml")  # in the site, not in essays/
    with pytest.raises(PublishError) as caught:
        build_site(root)
    named = {problem.path for problem in caught.value.problems}
    assert named == {
        "essays/leak.txt",
        "essays/images/more",
        "essays/03-smuggled.md",
        "essays/config.toml",
    }
    assert all("outside essays/" in p.message for p in caught.value.problems)
    assert not (root / "build" / "site").exists()


def test_links_inside_essays_are_followed(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    (root / "essays" / "square-again.svg").symlink_to("images/square.svg")
    (root / "essays" / "pictures").symlink_to("images", target_is_directory=True)
    build_site(root)
    built = snapshot(site_dir(root))
    assert built["square-again.svg"] == built["pictures/square.svg"] == SVG.encode()


def test_a_folder_named_like_an_essay_is_a_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from publish.cli.main import cli

    root = fixture_site(tmp_path / "site", essays=2)
    (root / "essays" / "notes.md").mkdir()
    (root / "essays" / "notes.md" / "figure.svg").write_text(SVG, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--root", str(root), "build", "--today", "2026-11-23"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert (site_dir(root) / "notes.md" / "figure.svg").read_text(encoding="utf-8") == SVG
    result = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", "2026-11-23"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "slug",
    [
        "archive",
        "tags",
        "glossary",
        "page",
        "index",
        "404",
        "feed",
        "atom",
        "sitemap",
        "robots",
        "style",
    ],
)
def test_an_essay_slug_taking_a_built_in_address_is_refused(tmp_path: Path, slug: str) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    (root / "essays" / "05-clash.md").write_text(
        essay_file("Clashing", "2025-06-06", subtitle='"x"', slug=json.dumps(slug)),
        encoding="utf-8",
    )
    with pytest.raises(PublishError) as caught:
        build_site(root)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("essays/05-clash.md", 5)  # the slug: line
    assert f"slug '{slug}'" in problem.message and "built-in" in problem.message


def test_a_title_making_a_built_in_slug_is_refused_at_its_title_line(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    (root / "essays" / "05-archive.md").write_text(
        essay_file("Archive", "2025-06-06"), encoding="utf-8"
    )
    with pytest.raises(PublishError) as caught:
        build_site(root)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("essays/05-archive.md", 2)


def test_an_essay_slug_naming_a_folder_of_files_is_refused(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    (root / "essays" / "05-images.md").write_text(
        essay_file("Pictures", "2025-06-06", slug="images"), encoding="utf-8"
    )
    with pytest.raises(PublishError) as caught:
        build_site(root)
    [problem] = caught.value.problems
    assert problem.path == "essays/05-images.md" and "essays/images/" in problem.message


def test_each_output_row_declares_every_address_it_writes(fixture_root: Path) -> None:
    from publish.outputs.templates import template_environment
    from publish.pipeline.formats import FORMATS, ROUTES
    from publish.pipeline.load import load

    site = load(fixture_root).site
    templates = template_environment(site.templates_dir)
    slugs = {essay.slug for essay in site.essays}
    assets = {path.parent.name for path in (fixture_root / "essays").glob("*/*")}
    for row in FORMATS:
        if row.folder != "site":
            continue
        written = {path.split("/")[0].split(".")[0] for path in row.render(site, templates)}
        undeclared = written - slugs - set(row.routes) - (assets if not row.routes else set())
        assert undeclared == set(), row.name
    assert {"index", "feed", "tags", "sitemap"} <= ROUTES


def test_a_path_written_twice_inside_the_web_output_names_both_writers(tmp_path: Path) -> None:
    import msgspec

    from publish.content.site import load_site
    from publish.outputs import web
    from publish.outputs.templates import template_environment

    root = fixture_site(tmp_path / "site", essays=2)
    site, _ = load_site(root)
    clash = msgspec.structs.replace(site.essays[0], slug="archive")  # past the loader's check
    site = msgspec.structs.replace(site, essays=(clash, *site.essays[1:]))
    with pytest.raises(PublishError) as caught:
        web.render_site(site, template_environment(site.templates_dir))
    [problem] = caught.value.problems
    assert problem.path == "archive/index.html"
    assert clash.path in problem.message and "the archive page" in problem.message


def test_a_file_beside_the_essays_clashing_with_a_page_names_both(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    (root / "essays" / "robots.txt").write_text("User-agent: *\n", encoding="utf-8")
    with pytest.raises(PublishError) as caught:
        build_site(root)
    [problem] = caught.value.problems
    assert problem.path == "robots.txt"
    assert "essays/robots.txt" in problem.message and "robots.txt" in problem.message


def test_two_emails_at_one_path_name_both_essays(tmp_path: Path) -> None:
    import msgspec

    from publish.content.site import load_site
    from publish.mail.mime import preview_message
    from publish.outputs import mail
    from publish.outputs.templates import template_environment

    root = fixture_site(tmp_path / "site", essays=2)
    site, _ = load_site(root)
    first, second = site.essays[:2]
    site = msgspec.structs.replace(
        site, essays=(first, msgspec.structs.replace(second, slug=first.slug))
    )
    with pytest.raises(PublishError) as caught:
        mail.render_emails(site, template_environment(site.templates_dir), preview_message)
    [problem] = caught.value.problems
    assert problem.path == f"{first.slug}.html"
    assert first.path in problem.message and second.path in problem.message


# --- The head's optional elements ------------------------------------------------------

HEAD_VALUE = st.text(alphabet="ab \"'<&é", max_size=5)


def render_base(head: Head, creator: str = "", handle: str = "") -> str:
    """`base.html` alone (no block filled), for a page with `head`, the site's creator
    `creator` and the fediverse account's `handle`."""
    templates = template_environment(Path("/nonexistent/templates"), auto_reload=False)
    site = SimpleNamespace(
        title="The Site",
        profiles=[],
        fediverse_creator=creator,
        search=False,
        url="https://example.org/",
        author="A. Writer",
        description="",
    )
    fediverse = SimpleNamespace(me=[], creator=handle) if handle else None
    return joined(
        templates.get_template("base.html").generate(
            site=site,
            head=head,
            root="../",
            feeds={"rss": "r", "atom": "a", "json": "j"},
            cadence="",
            subscribe_box=False,
            fediverse=fediverse,
        )
    )


@given(
    description=HEAD_VALUE,
    canonical=HEAD_VALUE,
    image=HEAD_VALUE,
    image_alt=HEAD_VALUE,
    creator=HEAD_VALUE,
    handle=HEAD_VALUE,
)
def test_the_head_has_each_optional_element_exactly_when_its_value_is_not_empty(
    description: str, canonical: str, image: str, image_alt: str, creator: str, handle: str
) -> None:
    head = Head("Title", description, canonical, image=image, image_alt=image_alt)
    page = html.fromstring(render_base(head, creator, handle).encode())
    expected = {
        ("name", "description"): description,
        ("property", "og:url"): canonical,
        ("property", "og:description"): description,
        ("property", "og:image:alt"): image_alt if image else "",
        ("name", "twitter:description"): description,
        ("name", "fediverse:creator"): creator or handle,
    }
    for (attribute, name), value in expected.items():
        found = [m.get("content") for m in page.head.findall("meta") if m.get(attribute) == name]
        assert found == ([value] if value else []), name


def test_the_head_of_a_page_calls_no_macro(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each optional element of the head is written out in `base.html`: no macro call each
    (a call, its context and its buffer cost more than the element, on every page)."""
    calls: list[str] = []
    real_invoke = Macro._invoke

    def invoke(self: Macro, arguments: list[object], autoescape: bool) -> str:
        calls.append(self.name)
        return real_invoke(self, arguments, autoescape)

    monkeypatch.setattr(Macro, "_invoke", invoke)
    head = Head("Title", "About it", "https://example.org/x/", image="i.png", image_alt="An i")
    text = render_base(head, "@writer@example.org")
    assert '<meta property="og:image:alt" content="An i">' in text
    assert calls == []

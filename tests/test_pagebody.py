"""Tests for an essay page written around its body's kept bytes (publish.outputs.pagebody):
byte for byte the page rendered as text, whatever the essay; a site's own templates keep the
text path."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from publish.model import KeptRenderings, Site
from publish.outputs.files import made
from publish.outputs.pagebody import BODY_MARK, templates_packaged
from publish.outputs.templates import template_environment
from publish.outputs.urls import essay_page_path
from publish.outputs.web import PageRenderer
from publish.pipeline.load import load
from tests.websites import build_site, essay_file, fixture_site

URL = "https://example.org/essays/"

# Text HTML escapes, letters beyond Latin-1 and beyond the BMP, a note (its back-link is a
# `↩︎`), emphasis, and the mark's own words.
TEXT = st.lists(
    st.sampled_from(list("ab <>&é·…Ж中😀*\n") + ["[^1]", "publish-body-", BODY_MARK[:20]]),
    min_size=1,
    max_size=30,
).map("".join)


def _warm_site(folder: Path, body: str, title: str, templates: dict[str, str]) -> Site:
    """A site of one essay, built once (its bodies kept), then loaded from the build cache."""
    root = fixture_site(folder / "site", url=URL, essays=0)
    text = essay_file(title, "2025-01-01", f"{body}\n\n[^1]: A note.\n", slug="essay-1")
    (root / "essays" / "01.md").write_bytes(text.encode("utf-8"))
    for name, template in templates.items():
        (root / "templates").mkdir(exist_ok=True)
        (root / "templates" / name).write_text(template, encoding="utf-8")
    build_site(root)
    return load(root).site


def _pages(site: Site) -> tuple[str | bytes, str | bytes]:
    """The essay's page as the build makes it, and as rendered with its body as text."""
    templates = template_environment(site.templates_dir)
    essay = site.essays[0]
    assert isinstance(essay.tokens, KeptRenderings), "the body as the build cache keeps it"
    path = essay_page_path(essay)
    made_page = made(PageRenderer(site, templates).essay_pages()[path])
    as_text = PageRenderer(site, templates)
    as_text.packaged = False  # the text path: the body rendered (read) as text
    return made_page, made(as_text.essay_pages()[path])


@given(body=TEXT, title=TEXT.filter(str.strip))
@example(body="A note[^1] ↩ and *more* < & >.", title="Ж · “Quotes” 😀")
def test_an_essay_page_written_around_its_kept_body_is_the_page_as_text(
    body: str, title: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        site = _warm_site(Path(folder), body, json.dumps(title)[1:-1], {})
        written, as_text = _pages(site)
    assert isinstance(written, bytes), "written around the body's kept bytes"
    assert isinstance(as_text, str)
    assert written == as_text.encode("utf-8")
    assert BODY_MARK.encode() not in written


def test_a_sites_own_essay_template_gets_its_body_as_text(tmp_path: Path) -> None:
    """A site's own templates may show the body more than once, or not as it is: the page is
    rendered with the body as text."""
    own = {"essay.html": "{{ body | length }}|{{ body | striptags | truncate(9) }}|{{ body }}"}
    site = _warm_site(tmp_path, "Some words[^1] here.", "A title", own)
    written, as_text = _pages(site)
    assert written == as_text
    length, _, shown = str(written).split("|", 2)
    assert int(length) == len(shown) and "A note." in shown


def test_a_template_of_its_own_in_any_folder_of_the_site_keeps_the_text_path(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "templates"
    assert templates_packaged(folder), "no folder: the packaged templates"
    (folder / "partials").mkdir(parents=True)
    (folder / "partials" / "notes.txt").write_text("not a template of a page")
    assert templates_packaged(folder)
    (folder / "partials" / "body.html").write_text("{{ body | replace('a', 'b') }}")
    assert not templates_packaged(folder), "a partial the site's templates may include"

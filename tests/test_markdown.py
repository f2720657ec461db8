"""Tests for the one parser and the web renderer: CommonMark, extensions, notes, safety."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it.utils import read_fixture_file

from publish.content.glossary import load_glossary
from publish.content.markdown import build_parser, count_words, inline_text, word_count
from publish.content.site import load_site
from publish.model import Glossary
from publish.outputs.renderers import RenderContext, render_web
from tests.sitebuilder import DEFAULT_FOOTNOTES, essay_text, make_site

FIXTURES = Path(__file__).parent / "fixtures"
PLAIN_ENTRY = "---\nterm: Plain term\n---\nA term with *no* source.\n"


@pytest.fixture(scope="module")
def glossary(tmp_path_factory: pytest.TempPathFactory) -> Glossary:
    """The sitebuilder's default glossary plus an entry without a source."""
    root = make_site(
        tmp_path_factory.mktemp("glossary"), footnotes={**DEFAULT_FOOTNOTES, "plain": PLAIN_ENTRY}
    )
    loaded, problems = load_glossary(root, build_parser())
    assert problems == []
    return loaded


def render(source: str, glossary: Glossary, slug: str = "s") -> str:
    """Parse once and render for a web page, as an essay with this slug."""
    tokens = build_parser().parse(source, {"publish": {"glossary": glossary}})
    return render_web(tokens, RenderContext(slug=slug, base="../", glossary_url="../glossary/"))


@pytest.mark.parametrize(
    ("line", "title", "source", "expected"),
    read_fixture_file(FIXTURES / "footnotes.md"),
    ids=[f"line {case[0]}" for case in read_fixture_file(FIXTURES / "footnotes.md")],
)
def test_footnote_fixture(
    line: int, title: str, source: str, expected: str, glossary: Glossary
) -> None:
    assert render(source, glossary) == expected, f"{title} (footnotes.md:{line})"


def test_commonmark_tables_and_strikethrough(glossary: Glossary) -> None:
    html = render(
        "*em* **strong** `code`\n\n> quoted\n\n- one\n- two\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n",
        glossary,
    )
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    assert root.xpath("string(//em)") == "em" and root.xpath("string(//strong)") == "strong"
    assert root.xpath("string(//blockquote/p)") == "quoted"
    assert root.xpath("//ul/li/text()") == ["one", "two"]
    assert root.xpath("//table/thead/tr/th/text()") == ["a", "b"]
    assert root.xpath("//table/tbody/tr/td/text()") == ["1", "2"]
    assert root.xpath("string(//s)") == "gone"


def test_headings_get_ids(glossary: Glossary) -> None:
    html = render(
        "# Title\n\n## What it costs\n\n### A detail, briefly\n\n## What it costs\n", glossary
    )
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    ids = [h.get("id") for h in root.xpath("//h2 | //h3")]
    assert ids[:2] == ["what-it-costs", "a-detail-briefly"]
    assert len(set(ids)) == 3, "a repeated heading still gets its own id"


def test_glossary_note_shape(glossary: Glossary) -> None:
    root = lxml.html.fragment_fromstring(render("X[^bad-object].\n", glossary), create_parent="div")
    [note] = root.xpath("//li[@id='fn-s-1']")
    assert note.xpath("string(.//strong)") == "Bad object"
    assert " (Melanie Klein): A figure the infant splits off and fears." in note.text_content()


def test_notes_are_numbered_by_first_reference(glossary: Glossary) -> None:
    source = (
        "Late[^mine] then[^flow] and[^bad-object] and again[^mine] and[^flow].\n\n"
        "[^bad-object]: Defined first, cited third.\n\n[^mine]: Mine.\n"
    )
    root = lxml.html.fragment_fromstring(render(source, glossary), create_parent="div")
    assert root.xpath("//sup[@class='footnote-ref']/a/text()") == ["1", "2", "3", "1", "2"]
    assert [b.get("popovertarget") for b in root.xpath("//sup/button")] == ["pop-s-2"] * 2
    notes = root.xpath("//li[@class='footnote-item']")
    assert [n.get("id") for n in notes] == ["fn-s-1", "fn-s-2", "fn-s-3"]
    assert notes[0].text_content().startswith("Mine.")
    assert notes[2].text_content().startswith("Defined first")
    backrefs = [a.get("href") for a in notes[0].xpath(".//a[@class='footnote-backref']")]
    ref_ids = [sup.get("id") for sup in root.xpath("//sup[@class='footnote-ref']")]
    assert backrefs == ["#fnref-s-1", "#fnref-s-1-2"]
    assert set(b.lstrip("#") for b in backrefs) <= set(ref_ids)


def test_two_essays_on_one_page_have_unique_ids(glossary: Glossary) -> None:
    first = "## One\n\nA[^flow] b[^mine] a[^flow].\n\n[^mine]: Mine.\n"
    second = "## Two\n\nA[^flow] b[^mine] c[^plain].\n\n[^mine]: Also mine.\n"
    page = f"<div>{render(first, glossary, 'first')}{render(second, glossary, 'second')}</div>"
    root = lxml.html.fragment_fromstring(page)
    ids = Counter(root.xpath("//@id"))
    assert ids and max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    for href in root.xpath("//a[starts-with(@href, '#')]/@href"):
        assert href[1:] in ids, f"{href} points nowhere"


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "JavaScript:alert(1)", "vbscript:msgbox", "data:text/html;base64,PGI+"],
)
def test_unsafe_links_are_refused(glossary: Glossary, link: str) -> None:
    root = lxml.html.fragment_fromstring(
        render(f"[click]({link})\n", glossary), create_parent="div"
    )
    assert root.xpath("//a") == []
    assert "[click]" in root.text_content()


def test_unsafe_link_is_a_warning_with_its_place(tmp_path: Path) -> None:
    body = (
        "Fine, and a [pixel](data:image/png;base64,AAAA) is fine too.\n\n"
        "See [this](javascript:alert(1)) now.\n"
    )
    site, warnings = load_site(make_site(tmp_path, essays={"x": essay_text(body=body)}))
    assert len(site.essays) == 1
    assert [w.format() for w in warnings] == [
        "essays/x.md:6:12: warning: unsafe link scheme 'javascript:' refused; "
        "the link is shown as text"
    ]


def test_safe_links_and_raw_html_are_kept(glossary: Glossary) -> None:
    html = render(
        "[web](https://example.org/) [mail](mailto:a@example.org) "
        "[img](data:image/png;base64,AAAA)\n\n<figure><em>raw</em></figure>\n",
        glossary,
    )
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    assert root.xpath("//a/@href") == [
        "https://example.org/",
        "mailto:a@example.org",
        "data:image/png;base64,AAAA",
    ]
    assert root.xpath("string(//figure/em)") == "raw"


WORDY = st.text(
    alphabet=st.sampled_from(list("ab \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003é字*")),
    max_size=60,
)


@given(text=WORDY)
def test_words_are_counted_as_split_finds_them(text: str) -> None:
    """`count_words` gives `len(text.split())` (the ASCII path by byte marks), every space
    Python's `split` knows counted as one."""
    assert count_words(text) == len(text.split())
    assert count_words(text.encode("ascii", "ignore").decode()) == len(
        text.encode("ascii", "ignore").decode().split()
    )


@given(
    source=st.lists(
        st.sampled_from(
            [
                "word *em* `co de`",
                "a  \nb",
                "![alt text](x.png)",
                "- one\n- two",
                "> quote[^flow]",
                "## Head",
            ]
        ),
        max_size=6,
    )
)
def test_the_word_count_is_the_words_of_each_blocks_text(source: list[str]) -> None:
    """A body's word count is the sum of its blocks' words, each block's text split."""
    tokens = build_parser().parse("\n\n".join(source), {})
    blocks = [inline_text(t.children or []) for t in tokens if t.type == "inline"]
    assert word_count(tokens) == sum(len(text.split()) for text in blocks)

"""The glossary in place and at /glossary/: each citation linked where it stands, counted,
every term a `<dfn>` with DefinedTermSet JSON-LD; and `check` keeping the glossary tidy."""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import lxml.html
import msgspec
import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from publish.model import Essay, Note
from publish.outputs import glossarypage
from publish.outputs.glossarypage import citers_key
from tests.sitebuilder import DEFAULT_FOOTNOTES, essay_text, make_site
from tests.test_linkcheck import LinkServer, link_server  # noqa: F401 (a fixture)

TODAY = "2026-12-01"
UNCITED = "---\nterm: Zeal\n---\nEagerness, never cited.\n"


def cite_site(tmp_path: Path, footnotes: dict[str, str] | None = None) -> Path:
    """Three essays: flow cited three times in one, once in another (by alias), none in one."""
    essays = {
        "01-a": essay_text(
            "Essay A",
            "Flow[^flow] once, flow[^flow] twice.\n\nAnd flow[^flow] thrice, bad[^bad-object].\n",
            date="2026-01-06",
            slug="essay-a",
        ),
        "02-b": essay_text(
            "Essay B", "An alias[^optimal-experience].\n", date="2026-02-03", slug="essay-b"
        ),
        "03-c": essay_text("Essay C", "No notes at all.\n", date="2026-03-03", slug="essay-c"),
    }
    return make_site(
        tmp_path / "site", essays=essays, footnotes={**DEFAULT_FOOTNOTES, **(footnotes or {})}
    )


def build(root: Path) -> lxml.html.HtmlElement:
    """Build the site; the glossary page, parsed."""
    result = CliRunner().invoke(cli, ["--root", str(root), "build", "--today", TODAY])
    assert result.exit_code == 0, result.output
    return lxml.html.parse(str(root / "build/site/glossary/index.html")).getroot()


def check(root: Path, *more: str) -> str:
    """`publish check`'s output (it must pass)."""
    result = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", TODAY, *more])
    assert result.exit_code == 0, result.output
    return result.output


def test_each_citation_is_linked_where_it_stands_and_counted(tmp_path: Path) -> None:
    root = cite_site(tmp_path)
    page = build(root)
    [flow] = page.cssselect("#flow")
    assert " ".join(flow.cssselect(".cited-in")[0].text_content().split()) == (
        "Cited 4 times in 2 essays:"
    )
    hrefs = [a.get("href") for a in flow.cssselect(".cited-in-list a")]
    assert hrefs == [
        "../essay-b/#fnref-essay-b-1",
        "../essay-a/#fnref-essay-a-1",
        "../essay-a/#fnref-essay-a-1",
        "../essay-a/#fnref-essay-a-1-2",
        "../essay-a/#fnref-essay-a-1-3",
    ]
    for href in hrefs:  # every anchor stands in the essay page, at a citation of the term
        slug, anchor = href.removeprefix("../").split("/#")
        essay = lxml.html.parse(str(root / "build/site" / slug / "index.html")).getroot()
        cited = essay.get_element_by_id(anchor)
        note = essay.get_element_by_id(cited.cssselect("a.note-link")[0].get("href")[1:])
        assert note.cssselect(".note-term a")[0].get("href") == "../glossary/#flow"
    [bad] = page.cssselect("#bad-object")
    assert " ".join(bad.cssselect(".cited-in")[0].text_content().split()) == (
        "Cited 1 time in 1 essay:"
    )


@pytest.mark.parametrize(
    ("language", "four_in_two", "one_in_one", "each", "citation", "back_b"),
    [
        (
            "de",
            "4 Mal zitiert in 2 Essays:",
            "1 Mal zitiert in 1 Essay:",
            "jeder Verweis:",
            "Verweis 2 in Essay A",
            "Zurück zu Verweis b von Anmerkung 1",
        ),
        (
            "pl",
            "Cytowane 4 razy w 2 esejach:",
            "Cytowane 1 raz w 1 eseju:",
            "każde odwołanie:",
            "odwołanie 2 w: Essay A",
            "Wróć do odwołania b przypisu 1",
        ),
    ],
)
def test_the_counts_and_labels_of_citations_speak_the_site_language(
    tmp_path: Path,
    language: str,
    four_in_two: str,
    one_in_one: str,
    each: str,
    citation: str,
    back_b: str,
) -> None:
    root = cite_site(tmp_path)
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('language = "en"', f'language = "{language}"'))
    page = build(root)
    [flow] = page.cssselect("#flow")
    assert " ".join(flow.cssselect(".cited-in")[0].text_content().split()) == four_in_two
    [bad] = page.cssselect("#bad-object")
    assert " ".join(bad.cssselect(".cited-in")[0].text_content().split()) == one_in_one
    [citations] = flow.cssselect(".citations")
    assert citations.text.strip() == each
    assert citations.cssselect("a.citation")[1].get("aria-label") == citation
    [script] = page.cssselect('script[type="application/ld+json"]')
    assert json.loads(script.text)["name"] == page.findtext(".//title")
    essay = lxml.html.parse(str(root / "build/site/essay-a/index.html")).getroot()
    labels = [a.get("aria-label") for a in essay.cssselect("#fn-essay-a-1 .footnote-backref")]
    assert labels[1] == back_b


def test_every_term_is_a_dfn_and_the_page_carries_defined_term_json_ld(tmp_path: Path) -> None:
    page = build(cite_site(tmp_path))
    assert [d.text_content() for d in page.cssselect("dl.glossary dt dfn")] == [
        "Bad object",
        "Flow",
    ]
    [script] = page.cssselect('script[type="application/ld+json"]')
    data = json.loads(script.text)
    assert data["@type"] == "DefinedTermSet"
    assert data["url"] == "https://example.org/letters/glossary/"
    terms = {t["name"]: t for t in data["hasDefinedTerm"]}
    assert terms["Flow"]["@type"] == "DefinedTerm"
    assert terms["Flow"]["url"] == "https://example.org/letters/glossary/#flow"
    assert terms["Flow"]["description"].startswith("The state of complete absorption")
    assert terms["Flow"]["inDefinedTermSet"] == data["url"]


def test_check_hints_at_a_term_never_cited(tmp_path: Path) -> None:
    output = check(cite_site(tmp_path, {"zeal": UNCITED}))
    assert "footnotes/zeal.md:1:1: hint: glossary term 'Zeal' is never cited" in output
    assert "flow.md:1:1: hint" not in output and "bad-object.md:1:1: hint" not in output


def test_check_warns_where_an_essay_note_shadows_a_glossary_term(tmp_path: Path) -> None:
    root = cite_site(tmp_path)
    (root / "essays" / "04-d.md").write_text(
        essay_text(
            "Essay D",
            "My own flow[^flow].\n\nMore text.\n\n[^flow]: My private meaning.\n",
            date="2026-04-07",
        ),
        encoding="utf-8",
    )
    output = check(root)
    assert "essays/04-d.md:9:1: warning: the essay's own note '[^flow]:' hides the " in output
    result = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", TODAY, "--strict"])
    assert result.exit_code != 0


def test_check_links_reaches_into_glossary_definitions(
    tmp_path: Path,
    link_server: LinkServer,  # noqa: F811
) -> None:
    broken = f"---\nterm: Broken\n---\nSee\n[the source]({link_server.base}/missing).\n"
    root = cite_site(tmp_path, {"broken": broken})
    output = check(root, "--links", "--link-timeout", "2")
    assert f"footnotes/broken.md:5:14: warning: broken link to {link_server.base}/missing" in output


def citer(**fields: object) -> Essay:
    """An essay as the glossary page's key sees it, its other fields empty."""
    given = {
        **dict.fromkeys(("path", "slug", "title", "subtitle", "author", "category"), ""),
        **dict.fromkeys(("summary", "image", "image_alt", "image_credit", "content_hash"), ""),
        **{"date": None, "tags": (), "draft": False, "order": None, "body_line": 1},
        **{"notes": (), "word_count": 1, "tokens": ()},
        **fields,
    }
    return Essay(**given)


MOMENT = datetime(2030, 1, 1, 9, 0)
CITERS = {
    "plain": citer(slug="a", title="A"),
    "another slug": citer(slug="b", title="A"),
    "another title": citer(slug="a", title="B"),
    "dated": citer(slug="a", title="A", date=MOMENT.replace(tzinfo=UTC)),
    "a zone of the same offset": citer(
        slug="a", title="A", date=MOMENT.replace(tzinfo=ZoneInfo("UTC"))
    ),
    "the other fold": citer(slug="a", title="A", date=MOMENT.replace(fold=1)),
    "unfolded": citer(slug="a", title="A", date=MOMENT),
    "a note": citer(slug="a", title="A", notes=(Note(1, "x", "zettel-1", 1),)),
    "another reference count": citer(slug="a", title="A", notes=(Note(1, "x", "zettel-1", 2),)),
    "a stray byte": citer(slug="caf\udce9", title="A"),
}


def test_the_glossary_page_key_tells_apart_exactly_what_the_page_shows() -> None:
    keys = {name: citers_key([essay]) for name, essay in CITERS.items()}
    assert len(set(keys.values())) == len(keys)
    plain = CITERS["plain"]
    unseen = msgspec.structs.replace(plain, summary="not on the glossary page", word_count=9)
    assert citers_key([unseen]) == keys["plain"] == citers_key([citer(slug="a", title="A")])
    assert citers_key([plain, plain]) != keys["plain"]


def test_the_glossary_page_key_is_made_without_the_repr_of_every_citing_essay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    essays = [
        citer(slug=f"e{n}", title=f"E {n}", date=MOMENT.replace(tzinfo=UTC)) for n in range(50)
    ]
    shown: list[object] = []
    real = builtins.repr

    def counted(value: object) -> str:
        shown.append(value)
        return real(value)

    monkeypatch.setattr(glossarypage, "repr", counted, raising=False)
    citers_key(essays)
    monkeypatch.undo()
    assert not [value for value in shown if isinstance(value, list)]

"""Tests for the shared footnote glossary: loading entries, aliases, and unknown citations."""

from __future__ import annotations

from pathlib import Path

import pytest

from publish.content.glossary import load_glossary
from publish.content.markdown import build_parser
from publish.content.site import load_site
from publish.errors import PublishError
from tests.sitebuilder import essay_text, make_site


def problems_of(root: Path) -> list[str]:
    """Every problem, formatted, that loading the site raises."""
    with pytest.raises(PublishError) as caught:
        load_site(root)
    return [p.format() for p in caught.value.problems]


def test_entry_loads_term_source_aliases_and_definition(tmp_path: Path) -> None:
    glossary, problems = load_glossary(make_site(tmp_path), build_parser())
    assert problems == []
    flow = glossary.entries["flow"]
    assert (flow.key, flow.term, flow.source) == ("flow", "Flow", "Mihaly Csikszentmihalyi")
    assert flow.aliases == ("optimal-experience",)
    assert flow.definition.startswith("The state of complete absorption")
    assert flow.path == "footnotes/flow.md"
    assert glossary.entries["bad-object"].source == "Melanie Klein"


def test_source_and_aliases_are_optional(tmp_path: Path) -> None:
    root = make_site(tmp_path, footnotes={"plain": "---\nterm: Plain\n---\nA plain term.\n"})
    glossary, problems = load_glossary(root, build_parser())
    assert problems == []
    assert (glossary.entries["plain"].source, glossary.entries["plain"].aliases) == ("", ())


def test_alias_resolves_to_its_entry(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text(body="Absorbed[^optimal-experience].\n")})
    site, _ = load_site(root)
    [note] = site.essays[0].notes
    assert (note.number, note.label, note.glossary_key) == (1, "optimal-experience", "flow")


def test_unknown_footnote_names_file_line_column_and_close_match(tmp_path: Path) -> None:
    text = (
        '---\ntitle: "X"\ndate: 2026-01-06\ntags: [a]\n---\n'
        "First paragraph.\n\n"
        "A known note[^flow] on the same line as the misspelt one[^bad-objct] here.\n"
    )
    [problem] = problems_of(make_site(tmp_path, essays={"x": text}))
    lines = text.split("\n")
    assert lines[7].index("[^bad-objct]") == 56  # file line 8, column 57, front matter counted
    assert problem == (
        "essays/x.md:8:57: error: unknown footnote 'bad-objct' (did you mean 'bad-object'?)"
    )


def test_unknown_footnote_without_close_match_has_no_suggestion(tmp_path: Path) -> None:
    text = essay_text(body="Text[^zzzz-qqqq].\n")
    assert problems_of(make_site(tmp_path, essays={"x": text})) == [
        "essays/x.md:4:5: error: unknown footnote 'zzzz-qqqq'"
    ]


def test_a_local_definition_needs_no_glossary_entry(tmp_path: Path) -> None:
    text = essay_text(body="Text[^mine].\n\n[^mine]: Defined here.\n")
    site, problems = load_site(make_site(tmp_path, essays={"x": text}))
    assert problems == []
    assert site.essays[0].notes[0].glossary_key is None


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        (
            "no-term",
            "---\nsource: Someone\n---\nA definition.\n",
            "footnotes/no-term.md:1:1: error: glossary entry has no 'term'",
        ),
        (
            "Bad_Key",
            "---\nterm: Bad\n---\nA definition.\n",
            "footnotes/Bad_Key.md:1:1: error: glossary key 'Bad_Key' must be lowercase letters",
        ),
        (
            "typo",
            "---\nterm: Typo\nsorce: Someone\n---\nA definition.\n",
            "footnotes/typo.md:3:1: error: unknown glossary key 'sorce' (did you mean 'source'?)",
        ),
        (
            "empty",
            "---\nterm: Empty\n---\n",
            "footnotes/empty.md:4:1: error: glossary entry has no definition",
        ),
        (
            "broken",
            "---\nterm: [open\n---\nA definition.\n",
            "footnotes/broken.md:3:1: error: invalid YAML front matter",
        ),
    ],
)
def test_bad_glossary_entry(tmp_path: Path, key: str, text: str, expected: str) -> None:
    root = make_site(tmp_path, essays={"x": essay_text()}, footnotes={key: text})
    [problem] = problems_of(root)
    assert problem.startswith(expected)


def test_unknown_footnote_position_skips_code_and_counts_nesting(tmp_path: Path) -> None:
    body = (
        "Write `[^nope]` to cite.\n\n```\n[^nope]\n```\n\n"
        "- a list item[^flw]\n\n> Quoted, then cited[^nope].\n"
    )
    problems = problems_of(make_site(tmp_path, essays={"x": essay_text(body=body)}))
    assert problems == [
        "essays/x.md:10:14: error: unknown footnote 'flw' (did you mean 'flow'?)",
        "essays/x.md:12:21: error: unknown footnote 'nope'",
    ]


def test_a_site_load_reads_a_definition_without_images_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a definition that can hold an image is read again, to locate its images: the
    others are read once (a build read every glossary file twice)."""
    footnotes = {
        "plain": "---\nterm: Plain\n---\nPlain words, *emphasised*.\n",
        "linked": "---\nterm: Linked\n---\nSee [the source](https://example.org/).\n",
        "pictured": "---\nterm: Pictured\n---\nSee ![a dot](dot.png).\n",
    }
    root = make_site(tmp_path, essays={"x": essay_text(date="2026-01-01")}, footnotes=footnotes)
    (root / "essays" / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    reads: list[str] = []
    for method in ("read_bytes", "read_text"):
        real = getattr(Path, method)

        def reading(path: Path, *args: object, _real=real, **kwargs: object) -> object:
            if path.parent.name == "footnotes":
                reads.append(path.stem)
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(Path, method, reading)
    site, _ = load_site(root)
    assert sorted(reads) == ["linked", "linked", "pictured", "pictured", "plain"]
    assert set(site.glossary.entries) == set(footnotes)

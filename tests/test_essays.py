"""Tests for the essay model: every front matter key, its default, and every bad essay."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from publish.content import essays, links, preflight, source
from publish.content.essays import slugify
from publish.content.glossary import load_glossary
from publish.content.markdown import build_parser
from publish.content.settings import load_settings
from publish.content.site import load_site
from publish.errors import PublishError
from publish.model import Essay
from tests.sitebuilder import essay_text, make_site

LONG_PARAGRAPH = (
    "The first paragraph opens the essay[^flow] and runs on for a while, "
    "with *emphasis*, a [link](https://example.org/) and `code`, "
    "long enough that the summary has to be cut somewhere near the limit "
    "of one hundred and sixty characters, at a word.\n\nSecond paragraph.\n"
)


def load_one(tmp_path: Path, text: str) -> Essay:
    """Load a site holding one essay and return that essay."""
    site, _ = load_site(make_site(tmp_path, essays={"one": text}))
    [essay] = site.essays
    return essay


def problems_of(root: Path) -> list[str]:
    """Every problem, formatted, that loading the site raises."""
    with pytest.raises(PublishError) as caught:
        load_site(root)
    return [p.format() for p in caught.value.problems]


def test_defaults(tmp_path: Path) -> None:
    essay = load_one(tmp_path, essay_text("Café au lait: Ünïcode & “Quotes”!", LONG_PARAGRAPH))
    assert essay.slug == "cafe-au-lait-unicode-quotes"
    assert essay.author == "Test Author"
    assert essay.date is None
    assert essay.draft is False
    assert essay.tags == ()
    assert (essay.subtitle, essay.category, essay.image) == ("", "", "")


def test_summary_is_the_first_paragraph_cut_at_a_word(tmp_path: Path) -> None:
    summary = load_one(tmp_path, essay_text(body=LONG_PARAGRAPH)).summary
    assert summary.startswith("The first paragraph opens the essay and runs on")
    assert "[^" not in summary and "*" not in summary and "`" not in summary
    assert summary.endswith("…")
    assert len(summary) in range(120, 162)
    plain = (
        "The first paragraph opens the essay and runs on for a while, with emphasis, "
        "a link and code, long enough that the summary has to be cut somewhere near the "
        "limit of one hundred"
    )
    assert plain.startswith(summary.removesuffix("…"))
    assert plain[len(summary) - 1] == " "  # cut between words


def test_short_first_paragraph_is_the_whole_summary(tmp_path: Path) -> None:
    essay = load_one(tmp_path, essay_text(body="Short and sweet[^flow].\n\nMore.\n"))
    assert essay.summary == "Short and sweet."


def test_every_front_matter_key(tmp_path: Path) -> None:
    text = essay_text(
        "Given",
        "Body.\n",
        subtitle="A subtitle",
        date="2026-07-07",
        slug="my-slug",
        author="Someone Else",
        tags="[one, two]",
        category="Notes",
        summary="Said here.",
        image="images/a.png",
        image_alt="An a",
        image_credit="Me",
        draft="true",
    )
    (tmp_path / "essays" / "images").mkdir(parents=True)
    (tmp_path / "essays" / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    essay = load_one(tmp_path, text)
    assert (essay.title, essay.subtitle, essay.slug) == ("Given", "A subtitle", "my-slug")
    assert (essay.author, essay.category, essay.summary) == ("Someone Else", "Notes", "Said here.")
    assert essay.tags == ("one", "two")
    assert (essay.image, essay.image_alt, essay.image_credit) == ("images/a.png", "An a", "Me")
    assert essay.draft is True


def test_date_takes_the_schedule_time_in_the_site_time_zone(tmp_path: Path) -> None:
    essay = load_one(tmp_path, essay_text(date="2026-07-07"))
    assert essay.date is not None
    assert (essay.date.hour, essay.date.minute) == (9, 0)
    assert str(essay.date.tzinfo) == "Europe/London"
    assert essay.date.utcoffset() == timedelta(hours=1)  # British Summer Time


def test_datetime_is_kept(tmp_path: Path) -> None:
    essay = load_one(tmp_path, essay_text(date="2026-01-05T18:30:00"))
    assert essay.date == datetime.fromisoformat("2026-01-05T18:30:00+00:00")
    utc = load_one(tmp_path / "b", essay_text(date="2026-07-05 18:30:00+00:00"))
    assert utc.date is not None
    assert (utc.date.hour, utc.date.utcoffset()) == (19, timedelta(hours=1))


def test_unknown_key_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    site, warnings = load_site(make_site(tmp_path, essays={"x": essay_text(subtitel="Oops")}))
    assert len(site.essays) == 1
    assert [w.format() for w in warnings] == [
        "essays/x.md:3:1: warning: unknown front matter key 'subtitel' (did you mean 'subtitle'?)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "---\ntitle: A\ntags: [a, b\ndate: 2026-01-01\n---\nBody.\n",
            "essays/x.md:4:5: error: invalid YAML front matter",
        ),
        (
            "---\ntitle: A\nsubtitle: x: y\n---\nBody.\n",
            "essays/x.md:3:12: error: invalid YAML front matter",
        ),
        (
            "---\nsubtitle: No title\n---\nBody.\n",
            "essays/x.md:1:1: error: missing required front matter 'title'",
        ),
        (
            "---\ntitle: A\ndate: 2026-13-01\n---\nBody.\n",
            "essays/x.md:3:7: error: bad date '2026-13-01'",
        ),
        (
            "---\ntitle: A\ndate: next tuesday\n---\nBody.\n",
            "essays/x.md:3:7: error: bad date 'next tuesday'",
        ),
        (
            "---\ntitle: A\nslug: Bad Slug\n---\nBody.\n",
            "essays/x.md:3:7: error: bad slug 'Bad Slug': use lowercase letters, digits and single "
            "hyphens, e.g. 'bad-slug'",
        ),
        (
            "---\ntitle: A\ndraft: maybe\n---\nBody.\n",
            "essays/x.md:3:1: error: 'draft' must be true or false",
        ),
        (
            "---\ntitle: A\nsummary: x\n---\nBody.\n\nSee[^nothing-like-it].\n",
            "essays/x.md:7:4: error: unknown footnote 'nothing-like-it'",
        ),
        (
            "---\ntitle: A\n\nBody without a closing line.\n",
            "essays/x.md:1:1: error: front matter is not closed",
        ),
    ],
)
def test_bad_essay(tmp_path: Path, text: str, expected: str) -> None:
    [problem] = problems_of(make_site(tmp_path, essays={"x": text}))
    assert problem.startswith(expected)


def test_not_utf8_gives_line_and_column(tmp_path: Path) -> None:
    root = make_site(tmp_path)
    (root / "essays" / "latin.md").write_bytes(b"---\ntitle: A\n---\nCaf\xe9 au lait.\n")
    assert problems_of(root) == [
        "essays/latin.md:4:4: error: file is not UTF-8 (byte 0xe9); save it as UTF-8"
    ]


def test_duplicate_slug_names_both_files(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text("Same"), "b": essay_text("Same!")})
    [problem] = problems_of(root)
    assert problem.startswith("essays/b.md:1:1: error: duplicate slug 'same'")
    assert "essays/a.md" in problem


def test_empty_essays_folder(tmp_path: Path) -> None:
    [problem] = problems_of(make_site(tmp_path))
    assert problem.startswith("essays/:1:1: error: no essays found")


def test_every_bad_essay_is_reported(tmp_path: Path) -> None:
    root = make_site(
        tmp_path,
        essays={
            "a": "---\ntitle: [unclosed\n---\n",
            "b": "---\nsubtitle: x\n---\n",
            "c": essay_text(body="Cites[^bad-objct].\n"),
        },
    )
    files = [p.split(":")[0] for p in problems_of(root)]
    assert files == ["essays/a.md", "essays/b.md", "essays/c.md"]


def test_every_bad_key_of_one_essay_is_reported(tmp_path: Path) -> None:
    text = "---\nsubtitle: [a, b]\ndraft: maybe\norder: first\n---\nBody cites [^nope].\n"
    problems = problems_of(make_site(tmp_path, essays={"one": text}))
    assert [p.split(": error: ")[1].split(" ")[0] for p in problems] == [
        "missing",
        "'subtitle'",
        "'draft'",
        "'order'",
        "unknown",
    ]
    assert problems[3].startswith("essays/one.md:4:1:")


def library_slug(text: str) -> str:
    """python-slugify's slug of `text`, as `slugify` asks for it."""
    from slugify import slugify as make_slug

    return make_slug(text.replace(",", " "))


@given(
    st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,4}", fullmatch=True)
    | st.text(alphabet="abZ09-,\n &;#x\u017f", max_size=12)
)
def test_a_slug_is_python_slugifys_whether_or_not_it_is_loaded(text: str) -> None:
    assume(library_slug(text))
    assert slugify(text) == library_slug(text)


@pytest.mark.parametrize("text", ["abc\n", "a--b", "-a", "ab-", "Abc", "a,b", "1,000", "\u017f"])
def test_a_text_near_slug_shape_gets_python_slugifys_slug(text: str) -> None:
    assert slugify(text) == library_slug(text)


# --- work done once per essay ----------------------------------------------------------------

PLAIN_ESSAY = "---\ntitle: Plain\ndate: 2024-01-01\n---\n" + "A line of *plain* words.\n\n" * 40


class Recorded:
    """A stand-in for a compiled pattern that records each `finditer` scan it makes."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern, self.scans = pattern, 0

    def __getattr__(self, name: str) -> Any:
        self.scans += name == "finditer"
        return getattr(self.pattern, name)


def test_a_plain_essay_is_read_without_a_scan_for_links_or_controls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ASCII essay without a link destination is cleared of control characters and of
    refused links without their patterns' scans (the file's, and one a line)."""
    links_scans = Recorded(links.LINK_DESTINATION)
    control_scans = Recorded(source.CONTROL_CHARACTERS)
    monkeypatch.setattr(links, "LINK_DESTINATION", links_scans)
    monkeypatch.setattr(source, "CONTROL_CHARACTERS", control_scans)
    essay = load_one(tmp_path, PLAIN_ESSAY)
    assert essay.word_count == 200
    assert (links_scans.scans, control_scans.scans) == (0, 0)


@given(text=st.text(alphabet=st.sampled_from([*"ab \n\t", *map(chr, range(0x20))]), max_size=40))
def test_control_characters_are_found_as_the_pattern_finds_them(text: str) -> None:
    """The ASCII shortcut clears exactly the files the pattern finds nothing in."""
    found = source._control_problems("e.md", text)
    assert bool(found) == bool(source.CONTROL_CHARACTERS.search(text))


def test_a_plain_essay_is_not_searched_for_raw_html_or_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body without a `<` holds no raw HTML and one without `![` no image: their checks
    (nesting, dropped embeds, `<img>` and Markdown images, alt text) do not walk its tokens."""
    walked: list[str] = []

    def recorded(module: Any, name: str) -> None:
        original = getattr(module, name)

        def walk(*args: Any, **kwargs: Any) -> Any:
            walked.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, walk)

    root = make_site(tmp_path, essays={"one": PLAIN_ESSAY})
    glossary = load_glossary(root, build_parser())[0]
    settings = load_settings(root)
    for module, name in [(preflight, "_html_tokens"), (links, "_body_images")]:
        recorded(module, name)
    recorded(links, "_html_images")
    recorded(essays, "deep_html")
    essay, problems = essays.read_essay(root / "essays" / "one.md", root, settings, glossary)
    assert essay is not None and essay.word_count == 200 and problems == []
    assert walked == []


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_an_essay_with_carriage_returns_reads_as_with_newlines(tmp_path: Path, ending: str) -> None:
    """Line ends of any kind give the same essay, its sources at the same lines."""
    body = "A [link](https://example.org/) here.\n\n![](https://example.org/pic.png)\n"
    text = essay_text(title="Ends", body=body)
    plain = load_one(tmp_path / "lf", text)
    ended = load_one(tmp_path / "cr", text.replace("\n", ending))
    assert (ended.summary, ended.word_count, ended.body_line) == (
        plain.summary,
        plain.word_count,
        plain.body_line,
    )
    assert (ended.images, ended.links) == (plain.images, plain.links)


def test_a_good_date_and_slug_are_read_without_finding_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's line is looked for only for a message about it (the date's error was once
    written out, line and all, for every essay, and dropped when the date was good)."""
    root = make_site(tmp_path, essays={"one": PLAIN_ESSAY.replace("date:", "slug: one\ndate:")})
    glossary, settings = load_glossary(root, build_parser())[0], load_settings(root)
    asked: list[str] = []
    key_line = source.FrontMatterDocument.key_line

    def recorded(document: source.FrontMatterDocument, key: str) -> int:
        asked.append(key)
        return key_line(document, key)

    monkeypatch.setattr(source.FrontMatterDocument, "key_line", recorded)
    essay, problems = essays.read_essay(root / "essays" / "one.md", root, settings, glossary)
    assert essay is not None and essay.slug == "one" and problems == []
    assert asked == []

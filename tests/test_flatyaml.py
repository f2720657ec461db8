"""The plainest front matter, read without a YAML parser (publish.content.flatyaml), reads
exactly as the YAML loaders read it: the same mapping and the same problems, values of the
same types, for generated front matter of every kind the shortcut takes or leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publish.content import source, yamlfront
from publish.content.essays import read_essay
from publish.content.flatyaml import _tag, flat_front_matter
from publish.content.glossary import load_glossary
from publish.content.markdown import build_parser
from publish.content.settings import load_settings
from tests.sitebuilder import essay_text, make_site

GOOD_KEYS = st.sampled_from(["title", "date", "slug", "tags", "draft", "order", "x_1", "Title"])
KEYS = st.one_of(GOOD_KEYS, st.sampled_from(["yes", "null", "on", "1", "a b", "é"]))
# Plain words the shortcut takes (as text, booleans, whole numbers, dates) ...
PLAIN_WORDS = st.sampled_from(
    ["true", "false", "0", "12", "2024-02-03", "2024-02-30", "2024-2-3", "essay-1", "a b"]
    + ["a  b", "word.", "e", "y", "n", "1st", "writing", "Notebooks", "x_y", "0000-01-01"]
)
# ... and those it leaves to YAML (other booleans, nulls, numbers, indicators, breaks).
ODD_WORDS = st.sampled_from(
    ["yes", "no", "True", "FALSE", "on", "Off", "null", "Null", "~", "", "007", "-3", "1.5"]
    + ["1_000", "0x1f", ".inf", "1e3", "12:30", "2024-02-03 10:00", "-x", "a #b", "a:b"]
    + ["a: b", "x ", " x", "é", "a,b", "[a]", "{a: b}", "*x", "&x", "!x", "a\u2028b"]
)
WORDS = st.one_of(PLAIN_WORDS, ODD_WORDS)
CLEAN_TEXT = st.text(alphabet=st.sampled_from([*"aZ9 :#,[]{}*&!|>%@`'-é漢\t"]), max_size=12)
QUOTED_TEXT = st.one_of(
    CLEAN_TEXT, st.text(alphabet=st.sampled_from(["a", " ", "\u2028", "\\", '"']), max_size=6)
)


@st.composite
def value(draw: st.DrawFn, odd: bool) -> str:
    """One value as front matter may write it (`odd`: in any form, else the plainest)."""
    words, text = (WORDS, QUOTED_TEXT) if odd else (PLAIN_WORDS, CLEAN_TEXT)
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return f'"{draw(text)}"'
    if kind == 1:
        return f"'{draw(text)}'"
    if kind == 2:
        listed = draw(st.lists(words, max_size=4))
        joint = draw(st.sampled_from([", ", ",", " , "]))
        return f"[{joint.join(listed)}]"
    return draw(words)


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    """Front matter as `read_document` splits it off: lines between two newlines."""
    lines = []
    odd = draw(st.booleans())  # half the examples with an odd line or two, half without
    for _ in range(draw(st.integers(0, 5))):
        separator = draw(st.sampled_from([":  ", " : ", ":"])) if odd else ": "
        tail = draw(st.sampled_from(["", " ", " # note"])) if odd else ""
        key = draw(KEYS if odd else GOOD_KEYS)
        lines.append(f"{key}{separator}{draw(value(odd))}{tail}")
        if odd and draw(st.integers(0, 3)) == 0:
            lines.append(draw(st.sampled_from(["", "  - item", "# comment", "  nested: 1"])))
    return "\n" + "\n".join(lines) + "\n"


@settings(max_examples=300)  # cheap: a deeper search for the rarer forms
@given(text=front_matter())
def test_front_matter_reads_as_the_yaml_loaders_read_it(text: str) -> None:
    expected = source._yaml_front_matter("essays/e.md", text)
    assert repr(source._load_front_matter("essays/e.md", text)) == repr(expected)


def test_the_common_front_matter_is_read_without_a_yaml_parser() -> None:
    text = '\ntitle: "A title: with a colon"\ndate: 2024-02-03\nslug: a-slug\ntags: [a, b-c]\n'
    assert flat_front_matter(text) is not None
    assert repr(source._load_front_matter("e.md", text)) == repr(
        source._yaml_front_matter("e.md", text)
    )


def test_an_essay_of_plain_front_matter_is_read_without_a_yaml_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front matter most essays have (quoted title, date, slug, tags) costs no YAML
    parse; the glossary's and the settings' files are read before the loaders are barred."""
    root = make_site(
        tmp_path,
        essays={
            "one": essay_text(title="A title: here", date="2024-02-03", slug="one", tags="[a, b]")
        },
    )
    glossary, settings = load_glossary(root, build_parser())[0], load_settings(root)

    def barred(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a YAML loader was made")

    monkeypatch.setattr(yamlfront, "FastFrontMatterLoader", barred)
    monkeypatch.setattr(yamlfront, "FrontMatterLoader", barred)
    essay, problems = read_essay(root / "essays" / "one.md", root, settings, glossary)
    assert essay is not None and problems == []
    assert (essay.title, essay.tags) == ("A title: here", ("a", "b"))


@given(
    word=st.one_of(
        WORDS,
        KEYS,
        st.text(alphabet=st.sampled_from([*"aeflnorstuxyAEFLNORSTUXYbB019_.- ~"]), max_size=8),
        # words in other scripts: letters YAML 1.1's booleans and nulls never start with
        st.text(alphabet=st.sampled_from([*"éжΩ漢عनğ١٢ⅷ0-:. "]), min_size=1, max_size=8),
    )
)
def test_a_word_is_told_as_yamls_resolver_tells_it(word: str) -> None:
    """The tag of a plain word, told without YAML where it is one of the commonest, is the
    tag YAML's resolver gives it."""
    import yaml.resolver

    resolved = yaml.resolver.Resolver().resolve(yaml.ScalarNode, word, (True, False))
    assert _tag(word) == resolved

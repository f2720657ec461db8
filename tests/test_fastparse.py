"""The compiled parse (publish.content.fastparse): wherever it does not decline, its tokens
and parse environment are exactly markdown-it-py's, on every corpus we have and on
generated Markdown; it declines rarely on real essays; without the engine all is
markdown-it-py."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it.token import Token
from markdown_it.utils import read_fixture_file

from bench.generate import generate
from publish.content import fasttree
from publish.content.fastparse import (
    ASCII_ODD_SPACE,
    DECLINED_CHARACTERS,
    DEFINITION_LINE,
    _declined,
    _definitions,
    fast_parse,
)
from publish.content.fasttree import TOKEN_FIELDS, Decline, made_token
from publish.content.glossary import load_glossary
from publish.content.markdown import build_parser, parse_markdown
from publish.content.source import read_document
from publish.model import Glossary, GlossaryEntry
from tests.callcount import calls_per
from tests.sitebuilder import DEFAULT_FOOTNOTES, make_site
from tests.tokencompare import env_difference, token_difference

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
MAX_DECLINED = 0.05


@pytest.fixture(scope="module")
def glossary(tmp_path_factory: pytest.TempPathFactory) -> Glossary:
    """The sitebuilder's default glossary (keys `flow`, `deep-work` ...)."""
    root = make_site(tmp_path_factory.mktemp("glossary"), footnotes=DEFAULT_FOOTNOTES)
    return load_glossary(root, build_parser())[0]


def compared(source: str, glossary: Glossary) -> bool:
    """Parse `source` both ways; fail on any difference; True if the fast path took it."""
    slow_env: dict[str, Any] = {"publish": {"glossary": glossary}}
    fast_env: dict[str, Any] = {"publish": {"glossary": glossary}}
    slow = build_parser().parse(source, slow_env)
    fast = fast_parse(build_parser(), source, fast_env)
    if fast is None:
        assert fast_env == {"publish": {"glossary": glossary}}, "a decline left env changed"
        return False
    difference = token_difference(fast, slow) or env_difference(fast_env, slow_env)
    assert difference is None, f"{difference}\nsource: {source!r}"
    return True


def site_bodies(root: Path) -> tuple[Glossary, list[str]]:
    """A site's glossary and the body of each of its essays."""
    glossary = load_glossary(root, build_parser())[0]
    paths = sorted((root / "essays").glob("*.md"))
    return glossary, [read_document(path, root)[0].body for path in paths]


def test_the_example_site_is_parsed_fast_and_identically() -> None:
    glossary, bodies = site_bodies(REPO)
    taken = [compared(body, glossary) for body in bodies]
    assert len(taken) >= 5
    assert taken.count(False) <= MAX_DECLINED * len(taken)


def test_a_generated_bench_corpus_is_parsed_fast_and_identically(tmp_path: Path) -> None:
    glossary, bodies = site_bodies(generate(300, tmp_path / "bench"))
    taken = [compared(body, glossary) for body in bodies]
    assert taken.count(False) <= MAX_DECLINED * len(taken)


def fixture_sources() -> list[str]:
    """Every Markdown input under tests/: the cases of each fixture file (ours and
    markdown-it-py's CommonMark spec, extras, tables, strikethrough, XSS ... ports) and the
    body of every essay and glossary file of the fixture sites."""
    sources = []
    for path in sorted((TESTS / "fixtures").rglob("*.md")):
        sources += [case[1] for case in read_fixture_file(path)]
    for path in sorted(TESTS.rglob("*.md")):
        if "fixtures" not in path.parts and "golden" not in path.parts:
            text = path.read_text(encoding="utf-8")
            sources.append(text.split("\n---\n", 1)[-1] if text.startswith("---\n") else text)
    return sources


def bare_compared(source: str) -> bool:
    """`compared` for a glossary definition, parsed with an empty environment."""
    slow_env: dict[str, Any] = {}
    fast_env: dict[str, Any] = {}
    slow = build_parser().parse(source, slow_env)
    fast = fast_parse(build_parser(), source, fast_env)
    if fast is None:
        assert fast_env == {}, "a decline left env changed"
        return False
    difference = token_difference(fast, slow) or env_difference(fast_env, slow_env)
    assert difference is None, f"{difference}\nsource: {source!r}"
    return True


def definitions(root: Path) -> list[str]:
    """The definition of each glossary entry of a site, as the glossary parses it."""
    paths = sorted((root / "footnotes").glob("*.md"))
    return [read_document(path, root)[0].body.strip() for path in paths]


def test_glossary_definitions_are_parsed_fast_and_identically(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", footnotes=DEFAULT_FOOTNOTES)
    for root in (REPO, generate(100, tmp_path / "bench"), site):
        taken = [bare_compared(definition) for definition in definitions(root)]
        assert taken and taken.count(False) <= MAX_DECLINED * len(taken), root


def test_the_glossary_is_loaded_by_the_compiled_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each definition is parsed as an essay's body is: by the compiled engine where it is
    proven identical, not by markdown-it-py (50 definitions took a cold build 3-4 ms)."""
    root = generate(100, tmp_path / "bench")
    parser = build_parser()
    parses = []
    real_parse = type(parser).parse
    monkeypatch.setattr(
        type(parser), "parse", lambda md, *args: parses.append(1) or real_parse(md, *args)
    )
    entries = load_glossary(root, parser)[0].entries
    assert len(entries) >= 20 and len(parses) <= MAX_DECLINED * len(entries)
    for key, entry in entries.items():
        slow = real_parse(parser, entry.definition, {})
        assert token_difference(list(entry.tokens), slow) is None, key


def test_every_markdown_fixture_under_tests_is_identical_where_taken(glossary: Glossary) -> None:
    sources = fixture_sources()
    assert len(sources) > 800
    taken = 0
    for source in sources:  # as it is, and with glossary citations before and after it
        for variant in (source, f"{source}\n\nA note[^flow].\n", f"Lead[^flow]\n\n{source}"):
            taken += compared(variant, glossary)
    assert taken > len(sources)  # most forms of the spec are taken, not declined


def test_the_one_parse_interface_takes_the_fast_path_and_keeps_env(glossary: Glossary) -> None:
    source = "## A heading\n\nText with a note[^flow] and *more*[^own].\n\n[^own]: Its own note.\n"
    env: dict[str, Any] = {"publish": {"glossary": glossary}}
    assert fast_parse(build_parser(), source, {"publish": {"glossary": glossary}}) is not None
    tokens = parse_markdown(source, env)
    slow_env: dict[str, Any] = {"publish": {"glossary": glossary}}
    assert token_difference(tokens, build_parser().parse(source, slow_env)) is None
    assert env_difference(env, slow_env) is None
    assert [note["label"] for note in env["footnotes"]["list"].values()] == ["flow", "own"]


@pytest.mark.parametrize(
    "source",
    [
        "A &amp; B[^flow]\n",
        "An escaped \\*star\\*[^flow]\n",
        "Tab\there[^flow]\n",
        "[ref]: http://example.org\n\nA [link][ref][^flow]\n",
        "<div>\nblock html\n</div>\n\nText[^flow]\n",
        "> quoted\nlazy line[^flow]\n",
        "Text[^a b] and [^flow]\n",
        "Before\n[^own]: a definition right under text\n",
    ],
)
def test_unproven_forms_are_declined(source: str, glossary: Glossary) -> None:
    assert fast_parse(build_parser(), source, {"publish": {"glossary": glossary}}) is None
    assert parse_markdown(source, {"publish": {"glossary": glossary}})


def test_without_the_compiled_engine_everything_is_markdown_it_py() -> None:
    script = (
        "import sys; sys.modules['markdown_it_pyrs'] = None\n"
        "from publish.content.fastparse import fast_parse\n"
        "from publish.content.markdown import build_parser, parse_markdown\n"
        "src = 'Some *text*[^x].\\n'\n"
        "assert fast_parse(build_parser(), src, {}) is None\n"
        "tokens = parse_markdown(src, {})\n"
        "assert [t.type for t in tokens][:3] == ['paragraph_open', 'inline', 'paragraph_close']\n"
        "print('fallback ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fallback ok"


# --- generated Markdown -------------------------------------------------------------------

SCRIPTS = st.sampled_from(
    ["word", "Wörter", "漢字かな", "مرحبا", "e\u0301te\u0301", "🙂🎉", "x", "naïve", "한국어"]
)
KEYS = st.sampled_from(["flow", "deep-work", "marginalia", "nope", "own", "a1"])
PUNCTUATION = st.sampled_from([".", ",", "!", "?", ":", ";", " -", " +", " #", " =", "@", "%"])


@st.composite
def inline_text(draw: st.DrawFn, depth: int = 0) -> str:
    """A run of inline Markdown: words in any script, emphasis, code, links, notes ..."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        word = draw(SCRIPTS)
        kind = draw(st.integers(0, 16 if depth < 2 else 3))
        if kind <= 3:
            parts.append(word + (draw(PUNCTUATION) if kind == 3 else ""))
        elif kind == 4:
            parts.append(f"*{draw(inline_text(depth + 1))}*")
        elif kind == 5:
            parts.append(f"**{draw(inline_text(depth + 1))}**")
        elif kind == 6:
            parts.append(f"_{word}_")
        elif kind == 7:
            parts.append(f"`{word} *not* [^flow]`")
        elif kind == 8:
            title = draw(st.sampled_from(["", ' "A title"']))
            path = draw(st.sampled_from(["page", "a/b?c=d", "#part", word]))
            parts.append(f"[{draw(inline_text(depth + 1))}](http://example.org/{path}{title})")
        elif kind == 9:
            parts.append(f"![{word} alt](images/{draw(st.sampled_from(['a.png', 'b c.png']))})")
        elif kind == 10:
            parts.append(draw(st.sampled_from(["<http://example.org/x>", "<me@example.org>"])))
        elif kind == 11:
            parts.append(f"{word}[^{draw(KEYS)}]")
        elif kind == 12:
            parts.append(draw(st.sampled_from(['<abbr title="x">PDF</abbr>', "<b>bold</b>"])))
        elif kind == 13:  # forms the fast path declines: rarely, so most examples are taken
            rare = draw(st.sampled_from(["&amp;", "&copy;", "\\*", "\\[^flow]"] + [word] * 80))
            parts.append(rare)
        elif kind == 14:
            parts.append(f"~~{word}~~")
        elif kind == 15:
            parts.append(draw(st.sampled_from(["*", "_", "[", "]", "~", "<", "[^", "!"])))
        else:
            parts.append(draw(st.sampled_from([f"{word}  \nnext", f"{word}\nnext"])))
    return " ".join(parts)


@st.composite
def block(draw: st.DrawFn, depth: int = 0) -> str:
    """One block of Markdown: headings, paragraphs, lists, quotes, code, tables, notes."""
    text = draw(inline_text())
    kind = draw(st.integers(0, 11 if depth < 2 else 2))
    if kind == 0:
        return text
    if kind == 1:
        return f"{text}\n{draw(inline_text())}"
    if kind == 2:
        return f"{'#' * draw(st.integers(1, 6))} {text}{draw(st.sampled_from(['', ' ##']))}"
    if kind == 3:
        return f"{text}\n{draw(st.sampled_from(['===', '---']))}"
    if kind in (4, 5):
        return draw(list_block(depth, ordered=kind == 5))
    if kind == 6:
        inner = draw(st.lists(block(depth + 1), min_size=1, max_size=3))
        quoted = "\n\n".join(inner).split("\n")
        return "\n".join(f"> {line}" if line else ">" for line in quoted)
    if kind == 7:
        info = draw(st.sampled_from(["", "python", "js title"]))
        return f"```{info}\n{text}\n  indented <b>\n```"
    if kind == 8:
        return f"    {text}\n    second line"
    if kind == 9:
        align = draw(st.sampled_from(["---", ":--", ":-:", "--:"]))
        return f"| {text} | b |\n|{align}|---|\n| c | {draw(SCRIPTS)} |"
    if kind == 10:
        return draw(st.sampled_from(["---", "***", "- - -", "___"]))
    return f"[^{draw(KEYS)}]: {text}"


@st.composite
def list_block(draw: st.DrawFn, depth: int, ordered: bool) -> str:
    """A bullet or ordered list, tight or loose, maybe with a nested block."""
    start = draw(st.integers(0, 3))
    marker = draw(st.sampled_from([".", ")"] if ordered else ["-", "*", "+"]))
    gap = draw(st.sampled_from(["\n", "\n\n"]))
    items = []
    for index in range(draw(st.integers(1, 4))):
        lead = f"{start + index}{marker} " if ordered else f"{marker} "
        body = draw(block(depth + 1))
        indent = " " * len(lead)
        items.append(lead + body.replace("\n", "\n" + indent))
    return gap.join(items)


@st.composite
def document(draw: st.DrawFn) -> str:
    """A whole essay body: blocks joined by blank lines (sometimes by one newline)."""
    blocks = draw(st.lists(block(), min_size=1, max_size=6))
    joints = draw(st.lists(st.sampled_from(["\n\n", "\n\n", "\n"]), min_size=len(blocks)))
    return "".join(b + j for b, j in zip(blocks, joints, strict=False))


@given(source=document())
def test_generated_markdown_is_declined_or_identical(source: str) -> None:
    root_glossary = _GLOSSARY.get("glossary")
    if root_glossary is None:
        root_glossary = _GLOSSARY["glossary"] = load_glossary(REPO, build_parser())[0]
    compared(source, root_glossary)
    bare_compared(source)  # as a glossary definition


_GLOSSARY: dict[str, Glossary] = {}


@pytest.mark.parametrize(
    "source",
    [
        "> " * 40 + "deep[^flow]\n",
        "- " * 40 + "deep[^flow]\n",
        "*" * 30 + "deep[^flow]" + "*" * 30 + "\n",
        "[" * 30 + "deep[^flow]" + "](http://example.org)" * 30 + "\n",
    ],
)
def test_deep_nesting_is_declined_not_a_crash(source: str, glossary: Glossary) -> None:
    compared(source, glossary)
    assert parse_markdown(source, {"publish": {"glossary": glossary}})


@pytest.mark.parametrize(
    "source",
    ["*£*bravo[^flow]\n", "a*🙂*b[^flow]\n", "a_€_b ~~x~~[^flow]\n"],
)
def test_emphasis_by_a_unicode_symbol_is_declined(source: str, glossary: Glossary) -> None:
    """markdown-it-py counts symbols (£, €, emoji) as punctuation when it decides what may
    open or close emphasis; the compiled parser does not."""
    assert not compared(source, glossary)


@pytest.mark.parametrize(
    "source",
    ["a*“b*[^flow]\n", "x“*a*”y[^flow]\n", "a**«b»**c[^flow]\n", "__’a’__b[^flow]\n"],
)
def test_emphasis_by_unicode_punctuation_is_taken_and_identical(
    source: str, glossary: Glossary
) -> None:
    assert compared(source, glossary)


# --- work done once (publish.content.fasttail) ----------------------------------------------

NOTED = (
    "## Notes\n\nOne[^flow], its own[^own] and again[^flow].\n\n"
    "- a list[^deep-work]\n- of two\n\n[^own]: A note of the essay's own, *in full*.\n"
)


def test_a_fast_parse_leaves_the_glossarys_tokens_as_they_were() -> None:
    """The glossary's parsed definitions are shared by every essay that cites them: a parse
    must not replace their children (markdown-it-py's `text_join`, run on the converted
    tokens, did, for every essay)."""
    definition = "Cards, *kept*:\n\n- one\n- two\n\nA second paragraph."
    tokens = tuple(build_parser().parse(definition, {}))
    entry = GlossaryEntry("cards", "Cards", "", (), definition, "footnotes/cards.md", tokens)
    glossary = Glossary(entries={"cards": entry})
    before = [id(token.children) for token in entry.tokens]
    env: dict[str, Any] = {"publish": {"glossary": glossary}}
    assert fast_parse(build_parser(), "Cited[^cards] twice[^cards].\n", env) is not None
    assert [id(token.children) for token in entry.tokens] == before


def test_a_fast_parse_makes_no_token_it_throws_away(
    glossary: Glossary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every token the compiled parse makes is in its result (the footnote plugin's tail
    made the essay's own definitions' reference tokens, then dropped them)."""
    made: list[Token] = []
    construct = Token.__init__

    def counted(self: Token, *args: Any, **kwargs: Any) -> None:
        construct(self, *args, **kwargs)
        made.append(self)

    def counted_new(kind: type[Token]) -> Token:  # `made_token`, which skips `__init__`
        token = object.__new__(kind)
        made.append(token)
        return token

    monkeypatch.setattr(Token, "__init__", counted)
    monkeypatch.setattr(fasttree, "_new_token", counted_new)
    tokens = fast_parse(build_parser(), NOTED, {"publish": {"glossary": glossary}})
    monkeypatch.undo()
    assert tokens is not None and made
    kept = {id(token) for token in _every_token(tokens)}
    assert [token.type for token in made if id(token) not in kept] == []


def test_a_fast_parse_makes_every_token_without_the_constructors_conversion(
    glossary: Glossary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled parse makes its tokens, the glossary notes' too, by `made_token`, never
    through `Token(...)`, whose `__post_init__` converts attributes these tokens hold as a
    dict already (a fifth of the parse's time went to making tokens)."""
    constructed: list[str] = []
    construct = Token.__init__

    def counted(self: Token, *args: Any, **kwargs: Any) -> None:
        construct(self, *args, **kwargs)
        constructed.append(self.type)

    monkeypatch.setattr(Token, "__init__", counted)
    source = NOTED + "A [link](https://e.org/) too.\n"
    tokens = fast_parse(build_parser(), source, {"publish": {"glossary": glossary}})
    monkeypatch.undo()
    assert tokens is not None
    kinds = {token.type for token in _every_token(tokens)}
    assert {"glossary_term", "link_open", "footnote_ref"} <= kinds
    assert constructed == []


def _every_token(tokens: Sequence[Token]) -> Iterator[Token]:
    """Each token of a list and of its tokens' children."""
    for token in tokens:
        yield token
        yield from _every_token(token.children or [])


def test_headings_of_the_essay_and_its_glossary_notes_get_the_same_ids() -> None:
    """Heading ids are made unique across the essay and the glossary notes it cites, in
    reading order, as markdown-it-py's anchors rule makes them."""
    definition = "A term.\n\n## Usage\n\nSaid *so*.\n\n### Usage\n"
    tokens = tuple(build_parser().parse(definition, {}))
    entry = GlossaryEntry("term", "Term", "", (), definition, "footnotes/term.md", tokens)
    glossary = Glossary(
        entries={"term": entry, "other": msgspec.structs.replace(entry, key="other")}
    )
    source = "## Usage\n\nCited[^term] and[^other].\n\n## Usage\n\n#### Usage *too*\n"
    assert compared(source, glossary)


@given(
    source=st.text(alphabet=st.sampled_from([*"ab <!?&\\\n", *ASCII_ODD_SPACE, "\x00", "\t", "\r"]))
)
def test_an_ascii_source_is_declined_for_exactly_the_forms_listed(source: str) -> None:
    """The one pass over an ASCII source's bytes declines it exactly when one of the listed
    forms is in it."""
    listed = any(form in source for form in DECLINED_CHARACTERS + ASCII_ODD_SPACE)
    assert _declined(source) == listed


@given(
    kind=st.sampled_from(["text", "em_open", "paragraph_close"]),
    nesting=st.sampled_from([-1, 0, 1]),
    level=st.integers(0, 9),
    content=st.text(max_size=5),
    block=st.booleans(),
    hidden=st.booleans(),
)
def test_a_token_made_directly_is_the_token_its_constructor_makes(
    kind: str, nesting: int, level: int, content: str, block: bool, hidden: bool
) -> None:
    """`made_token` skips only `Token.__post_init__`, which a dict of attributes never needs."""
    fields = (kind, "p", nesting, {}, [0, 1], level, None, content, "*", "", {}, block, hidden)
    made, constructed = made_token(*fields), Token(*fields)
    assert type(made) is Token and made == constructed
    assert tuple(field.name for field in dataclasses.fields(Token)) == TOKEN_FIELDS


def test_the_anchors_rule_runs_only_for_a_body_with_headings(glossary: Glossary) -> None:
    """The compiled parse shows the heading anchors rule the headings alone, and a body
    without any (most glossary definitions) not at all; the ids are those of the library."""
    md = build_parser.__wrapped__()  # a parser of our own, its anchors rule watched
    rule = next(rule for rule in md.core.ruler.__rules__ if rule.name == "anchor")
    runs: list[int] = []
    real = rule.fn
    rule.fn = lambda state: runs.append(len(state.tokens)) or real(state)
    md.core.ruler.__compile__()
    for source in ("A paragraph, no heading.\n\nAnother[^flow].\n", "## A head\n\nText.\n"):
        env: dict[str, Any] = {"publish": {"glossary": glossary}}
        tokens = fast_parse(md, source, env)
        assert tokens is not None
        assert compared(source, glossary)
    assert runs == [2], "the rule ran for the body without headings"


def test_a_paragraph_is_converted_in_a_call_a_token_and_a_few_more() -> None:
    """The conversion's cost a paragraph of text and emphasis: a call for each of its five
    inline tokens and each of its three block tokens (made and appended in one), and six
    more (the paragraph, its lines, its text, its inline token, two runs of inline nodes)."""
    noted = "Cited[^a].\n\n[^a]: The note.\n"

    def parse(paragraphs: int) -> None:
        source = "Plain words of a paragraph, *some stressed*, and more.\n\n" * paragraphs
        assert fast_parse(build_parser(), source + noted, {}) is not None

    assert calls_per(parse) <= 14


FOOTNOTE_DEFINITION = re.compile(r"\[\^([^\]\s]*)\]:")


def _definitions_by_pattern(src: str) -> list[str]:
    """`_definitions` as it was: a pattern matched over the whole source."""
    labels: list[str] = []
    for match in FOOTNOTE_DEFINITION.finditer(src):
        start = match.start()
        if start and src[start - 1] != "\n" or not DEFINITION_LINE.match(src, start):
            raise Decline
        previous = src[src.rfind("\n", 0, max(start - 1, 0)) + 1 : max(start - 1, 0)]
        if start and previous.strip(" "):
            raise Decline
        labels.append(match[1])
    if len(set(labels)) != len(labels) or src.count("]:") != len(labels):
        raise Decline
    return labels


def _outcome(find: Callable[[str], list[str]], src: str) -> list[str] | None:
    """What `find` gives, or None where it declines."""
    try:
        return find(src)
    except Decline:
        return None


DEFINITION_PIECES = st.sampled_from(
    ["[^a]: note", "[^b]: x", "[^a]:", "[^ a]: y", "[^]: z", "[^a[^b]: w", "[r]: /u", "]:"]
    + ["word", " ", "\n", "\n\n", "[", "]", ":", "^", "[^a]", "  ", "> ", "- ", "\t", "é"]
)


@given(source=st.lists(DEFINITION_PIECES, max_size=20).map("".join))
def test_footnote_definitions_found_at_each_close_are_those_the_pattern_found(
    source: str,
) -> None:
    """The essay's own definitions, found from each `]:`, are the ones the pattern over the
    whole source found, and the one declines where the other did."""
    assert _outcome(_definitions, source) == _outcome(_definitions_by_pattern, source)


def test_footnote_definitions_are_found_without_a_pattern_over_the_whole_source() -> None:
    """Only each definition's own line is matched (a regular expression run over a whole
    essay's source is a pass over every character)."""
    source = "Cited[^a] and[^b], again[^a].\n\n" * 50 + "[^a]: One.\n\n[^b]: Two.\n"
    patterns: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), re.Pattern):
            patterns.append(f"{arg.__self__.pattern} {arg.__name__}")

    sys.setprofile(profile)
    try:
        found = _definitions(source)
    finally:
        sys.setprofile(None)
    assert found == ["a", "b"]
    assert patterns == [f"{DEFINITION_LINE.pattern} match"] * 2

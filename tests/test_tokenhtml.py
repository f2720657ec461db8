"""The fast renderers write the bytes of the library's: for every channel the build renders
(web page, feed entry, email HTML), the renderer in use (`FastRendering` under ours) gives
what our renderers on markdown-it-py's own `RendererHTML` give, for generated Markdown, for
any token shape, and for every essay of the example site and of a generated corpus."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from bench.generate import generate
from publish.cache.bodies import render_bodies
from publish.cache.store import BuildCache
from publish.content.images import ImageSizes
from publish.content.markdown import build_parser
from publish.model import Glossary, GlossaryEntry, ImageSize
from publish.outputs.bodies import BODY_PAIRS, essay_bodies
from publish.outputs.renderers import (
    FEED_RENDERER,
    EmailRenderer,
    FeedRenderer,
    RenderContext,
    WebRenderer,
    email_body,
    feed_body,
    web_and_feed_bodies,
    web_body,
)
from publish.outputs.tokenhtml import FastRendering, render_pair
from publish.pipeline.load import load
from tests.callcount import calls_per
from tests.websites import example_site

# Each channel's renderer in use, and the same renderer on the library's RendererHTML alone.
LIBRARY: dict[Callable[..., str], RendererHTML] = {
    web_body: WebRenderer(),
    feed_body: FeedRenderer(),
    email_body: EmailRenderer(),
}
CHANNELS = ("web", "feed", "email")


def library_render(render: Callable[..., str], tokens: Sequence[Token], context: Any) -> str:
    """What `render(tokens, context)` gives through markdown-it-py's own rendering."""
    return LIBRARY[render].render(tokens, build_parser().options, {"render": context})


def glossary_entry(key: str, term: str, definition: str) -> GlossaryEntry:
    """A glossary entry whose definition is parsed as the site's are."""
    tokens = tuple(build_parser().parse(definition, {}))
    return GlossaryEntry(key, term, "A source", (), definition, f"footnotes/{key}.md", tokens)


GLOSSARY = Glossary(
    entries={
        "flow": glossary_entry("flow", "Flow", "Absorption in a [hard](/glossary/) *task*."),
        "zettel": glossary_entry("zettel", "Zettel & Co", "Cards:\n\n- one\n- two"),
    }
)
PICTURE = ImageSize("pic.png", 1600, 900)
CONTEXTS = {
    web_body: RenderContext(
        slug="s",
        base="../",
        glossary_url="../glossary/",
        links=(("other.md", "other/"),),
        images=(PICTURE,),
        formats=("AVIF", "WEBP"),
    ),
    feed_body: RenderContext(
        slug="s",
        base="https://e.org/",
        glossary_url="https://e.org/glossary/",
        links=(("other.md", "other/"),),
        images=(PICTURE,),
        formats=("WEBP",),
    ),
    email_body: RenderContext(
        slug="s",
        base="https://e.org/",
        glossary_url="https://e.org/glossary/",
        links=(("other.md", "other/"),),
        page_url="https://e.org/s/",
        images=(PICTURE,),
    ),
}

# Words in any script, with the characters HTML and Markdown treat specially among them.
WORDS = st.text(
    st.characters(categories=("L", "N", "M", "P", "S", "Zs"), exclude_characters="\r"),
    min_size=1,
    max_size=12,
)
TARGETS = st.sampled_from(
    ["other.md", "/tags/", 'https://e.org/a?b=1&c="2"', "#part", "mailto:a@e.org", "pic.png"]
)
INLINE = st.one_of(
    WORDS,
    WORDS.map(lambda w: f"*{w}*"),
    WORDS.map(lambda w: f"**{w}**"),
    WORDS.map(lambda w: f"~~{w}~~"),
    WORDS.map(lambda w: f"`{w}`"),
    st.tuples(WORDS, TARGETS).map(lambda p: f"[{p[0]}]({p[1]})"),
    st.tuples(WORDS, TARGETS).map(lambda p: f'[{p[0]}]({p[1]} "a \\"title\\"")'),
    st.tuples(WORDS, st.sampled_from(["pic.png", "far.jpg", "https://x.org/i.webp"])).map(
        lambda p: f"![{p[0]} *x*]({p[1]})"
    ),
    st.sampled_from(
        [
            '<span class="k">raw</span>',
            "&amp; &copy; &#1234; &nbsp;",
            "<https://e.org/auto>",
            "a  \nhard break",
            "soft\nbreak",
            "< > & \" '",
            "[^n1]",
            "[^n2]",
            "[^flow]",
            "[^zettel]",
            "\\*escaped\\*",
        ]
    ),
)
LINES = st.lists(INLINE, min_size=1, max_size=6).map(" ".join)
BLOCK = st.one_of(
    LINES,
    st.tuples(st.integers(1, 6), LINES).map(lambda h: "#" * h[0] + " " + h[1].replace("\n", " ")),
    st.lists(LINES, min_size=1, max_size=3).map(lambda items: "\n".join(f"- {i}" for i in items)),
    st.lists(LINES, min_size=1, max_size=3).map(
        lambda items: "\n\n".join(f"{n}. {i}" for n, i in enumerate(items, 1))
    ),
    LINES.map(lambda text: "- a\n  > " + text.replace("\n", " ") + "\n- \n-\n  ```\n  x\n  ```"),
    LINES.map(lambda text: "1. \n2. a\n\n   > " + text.replace("\n", " ")),
    LINES.map(lambda text: "- a\n  ***\n- " + text.replace("\n", " ")),
    LINES.map(lambda text: "> " + text.replace("\n", "\n> ")),
    st.tuples(st.sampled_from(["", "python", "js x=1"]), WORDS).map(
        lambda c: f"```{c[0]}\n{c[1]}\n<b>&</b>\n```"
    ),
    WORDS.map(lambda w: f"    code {w} <&>"),
    st.tuples(WORDS, LINES).map(
        lambda t: f"| {t[0]} | b |\n|:--|--:|\n| {t[1].replace(chr(10), ' ')} | [^n1] |"
    ),
    st.just("---"),
    st.just('<div class="box">\n<p>raw & block</p>\n</div>'),
)
NOTES = "[^n1]: A note with a [link](other.md) and [^n2].\n\n[^n2]: Second:\n\n    - listed\n"
ESSAYS = st.lists(BLOCK, min_size=1, max_size=8).map(lambda blocks: "\n\n".join(blocks) + "\n\n")


@settings(max_examples=100)  # the Markdown the essays are written in: a wider search
@given(source=ESSAYS, notes=st.booleans())
def test_every_channel_renders_generated_markdown_as_the_library_does(
    source: str, notes: bool
) -> None:
    env = {"publish": {"glossary": GLOSSARY}}
    tokens = build_parser().parse(source + (NOTES if notes else ""), env)
    for render, context in CONTEXTS.items():
        assert render(tokens, context) == library_render(render, tokens, context)


TYPES = st.sampled_from(
    [
        "paragraph_open",
        "paragraph_close",
        "heading_open",
        "bullet_list_open",
        "list_item_open",
        "text",
        "softbreak",
        "hardbreak",
        "html_block",
        "html_inline",
        "code_inline",
        "code_block",
        "fence",
        "hr",
        "em_open",
        "something_else",
    ]
)
ATTRS = st.tuples(
    st.dictionaries(st.just("class"), WORDS),  # the fence joins its language to a class
    st.dictionaries(
        st.sampled_from(["id", "data-x", 'we"ird']),
        st.one_of(WORDS, st.integers(), st.floats(allow_nan=False)),
        max_size=2,
    ),
).map(lambda pair: {**pair[0], **pair[1]})


@st.composite
def token_lists(draw: st.DrawFn) -> list[Token]:
    """Tokens of any shape: block or not, hidden or not, opening, closing or neither, with
    or without attributes, some with inline children."""

    def token() -> Token:
        kind = draw(TYPES)
        return Token(
            kind,
            draw(st.sampled_from(["p", "li", ""])),
            draw(st.sampled_from([-1, 0, 1])),
            attrs=draw(ATTRS),
            content=draw(WORDS),
            info=draw(st.sampled_from(["", "py", "js a=1"])),
            block=draw(st.booleans()),
            hidden=draw(st.booleans()),
        )

    tokens = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.booleans()):
            inline = Token("inline", "", 0, block=True)
            inline.children = [token() for _ in range(draw(st.integers(0, 4)))]
            tokens.append(inline)
        else:
            tokens.append(token())
    return tokens


@settings(max_examples=200)  # tokens only, quick: a deeper search for the rarer shapes
@given(tokens=token_lists(), xhtml=st.booleans(), breaks=st.booleans())
def test_any_token_shape_renders_as_the_library_renders_it(
    tokens: list[Token], xhtml: bool, breaks: bool
) -> None:
    options = MarkdownIt("commonmark", {"xhtmlOut": xhtml, "breaks": breaks}).options
    fast = FastRendering().render(copy.deepcopy(tokens), options, {})
    assert fast == RendererHTML().render(copy.deepcopy(tokens), options, {})


def every_body(root: Path) -> list[tuple[Callable[..., str], Sequence[Token], Any]]:
    """Each body the build renders of each essay of the site at `root`: renderer, tokens
    and the context its output renders with (images measured)."""
    cache = BuildCache(root, enabled=False)
    site = load(root, cache).site
    bodies = essay_bodies(root, site.settings, CHANNELS, ImageSizes(root, cache))
    return [
        (render, essay.tokens, context)
        for essay in site.essays
        for render, context in bodies(essay)
    ]


@pytest.mark.parametrize("corpus", ["example", "generated"])
def test_every_essay_of_the_corpora_renders_as_the_library_does(
    tmp_path: Path, corpus: str
) -> None:
    root = example_site(tmp_path / corpus) if corpus == "example" else generate(40, tmp_path)
    bodies = every_body(root)
    assert len(bodies) >= 3 * (40 if corpus == "generated" else 5)
    for render, tokens, context in bodies:
        assert render(tokens, context) == library_render(render, tokens, context)


def test_the_renderers_never_take_the_librarys_token_by_token_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The speed of the build's bodies: no token of an essay goes through the library's
    generic loop or `renderToken` (each looks its rule up twice and writes its tag by
    string concatenation); a rule added later that does is caught here."""
    bodies = every_body(example_site(tmp_path / "example"))

    def refused(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("the library's token-by-token path")

    for name in ("render", "renderInline", "renderToken", "renderAttrs"):
        monkeypatch.setattr(RendererHTML, name, refused)
    for render, tokens, context in bodies:
        assert render(tokens, context)


class Marked(RendererHTML):
    """A renderer with its own text rule, `renderToken` and `renderInline`."""

    def text(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return f"[{tokens[idx].content}]"

    def renderToken(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return f"<{tokens[idx].type}>"

    def renderInline(self, tokens: Sequence[Token], options: Any, env: Any) -> str:
        return "{" + super().renderInline(tokens, options, env) + "}"


class FastMarked(Marked, FastRendering):
    """`Marked`, rendered the faster way."""


@given(source=ESSAYS)
def test_a_renderers_own_rules_and_methods_come_first(source: str) -> None:
    tokens = build_parser().parse(source, {"publish": {"glossary": GLOSSARY}})
    options = build_parser().options
    assert FastMarked().render(tokens, options, {}) == Marked().render(tokens, options, {})


@settings(max_examples=100)
@given(source=ESSAYS, notes=st.booleans())
def test_the_web_page_and_feed_entry_written_in_one_pass_are_those_written_apart(
    source: str, notes: bool
) -> None:
    env = {"publish": {"glossary": GLOSSARY}}
    tokens = build_parser().parse(source + (NOTES if notes else ""), env)
    web, feed = CONTEXTS[web_body], CONTEXTS[feed_body]
    together = web_and_feed_bodies(tokens, web, feed)
    assert together == (web_body(tokens, web), feed_body(tokens, feed))
    assert together[1] == library_render(feed_body, tokens, feed)


class MarkedText(RendererHTML):
    """A renderer with its own text and emphasis rules (all else the library's)."""

    def text(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return f"[{tokens[idx].content}]"

    def em_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return "<i>"


class FastMarkedText(MarkedText, FastRendering):
    """`MarkedText`, rendered the faster way."""


@settings(max_examples=200)
@given(
    tokens=token_lists(),
    xhtml=st.booleans(),
    breaks=st.booleans(),
    marked=st.sampled_from([False, True, "own inline"]),
)
def test_two_renderers_write_in_one_pass_what_each_writes_alone(
    tokens: list[Token], xhtml: bool, breaks: bool, marked: bool | str
) -> None:
    """Whatever the tokens and options, and whether the two renderers' rules differ (text,
    emphasis, a `renderInline` and `renderToken` of its own) or not: each gets what it
    writes alone."""
    options = MarkdownIt("commonmark", {"xhtmlOut": xhtml, "breaks": breaks}).options
    first = FastRendering()
    second = {False: FastRendering, True: FastMarkedText, "own inline": FastMarked}[marked]()
    together = render_pair(first, second, copy.deepcopy(tokens), options, ({}, {}))
    alone = (
        first.render(copy.deepcopy(tokens), options, {}),
        second.render(copy.deepcopy(tokens), options, {}),
    )
    assert together == alone


def test_the_build_writes_an_essays_web_page_and_feed_entry_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bodies a parse keeps: its feed entry is written with its web page, in one pass
    over the tokens (what both write alike written once), never by a pass of its own."""
    bodies = every_body(example_site(tmp_path / "example"))
    essays = [(tokens, context) for render, tokens, context in bodies if render is web_body]
    feeds = [context for render, _, context in bodies if render is feed_body]
    apart = [
        render_bodies(tokens, [(web_body, web), (feed_body, feed)])
        for (tokens, web), feed in zip(essays, feeds, strict=True)
    ]

    def refused(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("a pass over the tokens for the feed entry alone")

    monkeypatch.setattr(FEED_RENDERER, "render", refused)
    together = [
        render_bodies(tokens, [(web_body, web), (feed_body, feed)], BODY_PAIRS)
        for (tokens, web), feed in zip(essays, feeds, strict=True)
    ]
    assert together == apart and len(together) >= 5
    cold = BuildCache(tmp_path / "example", enabled=True)
    assert load(tmp_path / "example", cold).site.essays  # the load keeps both, in one pass


PLAIN_PARAGRAPH = "Plain words of a paragraph, *some stressed*, and more.\n\n"


def test_the_pair_writes_an_inline_tokens_children_without_a_call_of_their_own() -> None:
    """In the pair's one pass a paragraph costs one call a tag it opens (`<p>`, its
    emphasis), each written once for both bodies; its inline token, its text and its
    closing tags cost none (they are written in the pass itself, into both bodies)."""
    tokens = {n: build_parser().parse(PLAIN_PARAGRAPH * n, {}) for n in (20, 40)}
    context = RenderContext(slug="s", base="../", glossary_url="../glossary/")
    assert calls_per(lambda n: web_and_feed_bodies(tokens[n], context, context)) == 2


def test_a_citation_and_its_note_cost_the_pair_a_bounded_number_of_calls() -> None:
    """What a cited note of the essay's own costs the pair's one pass, in calls (its
    citation, margin copy, endnote and back-link in both bodies): at most 48 (56 while each
    rule fetched the rendering's context through a method of its own)."""

    def source(notes: int) -> str:
        body = " ".join(f"Sentence {n}[^n{n}]." for n in range(notes))
        return body + "\n\n" + "\n\n".join(f"[^n{n}]: Note {n}." for n in range(notes)) + "\n"

    tokens = {n: build_parser().parse(source(n), {}) for n in (20, 40)}
    context = RenderContext(slug="s", base="../", glossary_url="../glossary/")
    assert calls_per(lambda n: web_and_feed_bodies(tokens[n], context, context)) <= 48

"""Notes in place, as markup: for any mix of notes, each note has one endnote that a screen
reader meets, at most one margin copy hidden from it, and a popover only from the glossary."""

from __future__ import annotations

from typing import Any

import lxml.html
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish.content.links import own_tokens
from publish.content.markdown import build_parser, notes_start
from publish.model import Glossary, GlossaryEntry, Note
from publish.outputs import notes as notes_module
from publish.outputs import renderers
from publish.outputs.notes import MARGIN_NOTE_LIMIT, NoteBody, note_bodies
from publish.outputs.renderers import (
    FeedRenderer,
    RenderContext,
    WebRenderer,
    feed_body,
    render_feed,
    render_web,
    web_body,
)

DEFINITION = "Complete absorption in a hard task."
GLOSSARY = Glossary(
    entries={
        "flow": GlossaryEntry(
            key="flow",
            term="Flow",
            source="",
            aliases=(),
            definition=DEFINITION,
            path="footnotes/flow.md",
            tokens=tuple(build_parser().parse(DEFINITION, {})),
        )
    }
)
# a note: its length in words, and whether it holds a list
NOTES = st.lists(st.tuples(st.integers(1, 200), st.booleans()), min_size=1, max_size=8)


def essay(notes: list[tuple[int, bool]], glossary_citations: int) -> str:
    """An essay citing each note once or twice, and the glossary's flow some times."""
    body = [f"Sentence {n}[^n{n}] and again[^n{n}]." for n in range(len(notes))]
    body += ["Flow[^flow]."] * glossary_citations
    definitions = [
        f"[^n{n}]: " + "word " * words + ("\n\n    - a list item" if listed else "")
        for n, (words, listed) in enumerate(notes)
    ]
    return " ".join(body) + "\n\n" + "\n".join(definitions) + "\n"


def rendered(source: str) -> lxml.html.HtmlElement:
    """The web body of an essay with slug 's', parsed."""
    tokens = build_parser().parse(source, {"publish": {"glossary": GLOSSARY}})
    html = render_web(tokens, RenderContext(slug="s", base="../", glossary_url="../glossary/"))
    return lxml.html.fragment_fromstring(html, create_parent="div")


@given(notes=NOTES, glossary_citations=st.integers(0, 3))
def test_each_note_is_read_once_and_shown_in_the_margin_at_most_once(
    notes: list[tuple[int, bool]], glossary_citations: int
) -> None:
    root = rendered(essay(notes, glossary_citations))
    endnotes = root.cssselect(".footnotes li.footnote-item")
    assert len(endnotes) == len(notes) + (1 if glossary_citations else 0)
    copies = root.cssselect(".margin-note")
    assert all(copy.get("aria-hidden") == "true" for copy in copies)
    assert all(a.get("tabindex") == "-1" for copy in copies for a in copy.cssselect("a"))
    numbers = [copy.cssselect(".margin-note-number")[0].text for copy in copies]
    assert len(numbers) == len(set(numbers)), "a note stands in the margin twice"
    for number, (words, listed) in enumerate(notes, start=1):
        fits = not listed and len("word " * words) <= MARGIN_NOTE_LIMIT
        assert (str(number) in numbers) == fits
    popovers = root.cssselect("[popover]")
    assert len(popovers) == (1 if glossary_citations else 0)
    assert len(root.cssselect("button[popovertarget]")) == glossary_citations
    for sup in root.cssselect("sup.footnote-ref"):
        href = sup.cssselect("a.note-link")[0].get("href")
        assert root.get_element_by_id(href[1:]) in endnotes


def test_feeds_carry_no_note_in_place() -> None:
    tokens = build_parser().parse(essay([(3, False)], 1), {"publish": {"glossary": GLOSSARY}})
    html = render_feed(tokens, RenderContext(slug="s", base="https://e.org/", glossary_url=""))
    assert "margin-note" not in html and "popover" not in html and "<button" not in html


def test_a_note_citing_another_keeps_each_id_once() -> None:
    source = "Text[^a] and more[^b].\n\n[^a]: See also[^b].\n[^b]: The other.\n"
    root = rendered(source)
    ids = [element.get("id") for element in root.iter() if element.get("id")]
    assert len(ids) == len(set(ids))
    [copy] = [c for c in root.cssselect(".margin-note") if "See also" in c.text_content()]
    assert not copy.cssselect("a[href^='#fn-']")


def test_each_note_is_gathered_with_its_glossary_key_and_margin_fit() -> None:
    """What a citation in place asks of its note is found once, as the note is gathered."""
    source = (
        "A[^flow] b[^own] c[^long] d[^list].\n\n[^own]: Short.\n\n"
        f"[^long]: {'word ' * MARGIN_NOTE_LIMIT}\n\n[^list]:\n    - one\n    - two\n"
    )
    tokens = build_parser().parse(source, {"publish": {"glossary": GLOSSARY}})
    notes = note_bodies(tokens)
    shown = [(note.glossary_key, note.fits_margin) for _, note in sorted(notes.items())]
    assert shown == [("flow", True), ("", True), ("", False), ("", False)]
    assert all(isinstance(note, NoteBody) for note in notes.values())


LINKED = "See [the index](index/) and *more*."
LINKED_GLOSSARY = Glossary(
    entries={
        **GLOSSARY.entries,
        "linked": GlossaryEntry(
            key="linked",
            term="Linked",
            source="A book",
            aliases=(),
            definition=LINKED,
            path="footnotes/linked.md",
            tokens=tuple(build_parser().parse(LINKED, {})),
        ),
    }
)


def web_html(source: str, context: RenderContext, fast: bool = True) -> str:
    """An essay's web body, rendered the build's way (or the library's)."""
    tokens = build_parser().parse(source, {"publish": {"glossary": LINKED_GLOSSARY}})
    if fast:
        return web_body(tokens, context)
    return WebRenderer().render(tokens, build_parser().options, {"render": context})


def test_a_glossary_notes_margin_copy_and_popover_are_written_once_for_all_essays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Essays citing the same glossary entry hold the same note: its margin copy and its
    popover, which cannot differ from one essay to the next, are written for the first and
    kept for the others (per glossary address), each the same as written afresh."""
    margins: list[object] = []
    popovers: list[object] = []
    real_margin, real_without = WebRenderer._margin_copy, renderers.without_anchors

    def margin_spy(self: WebRenderer, *args: Any) -> str:
        margins.append(args)
        return real_margin(self, *args)

    def popover_spy(tokens: Any) -> list[Any]:  # what a popover is written from
        popovers.append(tokens)
        return real_without(tokens)

    monkeypatch.setattr(WebRenderer, "_margin_copy", margin_spy)
    monkeypatch.setattr(renderers, "without_anchors", popover_spy)
    pages = [
        web_html(f"Essay {n} cites flow[^flow].\n", RenderContext(f"s{n}", "../", "../g/"))
        for n in range(4)
    ]
    assert (len(margins), len(popovers)) == (1, 1)
    web_html("Flow again[^flow].\n", RenderContext("t", "/", "/elsewhere/"))
    assert (len(margins), len(popovers)) == (2, 2), "another glossary address, written anew"
    monkeypatch.undo()
    for n, page in enumerate(pages):
        context = RenderContext(f"s{n}", "../", "../g/")
        assert page == web_html(f"Essay {n} cites flow[^flow].\n", context, fast=False)


@given(
    base=st.sampled_from(["../", "../../", "https://example.org/"]),
    slug=st.text("ab", min_size=1, max_size=3),
)
def test_a_glossary_note_that_depends_on_the_essay_is_written_for_each(
    base: str, slug: str
) -> None:
    """A glossary note holding a link (resolved against each essay's base) is written for
    each essay, as the library writes it: never one essay's copy in another's page."""
    source = "Linked[^linked] and flow[^flow].\n"
    context = RenderContext(slug, base, f"{base}glossary/")
    assert web_html(source, context) == web_html(source, context, fast=False)
    assert f'href="{base}index/"' in web_html(source, context)


def test_what_a_glossary_note_asks_of_its_tokens_is_found_once_for_all_essays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whether a glossary note fits the margin is found for the first essay citing its
    entry and kept for the others (their notes are the same tokens but the back-links),
    as it would be found for each."""
    looked: list[object] = []
    real = notes_module._fits_margin

    def spy(tokens: Any) -> bool:
        looked.append(tokens)
        return real(tokens)

    monkeypatch.setattr(notes_module, "_fits_margin", spy)
    entry = msgspec.structs.replace(GLOSSARY.entries["flow"])  # one no essay has cited yet
    glossary = Glossary(entries={"flow": entry})
    sources = [f"Essay {n}: flow[^flow], twice[^flow].\n" for n in range(3)]
    gathered = [
        note_bodies(build_parser().parse(s, {"publish": {"glossary": glossary}})) for s in sources
    ]
    assert len(looked) == 1
    assert [notes[0].fits_margin for notes in gathered] == [
        real(notes[0].tokens) for notes in gathered
    ]


def test_a_glossary_notes_term_is_written_once_for_each_glossary_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A glossary note opens with its term, linked to the glossary page, alike in every
    essay citing it: written once for each glossary address (and once for the margin), the
    same in every page as the library's rendering writes it."""
    term = "Quire of Terms"
    entry = msgspec.structs.replace(GLOSSARY.entries["flow"], key="quire", term=term)
    glossary = Glossary(entries={"quire": entry})
    escaped: list[str] = []
    for module, name in ((renderers, "html_escape"), (notes_module, "escape")):
        real = getattr(module, name)
        spy = lambda text, *rest, real=real: escaped.append(text) or real(text, *rest)  # noqa: E731
        monkeypatch.setattr(module, name, spy)
    pages = []
    for n in range(3):
        tokens = build_parser().parse(
            f"Essay {n}: quire[^quire].\n", {"publish": {"glossary": glossary}}
        )
        web = RenderContext(f"s{n}", "../", "../quire-glossary/")
        feed = RenderContext(f"s{n}", "https://q.example/", "https://q.example/quire-glossary/")
        pages.append((tokens, web, web_body(tokens, web), feed, feed_body(tokens, feed)))
    assert escaped.count(term) == 3, "written again for an essay"
    monkeypatch.undo()
    for tokens, web, web_html_written, feed, feed_html_written in pages:
        assert web_html_written == WebRenderer().render(
            tokens, build_parser().options, {"render": web}
        )
        assert feed_html_written == FeedRenderer().render(
            tokens, build_parser().options, {"render": feed}
        )


class Untouchable:
    """A body token that fails the test if anything looks at it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a body token was looked at ({name})")


@given(notes=NOTES, glossary_citations=st.integers(0, 3))
def test_the_notes_are_gathered_without_walking_the_body(
    notes: list[tuple[int, bool]], glossary_citations: int
) -> None:
    """`note_bodies` and `own_tokens` read the notes section alone (the footnote plugin
    appends it last, `notes_start` finds where it begins): the body's tokens before it are
    never looked at, and what they give is what a walk of every token gives."""
    env: dict[str, Any] = {"publish": {"glossary": GLOSSARY}}
    tokens = build_parser().parse(essay(notes, glossary_citations), env)
    start = notes_start(tokens)
    assert tokens[start].type == "footnote_block_open"
    assert all(token.type != "footnote_open" for token in tokens[:start])
    noted = [
        Note(number + 1, note["label"], "flow" if note["label"] == "flow" else None, 1)
        for number, note in env["footnotes"]["list"].items()
    ]
    walked = _own_tokens_walked(tokens, noted)
    shielded = [Untouchable() for _ in tokens[:start]] + tokens[start:]
    assert note_bodies(shielded) == note_bodies(tokens)
    own = own_tokens(shielded, noted)
    assert own[:start] == shielded[:start] and own[start:] == walked[start:]


def _own_tokens_walked(tokens: list[Any], notes: list[Note]) -> list[Any]:
    """`own_tokens` as a walk of every token (what it gave before it knew `notes_start`)."""
    glossary_ids = {note.number - 1 for note in notes if note.glossary_key}
    kept, skipping = [], False
    for token in tokens:
        if token.type == "footnote_open":
            skipping = token.meta.get("id") in glossary_ids
        if not skipping:
            kept.append(token)
        if token.type == "footnote_close":
            skipping = False
    return kept


def test_a_parse_without_notes_has_its_notes_start_at_its_end() -> None:
    tokens = build_parser().parse("Just a paragraph.\n\n> and a quote\n", {})
    assert notes_start(tokens) == len(tokens)
    assert notes_start([]) == 0
    assert note_bodies(tokens) == {}

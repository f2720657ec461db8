"""Warnings an essay's source shows when it is parsed, before any reader sees them: the
placeholder paragraph `publish new` wrote, a subject line too long for an inbox, embedded
media that mail clients drop, and images without alt text (Markdown or raw `<img>`).

They are found once per parse and kept with the parse in the build cache, so `check`,
`build` and `run` all report them at their line and column without reading the file again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache

from markdown_it.token import Token

from publish.content.source import FrontMatterDocument
from publish.errors import Problem, warning
from publish.support.textscan import holds_pair

# The first paragraph `publish new` writes into a new essay.
NEW_ESSAY_PLACEHOLDER = "Write the first paragraph here; it becomes the summary unless you set one."
SUBJECT_LIMIT = 80  # characters of a subject line most inboxes show before cutting it
# Elements mail clients drop (or refuse to run): the email links to the web page instead.
DROPPED_BY_MAIL = ("iframe", "video", "embed", "object", "script")


# The patterns below are compiled on first use: most essays hold no raw HTML and no image.


@cache
def dropped_tag() -> re.Pattern[str]:
    """The start of an element mail clients drop (`DROPPED_BY_MAIL`)."""
    return re.compile(r"<(" + "|".join(DROPPED_BY_MAIL) + r")\b", re.IGNORECASE)


@cache
def html_image() -> re.Pattern[str]:
    """A raw `<img>` tag."""
    return re.compile(r"<img\b[^>]*>", re.IGNORECASE)


@cache
def html_attribute() -> re.Pattern[str]:
    """One attribute of an HTML start tag, its value quoted either way or bare."""
    return re.compile(r"""\b([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)


@cache
def empty_alt() -> re.Pattern[str]:
    """A Markdown image with no alt text: `![](`."""
    return re.compile(r"!\[\s*\]\(")


def source_warnings(
    document: FrontMatterDocument, title: str, own: Sequence[Token]
) -> list[Problem]:
    """Every parse-time warning of an essay (`own` are its tokens without glossary notes).
    A check whose subject the body cannot hold (raw HTML has a `<`, an image its `![`, the
    placeholder its text) does not look through the tokens for it."""
    body = document.body
    placeholder, raw_html, images = (
        NEW_ESSAY_PLACEHOLDER in body,
        "<" in body,
        holds_pair(body, "!["),
    )
    if not (placeholder or raw_html or images):
        return _long_subject(document, title)  # the body is not split into lines for nothing
    lines = body.split("\n")
    return [
        *(_placeholder(document, lines) if placeholder else []),
        *_long_subject(document, title),
        *(_dropped_embeds(document, own, lines) if raw_html else []),
        *_images_without_alt(document, own, lines, images, raw_html),
    ]


def _placeholder(document: FrontMatterDocument, lines: list[str]) -> list[Problem]:
    """A warning at each line that still holds the paragraph `publish new` wrote."""
    return [
        warning(
            document.path,
            document.body_line + number + 1,
            line.find(NEW_ESSAY_PLACEHOLDER) + 1,
            "this is still the placeholder paragraph `publish new` wrote; "
            "replace it before the essay is released",
        )
        for number, line in enumerate(lines)
        if NEW_ESSAY_PLACEHOLDER in line
    ]


def _long_subject(document: FrontMatterDocument, title: str) -> list[Problem]:
    """A warning when the title, the email's subject, is longer than inboxes show."""
    if len(title) <= SUBJECT_LIMIT:
        return []
    return [
        warning(
            document.path,
            document.key_line("title"),
            1,
            f"the title is the email's subject and is {len(title)} characters long; most "
            f"inboxes cut a subject after about {SUBJECT_LIMIT}",
        )
    ]


def _html_tokens(tokens: Sequence[Token]) -> Iterator[tuple[Token, Token]]:
    """Each raw HTML token of the body with the block token whose lines hold it."""
    for token in tokens:
        if token.type == "html_block" and token.map:
            yield token, token
        elif token.type == "inline" and token.map:
            for child in token.children or []:
                if child.type == "html_inline":
                    yield child, token


def _places(
    document: FrontMatterDocument, block: Token, lines: list[str], pattern: re.Pattern[str]
) -> Iterator[tuple[re.Match[str], int, int]]:
    """Each match of `pattern` in a block's source lines, with its file line and column."""
    first, last = block.map if block.map else (0, 0)
    for number in range(first, min(last, len(lines))):
        for match in pattern.finditer(lines[number]):
            yield match, document.body_line + number + 1, match.start() + 1


def _dropped_embeds(
    document: FrontMatterDocument, tokens: Sequence[Token], lines: list[str]
) -> list[Problem]:
    """A warning at each `<iframe>`, `<video>`, `<embed>`, `<object>` or `<script>`."""
    problems, seen = [], set()
    for html, block in _html_tokens(tokens):
        if not dropped_tag().search(html.content):
            continue
        for match, line, col in _places(document, block, lines, dropped_tag()):
            if (line, col) not in seen:
                seen.add((line, col))
                problems.append(
                    warning(
                        document.path,
                        line,
                        col,
                        f"mail clients drop <{match[1].lower()}>: the email shows a link to the "
                        "essay's web page in its place",
                    )
                )
    return problems


def html_image_sources(tokens: Sequence[Token]) -> Iterator[tuple[Token, str]]:
    """The `src` of each raw `<img>` of the body, with the block token that holds it."""
    for html, block in _html_tokens(tokens):
        for tag in html_image().finditer(html.content):
            attributes = html_attributes(tag[0])
            if attributes.get("src"):
                yield block, attributes["src"]


def html_attributes(tag: str) -> dict[str, str]:
    """The attributes of one HTML start tag, by lower-case name."""
    return {
        m[1].lower(): next(v for v in m.groups()[1:] if v is not None)
        for m in html_attribute().finditer(tag)
    }


def _images_without_alt(
    document: FrontMatterDocument,
    tokens: Sequence[Token],
    lines: list[str],
    images: bool,
    raw_html: bool,
) -> list[Problem]:
    """A warning at each image with no alt text: `![](src)`, and `<img>` without `alt` (an
    empty `alt=""` is how HTML marks an image as decoration, so it is left alone); each
    kind looked for only where the body can hold one (`images`, `raw_html`)."""
    message = "image has no alt text for readers who cannot see it; describe it in ![...]"
    problems, seen = [], set()
    for token in tokens if images else ():
        inline_empty = token.type == "inline" and any(
            child.type == "image" and not child.content.strip() for child in token.children or []
        )
        if inline_empty:
            for _, line, col in _places(document, token, lines, empty_alt()):
                problems.append(warning(document.path, line, col, message))
    for html, block in _html_tokens(tokens) if raw_html else ():
        if not html_image().search(html.content):
            continue
        for match, line, col in _places(document, block, lines, html_image()):
            if (line, col) not in seen and "alt" not in html_attributes(match[0]):
                seen.add((line, col))
                problems.append(
                    warning(document.path, line, col, '<img> has no alt text; add alt="..."')
                )
    return problems

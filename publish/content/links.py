"""Links and images in an essay's source: refused link schemes (as markdown-it refuses them)
and images that are missing, outside the site or of an unsafe kind, each with its line."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it.token import Token

from publish.content.essaylinks import locate_links, may_hold_links
from publish.content.markdown import SCHEME, build_parser, notes_start
from publish.content.preflight import html_image_sources
from publish.content.source import FrontMatterDocument
from publish.errors import Problem, error, shown, warning
from publish.layout import ESSAYS_DIR
from publish.model import Essay, Glossary, GlossaryEntry, Located, Note
from publish.support.textscan import holds_pair

IMAGE_SCHEMES = ("http", "https")


@cache
def safe_data_image() -> re.Pattern[str]:
    """A `data:` image of a raster type browsers show safely (compiled on first use: few
    essays show one)."""
    return re.compile(r"^data:image/(?:gif|png|jpeg|webp);", re.IGNORECASE)


@cache
def image_destination() -> re.Pattern[str]:
    """Where a Markdown image's destination starts (compiled on first use: only an image
    that is refused is placed)."""
    return re.compile(r"!\[[^\]]*\]\(\s*<?([^\s)>]*)")


# A link's destination as written (`](url` or `](<url`); markdown-it decides which it refuses.
LINK_DESTINATION = re.compile(r"\]\(\s*<?\s*([A-Za-z][A-Za-z0-9+.-]*:[^\s)>]*)")


def unsafe_links(document: FrontMatterDocument) -> list[Problem]:
    """Warn about links with a scheme the renderer refuses (they stay plain text); images
    are checked by `image_problems`."""
    problems: list[Problem] = []
    if not holds_pair(document.body, "]("):  # no destination (LINK_DESTINATION needs one)
        return problems
    for number, line in enumerate(document.body.split("\n")):
        for match in refused_links(line):
            if _is_image(line, match.start()):
                continue
            problems.append(
                warning(
                    document.path,
                    document.body_line + number + 1,
                    match.start(1) + 1,
                    f"unsafe link scheme '{_scheme(match[1])}' refused; the link is shown as text",
                )
            )
    return problems


def refused_links(line: str) -> Iterator[re.Match[str]]:
    """Each link destination of a source line that markdown-it's `validateLink` refuses (it
    renders those links as text); `match[1]` is the destination, from its scheme on."""
    if "](" not in line:  # the start of every destination LINK_DESTINATION finds
        return
    parser = build_parser()
    for match in LINK_DESTINATION.finditer(line):
        if not parser.validateLink(parser.normalizeLink(match[1])):
            yield match


def _scheme(destination: str) -> str:
    """The scheme of a destination, with its colon, in lower case (`javascript:`)."""
    return destination[: destination.index(":") + 1].lower()


def _is_image(line: str, bracket: int) -> bool:
    """Whether the `](` at `bracket` closes an image's alt text (`![alt](`)."""
    return re.search(r"!\[[^\[\]]*\Z", line[:bracket]) is not None


def image_problems(essay: Essay, root: Path) -> list[Problem]:
    """An error for each image of an essay (front matter `image:` and every `![alt](src)`)
    that is unsafe or missing: every output (web, feeds, email) shows the same images, so
    this one check refuses them everywhere. Run at each load (files come and go), on the
    sources `locate_sources` found when the essay was parsed."""
    return _image_faults(essay.path, list(essay.images), root)


def locate_sources(
    own: list[Token], raw: bytes, image: str, body_line: int
) -> tuple[tuple[Located, ...], tuple[Located, ...]]:
    """Every image source and every link destination of a parsed essay, each with its file
    line and column: the images are the front matter's `image` and those of the body, the
    links those of the body (`own`: its tokens without its glossary notes', see `own_tokens`),
    whose first line is file line `body_line` + 1. `raw` is the essay file's bytes as
    already read (not read again); its lines are found once for both."""
    text = raw.decode("utf-8")
    # only a body with an image's `![` or raw HTML's `<` has images to look for, only one
    # that `may_hold_links` has links: a file with neither is not split into lines
    body_images, html, links = holds_pair(text, "!["), "<" in text, may_hold_links(text)
    if not (image or body_images or html or links):
        return (), ()
    lines = _lines(text)
    images = (
        *_front_matter_image(image, lines, body_line),
        *(_body_images(own, lines, body_line) if body_images else ()),
        *(_html_images(own, lines, body_line) if html else ()),
    )
    return images, locate_links(own, lines, body_line) if links else ()


def _html_images(tokens: list[Token], lines: list[str], start: int) -> list[Located]:
    """The source of each raw `<img>` of the body with its file line and column."""
    found = []
    for block, src in html_image_sources(tokens):
        first, last = block.map if block.map else (0, 0)
        place = next(
            (
                (number + 1, lines[number].find(src) + 1)
                for number in range(start + first, min(start + last, len(lines)))
                if src in lines[number]
            ),
            (start + first + 1, 1),
        )
        found.append(Located(src, *place))
    return found


def glossary_image_problems(glossary: Glossary, root: Path) -> list[Problem]:
    """The same check for the images of each glossary definition, which essays show too (a
    definition that can hold none is not read again to locate them)."""
    problems = []
    for entry in glossary.entries.values():
        if not _may_hold_images(entry):
            continue
        lines = _file_lines(root / entry.path)
        text = "\n".join(lines)
        start = text[: max(text.find(entry.definition), 0)].count("\n")
        problems += _image_faults(entry.path, _body_images(list(entry.tokens), lines, start), root)
    return problems


def _may_hold_images(entry: GlossaryEntry) -> bool:
    """Whether `_body_images` can find an image in a glossary definition: one the parser
    made, or a destination it refused (which always follows a `](`)."""
    return "](" in entry.definition or any(
        child.type == "image"
        for token in entry.tokens
        if token.type == "inline"
        for child in token.children or []
    )


def glossary_links(glossary: Glossary, root: Path) -> list[tuple[str, tuple[Located, ...]]]:
    """Each glossary file's path with every link destination of its definition, located."""
    found = []
    for entry in sorted(glossary.entries.values(), key=lambda e: e.path):
        lines = _file_lines(root / entry.path)
        text = "\n".join(lines)
        start = text[: max(text.find(entry.definition), 0)].count("\n")
        found.append((entry.path, locate_links(list(entry.tokens), lines, start)))
    return found


def _file_lines(path: Path) -> list[str]:
    """A Markdown file's lines, as documents.read_document numbers them."""
    return _lines(path.read_text(encoding="utf-8"))


def _lines(text: str) -> list[str]:
    """A Markdown text's lines, as documents.read_document numbers them."""
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _image_faults(shown_path: str, found: list[Located], root: Path) -> list[Problem]:
    """An error for each located image source that `image_fault` finds wrong."""
    problems = []
    for src, line, col in found:
        fault = image_fault(src, root / ESSAYS_DIR)
        if fault:
            problems.append(error(shown_path, line, col, f"image '{shown(src)}' {fault}"))
    return problems


def image_fault(src: str, folder: Path) -> str | None:
    """What is wrong with an image source, or None: remote http(s) images and files under
    `folder` (essays/, the site's root) are fine."""
    scheme = SCHEME.match(src)
    if scheme:
        name = scheme[0][:-1].lower()
        if name in IMAGE_SCHEMES or safe_data_image().match(src):
            return None
        return f"uses the scheme '{name}:'; use an http(s) URL or a file under essays/"
    if src.startswith("//"):
        return None
    path = unquote(urlsplit(src).path)
    parts = [part for part in path.split("/") if part]
    if ".." in parts or "\\" in path:
        return "must not climb out of essays/ ('..'); name a file under essays/"
    if any(part.startswith(".") for part in parts):
        return "is in a hidden file or folder, which is never published"
    target = folder.joinpath(*parts) if parts else folder
    inside = target.resolve().is_relative_to(folder.resolve())
    if not parts or not inside or not target.is_file() or target.suffix == ".md":
        where = (
            "essays/ (a path starting with '/' means essays/, not the disk)"
            if path.startswith("/")
            else "essays/"
        )
        return f"is not a file under {where}"
    return None


def _front_matter_image(image: str, lines: list[str], body_line: int) -> list[Located]:
    """The front matter's `image:` (on one of the file's first `body_line` lines), at its
    value."""
    if not image:
        return []
    for number, text in enumerate(lines[:body_line], start=1):
        match = re.match(r"image\s*:\s*[\"']?", text)
        if match:
            return [Located(image, number, match.end() + 1)]
    return [Located(image, 1, 1)]


def own_tokens(all_tokens: Sequence[Token], notes: Sequence[Note]) -> list[Token]:
    """An essay's tokens without its glossary notes' (checked with their own files)."""
    glossary_ids = {note.number - 1 for note in notes if note.glossary_key}
    if not glossary_ids:
        return list(all_tokens)
    start = notes_start(all_tokens)  # the body before the notes is all the essay's own
    tokens, skipping = list(all_tokens[:start]), False
    for token in all_tokens[start:]:
        if token.type == "footnote_open":
            skipping = token.meta.get("id") in glossary_ids
        if not skipping:
            tokens.append(token)
        if token.type == "footnote_close":
            skipping = False
    return tokens


def _body_images(tokens: list[Token], lines: list[str], start: int) -> list[Located]:
    """Each image of a parsed body (whose first line is file line `start` + 1) with its
    file line and column: those the parser made, and those it refused for their scheme."""
    found = [
        Located(src, *_image_position(lines, start, token.map, src))
        for token in tokens
        if token.type == "inline" and token.map
        for child in token.children or []
        if child.type == "image"
        for src in [str(child.attrs.get("src", ""))]
    ]
    code = {n for t in tokens if t.type in ("fence", "code_block") and t.map for n in range(*t.map)}
    for number in range(start, len(lines)):
        line = lines[number]
        if "](" not in line or number - start in code:
            continue
        for match in refused_links(line):
            if _is_image(line, match.start()):
                written = image_destination().match(line, line.rfind("![", 0, match.start()))
                found.append(
                    Located(
                        written[1] if written else _scheme(match[1]), number + 1, match.start(1) + 1
                    )
                )
    return found


def _image_position(lines: list[str], start: int, block: list[int], src: str) -> tuple[int, int]:
    """File line and column of an inline image's source within its block."""
    for number in range(start + block[0], min(start + block[1], len(lines))):
        for match in image_destination().finditer(lines[number]):
            if unquote(match[1]) == unquote(src):
                return number + 1, match.start(1) + 1
    return start + block[0] + 1, 1

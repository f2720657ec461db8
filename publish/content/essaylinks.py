"""Links in an essay's source, found with their line and column at parse time, and the links
between essays: `[text](other-essay.md)` (or `./03-other-essay.md#part`) and
`[text](../other-essay/)` name another essay, which the outputs turn into its address
(relative on the web, absolute in email and feeds). A link to no essay is an error, and so is
a link to an essay that would not yet be out when the linking essay is."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from functools import cache
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import msgspec
from markdown_it import MarkdownIt
from markdown_it.token import Token

from publish.content.markdown import SCHEME, build_parser
from publish.errors import Problem, did_you_mean, error
from publish.model import Essay, Located, Site

# Where a destination starts in the source: `](dest`, `<dest>` (an autolink), `]: dest`.
DESTINATION = re.compile(r"(?:\]\(\s*<?|<|\]:[ \t]*<?)([^\s)>]+)")
NUMBER_PREFIX = re.compile(r"^\d+[-_. ]+")


@cache
def page_link() -> re.Pattern[str]:
    """A link to an essay's page, `../slug/` (compiled on first use, as a link needs it)."""
    return re.compile(r"\.\./([^/]+)/?(?:index\.html)?")


class EssayReference(msgspec.Struct, frozen=True):
    """What a link names: an essay file (`other.md`) or an essay's page (`../other/`)."""

    name: str  # the file name as written, or the slug
    fragment: str  # "#part", or ""
    kind: str  # "file" or "page"

    def written(self) -> str:
        """The reference as a writer would write it (for "did you mean")."""
        return self.name if self.kind == "file" else f"../{self.name}/"


def essay_reference(href: str) -> EssayReference | None:
    """The essay a link's destination names, or None for any other link."""
    if not href or SCHEME.match(href) or href.startswith(("#", "/", "?", "\\")):
        return None
    parts = urlsplit(href)
    path = unquote(parts.path)
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    while path.startswith("./"):
        path = path[2:]
    if path.endswith(".md") and not parts.query:
        return EssayReference(path, fragment, "file")
    page = page_link().fullmatch(path)
    if page and not parts.query:
        return EssayReference(page[1], fragment, "page")
    return None


def file_name(path: str) -> str:
    """The last part of a POSIX path, as `PurePosixPath(path).name` gives it, without
    making a path object (three indexes of every essay are made on each build)."""
    name = path.rpartition("/")[2]
    return name if name not in ("", ".") else PurePosixPath(path).name


class EssayIndex:
    """The essays of a site by every name a link may give them: file name, slug, and file
    name without its number prefix (`03-other.md` is also `other.md`)."""

    def __init__(self, essays: Iterable[Essay]):
        self.files: dict[str, Essay] = {}
        self.slugs: dict[str, Essay] = {}
        for essay in essays:
            name = file_name(essay.path)
            self.files.setdefault(name, essay)
            self.files.setdefault(NUMBER_PREFIX.sub("", name), essay)
            self.files.setdefault(f"{essay.slug}.md", essay)
            self.slugs.setdefault(essay.slug, essay)

    def find(self, reference: EssayReference) -> Essay | None:
        """The essay a reference names, or None."""
        if reference.kind == "page":
            return self.slugs.get(reference.name)
        return self.files.get(reference.name)

    def names(self, reference: EssayReference) -> list[str]:
        """Every name of the reference's kind, as a writer would write it."""
        if reference.kind == "page":
            return [f"../{slug}/" for slug in self.slugs]
        return list(self.files)


def may_hold_links(text: str) -> bool:
    """Whether parsed Markdown `text` can hold a link at all: only an inline link's `](`, an
    autolink's `<` and a reference definition's `]:` (other than a footnote definition's
    opening, `[^label]:` with a plain label, which the footnote rule takes before the
    reference rule may) make one."""
    if "<" in text:
        return True
    end = text.find("]")  # each `]` looked at (a `memchr`: rare in prose) for what follows
    while end >= 0:
        after = text[end + 1 : end + 2]
        if after == "(":
            return True
        if after == ":":
            start = text.rfind("[^", 0, end)
            label = text[start + 2 : end]
            if start < 0 or "]" in label or label.split() != [label]:
                return True  # a `]:` not closing a footnote definition's plain label
        end = text.find("]", end + 1)
    return False


def locate_links(tokens: Sequence[Token], lines: list[str], start: int) -> tuple[Located, ...]:
    """Every link destination of parsed body tokens (whose first line is file line
    `start` + 1), with its file line and column."""
    found: list[Located] = []
    taken: set[tuple[int, int]] = set()
    parser = build_parser()
    for token in tokens:
        if token.type != "inline" or not token.map:
            continue
        for child in token.children or []:
            if child.type == "link_open":
                href = str(child.attrs.get("href", ""))
                first, last = start + token.map[0], min(start + token.map[1], len(lines))
                where = _position(lines, range(first, last), href, taken, parser)
                where = where or _position(lines, range(start, len(lines)), href, taken, parser)
                found.append(Located(href, *(where or (first + 1, 1))))
    return tuple(found)


def _position(
    lines: list[str], numbers: range, href: str, taken: set[tuple[int, int]], parser: MarkdownIt
) -> tuple[int, int] | None:
    """The first unclaimed place in `lines` where `href` is written, claimed."""
    for number in numbers:
        for match in DESTINATION.finditer(lines[number]):
            written = match[1]
            place = (number + 1, match.start(1) + 1)
            if place in taken:
                continue
            if written == href or parser.normalizeLink(written) == href:
                taken.add(place)
                return place
    return None


def missing_link_problems(essays: Sequence[Essay]) -> list[Problem]:
    """An error at each link to an essay the site does not have, with "did you mean"."""
    index = EssayIndex(essays)
    problems = []
    for essay in essays:
        for href, line, col in essay.links:
            reference = essay_reference(href)
            if reference is None or index.find(reference) is not None:
                continue
            what = "file" if reference.kind == "file" else "slug"
            hint = did_you_mean(reference.written(), index.names(reference))
            problems.append(
                error(
                    essay.path,
                    line,
                    col,
                    f"link to '{href}': no essay has that {what}{hint}; link to another "
                    "essay by its file name (other.md) or its address (../other-slug/)",
                )
            )
    return problems


def unpublished_link_problems(site: Site, published: Site, today: date | datetime) -> list[Problem]:
    """An error at each link of a shown essay to an essay that would not be out when the
    linking one is: a draft, an essay this build leaves out, or one going out later (the
    linking essay's date, or today if later, is when readers first follow the link)."""
    index, shown = EssayIndex(site.essays), {e.slug: e for e in published.essays}
    day = today.date() if isinstance(today, datetime) else today
    problems = []
    for essay in published.essays:
        for href, line, col in essay.links:
            reference = essay_reference(href)
            target = index.find(reference) if reference else None
            if target is None or target.slug == essay.slug:
                continue
            reason = _not_out(essay, shown.get(target.slug), target, day)
            if reason:
                problems.append(
                    error(
                        essay.path,
                        line,
                        col,
                        f"link to '{href}': that essay {reason}, so readers would find no "
                        "page there; release it first or take the link out",
                    )
                )
    return problems


def _not_out(essay: Essay, shown: Essay | None, target: Essay, day: date) -> str:
    """Why `target` is not out when `essay` is read ("" when it is)."""
    if shown is None:
        if target.draft:
            return "is a draft"
        if target.date is None:
            return "is queued and has no date yet"
        return f"is not out until {target.date.date()}"
    if essay.draft:
        return ""
    if shown.draft:
        return "is a draft"
    if shown.date and essay.date and shown.date.date() > max(essay.date.date(), day):
        return f"goes out on {shown.date.date()}, after this essay ({essay.date.date()})"
    return ""


def likely_link_targets(
    essay: Essay, slug_of: Callable[[str], str | None]
) -> tuple[tuple[str, str], ...]:
    """The link targets `with_link_targets` will most likely give an essay, found without
    loading the others: a page link names its slug, a file link the essay file of that name
    (`slug_of` reads its slug); a file found under another name is left out."""
    targets = []
    for href, _, _ in essay.links:
        reference = essay_reference(href)
        if reference is None:
            continue
        slug = reference.name if reference.kind == "page" else slug_of(reference.name)
        if slug is not None:
            targets.append((href, f"{slug}/{reference.fragment}"))
    return tuple(dict.fromkeys(targets))


def with_link_targets(published: Site) -> Site:
    """The site with each essay's links to other essays resolved to their addresses."""
    index = EssayIndex(published.essays)
    essays = []
    for essay in published.essays:
        targets = []
        for href, _, _ in essay.links:
            reference = essay_reference(href)
            target = index.find(reference) if reference else None
            if reference is not None and target is not None:
                targets.append((href, f"{target.slug}/{reference.fragment}"))
        targets_tuple = tuple(dict.fromkeys(targets))
        changed = targets_tuple != essay.link_targets
        essays.append(
            msgspec.structs.replace(essay, link_targets=targets_tuple) if changed else essay
        )
    return msgspec.structs.replace(published, essays=tuple(essays))

"""The Jinja2 environment: a site's `templates/` overrides the packaged defaults file by file."""

from __future__ import annotations

import contextlib
import re
import traceback
from collections.abc import Collection, Iterable, MutableMapping
from functools import lru_cache
from html import escape
from itertools import islice
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    pass_environment,
)

from publish.errors import Problem, PublishError, error
from publish.i18n import N_
from publish.i18n.templates import I18N_EXTENSION, install_words, localized
from publish.i18n.words import ENGLISH, Words, essay_words, words_for
from publish.layout import ESSAYS_DIR, TEMPLATES_DIR
from publish.model import Site
from publish.outputs.templatecode import PACKAGE_TEMPLATES, JoinedOutputCode, TemplateCode

PACKAGE_STATIC = Path(__file__).parent.parent / "static"
# Packaged files a site may replace with its own file of the same name beside the essays.
PACKAGED_FILES = ("favicon.svg", "feed.xsl")
FEED_STYLESHEET = "feed.xsl"
# The words of the page a browser shows for the RSS feed (feed.xsl), as they stand in it.
FEED_PAGE_WORDS = (
    N_("(feed)"),
    N_("This is a web feed. Copy its address into a feed reader to follow"),
    N_("Visit the site"),
)
_CREDIT_WORD = re.compile(
    r"(image|photo|photograph|picture|illustration|drawing|painting|artwork|map|chart|credit)s?"
    r"\b",
    re.IGNORECASE,
)


class SiteTemplate(Template):
    """A template whose rendering errors (an undefined name, a missing include) come out as
    a PublishError located in the template file, never as a traceback."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Render, or raise PublishError at the template line that failed."""
        try:
            return super().render(*args, **kwargs)
        except TemplateError as exc:
            root = getattr(self.environment, "site_root", Path("."))
            raise PublishError([template_problem(exc, self.name or "", root)]) from None


class SiteEnvironment(Environment):
    """The Jinja2 environment of a site: a template that does not compile (a syntax error,
    an unknown filter) is a PublishError at its file and line."""

    template_class = SiteTemplate
    code_generator_class = JoinedOutputCode  # an output tag's pieces yielded as one
    site_root = Path(".")

    def _load_template(self, name: str, globals: MutableMapping[str, Any] | None) -> Template:
        try:
            return super()._load_template(name, globals)
        except TemplateSyntaxError as exc:
            raise PublishError([template_problem(exc, name, self.site_root)]) from None


def template_problem(exc: TemplateError, name: str, root: Path) -> Problem:
    """A template error located in its file: the syntax error's line, or the failing line."""
    if isinstance(exc, TemplateSyntaxError):
        return error(
            _shown_path(exc.filename or name, root),
            exc.lineno or 1,
            1,
            f"template error: {exc.message}",
        )
    folders = {(root / TEMPLATES_DIR).resolve(), PACKAGE_TEMPLATES.resolve()}
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if any(Path(f.filename).resolve().is_relative_to(d) for d in folders)
    ]
    where = frames[-1] if frames else None
    return error(
        _shown_path(where.filename if where else name, root),
        (where.lineno or 1) if where else 1,
        1,
        f"template error: {exc}",
    )


def _shown_path(filename: str, root: Path) -> str:
    """A template's path relative to the site when it is the site's own, else as given."""
    path = Path(filename)
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else filename


def template_environment(
    site_templates: Path, compiled: Path | None = None, auto_reload: bool = True
) -> Environment:
    """A Jinja2 environment with autoescape on, looking in the site's folder first. The
    packaged templates' compiled code is kept with the package (`publish.outputs.templatecode`);
    with `compiled`, the site's own templates' code is kept there (by its source's hash) for
    the next process, and the packaged ones' too where the package cannot be written. Without
    `auto_reload`, a template once loaded is never checked for changes (for a build, whose
    caller makes a new environment when the site's templates change)."""
    env = SiteEnvironment(
        auto_reload=auto_reload,
        bytecode_cache=TemplateCode.for_site(compiled),
        loader=ChoiceLoader(
            [FileSystemLoader(str(site_templates)), PackageLoader("publish", "templates")]
        ),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=[I18N_EXTENSION],
    )
    env.site_root = site_templates.parent
    env.filters["iso"] = lambda moment: moment.isoformat() if moment else ""
    env.filters["credit"] = _credit_filter
    env.filters["profile_name"] = profile_name
    install_words(env, ENGLISH)
    return env


@lru_cache(maxsize=4)
def plain_templates(templates: Environment) -> Environment:
    """The templates without HTML escaping, made once: each overlay compiles templates anew."""
    return templates.overlay(autoescape=False)


def load_rendered(site: Site, templates: Environment, emails: Collection[str]) -> None:
    """Load every template the outputs may render for `site` (the site's own and the packaged
    ones), in each language it is rendered in: the web pages' and the emails' `.html`, the
    emails' `.txt` without escaping. Done before the build forks its workers, which then
    inherit them loaded instead of each compiling (or reading) its own."""
    settings = site.settings
    languages = {words_for(settings.site.language, site.root)}
    mailed = set()
    for essay in site.essays:
        words = essay_words(essay, settings, site.root)
        languages.add(words)
        if essay.slug in emails:
            mailed.add(words)
    for words in languages:
        load_templates(localized(templates, words), ".html")
    for words in mailed:
        load_templates(plain_templates(localized(templates, words)), ".txt")


def load_templates(templates: Environment, suffix: str) -> None:
    """Load each template whose name ends in `suffix` into `templates`' cache. One that does
    not load (a file of the site's that no page renders may not even be a template) is left
    to the render, which reports it where it is used, if it is."""
    for name in templates.list_templates(filter_func=lambda name: name.endswith(suffix)):
        with contextlib.suppress(PublishError, TemplateError, UnicodeError):
            templates.get_template(name)


def compile_packaged_templates() -> None:
    """Compile every packaged template, escaped and plain, and keep its code with the package
    (as installing a package compiles its modules), wherever Python would write bytecode or
    not: no later process compiles them."""
    templates = template_environment(PACKAGE_TEMPLATES / "no site", auto_reload=False)
    code = templates.bytecode_cache
    if isinstance(code, TemplateCode):
        code.write_packaged = True
    for environment in (templates, plain_templates(templates)):
        for name in environment.list_templates():
            environment.get_template(name)


def folder_stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Each file under a folder with its size and modification time."""
    stamps = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        status = path.stat()
        stamps.append((path.relative_to(folder).as_posix(), status.st_size, status.st_mtime_ns))
    return tuple(stamps)


def own_or_packaged(site: Site, names: Iterable[str], words: Words = ENGLISH) -> dict[str, bytes]:
    """Each packaged static file the site does not bring itself (its own `essays/<name>` is
    published in its place, as every file beside the essays is), the feed's page in the
    site's language."""
    files = {
        name: (PACKAGE_STATIC / name).read_bytes()
        for name in names
        if not (site.root / ESSAYS_DIR / name).is_file()
    }
    if FEED_STYLESHEET in files and words is not ENGLISH:
        files[FEED_STYLESHEET] = _stylesheet_in(files[FEED_STYLESHEET], words)
    return files


def profile_name(url: str) -> str:
    """A profile link as a reader names it: its host and path, without the scheme."""
    return url.split("://", 1)[-1].removeprefix("www.").rstrip("/")


def _stylesheet_in(stylesheet: bytes, words: Words) -> bytes:
    """The feed's stylesheet with its few words in the language (and right to left)."""
    text = stylesheet.decode("utf-8")
    for message in FEED_PAGE_WORDS:
        text = text.replace(message, escape(words.gettext(message), quote=False))
    if words.direction == "rtl":
        text = text.replace('<html lang="{language}">', '<html lang="{language}" dir="rtl">')
    return text.encode("utf-8")


@pass_environment
def _credit_filter(env: Environment, text: str) -> str:
    """`image_credit` in the language the environment speaks."""
    return image_credit(text, env.globals["words"])


def image_credit(text: str, words: Words = ENGLISH) -> str:
    """An image credit as a credit: 'Image: Jo Doe', unless it already says what it is
    ('Photo by Jo Doe', 'Illustration: …')."""
    text = text.strip()
    if not text or _CREDIT_WORD.match(text):
        return text
    return words.gettext("Image: %(credit)s") % {"credit": text}


def joined(pieces: Iterable[str], batch: int = 8192) -> str:
    """Rendered pieces as one string, joined a batch at a time (a page listing every essay
    is hundreds of thousands of pieces: never hold them all at once)."""
    iterator = iter(pieces)
    chunks: list[str] = []
    while True:
        pending = list(islice(iterator, batch))
        chunks.append("".join(pending))
        if len(pending) < batch:
            return "".join(chunks)

"""The page templates, rendered the cheap way, give the plain Jinja render's bytes: every page
and email template of the example site renders as a fresh environment with Jinja's own
gettext renders it; a build asks the disk nothing about its templates once they are loaded,
and words each message and the cadence sentence once a language, not once a page."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment

from publish.content.settings import load_settings
from publish.i18n import cadence
from publish.i18n.words import Words
from publish.layout import TEMPLATES_DIR
from publish.outputs.templates import PACKAGE_TEMPLATES, SiteTemplate, joined
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load
from tests.websites import example_site

TODAY = date(2026, 12, 1)
Render = tuple[Environment, str, dict[str, Any], str]  # environment, template, values, text


def build_every_page_and_email(root: Path) -> None:
    """Build the site at `root` with every essay's email."""
    slugs = frozenset(essay.slug for essay in load(root).site.essays)
    build(root, msgspec.structs.replace(BuildOptions(today=TODAY), emails=slugs))


@pytest.fixture
def renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Render]:
    """Every template render of a build of the example site: its environment, template,
    values and the text the build wrote."""
    recorded: list[Render] = []
    real = SiteTemplate.generate

    def generate(self: SiteTemplate, *args: Any, **values: Any) -> Iterator[str]:
        text = joined(real(self, *args, **values))
        recorded.append((self.environment, self.name or "", values, text))
        yield text

    monkeypatch.setattr(SiteTemplate, "generate", generate)
    real_render = SiteTemplate.render

    def render(self: SiteTemplate, *args: Any, **values: Any) -> str:
        text = real_render(self, *args, **values)
        recorded.append((self.environment, self.name or "", values, text))
        return text

    monkeypatch.setattr(SiteTemplate, "render", render)
    build_every_page_and_email(example_site(tmp_path / "example"))
    monkeypatch.undo()
    return recorded


def plain_environment(env: Environment) -> Environment:
    """`env` as Jinja renders it plainly: no template kept, and Jinja's own newstyle gettext
    speaking its words."""
    plain = env.overlay(cache_size=0)
    plain.globals = dict(env.globals)
    words = env.globals["words"]
    plain.install_gettext_callables(  # type: ignore[attr-defined]
        words.gettext,
        words.ngettext,
        newstyle=True,
        pgettext=words.pgettext,
        npgettext=words.npgettext,
    )
    return plain


def test_every_page_and_email_is_the_plain_jinja_render(renders: list[Render]) -> None:
    names = {name for _, name, _, _ in renders}
    assert {"essay.html", "index.html", "archive.html", "email.html", "email.txt"} <= names
    for env, name, values, text in renders:
        assert plain_environment(env).get_template(name).render(**values) == text, name


@given(
    pieces=st.lists(st.text(max_size=3), max_size=40),
    batch=st.integers(1, 9),
)
def test_joined_is_the_pieces_joined_at_any_batch(pieces: list[str], batch: int) -> None:
    assert joined(iter(pieces), batch) == "".join(pieces)


def template_folders(root: Path) -> tuple[str, ...]:
    """The folders a site's templates come from."""
    return (str((root / TEMPLATES_DIR).resolve()), str(PACKAGE_TEMPLATES.resolve()))


def test_a_build_asks_the_disk_about_each_template_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jinja's reloading asks for a template file's time at each use of a loaded template
    (a page of the essay template asks four times: it, base.html and two includes); the
    build makes a new environment when the site's templates change instead."""
    root = example_site(tmp_path / "example")
    folders = template_folders(root)
    asked: collections.Counter[str] = collections.Counter()
    real = os.path.getmtime

    def getmtime(path: Any) -> float:
        if os.path.realpath(path).startswith(folders):
            asked[os.path.basename(path)] += 1
        return real(path)

    monkeypatch.setattr(os.path, "getmtime", getmtime)
    build_every_page_and_email(root)
    assert asked["essay.html"] >= 1
    assert max(asked.values()) <= 2, asked  # loaded: at most once a language


def test_each_message_and_the_cadence_are_worded_once_a_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = example_site(tmp_path / "example")
    worded: collections.Counter[str] = collections.Counter()
    real = Words.gettext

    def gettext(self: Words, message: str) -> str:
        worded[message] += 1
        return real(self, message)

    monkeypatch.setattr(Words, "gettext", gettext)
    rules_read = []
    real_parts = cadence.rule_parts

    def rule_parts(rule: str) -> dict[str, str]:
        rules_read.append(rule)
        return real_parts(rule)

    monkeypatch.setattr(cadence, "rule_parts", rule_parts)
    cadence.cadence_sentence.cache_clear()
    build_every_page_and_email(root)
    pages = len(list((root / "build" / "site").rglob("*.html")))
    assert pages >= 15
    assert worded["Archive"] <= 3, worded.most_common(5)  # the template's, the page title's
    assert worded["Skip to the text"] == 1
    # every page and email is in the site's one language: its rule is read once, not once a page
    assert rules_read == [load_settings(root).schedule.rule]


def test_a_template_edited_between_builds_of_one_process_shows(tmp_path: Path) -> None:
    """As `publish serve` rebuilds: the kept environment, which never asks the disk again,
    is made afresh when a file of the site's templates changes (here in place, same size)."""
    from publish.cache.store import BuildCache
    from tests.sitebuilder import essay_text, make_site

    root = make_site(tmp_path / "site", {"01-one": essay_text("One", date="2026-01-05")})
    footer = (PACKAGE_TEMPLATES / "footer.html").read_text()
    override = root / TEMPLATES_DIR / "footer.html"
    override.parent.mkdir()
    override.write_text(footer + "<!-- first -->\n")
    cache = BuildCache.for_site(root)
    options = BuildOptions(today=date(2026, 2, 1))
    build(root, options, cache=cache)
    stamp = override.stat().st_mtime_ns
    override.write_text(footer + "<!-- other -->\n")
    os.utime(override, ns=(stamp + 10**9, stamp + 10**9))
    build(root, options, cache=cache)
    page = (root / "build" / "site" / "one" / "index.html").read_text()
    assert "<!-- other -->" in page and "<!-- first -->" not in page

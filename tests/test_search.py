"""Site search: `[site] search = true` gives a Pagefind index of the essays and a `/search/`
page, the only page that loads a script; it finds an essay by a word of its body in Chromium,
on the built site behind nginx (at the site's sub-path) and on `publish serve`, in the site's
language; a rebuild with no essay changed does not run Pagefind again; without Pagefind,
`check` names what to install."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lxml import html
from playwright.sync_api import Page, expect

from publish.pipeline import search
from tests.previewserver import serving
from tests.sitebuilder import essay_text, invoke, make_site
from tests.tools import free_port, running_nginx

TODAY = "2026-12-01"
RARE = {"en": "quillwort", "fr": "renoncule"}
LABEL = {"en": "Search", "fr": "Rechercher"}  # Pagefind's box speaks the page's language
SETTINGS = """[site]
title = "Search Letters"
url = "https://example.org/letters/"
author = "Test Author"
language = "{language}"
search = true
"""
BODIES = {
    "en": [
        "The river ran {rare} past the mill, and the miller listened.",
        "A letter about gardens, and the patience of slow growth.",
        "On reading in winter: the lamp, the chair, the long evening.",
    ],
    "fr": [
        "La rivière passait près du moulin, et une {rare} poussait au bord.",
        "Une lettre sur les jardins et la patience de la croissance lente.",
        "Lire en hiver : la lampe, le fauteuil, la longue soirée.",
    ],
}


def search_site(root: Path, language: str = "en") -> Path:
    """Three dated essays in `language`, the rare word only in the body of the second one,
    and the title of another naming nothing of it."""
    texts = BODIES[language]
    essays = {
        f"0{n}-essay": essay_text(
            f"Letter {n}", texts[n - 1].format(rare=RARE[language]), date=f"2026-11-0{n}"
        )
        for n in (1, 2, 3)
    }
    essays["02-essay"] = essay_text(
        "The Mill", texts[0].format(rare=RARE[language]), date="2026-11-02", slug="the-mill"
    )
    essays["01-essay"] = essay_text("Letter 1", texts[1], date="2026-11-01")
    return make_site(root, essays, settings=SETTINGS.format(language=language))


def built(root: Path) -> Path:
    """Build the site; its folder."""
    result = invoke(root, "build", "--today", TODAY)
    assert result.exit_code == 0, result.output
    return root / "build/site"


@contextmanager
def behind_nginx(site: Path, folder: Path) -> Iterator[str]:
    """The built site served by nginx at the site URL's path, /letters/, with Debian's media
    types (a module script must come as JavaScript); its address."""
    port = free_port()
    block = f"""server {{
    listen 127.0.0.1:{port};
    include /etc/nginx/mime.types;
    location /letters/ {{ alias {site}/; }}
}}"""
    with running_nginx(folder, block):
        yield f"http://127.0.0.1:{port}/letters/"


def first_result(page: Page, address: str, word: str, language: str = "en") -> str:
    """Type `word` into the search box at `address`; the first result's link."""
    page.goto(f"{address}search/")
    box = page.locator(".pagefind-ui__search-input")
    expect(box).to_have_attribute("aria-label", LABEL[language])  # labelled, not only titled
    box.fill(word)
    first = page.locator(".pagefind-ui__result-link").first
    expect(first).to_be_visible(timeout=15_000)
    return first.get_attribute("href") or ""


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_word_of_one_essays_body_finds_that_essay_first_on_the_deployed_site(
    page: Page, tmp_path: Path, language: str
) -> None:
    site = built(search_site(tmp_path / "site", language))
    entry = (site / "pagefind/pagefind-entry.json").read_text(encoding="utf-8")
    assert f'"{language}"' in entry  # indexed in the site's language
    with behind_nginx(site, tmp_path / "nginx") as address:
        assert first_result(page, address, RARE[language], language) == "/letters/the-mill/"


def test_search_works_on_publish_serve(page: Page, tmp_path: Path) -> None:
    root = search_site(tmp_path / "site")
    with serving(root) as served:
        assert first_result(page, served.url, RARE["en"]) == "/the-mill/"
        assert first_result(page, f"{served.url}letters/", RARE["en"]) == "/letters/the-mill/"


def test_only_the_search_page_loads_a_script(tmp_path: Path) -> None:
    site = built(search_site(tmp_path / "site"))
    loading = {}
    for path in site.rglob("*.html"):
        scripts = html.parse(str(path)).getroot().iter("script")
        sources = [s.get("src") for s in scripts if s.get("type") != "application/ld+json"]
        if sources:
            loading[path.relative_to(site).as_posix()] = sources
    assert loading == {
        "search/index.html": ["../pagefind/pagefind-ui.js", "../search.js"],
    }
    home = html.parse(str(site / "index.html")).getroot()
    assert "./search/" in home.xpath("//nav[@class='site-nav']//a/@href")


def test_without_search_there_is_no_search_page_nor_index(tmp_path: Path) -> None:
    root = search_site(tmp_path / "site")
    settings = root / "publish.toml"
    settings.write_text(settings.read_text().replace("search = true", ""), encoding="utf-8")
    site = built(root)
    assert not (site / "search").exists()
    assert not (site / "pagefind").exists()
    assert "data-pagefind-body" not in (site / "the-mill/index.html").read_text()


def test_a_rebuild_with_no_essay_changed_does_not_run_pagefind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[Path] = []
    run = search._run_pagefind

    def counted(binary: Path, site_dir: Path, kept: Path) -> None:
        runs.append(site_dir)
        run(binary, site_dir, kept)

    monkeypatch.setattr(search, "_run_pagefind", counted)
    root = search_site(tmp_path / "site")
    site = built(root)
    assert len(runs) == 1
    index = {p.relative_to(site): p.stat().st_ino for p in (site / "pagefind").rglob("*")}
    assert len(index) > 5
    (root / "essays/03-essay.md").touch()  # read again, shown the same
    site = built(root)
    assert len(runs) == 1
    again = {p.relative_to(site): p.stat().st_ino for p in (site / "pagefind").rglob("*")}
    assert again == index  # the same files, left in place (not even written again)
    essay = root / "essays/03-essay.md"
    essay.write_text(essay.read_text().replace("lamp", "candle"), encoding="utf-8")
    built(root)
    assert len(runs) == 2


def test_search_without_pagefind_is_a_check_error_naming_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pagefind", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "pagefind.service", None)
    root = search_site(tmp_path / "site")
    for command in ("check", "build"):
        result = invoke(root, command, "--today", TODAY)
        assert result.exit_code == 1
        assert (
            "publish.toml:6:1: error: 'site.search' is on, but Pagefind is not installed: "
            "pip install 'pagefind[bin]'" in result.output
        )
        assert "Traceback" not in result.output
    assert not (root / "build/site").exists()


def test_search_must_be_true_or_false(tmp_path: Path) -> None:
    root = search_site(tmp_path / "site")
    settings = root / "publish.toml"
    settings.write_text(settings.read_text().replace("true", '"yes"'), encoding="utf-8")
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 1
    assert "publish.toml:6:1: error: 'site.search' must be true or false" in result.output

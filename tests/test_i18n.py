"""A site in each shipped language: no English fixed string left on any page kind, in the
email or in the feeds; dates as Babel writes them; `lang` and `dir` right; valid HTML; a
site's own catalog overriding a string and adding a language; `check` naming what falls back
to English (issue 22)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import lxml.etree
import lxml.html
import pytest
from babel.dates import format_date
from babel.messages.pofile import read_po

from publish.cache.store import BuildCache
from publish.i18n.catalogs import CATALOGS, shipped_languages
from publish.i18n.check import missing_strings
from publish.pipeline.build import BuildOptions, build
from tests.sitebuilder import due_since_long_ago, invoke
from tests.tools import REPO_ROOT, validate_html
from tests.websites import TODAY, build_site, fixture_site

LANGUAGES = [language for language in shipped_languages() if language != "en"]
RIGHT_TO_LEFT = {"ar"}
PLACEHOLDER_OR_TAG = re.compile(r"%\(\w+\)s|<[^>]+>")
SHOWN_ATTRIBUTES = ("aria-label", "placeholder", "alt", "title")


def english_leftovers(language: str) -> tuple[set[str], set[str]]:
    """The English words of the catalog that must not show in `language`'s site: whole
    one-word messages, and the runs of two or more words of longer ones (those its own
    translations do not also hold, such as 'JSON Feed')."""
    path = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = [m for m in read_po(handle) if m.id]
    translated = PLACEHOLDER_OR_TAG.sub(
        " ",
        " ".join(" ".join(m.string) if isinstance(m.string, tuple) else m.string for m in catalog),
    ).lower()
    words, runs = set(), set()
    for message in catalog:
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if set(english) & set(strings):
            continue  # the same word in both languages ('RSS', 'Atom')
        for text in english:
            for piece in PLACEHOLDER_OR_TAG.split(text):
                piece = piece.strip(" .,:;?!·“”()")
                if len(piece.split()) >= 2 and piece.lower() not in translated:
                    runs.add(piece)
                elif piece and text == piece and piece.lower() not in translated:
                    words.add(piece)
    return words, runs


def html_texts(document: str) -> list[str]:
    """The text a reader sees of an HTML document, node by node (and the attributes read
    aloud or shown: aria-label, placeholder, alt, title)."""
    root = lxml.html.fromstring(document)
    for hidden in root.xpath("//script | //style"):
        hidden.drop_tree()
    texts = [t.strip() for t in root.xpath("//text()") if t.strip()]
    for name in SHOWN_ATTRIBUTES:
        texts += [v.strip() for v in root.xpath(f"//@{name}") if v.strip()]
    return texts


def feed_texts(document: bytes) -> list[str]:
    """The text of a feed: each element's, the HTML inside content and summaries included."""
    texts = []
    for element in lxml.etree.fromstring(document).iter():
        text = (element.text or "").strip()
        if "<" in text:
            texts += html_texts(f"<div>{text}</div>")
        elif text:
            texts.append(text)
    return texts


def english_found(texts: list[str], words: set[str], runs: set[str]) -> list[str]:
    """The fixed English strings among `texts`."""
    whole = " ".join(" ".join(texts).split())
    return sorted({t for t in texts if t in words} | {run for run in runs if run in whole})


def shown_texts(site: Path) -> dict[str, list[str]]:
    """Every page, email and feed of a built site, as the texts a reader sees, by path."""
    out = site / "build"
    shown = {}
    for path in sorted((out / "site").rglob("*.html")) + sorted((out / "email").glob("*.html")):
        shown[str(path.relative_to(out))] = html_texts(path.read_text(encoding="utf-8"))
    for path in sorted((out / "email").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        shown[str(path.relative_to(out))] = [line.strip() for line in lines if line.strip()]
    for path in [*(out / "site").rglob("feed.xml"), out / "site" / "atom.xml"]:
        shown[str(path.relative_to(out))] = feed_texts(path.read_bytes())
    items = json.loads((out / "site" / "feed.json").read_text(encoding="utf-8"))["items"]
    shown["site/feed.json"] = [t for item in items for t in html_texts(item["content_html"])]
    return shown


def site_in(root: Path, language: str) -> Path:
    """The fixture site (notes, glossary terms, a list, an image, tags, two index pages)
    written in `language`, built with every essay due, so every essay has its email."""
    fixture_site(root)
    (root / "essays" / "20-list.md").write_text(
        "---\ntitle: Lista\ndate: 2026-03-03\nslug: lista\n---\n"
        "- alpha[^flow]\n- beta\n\n1. gamma\n2. delta\n",
        encoding="utf-8",
    )
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8").replace('"en-GB"', f'"{language}"')
    settings.write_text(text, encoding="utf-8")
    build_site(due_since_long_ago(root))
    return root


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fixture site built once in each shipped language."""
    folder = tmp_path_factory.mktemp("languages")
    return {language: site_in(folder / language, language) for language in LANGUAGES}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_english_fixed_string_is_left(sites: dict[str, Path], language: str) -> None:
    words, runs = english_leftovers(language)
    shown = shown_texts(sites[language])
    assert any(path.startswith("email/") for path in shown)
    assert any(path.startswith("site/glossary/") for path in shown)
    left = {
        path: found for path, texts in shown.items() if (found := english_found(texts, words, runs))
    }
    assert left == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_dates_are_written_as_babel_writes_them(sites: dict[str, Path], language: str) -> None:
    pages = sorted((sites[language] / "build" / "site").glob("essay-*/index.html"))
    assert len(pages) == 12
    for page in pages:
        time = lxml.html.fromstring(page.read_bytes()).xpath("//time[@datetime]")[0]
        moment = datetime.fromisoformat(time.get("datetime"))
        assert time.text_content() == format_date(moment.date(), "long", locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_and_email_carries_its_lang_and_dir(
    sites: dict[str, Path], language: str
) -> None:
    out = sites[language] / "build"
    documents = [*(out / "site").rglob("*.html"), *(out / "email").glob("*.html")]
    assert len(documents) > 30
    for path in documents:
        root = lxml.html.fromstring(path.read_bytes())
        assert (root.get("lang"), root.get("dir")) == (
            language,
            "rtl" if language in RIGHT_TO_LEFT else None,
        ), path


def test_the_html_checker_finds_no_error_in_any_language(
    sites: dict[str, Path], tmp_path: Path
) -> None:
    for language, root in sites.items():
        shutil.copytree(root / "build" / "site", tmp_path / language)
    assert validate_html(tmp_path) == []


def test_an_essay_in_its_own_language_on_an_english_site(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    (root / "essays" / "02-essay.md").write_text(
        "---\ntitle: مقالة\ndate: 2025-03-03\nslug: essay-2\nlanguage: ar\n---\n"
        "نص المقالة[^own].\n\n[^own]: حاشية.\n",
        encoding="utf-8",
    )
    build_site(due_since_long_ago(root))
    out = root / "build"
    page = lxml.html.fromstring((out / "site" / "essay-2" / "index.html").read_bytes())
    assert (page.get("lang"), page.get("dir")) == ("ar", "rtl")
    assert page.xpath("//section[@class='footnotes']/h2")[0].text == "الحواشي"
    english = lxml.html.fromstring((out / "site" / "essay-1" / "index.html").read_bytes())
    assert (english.get("lang"), english.get("dir")) == ("en-GB", None)
    email = lxml.html.fromstring((out / "email" / "essay-2.html").read_bytes())
    assert (email.get("lang"), email.get("dir")) == ("ar", "rtl")
    assert "مرحبًا،" in (out / "email" / "essay-2.txt").read_text(encoding="utf-8")
    items = json.loads((out / "site" / "feed.json").read_text(encoding="utf-8"))["items"]
    assert [item.get("language") for item in items] == ["ar", None]
    entry = lxml.html.fromstring(items[0]["content_html"])
    assert (entry.get("lang"), entry.get("dir")) == ("ar", "rtl")


def test_a_sites_own_catalog_overrides_a_string(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    text = (root / "publish.toml").read_text(encoding="utf-8").replace('"en-GB"', '"de"')
    (root / "publish.toml").write_text(text, encoding="utf-8")
    write_catalog(root, "de", {"Archive": "Sammlung"})
    build_site(root)
    archive = lxml.html.fromstring((root / "build/site/archive/index.html").read_bytes())
    assert archive.xpath("//main/h1")[0].text == "Sammlung"
    assert archive.xpath("//a[@href='../tags/']")[0].text == "Schlagwörter"


def test_a_site_adds_a_language_and_check_names_what_falls_back(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    text = (root / "publish.toml").read_text(encoding="utf-8").replace('"en-GB"', '"eo"')
    (root / "publish.toml").write_text(text, encoding="utf-8")
    write_catalog(root, "eo", {"Archive": "Arkivo", "Notes": "Notoj"})
    result = invoke(root, "check")
    assert result.exit_code == 0, result.output
    template = read_po((CATALOGS / "messages.pot").open("rb"))
    lacking = len([m for m in template if m.id]) - 2
    assert (
        f"publish.toml:5:1: warning: the 'eo' catalog lacks {lacking} string(s), shown in "
        "English: '%(num)s essay', '%(num)s min read'"
    ) in result.output
    build_site(root)
    page = lxml.html.fromstring((root / "build/site/essay-1/index.html").read_bytes())
    assert page.get("lang") == "eo"
    assert page.xpath("//a[@href='../archive/']")[0].text == "Arkivo"
    assert page.xpath("//section[@class='footnotes']/h2")[0].text == "Notoj"


def test_check_warns_of_a_language_with_no_catalog(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    text = (root / "publish.toml").read_text(encoding="utf-8").replace('"en-GB"', '"sv"')
    (root / "publish.toml").write_text(text, encoding="utf-8")
    result = invoke(root, "check")
    assert "publish.toml:5:1: warning: language 'sv' has no catalog" in result.output
    assert "ar, de, en, es, fr, it, ja, nl, pl, pt, uk" in result.output


def test_a_malformed_language_in_front_matter_is_an_error_at_its_line(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=1)
    essay = root / "essays" / "01-essay.md"
    essay.write_text(
        essay.read_text(encoding="utf-8").replace("---\n", "---\nlanguage: 'not a tag'\n", 1),
        encoding="utf-8",
    )
    result = invoke(root, "check")
    assert result.exit_code != 0
    assert "essays/01-essay.md:2:1: error: language 'not a tag' is not a language tag" in (
        result.output
    )
    assert "Traceback" not in result.output


def write_catalog(root: Path, language: str, strings: dict[str, str]) -> None:
    """A site's own catalog: locale/<language>/LC_MESSAGES/messages.po."""
    folder = root / "locale" / language / "LC_MESSAGES"
    folder.mkdir(parents=True)
    entries = "".join(
        f"msgid {json.dumps(k, ensure_ascii=False)}\nmsgstr {json.dumps(v, ensure_ascii=False)}\n\n"
        for k, v in strings.items()
    )
    (folder / "messages.po").write_text(
        f'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n{entries}',
        encoding="utf-8",
    )


def test_english_msgids_are_the_catalog_of_record() -> None:
    english = CATALOGS / "en" / "LC_MESSAGES" / "messages.po"
    with english.open("rb") as handle:
        messages = [m for m in read_po(handle) if m.id]
    assert len(messages) > 100
    assert all(m.string == (m.id if isinstance(m.id, str) else tuple(m.id)) for m in messages)


def test_a_changed_site_catalog_is_seen_by_the_next_build(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=2)
    text = (root / "publish.toml").read_text(encoding="utf-8").replace('"en-GB"', '"de"')
    (root / "publish.toml").write_text(text, encoding="utf-8")
    write_catalog(root, "de", {"Every essay so far, newest first.": "Alle Essays."})
    build_site(root)
    catalog = root / "locale" / "de" / "LC_MESSAGES" / "messages.po"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace("Alle Essays.", "Jeder Essay."))
    build_site(root)
    archive = lxml.html.fromstring((root / "build/site/archive/index.html").read_bytes())
    assert archive.xpath("//main/p")[0].text == "Jeder Essay."


def test_the_template_holds_every_string_the_code_and_templates_mark(tmp_path: Path) -> None:
    """`make messages` was run: the committed .pot is what `pybabel extract` finds now."""
    fresh = tmp_path / "messages.pot"
    command = [
        str(Path(sys.executable).with_name("pybabel")), "extract", "--mapping-file", "babel.cfg",
        "--keywords", "N_", "--keywords", "page:2", "--keywords", "abort:2",
        "--output-file", str(fresh), "publish",
    ]  # fmt: skip
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)

    def keys(path: Path) -> set[tuple[object, object]]:
        with path.open("rb") as handle:
            return {(str(m.id), m.context) for m in read_po(handle) if m.id}

    assert keys(fresh) == keys(CATALOGS / "messages.pot")


@pytest.mark.parametrize("language", shipped_languages())
def test_every_shipped_catalog_translates_every_string(language: str) -> None:
    assert missing_strings([CATALOGS / language / "LC_MESSAGES" / "messages.po"]) == []


def test_one_build_finds_and_stamps_the_sites_catalog_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not once per essay: the catalog's folder is asked about a handful of times however
    many essays there are."""
    root = fixture_site(tmp_path / "site", essays=12)
    text = (root / "publish.toml").read_text(encoding="utf-8").replace('"en-GB"', '"de"')
    (root / "publish.toml").write_text(text, encoding="utf-8")
    write_catalog(root, "de", {"Archive": "Sammlung"})
    locale = str(root / "locale")
    asked: list[str] = []
    real_stat = os.stat

    def counted(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).startswith(locale):
            asked.append(str(path))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", counted)
    build_site(root)
    catalog = str(root / "locale" / "de" / "LC_MESSAGES" / "messages.po")
    assert asked.count(catalog) <= 8, Counter(asked)  # 58 when stamped for each essay


def test_a_long_lived_process_sees_an_edited_catalog(tmp_path: Path) -> None:
    """As `publish serve` builds again and again with one build cache."""
    root = fixture_site(tmp_path / "site", essays=2)
    text = (root / "publish.toml").read_text(encoding="utf-8").replace('"en-GB"', '"de"')
    (root / "publish.toml").write_text(text, encoding="utf-8")
    write_catalog(root, "de", {"Archive": "Sammlung"})
    cache = BuildCache.for_site(root)
    options = BuildOptions(today=TODAY)
    build(root, options, cache=cache)
    catalog = root / "locale" / "de" / "LC_MESSAGES" / "messages.po"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace("Sammlung", "Archiv"))
    build(root, options, cache=cache)
    for page in ("archive/index.html", "essay-1/index.html"):
        shown = lxml.html.fromstring((root / "build/site" / page).read_bytes())
        assert "Archiv" in shown.text_content() and "Sammlung" not in shown.text_content()

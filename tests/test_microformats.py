"""The social web's markup without a server: the author's h-card and rel="me" profile links,
h-entry on essays (read back by mf2py), and `fediverse:creator` from the author's handle."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import mf2py
from click.testing import CliRunner

from publish.cli.main import cli
from tests.sitebuilder import essay_text, make_site

SITE_URL = "https://example.org/letters/"
PROFILES = 'profiles = ["https://social.example/@ada", "https://github.com/ada"]\n'
SETTINGS = (
    "[site]\n"
    'title = "Test Letters"\n'
    f'url = "{SITE_URL}"\n'
    'author = "Ada Marsh"\n'
    'timezone = "Europe/London"\n'
)
ESSAY = essay_text(
    "On Margins", "Margins are where readers talk back[^flow].\n", date="2026-01-06", slug="margins"
)


def built_site(tmp_path: Path, more: str = "") -> Path:
    """A one-essay site with `more` settings in [site], built."""
    root = make_site(tmp_path / "site", essays={"01-margins": ESSAY}, settings=SETTINGS + more)
    result = CliRunner().invoke(cli, ["--root", str(root), "build", "--today", "2026-02-01"])
    assert result.exit_code == 0, result.output
    return root / "build" / "site"


def test_an_essay_is_an_h_entry_with_its_author_h_card(tmp_path: Path) -> None:
    site = built_site(tmp_path, PROFILES)
    html = (site / "margins" / "index.html").read_text(encoding="utf-8")
    parsed = mf2py.parse(doc=html, url=f"{SITE_URL}margins/")
    [entry] = [item for item in parsed["items"] if "h-entry" in item["type"]]
    properties = entry["properties"]
    assert properties["name"] == ["On Margins"]
    assert properties["url"] == [f"{SITE_URL}margins/"]
    assert properties["published"][0].startswith("2026-01-06")
    assert "Margins are where readers talk back" in properties["content"][0]["value"]
    [author] = properties["author"]
    assert author["type"] == ["h-card"]
    assert author["properties"]["name"] == ["Ada Marsh"]
    assert author["properties"]["url"] == [SITE_URL]


def test_profiles_become_rel_me_links_and_the_footer_h_card(tmp_path: Path) -> None:
    site = built_site(tmp_path, PROFILES)
    for page in ("index.html", "margins/index.html", "glossary/index.html"):
        html = (site / page).read_text(encoding="utf-8")
        parsed = mf2py.parse(doc=html, url=SITE_URL + page.removesuffix("index.html"))
        assert parsed["rels"]["me"] == ["https://social.example/@ada", "https://github.com/ada"]
    html = (site / "index.html").read_text(encoding="utf-8")
    cards = [i for i in mf2py.parse(doc=html, url=SITE_URL)["items"] if "h-card" in i["type"]]
    [card] = cards
    assert card["properties"]["name"] == ["Ada Marsh"]
    assert card["properties"]["url"] == [
        SITE_URL,
        "https://social.example/@ada",
        "https://github.com/ada",
    ]


def test_fediverse_creator_only_when_the_author_gives_a_handle(tmp_path: Path) -> None:
    site = built_site(tmp_path / "with", 'fediverse_creator = "ada@social.example"\n')
    page = lxml.html.parse(str(site / "margins" / "index.html")).getroot()
    [meta] = page.cssselect('meta[name="fediverse:creator"]')
    assert meta.get("content") == "@ada@social.example"
    plain = built_site(tmp_path / "without")
    page = lxml.html.parse(str(plain / "margins" / "index.html")).getroot()
    assert not page.cssselect('meta[name="fediverse:creator"]')
    assert not page.cssselect('link[rel="me"]')


def test_bad_profile_settings_are_errors_at_their_line(tmp_path: Path) -> None:
    more = 'profiles = ["social.example/@ada"]\nfediverse_creator = "ada"\n'
    root = make_site(tmp_path / "site", essays={"01-margins": ESSAY}, settings=SETTINGS + more)
    result = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", "2026-02-01"])
    assert result.exit_code == 1
    assert (
        "publish.toml:6:1: error: each of 'site.profiles' must be an absolute http(s) URL, "
        "got 'social.example/@ada'" in result.output
    )
    assert "publish.toml:7:1: error: 'site.fediverse_creator' must be a handle" in result.output
    assert "Traceback" not in result.output

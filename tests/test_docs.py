"""The documentation site: it builds with `mkdocs build --strict` (a page outside the nav or a
broken anchor fails it), and its reference names every setting key the code accepts, every
template the package ships and every environment variable the code reads; every docs pointer
an error carries leads to a page and section that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from publish.cli.docslinks import DOCS_URL, RULES, command_docs_url
from publish.cli.main import cli
from publish.content.deploy_settings import KEYS as DEPLOY_KEYS
from publish.content.settings import TABLES

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
DOCS_PACKAGES = ("mkdocs", "material", "mkdocs_click")


def mkdocs_build(config_folder: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of the mkdocs.yml in `config_folder`, into `site_dir`."""
    # Python packages of the `docs` extra, which `make test` installs: not outside programs
    for name in DOCS_PACKAGES:
        pytest.importorskip(name, reason="needs the docs extra: pip install -e '.[docs]'")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=config_folder,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built strictly from the checkout into a temporary folder."""
    site = tmp_path_factory.mktemp("docs") / "site"
    result = mkdocs_build(REPO_ROOT, site)
    assert result.returncode == 0, result.stderr
    return site


def docs_copy(tmp_path: Path) -> Path:
    """A copy of mkdocs.yml and docs/ to break on purpose."""
    shutil.copy(REPO_ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs")
    return tmp_path


def command_paths(group: click.Group, path: str) -> list[str]:
    """`publish`, `publish init`, … `publish subscribers add`: every command's path."""
    ctx = click.Context(group, info_name=path)
    paths = [path]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        sub = f"{path} {name}"
        paths += command_paths(command, sub) if isinstance(command, click.Group) else [sub]
    return paths


def test_the_docs_build_strictly_with_every_command_generated(built_docs: Path) -> None:
    commands = (built_docs / "reference" / "commands" / "index.html").read_text(encoding="utf-8")
    paths = command_paths(cli, "publish")
    assert "publish subscriptions serve" in paths
    # Each is where a command-line mistake in it points.
    anchors = [command_docs_url(path).rpartition("#")[2] for path in paths]
    assert [anchor for anchor in anchors if f'id="{anchor}"' not in commands] == []
    assert "--mail-back-issues" in commands and "--behind-proxy" in commands
    assert (built_docs / "quickstart" / "index.html").is_file()


def test_a_page_left_out_of_the_nav_fails_the_build(tmp_path: Path) -> None:
    copy = docs_copy(tmp_path)
    (copy / "docs" / "guide" / "forgotten.md").write_text("# Forgotten\n", encoding="utf-8")
    result = mkdocs_build(copy, tmp_path / "site")
    assert result.returncode != 0
    assert "forgotten.md" in result.stderr


def test_a_broken_anchor_fails_the_build(tmp_path: Path) -> None:
    copy = docs_copy(tmp_path)
    page = copy / "docs" / "guide" / "stats.md"
    page.write_text(
        page.read_text(encoding="utf-8") + "\nSee [the ledger](sending.md#no-such-part).\n",
        encoding="utf-8",
    )
    result = mkdocs_build(copy, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-part" in result.stderr


def reference_text(pattern: str) -> str:
    """The reference pages matching `pattern`, as one text."""
    return "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob(pattern))


def documented(table: str, key: str, page: str) -> bool:
    """Whether a row of a settings page names `key` of `[table]`: as `[table] key`, as
    `table.key`, or as `key` on a page about the `[table]` table."""
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    names = {f"| `[{table}] {key}` |", f"| `{table}.{key}` |"}
    if f"[{table}]" in page:
        names.add(f"| `{key}` |")
    return any(row.startswith(name) for row in rows for name in names)


def test_every_setting_key_is_in_the_reference() -> None:
    pages = [p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("settings*.md")]
    keys = [(table, key) for table, fields in TABLES.items() for key in fields]
    keys += [("deploy", key) for key in DEPLOY_KEYS]
    missing = [
        (table, key) for table, key in keys if not any(documented(table, key, p) for p in pages)
    ]
    assert missing == []


def test_every_shipped_template_is_in_the_reference() -> None:
    text = reference_text("templates.md")
    shipped = sorted(p.name for p in (REPO_ROOT / "publish" / "templates").iterdir())
    assert shipped
    assert [name for name in shipped if f"`{name}`" not in text] == []


def test_every_environment_variable_is_in_the_reference() -> None:
    text = reference_text("environment.md")
    code = "\n".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "publish").rglob("*.py"))
    variables = sorted(set(re.findall(r"[\"'](PUBLISH_[A-Z_]+)[\"']", code)))
    assert "PUBLISH_SMTP_URL" in variables
    assert [name for name in variables if f"`{name}`" not in text] == []


def test_every_docs_pointer_leads_to_a_page_and_its_section(built_docs: Path) -> None:
    missing = []
    for rule in RULES:
        page, _, anchor = rule.page.partition("#")
        html = built_docs / page / "index.html"
        if not html.is_file() or (anchor and f'id="{anchor}"' not in html.read_text("utf-8")):
            missing.append(rule.page)
    assert missing == []
    assert DOCS_URL.rstrip("/") in (REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8")

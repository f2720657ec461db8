"""Errors point to the docs: under each problem a user can meet, the command line names the
docs page that explains its kind (`  see: URL`), the `path:line:col: kind: message` line
staying first and unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish.cli.docslinks import DOCS_URL, docs_page
from publish.errors import Problem
from tests.sitebuilder import essay_text, invoke, make_site


def pointer_after(stderr: str, problem_start: str) -> str:
    """The docs pointer printed on the line after the problem starting `problem_start`."""
    lines = stderr.splitlines()
    [index] = [i for i, line in enumerate(lines) if line.startswith(problem_start)]
    assert lines[index + 1].startswith("  see: "), stderr
    return lines[index + 1].removeprefix("  see: ")


def test_an_unknown_setting_points_to_the_settings_reference(tmp_path: Path) -> None:
    root = make_site(tmp_path)
    settings = root / "publish.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("[site]\n", "[site]\ntitel = 'x'\n", 1),
        encoding="utf-8",
    )
    result = invoke(root, "check")
    assert result.exit_code == 1
    pointer = pointer_after(result.stderr, "publish.toml:2:1: error: unknown key 'site.titel'")
    assert pointer == f"{DOCS_URL}reference/settings/"


def test_an_unknown_footnote_points_to_the_glossary(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text("A", body="Cites[^flw].\n")})
    result = invoke(root, "check")
    assert result.exit_code == 1
    pointer = pointer_after(result.stderr, "essays/a.md:4:6: error: unknown footnote 'flw'")
    assert pointer == f"{DOCS_URL}guide/writing/#the-footnote-glossary"


def test_a_template_mistake_points_to_the_templates_reference(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text("A")})
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "tags.html").write_text("{{ missing.name }}\n", encoding="utf-8")
    result = invoke(root, "build")
    assert result.exit_code == 1
    pointer = pointer_after(result.stderr, "templates/tags.html:1:1: error: template error")
    assert pointer == f"{DOCS_URL}reference/templates/"


def test_a_missing_relay_points_to_the_smtp_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBLISH_SMTP_URL", raising=False)
    root = make_site(tmp_path, essays={"a": essay_text("A")})
    result = invoke(root, "run")
    assert result.exit_code == 1
    pointer = pointer_after(result.stderr, "PUBLISH_SMTP_URL:1:1: error: is not set")
    assert pointer == f"{DOCS_URL}guide/sending/#smtp-configuration"


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["send"], "publish-send"),
        (["subscribers", "add", "--bogus", "a@example.org"], "publish-subscribers-add"),
        (["build", "--today", "soon"], "publish-build"),
    ],
)
def test_a_command_line_mistake_points_to_its_command(
    tmp_path: Path, args: list[str], command: str
) -> None:
    result = invoke(make_site(tmp_path), *args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("Error: "))
    assert lines[error + 1] == f"  see: {DOCS_URL}reference/commands/#{command}"


def test_a_hint_carries_no_pointer() -> None:
    """Only what needs fixing sends the reader to the docs; a hint stays one line."""
    from click.testing import CliRunner

    from publish.cli.common import show_problems

    @__import__("click").command()
    def show() -> None:
        show_problems([Problem("publish.toml", 1, 1, "a suggestion", "hint")])

    result = CliRunner().invoke(show)
    assert result.stderr.splitlines() == [
        "publish.toml:1:1: hint: a suggestion",
        "0 error(s), 0 warning(s), 1 hint(s)",
    ]


@given(
    path=st.sampled_from(["publish.toml", "essays/x.md", "templates/a.html", "footnotes/k.md"]),
    message=st.text(max_size=60),
)
def test_every_problem_of_a_site_file_has_a_page(path: str, message: str) -> None:
    """Whatever the words, a problem in one of the site's own files is explained somewhere."""
    page = docs_page(Problem(path, 1, 1, message))
    assert page is not None and not page.startswith("/")

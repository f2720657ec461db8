"""Tests for the messages of `publish send SLUG` when SLUG has no built email: the slugs
there are, the closest one, and what would help; an essay published today but not built
has its email made (as the build would) rather than an error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from tests.mailsite import make_mail_site
from tests.sitebuilder import essay_text

BUILD_HINT = "run 'publish build' first"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The built email fixture site (emails for 'on-margins' and 'a-second-letter')."""
    monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
    monkeypatch.delenv("PUBLISH_SMTP_URL", raising=False)
    return make_mail_site(tmp_path / "site")


def send(root: Path, slug: str):
    """`publish send SLUG --outbox` in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), "send", slug, "--outbox"])


def error_line(result) -> str:
    """The one error line of a refused send."""
    [line] = [line for line in result.stderr.splitlines() if ": error: " in line]
    return line


def add_essay(root: Path, name: str, **front_matter: object) -> None:
    """Write one more essay after the build."""
    text = essay_text("Late Addition", slug="late-addition", **front_matter)
    (root / "essays" / f"{name}.md").write_text(text, encoding="utf-8")


def test_a_mistyped_slug_lists_the_built_ones_and_the_closest(site: Path) -> None:
    result = send(site, "on-margin")
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith("build/email/on-margin.html:1:1: error: no built email for 'on-margin'")
    assert "no essay has the slug 'on-margin' (did you mean 'on-margins'?)" in line
    assert line.endswith("built emails: a-second-letter, on-margins")
    assert BUILD_HINT not in result.output and "Traceback" not in result.output


def test_an_essay_published_but_not_built_has_its_email_made_and_sent(site: Path) -> None:
    add_essay(site, "03-late", date="2026-11-10")
    assert not (site / "build" / "email" / "late-addition.eml").exists()
    added = CliRunner().invoke(
        cli, ["--root", str(site), "subscribers", "add", "reader@example.org"]
    )
    assert added.exit_code == 0, added.output  # the outbox writes for a list that exists
    result = send(site, "late-addition")
    assert result.exit_code == 0, result.output
    assert BUILD_HINT not in result.output and "Traceback" not in result.output
    assert (site / "build" / "email" / "late-addition.eml").is_file()


@pytest.mark.parametrize(
    ("front_matter", "words"),
    [({"draft": "true"}, "is a draft"), ({}, "is not released yet")],
)
def test_a_draft_or_a_queued_essay_is_not_sent_to_build(
    site: Path, front_matter: dict[str, str], words: str
) -> None:
    add_essay(site, "03-late", **front_matter)
    result = send(site, "late-addition")
    assert result.exit_code == 1
    line = error_line(result)
    assert f"essays/03-late.md {words}" in line
    assert BUILD_HINT not in line


def test_no_build_at_all_says_so(site: Path) -> None:
    shutil.rmtree(site / "build")
    line = error_line(send(site, "nothing-here"))
    assert line.endswith("no essay has the slug 'nothing-here'; no email is built yet")

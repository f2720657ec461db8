"""`publish check` is the build without the write: after a build or a check it makes only the
files whose inputs changed, and still reports every problem a build would (a template error
met by a changed essay, a broken link, an email past the clip size)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from publish.cache.outputs import OUTPUTS_DIR
from publish.cli.main import cli
from publish.errors import PublishError
from publish.pipeline.build import BuildOptions, build, check
from publish.pipeline.checker import CHECK_MEMO
from publish.pipeline.place import BuildProgress
from tests.sitebuilder import DEFAULT_SETTINGS, essay_text, make_site

TODAY = date(2026, 12, 1)
SCHEDULED = DEFAULT_SETTINGS + '\n[schedule]\nrule = "FREQ=MONTHLY;BYMONTHDAY=1"\ntime = "09:00"\n'
PARAGRAPH = "A sentence that repeats to make a very long essay indeed. " * 20
LONG_BODY = "\n\n".join([PARAGRAPH] * 90) + "\n"
# A footer that fails only on the page of an essay titled "Boom".
FOOTER = (
    '{% if essay is defined and essay.title == "Boom" %}{{ no_such_name.attr }}{% endif %}\n'
    "<footer><p>{{ site.title }}</p></footer>\n"
)
DATED = {
    f"0{n}-essay": essay_text(f"Essay {n}", date=f"2026-0{n}-01", slug=f"essay-{n}")
    for n in range(1, 5)
}


def dated_site(tmp_path: Path) -> Path:
    """Four essays, all out before TODAY (so check shows what the build shows), and a site
    footer that breaks on one title."""
    root = make_site(tmp_path / "site", essays=DATED)
    (root / "templates").mkdir()
    (root / "templates" / "footer.html").write_text(FOOTER, encoding="utf-8")
    return root


def queued_long_site(tmp_path: Path) -> Path:
    """A dated short essay and a queued (undated) one whose email passes the clip size."""
    return make_site(
        tmp_path / "site",
        settings=SCHEDULED,
        essays={
            "01-short": essay_text("Short", date="2026-11-01"),
            "02-long": essay_text("A Long One", LONG_BODY, slug="a-long-one"),
        },
    )


def made_by_check(root: Path, strict: bool = False) -> tuple[int, list[str]]:
    """How many contents a check made, and its oversize warnings (where, and the size)."""
    made: list[BuildProgress] = []
    report = check(root, BuildOptions(today=TODAY, strict=strict), made.append)
    oversize = [f"{w.path}:{w.line}: {w.message}" for w in report.warnings if "email" in w.message]
    return len(made), oversize


def invoke(root: Path, *args: str):
    """Run the command line on the site at `root`."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def test_check_after_a_build_makes_nothing_the_build_made(tmp_path: Path) -> None:
    root = dated_site(tmp_path)
    build(root, BuildOptions(today=TODAY))
    assert made_by_check(root) == (0, [])


def test_check_after_a_check_makes_nothing_and_still_warns_of_the_long_email(
    tmp_path: Path,
) -> None:
    root = queued_long_site(tmp_path)
    build(root, BuildOptions(today=TODAY))  # the queued essay is not built: check must make it
    first, oversize = made_by_check(root)
    assert first > 0
    assert [line.split(": ")[0] for line in oversize] == ["essays/02-long.md:1"]
    assert made_by_check(root) == (0, oversize)  # the size the HTML had, not its .eml's
    with pytest.raises(PublishError) as raised:
        made_by_check(root, strict=True)
    assert [p.path for p in raised.value.problems] == ["essays/02-long.md"]


def test_check_makes_again_only_what_an_edited_essay_changes(tmp_path: Path) -> None:
    root = dated_site(tmp_path)
    first, _ = made_by_check(root)  # no build yet: every content made, no memo kept
    assert first > 0
    assert not (root / "build").exists()
    build(root, BuildOptions(today=TODAY))
    path = root / "essays" / "01-essay.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    edited, _ = made_by_check(root)
    assert 0 < edited < first


def test_a_template_error_met_by_an_edited_essay_is_reported_after_a_check(
    tmp_path: Path,
) -> None:
    root = dated_site(tmp_path)
    build(root, BuildOptions(today=TODAY))
    assert invoke(root, "check", "--today", "2026-12-01").exit_code == 0
    path = root / "essays" / "02-essay.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Essay 2", "Boom"), encoding="utf-8")
    result = invoke(root, "check", "--today", "2026-12-01")
    assert result.exit_code == 1
    assert "templates/footer.html:1:1: error: template error: 'no_such_name' is undefined" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_a_broken_template_is_reported_after_a_check(tmp_path: Path) -> None:
    root = dated_site(tmp_path)
    build(root, BuildOptions(today=TODAY))
    assert invoke(root, "check", "--today", "2026-12-01").exit_code == 0
    (root / "templates" / "footer.html").write_text("<footer>{% if %}</footer>\n")
    result = invoke(root, "check", "--today", "2026-12-01")
    assert result.exit_code == 1
    assert "templates/footer.html:1:1: error: template error:" in result.output


def test_a_broken_link_is_reported_after_a_check(tmp_path: Path) -> None:
    root = dated_site(tmp_path)
    build(root, BuildOptions(today=TODAY))
    assert invoke(root, "check", "--today", "2026-12-01").exit_code == 0
    path = root / "essays" / "03-essay.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nSee [gone](09-gone.md).\n")
    result = invoke(root, "check", "--today", "2026-12-01")
    assert result.exit_code == 1
    assert "essays/03-essay.md:" in result.output and "09-gone.md" in result.output


def test_a_damaged_check_memo_only_costs_time(tmp_path: Path) -> None:
    root = queued_long_site(tmp_path)
    build(root, BuildOptions(today=TODAY))
    first, oversize = made_by_check(root)
    (root / OUTPUTS_DIR / CHECK_MEMO).write_bytes(b"PUBCHCK1 not a memo")
    assert made_by_check(root) == (first, oversize)

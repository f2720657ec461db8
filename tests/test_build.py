"""The one pipeline: `check` covers queued essays at their planned slots, `--strict` turns
warnings into errors in `check` and `build`, and the format table names every output."""

from __future__ import annotations

from pathlib import Path

from publish.pipeline.formats import FOLDERS, FORMATS
from tests.sitebuilder import DEFAULT_SETTINGS, essay_text, invoke, make_site

SCHEDULED = DEFAULT_SETTINGS + '\n[schedule]\nrule = "FREQ=MONTHLY;BYMONTHDAY=1"\ntime = "09:00"\n'
PARAGRAPH = "A sentence that repeats to make a very long essay indeed. " * 20
LONG_BODY = "\n\n".join([PARAGRAPH] * 90) + "\n"


def queued_long_site(tmp_path: Path) -> Path:
    """A site with one dated short essay and one queued (undated) essay past the clip size."""
    return make_site(
        tmp_path / "site",
        settings=SCHEDULED,
        essays={
            "01-short": essay_text("Short", date="2026-11-01"),
            "02-long": essay_text("A Long One", LONG_BODY, slug="a-long-one"),
        },
    )


def warning_lines(output: str) -> list[str]:
    """The warning lines of a command's output."""
    return [line for line in output.splitlines() if ": warning: " in line]


def test_check_covers_a_queued_essay_past_the_clip_size(tmp_path: Path) -> None:
    root = queued_long_site(tmp_path)
    result = invoke(root, "check", "--today", "2026-12-01")
    assert result.exit_code == 0, result.output
    oversize = [w for w in warning_lines(result.output) if "email HTML" in w]
    assert [w.split(": warning: ")[0] for w in oversize] == ["essays/02-long.md:1:1"]
    assert not (root / "build" / "site").exists()  # check writes nothing


def test_strict_check_fails_on_the_queued_essay_past_the_clip_size(tmp_path: Path) -> None:
    root = queued_long_site(tmp_path)
    result = invoke(root, "check", "--strict", "--today", "2026-12-01")
    assert result.exit_code == 1
    assert "essays/02-long.md:1:1: error: the email HTML is " in result.output
    assert "Traceback" not in result.output


def test_strict_build_fails_before_writing_and_plain_build_warns(tmp_path: Path) -> None:
    root = make_site(
        tmp_path / "site",
        essays={
            "one": essay_text("One", date="2026-01-01", subtitel="A typo"),
        },
    )
    strict = invoke(root, "build", "--strict", "--today", "2026-12-01")
    assert strict.exit_code == 1
    errors = [line for line in strict.output.splitlines() if ": error: " in line]
    assert errors and all(line.startswith("essays/one.md:") for line in errors)
    assert "subtitel" in errors[0]
    assert not (root / "build" / "site").exists()
    plain = invoke(root, "build", "--today", "2026-12-01")
    assert plain.exit_code == 0, plain.output
    assert any("subtitel" in line for line in warning_lines(plain.output))
    assert (root / "build" / "site" / "one" / "index.html").is_file()


def test_every_built_file_comes_from_a_row_of_the_format_table(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", essays={"one": essay_text("One", date="2026-01-01")})
    (root / "essays" / "picture.png").write_bytes(b"\x89PNG not really")
    assert invoke(root, "build", "--today", "2026-01-01").exit_code == 0  # "one" is due
    assert {row.folder for row in FORMATS} == set(FOLDERS) == {"site", "email"}
    built = {p.name for p in (root / "build").iterdir() if not p.name.startswith(".")}
    assert built == set(FOLDERS)
    assert (root / "build" / "site" / "picture.png").read_bytes() == b"\x89PNG not really"
    assert sorted(p.name for p in (root / "build" / "email").iterdir()) == [
        "one.eml",
        "one.html",
        "one.txt",
    ]

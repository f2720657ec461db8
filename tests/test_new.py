"""Tests for `publish new`: the new file is numbered after the last one, so it joins the
queue at its end, unless the writer asks for another number or none."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from publish.content.site import load_site
from publish.schedule.slots import queue_order
from tests.sitebuilder import essay_text, make_site
from tests.test_run import SETTINGS


def new(root: Path, *args: str):
    """`publish new` in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), "new", *args])


def queued(*names: str) -> dict[str, str]:
    """Undated essays under these file names, each titled after its name."""
    return {
        name: essay_text(f"Essay {name}", slug=name.partition("-")[2] or name) for name in names
    }


def made_ready(root: Path, written: Path) -> None:
    """Take the new essay out of draft, as the writer will."""
    written.write_text(written.read_text().replace("draft: true", "draft: false"))


def queue(root: Path) -> list[str]:
    """The slugs of the undated essays, in the order the schedule takes them."""
    site, _ = load_site(root)
    return [e.slug for e in queue_order(site.essays) if e.date is None and not e.draft]


def written_file(root: Path, before: set[str]) -> Path:
    """The one essay file that was not there before."""
    [path] = [p for p in (root / "essays").glob("*.md") if p.name not in before]
    return path


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["01-a", "02-b", "03-c", "04-d", "05-e"], "06-the-next-one.md"),
        (["08-a", "09-b"], "10-the-next-one.md"),
        (["098-a", "099-b"], "100-the-next-one.md"),
    ],
)
def test_new_numbers_the_file_after_the_last_and_keeps_the_queue_order(
    tmp_path: Path, names: list[str], expected: str
) -> None:
    root = make_site(tmp_path / "site", queued(*names), settings=SETTINGS)
    before = {p.name for p in (root / "essays").glob("*.md")}
    result = new(root, "The Next One")
    assert result.exit_code == 0, result.output
    path = written_file(root, before)
    assert path.name == expected
    made_ready(root, path)
    assert queue(root)[-1] == "the-next-one"
    assert "note:" not in result.output


def test_a_single_digit_nine_gets_ten_and_a_note_on_the_order(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", queued("8-a", "9-b"), settings=SETTINGS)
    result = new(root, "Ten")
    assert result.exit_code == 0, result.output
    assert (root / "essays" / "10-ten.md").is_file()
    assert "note: 10-ten.md comes before 8-a.md, 9-b.md in file-name order" in result.stderr


def test_without_numbered_files_the_name_stays_unnumbered(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", queued("alpha"), settings=SETTINGS)
    assert new(root, "Zeta").exit_code == 0
    assert (root / "essays" / "zeta.md").is_file()
    made_ready(root, root / "essays" / "zeta.md")
    assert queue(root) == ["alpha", "zeta"]
    empty = make_site(tmp_path / "empty", {}, settings=SETTINGS)
    assert new(empty, "First").exit_code == 0
    assert [p.name for p in (empty / "essays").glob("*.md")] == ["first.md"]


def test_an_explicit_number_or_none(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", queued("01-a", "02-b"), settings=SETTINGS)
    assert new(root, "Early", "--number", "0").exit_code == 0
    assert new(root, "Loose", "--no-number").exit_code == 0
    names = sorted(p.name for p in (root / "essays").glob("*.md"))
    assert names == ["00-early.md", "01-a.md", "02-b.md", "loose.md"]


def test_new_refuses_a_title_whose_essay_exists_under_a_number(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", queued("01-a", "04-title"), settings=SETTINGS)
    before = (root / "essays" / "04-title.md").read_text()
    result = new(root, "Title")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "essays/04-title.md:1:1: error: already holds the essay 'title'"
    )
    assert (root / "essays" / "04-title.md").read_text() == before
    assert not (root / "essays" / "05-title.md").exists()


def test_on_a_fresh_site_new_essays_are_numbered_and_queued_in_the_order_written(
    tmp_path: Path,
) -> None:
    root = tmp_path / "letters"
    created = CliRunner().invoke(cli, ["init", str(root)])
    assert created.exit_code == 0, created.output
    for title in ("Zebra Crossings", "A Summer of Fewer Tabs"):
        result = new(root, title)
        assert result.exit_code == 0 and "note:" not in result.output, result.output
    names = sorted(p.name for p in (root / "essays").glob("*.md"))
    assert names == ["01-welcome.md", "02-zebra-crossings.md", "03-a-summer-of-fewer-tabs.md"]
    for name in names[1:]:
        made_ready(root, root / "essays" / name)
    assert queue(root) == ["zebra-crossings", "a-summer-of-fewer-tabs"]

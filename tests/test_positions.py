"""One way to find where a setting is written (publish.content.positions): in publish.toml,
releases.toml and an essay's front matter, each problem names the line of its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish.content.positions import (
    front_matter_key_line,
    toml_key_line,
    toml_table_line,
    value_col,
)
from publish.content.releasefile import parse_releases
from publish.content.settings import load_settings
from publish.errors import PublishError
from tests.test_releases import HEAD, UTC_ZONE, released_entry
from tests.test_settings import SITE

KEY = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)


def errors_of(call) -> list[str]:
    """The formatted problems a call raises."""
    with pytest.raises(PublishError) as caught:
        call()
    return [p.format() for p in caught.value.problems]


def test_an_unknown_top_level_key_of_publish_toml_is_named_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "publish.toml").write_text("# my site\ncolour = 'blue'\n" + SITE, encoding="utf-8")
    [problem] = errors_of(lambda: load_settings(tmp_path))
    assert problem.startswith("publish.toml:2:1: error: unknown table [colour]")


def test_an_unknown_table_of_releases_toml_is_named_at_its_line() -> None:
    text = HEAD + released_entry("on-the-alder", "essays/00-alder.md") + "\n[extras]\nnote = 1\n"
    [problem] = errors_of(lambda: parse_releases(text, UTC_ZONE))
    assert problem.startswith("releases.toml:10:1: error: unknown key 'extras'")


@given(before=st.lists(KEY, max_size=4, unique=True), key=KEY, table=KEY)
def test_a_key_is_found_in_its_own_table_and_nowhere_else(
    before: list[str], key: str, table: str
) -> None:
    others = [name for name in before if name not in (key, table)]
    lines = [f"{name} = 1" for name in others] + [f"[{table}x]", f"{key} = 0", f"[{table}]"]
    text = "\n".join([*lines, f"{key} = 'here'", ""])
    assert toml_key_line(text, key, table) == len(lines) + 1
    assert toml_table_line(text, table) == len(lines)
    assert toml_key_line(text, key, "absent") == 1
    assert value_col(text, len(lines) + 1) == len(f"{key} = ") + 1


@given(key=KEY, other=KEY)
def test_a_front_matter_key_is_found_at_the_start_of_its_line(key: str, other: str) -> None:
    front_matter = f"---\n  {key}: nested\n{other}x: 1\n{key}: value\n"
    assert front_matter_key_line(front_matter, key) == 4
    assert value_col(front_matter, 4, ":") == len(f"{key}: ") + 1

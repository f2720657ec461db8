"""Tests for publish.toml: defaults, and every bad setting named with its line."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from publish.content.settings import load_settings
from publish.errors import PublishError

SITE = (Path(__file__).parent / "sites" / "minimal" / "publish.toml").read_text(encoding="utf-8")


def problems_of(tmp_path: Path, text: str | None) -> list[str]:
    """The formatted problems that loading this publish.toml raises."""
    if text is not None:
        (tmp_path / "publish.toml").write_text(text, encoding="utf-8")
    with pytest.raises(PublishError) as caught:
        load_settings(tmp_path)
    return [p.format() for p in caught.value.problems]


def test_defaults_are_applied(tmp_path: Path) -> None:
    (tmp_path / "publish.toml").write_text(SITE, encoding="utf-8")
    settings = load_settings(tmp_path)
    assert settings.schedule.rule == "FREQ=MONTHLY;BYDAY=+1TU"
    assert settings.schedule.time == time(9, 0)
    assert settings.site.language == "en"
    assert settings.site.timezone == "UTC"
    assert settings.site.url == "https://example.org/x/"


def test_every_documented_key_is_read(tmp_path: Path) -> None:
    text = SITE + (
        'language = "fr"\ntimezone = "America/New_York"\n'
        '[schedule]\nrule = "FREQ=WEEKLY;BYDAY=MO"\ntime = "18:45"\n'
        '[email]\nfrom = "A <a@example.org>"\nreply_to = "r@example.org"\n'
    )
    (tmp_path / "publish.toml").write_text(text, encoding="utf-8")
    settings = load_settings(tmp_path)
    assert (settings.site.language, settings.site.timezone) == ("fr", "America/New_York")
    assert settings.schedule.rule == "FREQ=WEEKLY;BYDAY=MO"
    assert settings.schedule.time == time(18, 45)
    assert settings.email.from_address == "A <a@example.org>"
    assert settings.email.reply_to == "r@example.org"


def test_missing_file(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, None)
    assert problem.startswith(f"publish.toml:1:1: error: settings file not found in {tmp_path}")
    assert "publish init DIR" in problem


def test_bad_toml_gives_line_and_column(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, '[site]\ntitle = "T\nurl = "x"\n')
    assert problem.startswith("publish.toml:2:11: error: invalid TOML")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            'titel = "x"\n',
            "publish.toml:5:1: error: unknown key 'site.titel' (did you mean 'title'?)",
        ),
        ("language = 3\n", "publish.toml:5:1: error: 'site.language' must be a string"),
        (
            'timezone = "Europe/Londn"\n',
            "publish.toml:5:1: error: unknown time zone 'Europe/Londn' "
            "(did you mean 'Europe/London'?)",
        ),
        (
            '[schedule]\nrule = "FREQ=SOMETIMES"\n',
            "publish.toml:6:1: error: invalid RRULE 'FREQ=SOMETIMES'",
        ),
        (
            '[schedule]\ntime = "25:00"\n',
            "publish.toml:6:1: error: 'schedule.time' must be HH:MM, got '25:00'",
        ),
        (
            '[schedule]\ntime = "nine"\n',
            "publish.toml:6:1: error: 'schedule.time' must be HH:MM, got 'nine'",
        ),
        (
            "[sched]\nrule = 1\n",
            "publish.toml:5:1: error: unknown table [sched] (did you mean 'schedule'?)",
        ),
        (
            '[email]\nreplyto = "x"\n',
            "publish.toml:6:1: error: unknown key 'email.replyto' (did you mean 'reply_to'?)",
        ),
    ],
)
def test_bad_setting_is_named_with_its_line(tmp_path: Path, extra: str, expected: str) -> None:
    [problem] = problems_of(tmp_path, SITE + extra)
    assert problem.startswith(expected)


def test_bad_toml_at_end_of_document_points_there(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, "[site]\ntitle = 'unfinished")
    assert problem.startswith("publish.toml:2:20: error: invalid TOML")


def test_settings_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "publish.toml").write_bytes(b'[site]\ntitle = "Caf\xe9"\n')
    assert problems_of(tmp_path, None) == [
        "publish.toml:2:13: error: file is not UTF-8 (byte 0xe9); save it as UTF-8"
    ]


def test_missing_required_key(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, '[site]\ntitle = "T"\nurl = "https://e.org/"\n')
    assert problem == "publish.toml:1:1: error: missing required key 'site.author'"


def test_bad_url(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, SITE.replace("https://example.org/x", "example.org"))
    assert problem.startswith("publish.toml:3:1: error: 'site.url' must be an absolute http(s) URL")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        '[site]\ntitle = 3\nurl = "ftp://x"\ntimezone = "Mars/Base"\n'
        '[schedule]\nrule = "NOPE"\ntime = "7pm"\n'
    )
    problems = problems_of(tmp_path, text)
    lines = sorted(int(p.split(":")[1]) for p in problems)
    assert lines == [1, 2, 3, 4, 6, 7]  # missing author (table line), then one per bad key


def test_service_url_gets_a_trailing_slash_like_the_site_url(tmp_path: Path) -> None:
    text = SITE + '[email]\nservice_url = "https://subs.example.org/letters"\n'
    (tmp_path / "publish.toml").write_text(text, encoding="utf-8")
    assert load_settings(tmp_path).email.service_url == "https://subs.example.org/letters/"
    (tmp_path / "publish.toml").write_text(SITE, encoding="utf-8")
    assert load_settings(tmp_path).email.service_url == ""


def test_a_good_file_is_read_without_seeking_any_keys_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's line is sought (a scan of the file by a pattern made for it) only to place a
    problem with it: a build of a site with good settings sought one for every key."""
    from publish.content import positions, settings

    sought: list[str] = []
    real = positions.toml_key_line

    def seeking(text: str, key: str, table: str | None = None) -> int:
        sought.append(key)
        return real(text, key, table)

    monkeypatch.setattr(settings, "toml_key_line", seeking)
    text = SITE + '[schedule]\nrule = "FREQ=WEEKLY;BYDAY=MO"\ntime = "18:45"\n'
    (tmp_path / "publish.toml").write_text(text, encoding="utf-8")
    load_settings(tmp_path)
    assert sought == []
    bad = text.replace('"18:45"', '"25:00"').replace("[schedule]", 'titel = "x"\n[schedule]')
    assert problems_of(tmp_path, bad) == [
        "publish.toml:5:1: error: unknown key 'site.titel' (did you mean 'title'?)",
        "publish.toml:8:1: error: 'schedule.time' must be HH:MM, got '25:00'",
    ]
    assert sought == ["titel", "time"]

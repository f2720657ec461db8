"""An email only where a send needs it (issue 20): the build makes the emails of the essays
the schedule will mail next and of the sends not yet finished; `publish send SLUG`, `send
--to` and the preview make any other when they ask, byte for byte what a build that
included it writes (publish.state.unsent, publish.mail.ondemand)."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from publish.cli.main import cli
from publish.content.releasefile import ReleasesFile, write_releases_file
from publish.i18n.words import words_for
from publish.mail.built import load_built_email
from publish.model import Release
from publish.ops.run import decide
from publish.pipeline.build import BuildOptions, build, plan
from publish.pipeline.load import load
from publish.preview.serve import Preview
from publish.schedule.slots import Timetable
from publish.state import ledger
from publish.state.db import connect
from publish.state.releases import record_releases
from publish.state.subscribers import add_subscriber
from publish.state.unsent import emails_wanted
from tests.sitebuilder import essay_text, make_site
from tests.tools import RecordingSMTPServer

READER = "ann@example.org"
ME = "me@example.com"
SETTINGS = """\
[site]
title = "Test Letters"
url = "https://letters.example.org/"
author = "Test Author"
timezone = "UTC"

[schedule]
rule = "FREQ=MONTHLY;BYDAY=+1TU"

[email]
from = "Test Author <letters@example.org>"
service_url = "https://letters.example.org/subscribe/"
postal_address = "1 Test Street, Testville"
welcome = "{welcome}"
"""
# Eight issues mailed on the first Tuesdays of 2025, one dated before them that was never
# mailed (kept off by the first-run rule), and one dated after them: due, not yet released.
MAILED = {
    f"m{month}": datetime(2025, month, day, 9, tzinfo=UTC)
    for month, day in ((1, 7), (2, 4), (3, 4), (4, 1), (5, 6), (6, 3), (7, 1), (8, 5))
}
OLD, DUE = "old", "due"
DUE_DATE = "2025-09-02"


def essays() -> dict[str, str]:
    """The site's essays: the mailed ones, the old unmailed one and the due one."""
    files = {
        f"{n:02d}-{slug}": essay_text(
            f"Issue {slug}", f"Words of {slug}, see [old](/old/).\n", slug=slug, date=slot.date()
        )
        for n, (slug, slot) in enumerate(MAILED.items(), start=2)
    }
    files["01-old"] = essay_text("Old One", "An old essay.\n", slug=OLD, date="2024-12-03")
    files["10-due"] = essay_text("Due One", "The next issue.\n", slug=DUE, date=DUE_DATE)
    return files


def mailed_site(
    root: Path,
    welcome: str = "none",
    unfinished: tuple[str, ...] = (),
    released: tuple[str, ...] = tuple(MAILED),
) -> Path:
    """The site with the `released` MAILED issues (all of them unless told) released and
    their sends finished (but `unfinished`), recorded in the state database as `publish
    run` records them; one reader."""
    make_site(root, essays(), settings=SETTINGS.format(welcome=welcome))
    paths = {slug: f"essays/{n:02d}-{slug}.md" for n, slug in enumerate(MAILED, start=2)}
    with closing(connect(root / "state" / "publish.db")) as connection:
        records = [Release(s, MAILED[s], MAILED[s], "", paths[s]) for s in released]
        record_releases(connection, records)
        for slug in released:
            ledger.start_send(connection, slug)  # nobody subscribed yet: finished at once
            if slug not in unfinished:
                ledger.finish_send(connection, slug)
        add_subscriber(connection, READER)
    return root


def publish(root: Path, *args: str) -> Result:
    """The command line, in-process."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def email_files(folder: Path) -> list[str]:
    """The file names in an email folder."""
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def three(*slugs: str) -> list[str]:
    """The email files of `slugs`."""
    return sorted(f"{slug}.{suffix}" for slug in slugs for suffix in ("eml", "html", "txt"))


def test_a_build_writes_only_the_email_of_the_essay_that_is_due(tmp_path: Path) -> None:
    root = mailed_site(tmp_path / "site")
    for _ in range(2):  # on every build, not only the first
        result = publish(root, "build")
        assert result.exit_code == 0, result.output
        assert email_files(root / "build" / "email") == three(DUE)
        assert {f"{slug}/index.html" for slug in [*MAILED, OLD, DUE]} <= {
            p.relative_to(root / "build" / "site").as_posix()
            for p in (root / "build" / "site").rglob("index.html")
        }
    assert "Emails (HTML, text, .eml) of the 1 essay(s) a send could still need" in result.output


def test_the_build_counts_the_emails_it_wrote_without_listing_their_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build says how many emails it wrote (the command's line tells them): the command
    does not list the email folder again to count them."""
    root = mailed_site(tmp_path / "site")
    listed: list[Path] = []
    real_glob = Path.glob

    def noted(self: Path, pattern: str) -> object:
        listed.append(self)
        return real_glob(self, pattern)

    monkeypatch.setattr(Path, "glob", noted)
    result = publish(root, "build")
    assert result.exit_code == 0, result.output
    assert "Emails (HTML, text, .eml) of the 1 essay(s) a send could still need" in result.output
    assert root / "build" / "email" not in listed
    report = build(root, BuildOptions(today=datetime.now(UTC)))
    assert report.emails == len(list(real_glob(report.email_dir, "*.eml"))) == 1


def test_an_unfinished_send_and_the_welcome_essay_keep_their_emails(tmp_path: Path) -> None:
    root = mailed_site(tmp_path / "site", welcome="latest", unfinished=("m3",))
    assert publish(root, "build").exit_code == 0
    assert email_files(root / "build" / "email") == three("m3", "m8", DUE)


def test_send_makes_an_email_the_build_left_out_as_the_build_would(
    tmp_path: Path, relay: RecordingSMTPServer
) -> None:
    root = mailed_site(tmp_path / "site")
    twin = shutil.copytree(root, tmp_path / "twin")
    assert publish(root, "build").exit_code == 0
    assert not (root / "build" / "email" / f"{OLD}.eml").exists()
    result = publish(root, "send", OLD)
    assert result.exit_code == 0, result.output
    [(_, recipients, message)] = relay.messages
    assert recipients == [READER] and message["Subject"] == "Old One"
    today = datetime.now(ZoneInfo("UTC")).date()
    build(twin, BuildOptions(today=today, emails=frozenset({OLD})))  # a build including it
    assert email_files(twin / "build" / "email") == three(OLD, DUE)
    for name in three(OLD):
        made = (root / "build" / "email" / name).read_bytes()
        assert made == (twin / "build" / "email" / name).read_bytes(), name
    with closing(sqlite3.connect(root / "state" / "publish.db")) as connection:
        finished = connection.execute("SELECT finished_at FROM sends WHERE slug = ?", (OLD,))
        assert finished.fetchone()[0] is not None
    assert publish(root, "build").exit_code == 0  # sent: no send needs it any more
    assert email_files(root / "build" / "email") == three(DUE)


def test_a_dry_run_send_of_a_back_issue_makes_and_writes_nothing(
    tmp_path: Path, relay: RecordingSMTPServer
) -> None:
    root = mailed_site(tmp_path / "site")
    assert publish(root, "build").exit_code == 0
    before = email_files(root / "build" / "email")
    for args in (("send", OLD, "--dry-run"), ("send", OLD, "--to", ME, "--dry-run")):
        result = publish(root, *args)
        assert result.exit_code == 0, result.output
        assert email_files(root / "build" / "email") == before, args
    assert not (root / "build" / "preview").exists()
    assert relay.messages == []
    draft = root / "essays" / "11-draft.md"
    draft.write_text(essay_text("Draft", "Not yet.\n", slug="draft", draft="true"))
    refused = publish(root, "send", "draft", "--dry-run")
    assert refused.exit_code == 1 and "draft" in refused.output
    assert email_files(root / "build" / "email") == before


def test_a_test_copy_of_a_mailed_back_issue_is_made_and_sent(
    tmp_path: Path, relay: RecordingSMTPServer
) -> None:
    root = mailed_site(tmp_path / "site")
    assert publish(root, "build").exit_code == 0
    result = publish(root, "send", "m2", "--to", ME)
    assert result.exit_code == 0, result.output
    [(_, recipients, message)] = relay.messages
    assert recipients == [ME] and message["X-Publish-Test"] == "1"
    assert message["Subject"] == "Issue m2"
    assert "Words of m2" in message.get_body(("html",)).get_content()
    assert email_files(root / "build" / "email") == three("m2", DUE)


def test_the_preview_makes_a_back_issues_email_when_asked(tmp_path: Path) -> None:
    root = mailed_site(tmp_path / "site")
    today = datetime.now(ZoneInfo("UTC")).date()
    preview = Preview(root, BuildOptions(today=today, future=True, queued=True))
    assert preview.rebuild().ok
    folder = root / "build" / "preview" / "email"
    assert email_files(folder) == three(DUE)
    assert preview.shown is not None and "m4" in preview.shown.emails  # linked from the index
    html = preview.email_preview("m4", "html")
    assert html is not None and "Words of m4" in html and "Hello Sam Sample," in html
    assert email_files(folder) == three("m4", DUE)
    assert preview.email_preview("no-such-essay", "html") is None


def test_check_checks_the_next_email_and_not_a_mailed_back_issues(tmp_path: Path) -> None:
    root = mailed_site(tmp_path / "site")
    long_body = "\n\n".join(["A sentence that repeats to make a long essay indeed. " * 20] * 90)
    for name in ("05-m4", "10-due"):  # a mailed issue, and the next one
        path = root / "essays" / f"{name}.md"
        path.write_text(path.read_text(encoding="utf-8") + long_body + "\n", encoding="utf-8")
    result = publish(root, "check")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if ": warning: " in line]
    assert [line.split(":")[0] for line in warnings] == ["essays/10-due.md"]
    assert "the email HTML is " in warnings[0]


@given(
    released=st.sets(st.sampled_from(sorted(MAILED))),
    unfinished=st.sets(st.sampled_from(sorted(MAILED))),
    first_run=st.sampled_from([None, "2024-06-01T09:00:00+00:00", "2025-03-01T09:00:00+00:00"]),
    days=st.integers(min_value=0, max_value=400),
)
def test_a_build_makes_exactly_the_emails_a_run_at_that_moment_would_send(
    released: set[str], unfinished: set[str], first_run: str | None, days: int
) -> None:
    now = datetime(2025, 9, 2, 12, tzinfo=UTC) + timedelta(days=days)
    with tempfile.TemporaryDirectory() as folder:
        root = mailed_site(
            Path(folder) / "site",
            unfinished=tuple(sorted(unfinished & released)),
            released=tuple(sorted(released)),
        )
        if first_run is not None:
            write_releases_file(root, ReleasesFile({}, datetime.fromisoformat(first_run)))
        loaded = load(root)
        binding, known = loaded.binding, loaded.known
        in_order = [slug for slug in known.database if slug in known.unfinished]
        timetable = Timetable.from_settings(binding.site.settings)
        decision = decide(binding, timetable, in_order, now, known.first_run)
        would_send = {*decision.resume, *(r.slug for r in decision.releases)}
        site = loaded.site
        shown = {essay.slug for essay in plan(site, known, BuildOptions(today=now)).essays}
        assert emails_wanted(site, known, now) & shown == would_send


def test_a_build_reads_the_state_database_and_the_releases_file_once(
    tmp_path: Path, monkeypatch
) -> None:
    root = mailed_site(tmp_path / "site", welcome="latest", unfinished=("m3",))
    write_releases_file(root, ReleasesFile({}, datetime(2024, 6, 1, 9, tzinfo=UTC)))
    opened: list[str] = []
    connect_sqlite, read_text = sqlite3.connect, Path.read_text

    def counted_connect(database, *args, **kwargs):
        opened.append("state")
        return connect_sqlite(database, *args, **kwargs)

    def counted_read(path: Path, *args, **kwargs):
        if path.name == "releases.toml":
            opened.append("releases.toml")
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counted_connect)
    monkeypatch.setattr(Path, "read_text", counted_read)
    report = build(root, BuildOptions(today=datetime(2025, 9, 2, 12, tzinfo=UTC)))
    assert sorted(opened) == ["releases.toml", "state"]
    assert email_files(report.email_dir) == three(DUE, "m3", "m8")  # due, unfinished, welcome


def test_an_email_made_on_demand_is_the_same_files_whatever_words_it_carries(
    tmp_path: Path,
) -> None:
    root = mailed_site(tmp_path / "site")
    made = load_built_email(root, OLD)  # a back issue: made now, as a build would
    assert made is not None and made.words.language == "en"
    assert made == replace(made, words=words_for("de"))  # the files, not how they were worded
    assert made != replace(made, html=made.html + "\n")
    assert made != replace(made, headers={**made.headers, "Subject": "Other"})

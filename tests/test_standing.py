"""Bounces, complaints and unsubscribe requests applied to the subscriber list
(publish.state.standing), and the migration that gave the list those statuses."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from publish.content.settings import load_settings
from publish.errors import PublishError
from publish.state import db, ledger, standing
from publish.state.imports import import_csv
from publish.state.standing import Outcome, apply_outcomes
from publish.state.subscribers import (
    active_subscribers,
    add_subscriber,
    find_subscriber,
    set_status,
    unsubscribe_token,
)
from tests.mailsite import SETTINGS
from tests.servicesite import Harness, harness, open_state, people  # noqa: F401 (a fixture)
from tests.sitebuilder import make_site


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh, migrated state database."""
    with closing(db.connect(tmp_path / "state.db")) as connection:
        yield connection


def status_of(conn: sqlite3.Connection, address: str) -> str:
    """The subscriber's status now."""
    found = find_subscriber(conn, address)
    assert found is not None
    return found.status


def apply(conn: sqlite3.Connection, *outcomes: Outcome, limit: int = 3) -> standing.AppliedSummary:
    """Apply outcomes in one transaction, as the callers do."""
    with db.transaction(conn):
        return apply_outcomes(conn, outcomes, soft_limit=limit)


def report(kind: str, address: str, reference: str, slug: str = "") -> Outcome:
    """An outcome from the mailbox."""
    return Outcome(kind, address, "maildir", reference, detail="5.1.1", slug=slug)


def test_the_migration_keeps_every_reader_and_allows_the_new_statuses(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.create_function("publish_address_key", 1, str.casefold)
        ours = next(i for i, script in enumerate(db.MIGRATIONS) if "TABLE reports" in script)
        before = db.MIGRATIONS[:ours]
        for number, script in enumerate(before, start=1):
            for statement in db._statements(script):
                old.execute(statement)
            old.execute(f"PRAGMA user_version = {number}")
        old.execute(
            "INSERT INTO subscribers (id, email, name, status, created_at, source)"
            " VALUES (7, 'Ann@Example.org', 'Ann', 'active', '2026-01-01T00:00:00Z', 'import')"
        )
        old.execute("INSERT INTO sends (slug, started_at) VALUES ('s', 'x')")
        old.execute(
            "INSERT INTO deliveries (slug, subscriber_id, email, status)"
            " VALUES ('s', 7, 'Ann@Example.org', 'sent')"
        )
        old.execute(
            "INSERT INTO confirmations (nonce, subscriber_id, created_at) VALUES ('n', 7, 'x')"
        )
    with closing(db.connect(path)) as conn:
        row = conn.execute("SELECT * FROM subscribers").fetchone()
        assert (row["id"], row["email"], row["name"], row["source"]) == (
            7,
            "Ann@Example.org",
            "Ann",
            "import",
        )
        assert row["email_key"] and row["soft_bounces"] == 0 and row["bounced_at"] is None
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("UPDATE subscribers SET status = 'bounced'")
        conn.execute("UPDATE subscribers SET status = 'complained'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE subscribers SET status = 'lost'")
        with pytest.raises(sqlite3.IntegrityError):  # the foreign keys still hold
            conn.execute("DELETE FROM subscribers")
        with pytest.raises(sqlite3.IntegrityError):  # and so does the merge by email_key
            conn.execute(
                "INSERT INTO subscribers (email, status, created_at) "
                "VALUES ('ann@example.ORG', 'active', 'x')"
            )
        add_subscriber(conn, "new@example.org")
        assert find_subscriber(conn, "NEW@example.org") is not None


def test_a_hard_bounce_takes_the_reader_off_the_list_once(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "gone@example.org")
    add_subscriber(conn, "here@example.org")
    summary = apply(conn, report("hard_bounce", "Gone@Example.org", "<dsn-1@mx>", "essay"))
    assert summary.applied["hard_bounce"] == 1 and summary.changed == {
        "gone@example.org": "bounced"
    }
    gone = find_subscriber(conn, "gone@example.org")
    assert gone is not None and gone.status == "bounced" and gone.bounced_at
    assert [s.email for s in active_subscribers(conn)] == ["here@example.org"]
    again = apply(conn, report("hard_bounce", "gone@example.org", "<dsn-1@mx>", "essay"))
    assert again.total == 0 and again.repeated == 1 and again.changed == {}
    rows = conn.execute("SELECT kind, address, subscriber_id, slug, source FROM reports")
    assert [tuple(r) for r in rows] == [
        ("hard_bounce", "Gone@Example.org", gone.id, "essay", "maildir")
    ]


def test_a_send_started_after_a_bounce_leaves_the_reader_out(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "gone@example.org")
    add_subscriber(conn, "here@example.org")
    apply(conn, report("complaint", "gone@example.org", "arf-1"))
    ledger.start_send(conn, "next")
    rows = conn.execute("SELECT email FROM deliveries WHERE slug = 'next'").fetchall()
    assert [r[0] for r in rows] == ["here@example.org"]


def test_an_unknown_address_is_recorded_and_changes_nothing(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "here@example.org")
    summary = apply(conn, report("hard_bounce", "stranger@example.net", "x1"))
    assert summary.unknown == 1 and summary.changed == {}
    assert status_of(conn, "here@example.org") == "active"
    row = conn.execute("SELECT address, subscriber_id FROM reports").fetchone()
    assert tuple(row) == ("stranger@example.net", None)


def test_the_proven_reader_wins_over_the_reported_address(conn: sqlite3.Connection) -> None:
    reader = add_subscriber(conn, "old@example.org")
    proven = Outcome(
        "hard_bounce", "forwarded@elsewhere.net", "imap", "r1", subscriber_id=reader.id
    )
    assert apply(conn, proven).changed == {"old@example.org": "bounced"}


def test_a_complaint_and_an_unsubscribe_request(conn: sqlite3.Connection) -> None:
    for name in ("angry", "leaving", "left", "dead"):
        add_subscriber(conn, f"{name}@example.org")
    set_status(conn, find_subscriber(conn, "left@example.org").id, "unsubscribed")  # type: ignore[union-attr]
    apply(conn, report("hard_bounce", "dead@example.org", "b"))
    summary = apply(
        conn,
        report("complaint", "angry@example.org", "c1"),
        report("unsubscribe", "leaving@example.org", "u1"),
        report("complaint", "left@example.org", "c2"),
        report("unsubscribe", "dead@example.org", "u2"),
    )
    assert summary.changed == {
        "angry@example.org": "complained",
        "leaving@example.org": "unsubscribed",
        "left@example.org": "complained",
    }
    angry = find_subscriber(conn, "angry@example.org")
    assert angry is not None and angry.complained_at
    assert status_of(conn, "dead@example.org") == "bounced"  # never back towards mailing


def sent(conn: sqlite3.Connection, slug: str, started: str, *addresses: str) -> None:
    """A finished send of `slug` to these readers, started at `started`."""
    conn.execute("INSERT INTO sends (slug, started_at) VALUES (?, ?)", (slug, started))
    for address in addresses:
        reader = find_subscriber(conn, address)
        assert reader is not None
        conn.execute(
            "INSERT INTO deliveries (slug, subscriber_id, email, status) VALUES (?, ?, ?, 'sent')",
            (slug, reader.id, address),
        )


def test_soft_bounces_on_three_sends_in_a_row_make_bounced(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "full@example.org")
    for number in range(1, 5):
        sent(conn, f"e{number}", f"2026-0{number}-01T00:00:00Z", "full@example.org")
    apply(conn, report("soft_bounce", "full@example.org", "a", "e1"))
    apply(conn, report("soft_bounce", "full@example.org", "b", "e1"))  # the same send: once
    apply(conn, report("soft_bounce", "full@example.org", "c", "e2"))
    reader = find_subscriber(conn, "full@example.org")
    assert reader is not None and reader.status == "active"
    assert standing.soft_bounce_count(conn, reader.id) == 2
    summary = apply(conn, report("soft_bounce", "full@example.org", "d", "e3"))
    assert summary.changed == {"full@example.org": "bounced"}


def test_a_send_that_went_through_breaks_the_run(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "full@example.org")
    for number in range(1, 5):
        sent(conn, f"e{number}", f"2026-0{number}-01T00:00:00Z", "full@example.org")
    apply(conn, report("soft_bounce", "full@example.org", "a", "e1"))
    apply(conn, report("soft_bounce", "full@example.org", "b", "e2"))
    # e3 drew no report: the mailbox had room again
    apply(conn, report("soft_bounce", "full@example.org", "c", "e4"))
    reader = find_subscriber(conn, "full@example.org")
    assert reader is not None and reader.status == "active"
    assert standing.soft_bounce_count(conn, reader.id) == 1


def test_the_soft_limit_is_configurable_and_a_resubscribe_resets(
    conn: sqlite3.Connection,
) -> None:
    reader = add_subscriber(conn, "full@example.org")
    apply(conn, report("soft_bounce", "full@example.org", "a"), limit=2)
    set_status(conn, reader.id, "active")
    apply(conn, report("soft_bounce", "full@example.org", "b"), limit=2)
    assert status_of(conn, "full@example.org") == "active"
    summary = apply(conn, report("soft_bounce", "full@example.org", "c"), limit=2)
    assert summary.changed == {"full@example.org": "bounced"}


def test_an_import_never_revives_a_bounced_or_complained_reader(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    add_subscriber(conn, "dead@example.org")
    add_subscriber(conn, "angry@example.org")
    apply(
        conn,
        report("hard_bounce", "dead@example.org", "b"),
        report("complaint", "angry@example.org", "c"),
    )
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("email,status\ndead@example.org,active\nangry@example.org,active\n")
    import_csv(conn, csv_file)
    add_subscriber(conn, "dead@example.org", source="import")
    assert status_of(conn, "dead@example.org") == "bounced"
    assert status_of(conn, "angry@example.org") == "complained"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('bounce_address = "bounces+x@example.org"', "has no '+'"),
        ('bounce_address = "Bounces <b@example.org>"', "bare address"),
        ('bounce_address = "nowhere"', "not usable"),
        ("soft_bounce_limit = 0", "must be at least 1"),
    ],
)
def test_bounce_settings_are_checked(tmp_path: Path, line: str, message: str) -> None:
    make_site(tmp_path, settings=SETTINGS.replace("[email]\n", f"[email]\n{line}\n"))
    with pytest.raises(PublishError) as caught:
        load_settings(tmp_path)
    (problem,) = caught.value.problems
    assert problem.path == "publish.toml" and message in problem.message
    assert (
        problem.line
        == SETTINGS.replace("[email]\n", f"[email]\n{line}\n").splitlines().index(line) + 1
    )


def test_bounce_settings_are_read(tmp_path: Path) -> None:
    extra = 'bounce_address = "bounces@example.org"\nsoft_bounce_limit = 5\n'
    make_site(tmp_path, settings=SETTINGS.replace("[email]\n", f"[email]\n{extra}"))
    email = load_settings(tmp_path).email
    assert (email.bounce_address, email.soft_bounce_limit) == ("bounces@example.org", 5)


def test_list_export_and_import_keep_bounced_and_complained(tmp_path: Path) -> None:
    def run(site: Path, *args: str) -> Any:
        return CliRunner().invoke(cli, ["--root", str(site), "subscribers", *args])

    first = make_site(tmp_path / "first", settings=SETTINGS)
    with closing(db.connect(db.database_path(first, load_settings(first)))) as conn:
        for address in ("dead@example.org", "angry@example.org", "here@example.org"):
            add_subscriber(conn, address)
        apply(
            conn,
            report("hard_bounce", "dead@example.org", "b"),
            report("complaint", "angry@example.org", "c"),
        )
    listed = run(first, "list", "--status", "bounced")
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.stdout.splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("dead@example.org", "bounced")]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", rows[0][6])
    everyone = run(first, "list")
    assert "1 active, 0 unsubscribed, 1 bounced, 1 complained" in everyone.stderr
    exported = run(first, "export")
    table = {r["email"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}
    assert (
        table["dead@example.org"]["status"] == "bounced" and table["dead@example.org"]["bounced_at"]
    )
    assert table["angry@example.org"]["complained_at"]
    (tmp_path / "export.csv").write_text(exported.stdout, encoding="utf-8")
    second = make_site(tmp_path / "second", settings=SETTINGS)
    imported = run(second, "import", str(tmp_path / "export.csv"))
    assert "3 added (1 active, 1 bounced, 1 complained)" in imported.stdout
    again = run(first, "import", str(tmp_path / "export.csv"))
    assert "2 kept bounced or complained" in again.stdout
    with closing(db.connect(db.database_path(second, load_settings(second)))) as conn:
        dead = find_subscriber(conn, "dead@example.org")
        angry = find_subscriber(conn, "angry@example.org")
    assert dead is not None and dead.status == "bounced"
    assert dead.bounced_at == table["dead@example.org"]["bounced_at"]
    assert angry is not None and angry.status == "complained" and angry.complained_at


# --- Standing: the moves a report must make, and must not ----------------------------------


def test_a_hard_bounce_from_an_unsubscribed_reader_marks_the_address_dead(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    reader = add_subscriber(conn, "left@example.org")
    left = set_status(conn, reader.id, "unsubscribed")
    summary = apply(conn, report("hard_bounce", "left@example.org", "dsn-1", "essay"))
    assert summary.changed == {"left@example.org": "bounced"}
    assert summary.applied["hard_bounce"] == 1 and summary.unknown == 0
    dead = find_subscriber(conn, "left@example.org")
    assert dead is not None and dead.status == "bounced" and dead.bounced_at
    assert dead.unsubscribed_at == left.unsubscribed_at and dead.complained_at is None
    # later reports and imports never move it back, nor sideways
    later = apply(
        conn,
        report("unsubscribe", "left@example.org", "u-1"),
        report("soft_bounce", "left@example.org", "s-1", "other"),
    )
    assert later.changed == {} and later.total == 2
    (tmp_path / "list.csv").write_text("email,status\nleft@example.org,active\n")
    import_csv(conn, tmp_path / "list.csv")
    assert status_of(conn, "left@example.org") == "bounced"
    assert active_subscribers(conn) == []


def test_soft_bounces_below_the_limit_leave_an_unsubscribed_reader_unsubscribed(
    conn: sqlite3.Connection,
) -> None:
    reader = add_subscriber(conn, "left@example.org")
    set_status(conn, reader.id, "unsubscribed")
    summary = apply(conn, report("soft_bounce", "left@example.org", "s-1"), limit=2)
    assert summary.changed == {} and status_of(conn, "left@example.org") == "unsubscribed"
    assert standing.soft_bounce_count(conn, reader.id) == 1
    summary = apply(conn, report("soft_bounce", "left@example.org", "s-2"), limit=2)
    assert summary.changed == {"left@example.org": "bounced"}


def test_a_complaint_about_a_bounced_reader_makes_it_complained(
    conn: sqlite3.Connection,
) -> None:
    add_subscriber(conn, "dead@example.org")
    add_subscriber(conn, "here@example.org")
    apply(conn, report("hard_bounce", "dead@example.org", "dsn-1", "first"))
    bounced = find_subscriber(conn, "dead@example.org")
    assert bounced is not None and bounced.bounced_at
    summary = apply(conn, report("complaint", "dead@example.org", "arf-1", "first"))
    assert summary.changed == {"dead@example.org": "complained"}
    angry = find_subscriber(conn, "dead@example.org")
    assert angry is not None and angry.status == "complained" and angry.complained_at
    assert angry.bounced_at == bounced.bounced_at  # the record of the bounce stays
    again = apply(
        conn,
        report("hard_bounce", "dead@example.org", "dsn-2"),
        report("complaint", "dead@example.org", "arf-2"),
    )
    assert again.changed == {} and status_of(conn, "dead@example.org") == "complained"
    assert status_of(conn, "here@example.org") == "active"


@pytest.mark.parametrize(
    ("kind", "status"),
    [("unsubscribe", "unsubscribed"), ("hard_bounce", "bounced"), ("complaint", "complained")],
)
def test_a_pending_reader_taken_off_never_becomes_active_by_an_old_link(
    harness: Harness,  # noqa: F811 (the service fixture of tests/test_service.py)
    kind: str,
    status: str,
) -> None:
    """A reader who signed up, then asked to leave (or whose confirmation bounced, or who
    complained) before confirming stays off the list when the old link is pressed."""
    harness.signup("pending@example.com")
    link = harness.confirm_link("pending@example.com")
    harness.signup("bystander@example.com")
    with closing(open_state(harness.root)) as state:
        summary = apply(state, report(kind, "pending@example.com", f"{kind}-1"))
    assert summary.changed == {"pending@example.com": status}
    assert harness.confirm(link).status_code == 410
    assert people(harness.root) == {
        "pending@example.com": status,
        "bystander@example.com": "pending",
    }
    # the other reader's link still works: only the reader the report named was touched
    assert harness.confirm(harness.confirm_link("bystander@example.com")).status_code == 200
    assert people(harness.root)["bystander@example.com"] == "active"


def test_the_default_soft_limit_is_three_in_a_row(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "full@example.org")
    for number in range(1, 3):
        with db.transaction(conn):
            apply_outcomes(conn, [report("soft_bounce", "full@example.org", f"s{number}")])
    assert status_of(conn, "full@example.org") == "active"
    with db.transaction(conn):
        summary = apply_outcomes(conn, [report("soft_bounce", "full@example.org", "s3")])
    assert summary.changed == {"full@example.org": "bounced"}


def test_a_soft_limit_of_one_bounces_at_the_first(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "full@example.org")
    summary = apply(conn, report("soft_bounce", "full@example.org", "s1", "e1"), limit=1)
    assert summary.changed == {"full@example.org": "bounced"}


def test_a_second_report_of_the_same_standing_changes_nothing(conn: sqlite3.Connection) -> None:
    for name in ("left", "dead", "angry"):
        add_subscriber(conn, f"{name}@example.org")
    first = apply(
        conn,
        report("unsubscribe", "left@example.org", "u1"),
        report("hard_bounce", "dead@example.org", "b1"),
        report("complaint", "angry@example.org", "c1"),
    )
    assert len(first.changed) == 3
    before = {s: find_subscriber(conn, f"{s}@example.org") for s in ("left", "dead", "angry")}
    second = apply(
        conn,
        report("unsubscribe", "left@example.org", "u2"),
        report("hard_bounce", "dead@example.org", "b2"),
        report("complaint", "angry@example.org", "c2"),
    )
    assert second.changed == {} and second.total == 3 and second.repeated == 0
    after = {s: find_subscriber(conn, f"{s}@example.org") for s in ("left", "dead", "angry")}
    assert after == before  # the first dates stay


def test_each_reader_keeps_a_run_of_soft_bounces_of_its_own(conn: sqlite3.Connection) -> None:
    for name in ("one", "two", "three"):
        add_subscriber(conn, f"{name}@example.org")
    for number in range(1, 4):
        sent(conn, f"e{number}", f"2026-0{number}-01T00:00:00Z", "one@example.org")
    apply(
        conn,
        report("soft_bounce", "one@example.org", "a", "e1"),
        report("soft_bounce", "one@example.org", "b", "e2"),
        report("soft_bounce", "two@example.org", "c", "e1"),  # the same send, another reader
    )
    counts = {s.email: standing.soft_bounce_count(conn, s.id) for s in active_subscribers(conn)}
    assert counts == {"one@example.org": 2, "two@example.org": 1, "three@example.org": 0}
    assert standing.soft_bounce_count(conn, 999) == 0  # no such reader
    summary = apply(conn, report("soft_bounce", "two@example.org", "d", "e2"))
    assert summary.changed == {} and status_of(conn, "two@example.org") == "active"


def test_a_report_of_another_kind_about_a_send_leaves_its_soft_bounce_counted(
    conn: sqlite3.Connection,
) -> None:
    reader = add_subscriber(conn, "full@example.org")
    apply(conn, report("unsubscribe", "full@example.org", "u1", "e1"))
    apply(conn, report("soft_bounce", "full@example.org", "s1", "e1"))
    assert standing.soft_bounce_count(conn, reader.id) == 1


def test_a_proven_report_with_no_address_is_kept_under_the_readers_address(
    conn: sqlite3.Connection,
) -> None:
    reader = add_subscriber(conn, "reader@example.org")
    proven = Outcome("unsubscribe", "", "imap", "r1", detail="x" * 800, subscriber_id=reader.id)
    assert apply(conn, proven).changed == {"reader@example.org": "unsubscribed"}
    row = conn.execute("SELECT address, subscriber_id, detail FROM reports").fetchone()
    assert (row["address"], row["subscriber_id"]) == ("reader@example.org", reader.id)
    assert row["detail"] == "x" * 500  # kept, cut short
    stranger = Outcome("hard_bounce", "", "imap", "r2", subscriber_id=reader.id + 99)
    assert apply(conn, stranger).unknown == 1


# Each case: the sends in the order they started (slug, {reader: delivery status}, and the
# month it started, when two start in the same second), the reports in the order they arrive
# (kind, reader, slug, all after every send), and reader a's run of soft bounces at the end
# (the limit is never reached).
A, B = "a@example.org", "b@example.org"
RUN_CASES = {
    "a failed delivery in between does not break the run": (
        [("e1", {A: "sent"}), ("e2", {A: "failed"}), ("e3", {A: "sent"})],
        [("soft_bounce", A, "e1"), ("soft_bounce", A, "e3")],
        2,
    ),
    "another reader's clean delivery does not break it": (
        [("e1", {A: "sent", B: "sent"}), ("e2", {B: "sent"}), ("e3", {A: "sent", B: "sent"})],
        [("soft_bounce", A, "e1"), ("soft_bounce", A, "e3")],
        2,
    ),
    "a send the reader was not mailed does not break it": (
        [("e1", {A: "sent"}), ("e2", {A: "sent"}), ("e3", {B: "sent"}), ("e4", {A: "sent"})],
        [("soft_bounce", A, "e2"), ("soft_bounce", A, "e4")],
        2,
    ),
    "a send started in the same second after the soft-bounced one breaks it": (
        [("e1", {A: "sent"}, 1), ("e2", {A: "sent"}, 1), ("e3", {A: "sent"}, 2)],
        [("soft_bounce", A, "e1"), ("soft_bounce", A, "e3")],
        1,
    ),
    "a send started in the same second before the soft-bounced one does not": (
        [("e1", {A: "sent"}, 1), ("e2", {A: "sent"}, 1), ("e3", {A: "sent"}, 2)],
        [("soft_bounce", A, "e2"), ("soft_bounce", A, "e3")],
        2,
    ),
    "a send started in the same second before the bounced one breaks it": (
        [("e1", {A: "sent"}, 1), ("e2", {A: "sent"}, 2), ("e3", {A: "sent"}, 2)],
        [("soft_bounce", A, "e1"), ("soft_bounce", A, "e3")],
        1,
    ),
    "a later send does not break it for a late report": (
        [("e1", {A: "sent"}), ("e2", {A: "sent"}), ("e3", {A: "sent"})],
        [("soft_bounce", A, "e1"), ("soft_bounce", A, "e2")],
        2,
    ),
    "a clean send before the run does not break it": (
        [(f"e{n}", {A: "sent"}) for n in range(1, 5)],
        [("soft_bounce", A, "e2"), ("soft_bounce", A, "e3"), ("soft_bounce", A, "e4")],
        3,
    ),
    "the gap is counted from the latest soft bounce": (
        [(f"e{n}", {A: "sent"}) for n in range(1, 5)],
        [("soft_bounce", A, "e1"), ("soft_bounce", A, "e3"), ("soft_bounce", A, "e4")],
        2,
    ),
    "a report of another kind is no soft bounce": (
        [(f"e{n}", {A: "sent"}) for n in range(1, 5)],
        [("soft_bounce", A, "e1"), ("unsubscribe", A, "e3"), ("soft_bounce", A, "e4")],
        1,
    ),
    "another reader's soft bounce does not bound the gap": (
        [("e1", {A: "sent"}), ("e2", {A: "sent"}), ("e3", {A: "sent", B: "sent"})]
        + [("e4", {A: "sent"})],
        [("soft_bounce", A, "e1"), ("soft_bounce", B, "e3"), ("soft_bounce", A, "e4")],
        1,
    ),
    "a send that drew another report does not break it": (
        [(f"e{n}", {A: "sent"}) for n in range(1, 4)],
        [("soft_bounce", A, "e1"), ("unsubscribe", A, "e2"), ("soft_bounce", A, "e3")],
        2,
    ),
    "another reader's report does not hide a clean send": (
        [(f"e{n}", {A: "sent", B: "sent"}) for n in range(1, 4)],
        [("soft_bounce", A, "e1"), ("soft_bounce", B, "e2"), ("soft_bounce", A, "e3")],
        1,
    ),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_which_sends_break_a_run_of_soft_bounces(conn: sqlite3.Connection, case: str) -> None:
    sends, reports, expected = RUN_CASES[case]
    readers = {address: add_subscriber(conn, address) for address in (A, B)}
    for number, (slug, deliveries, *month) in enumerate(sends, start=1):
        conn.execute(
            "INSERT INTO sends (slug, started_at) VALUES (?, ?)",
            (slug, f"2026-0{month[0] if month else number}-01T00:00:00Z"),
        )
        for address, status in deliveries.items():
            conn.execute(
                "INSERT INTO deliveries (slug, subscriber_id, email, status) VALUES (?, ?, ?, ?)",
                (slug, readers[address].id, address, status),
            )
    for number, (kind, address, slug) in enumerate(reports):
        apply(conn, report(kind, address, f"r{number}", slug), limit=9)
    assert standing.soft_bounce_count(conn, readers[A].id) == expected


@pytest.mark.parametrize("status", ["bounced", "complained"])
def test_an_unsubscribe_link_leaves_a_bounced_or_complained_reader_so(
    harness: Harness,  # noqa: F811 (the service fixture of tests/test_service.py)
    status: str,
) -> None:
    """The service's unsubscribe is an unsubscribe request: it never moves a reader back
    from `bounced` or `complained` to `unsubscribed`."""
    kind = "hard_bounce" if status == "bounced" else "complaint"
    with closing(open_state(harness.root)) as state:
        reader = add_subscriber(state, "gone@example.com")
        apply(state, report(kind, "gone@example.com", "r1"))
        before = find_subscriber(state, "gone@example.com")
    secret = db.load_secret(harness.root / "state")
    path = f"/unsubscribe/{unsubscribe_token(secret, reader.id)}"
    for form in ({"List-Unsubscribe": "One-Click"}, {"unsubscribe": "yes"}):
        assert harness.client.post(path, data=form).status_code == 200
    assert harness.subscriber("gone@example.com") == before


def test_subscribers_remove_leaves_a_bounced_reader_bounced(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", settings=SETTINGS)
    with closing(db.connect(db.database_path(site, load_settings(site)))) as state:
        add_subscriber(state, "dead@example.org")
        add_subscriber(state, "here@example.org")
        apply(state, report("hard_bounce", "dead@example.org", "b"))
        before = find_subscriber(state, "dead@example.org")
    for address, shown in (("dead@example.org", "bounced"), ("here@example.org", "unsubscribed")):
        result = CliRunner().invoke(cli, ["--root", str(site), "subscribers", "remove", address])
        assert result.exit_code == 0 and result.stdout == f"{address}: {shown}\n"
    with closing(db.connect(db.database_path(site, load_settings(site)))) as state:
        assert find_subscriber(state, "dead@example.org") == before
        assert status_of(state, "here@example.org") == "unsubscribed"

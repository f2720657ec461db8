"""The named states (publish.state.statuses): the very words the state database accepts."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from enum import StrEnum
from pathlib import Path

import pytest

from publish.state import db, ledger
from publish.state.statuses import (
    CONNECTION_EVENTS,
    OUTCOMES,
    STAYS_GONE,
    DeliveryStatus,
    Progress,
    SubscriberStatus,
)
from publish.state.subscribers import add_subscriber, find_subscriber, set_status


def allowed_statuses(path: Path, table: str) -> set[str]:
    """The words the CHECK constraint on `table.status` allows, in the migrated schema."""
    with closing(db.connect(path)) as conn:
        [sql] = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    [listed] = re.findall(r"CHECK \(status IN\s*\(([^)]*)\)\)", sql)
    return set(re.findall(r"'([a-z_]+)'", listed))


@pytest.mark.parametrize(
    ("table", "statuses"), [("subscribers", SubscriberStatus), ("deliveries", DeliveryStatus)]
)
def test_each_status_is_a_word_the_database_accepts_and_no_other(
    tmp_path: Path, table: str, statuses: type[StrEnum]
) -> None:
    assert allowed_statuses(tmp_path / "state.db", table) == {s.value for s in statuses}


def test_a_status_is_stored_as_its_plain_word_and_read_back_equal(tmp_path: Path) -> None:
    with closing(db.connect(tmp_path / "state.db")) as conn:
        reader = add_subscriber(conn, "ada@example.org", status=SubscriberStatus.PENDING)
        set_status(conn, reader.id, SubscriberStatus.BOUNCED)
        stored = conn.execute("SELECT status, typeof(status) FROM subscribers").fetchone()
        assert tuple(stored) == ("bounced", "text")
        assert find_subscriber(conn, "ada@example.org").status == SubscriberStatus.BOUNCED
        set_status(conn, reader.id, SubscriberStatus.ACTIVE)
        assert ledger.start_send(conn, "essay")
        [row] = conn.execute("SELECT status, typeof(status) FROM deliveries")
        assert tuple(row) == ("pending", "text") and row[0] == DeliveryStatus.PENDING


def test_an_unknown_status_is_refused(tmp_path: Path) -> None:
    with closing(db.connect(tmp_path / "state.db")) as conn:
        reader = add_subscriber(conn, "ada@example.org")
        with pytest.raises(ValueError, match="unknown subscriber status 'asleep'"):
            set_status(conn, reader.id, "asleep")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE subscribers SET status = 'asleep'")


def test_the_groups_of_states_are_made_of_members() -> None:
    assert set(STAYS_GONE) == set(SubscriberStatus) - {"pending", "active"}
    assert not set(OUTCOMES) & set(CONNECTION_EVENTS)
    assert set(OUTCOMES) | set(CONNECTION_EVENTS) | {Progress.START} == set(Progress)
    # every recipient outcome but a deferral is the delivery status it leaves in the ledger
    assert set(OUTCOMES) - {Progress.DEFERRED} <= {s.value for s in DeliveryStatus}

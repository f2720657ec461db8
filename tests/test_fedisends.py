"""The fediverse's delivery ledger (publish.state.fedisends) driven by rounds of
publish.fediverse.delivery against a real inbox on 127.0.0.1 that answers as scripted:
whatever a server answers, run after run, an inbox gets the activity until it takes it and
never after, and only `410` or a second `404` removes its follower."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import closing
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.fediverse.delivery import BACKOFF_ENV, MAX_ATTEMPTS, NOT_FOUND_LIMIT, deliver_due
from publish.fediverse.remote import Fetcher
from publish.state import db, fedisends, followers
from tests.testinbox import scripted_inbox

ANSWERS = st.lists(
    st.sampled_from([200, 202, 400, 401, 404, 408, 410, 429, 500, 502, 503]),
    min_size=1,
    max_size=MAX_ATTEMPTS + 1,
)
RETRIED = {404, 408, 429}


def expected(script: list[int]) -> tuple[int, bool]:
    """How many POSTs the inbox gets for these answers (the last repeats), and whether its
    follower stays: the model the ledger must follow."""
    not_found = 0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        answer = script[min(attempt - 1, len(script) - 1)]
        not_found += answer == 404
        if answer == 410 or not_found >= NOT_FOUND_LIMIT:
            return attempt, False
        if answer < 300 or not (answer >= 500 or answer in RETRIED):
            return attempt, True
    return MAX_ATTEMPTS, True


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=ANSWERS)
def test_whatever_a_server_answers_it_gets_the_activity_until_taken_and_never_after(
    script: list[int],
) -> None:
    with (
        scripted_inbox() as inbox,
        tempfile.TemporaryDirectory() as folder,
        mock.patch.dict(os.environ, {BACKOFF_ENV: "0"}),
        closing(db.connect(Path(folder) / "publish.db")) as conn,
    ):
        inbox.answers = {"reader": list(script)}
        actor = f"{inbox.base}users/reader"
        with db.transaction(conn):
            followers.add_follower(conn, actor, inbox.url("reader"), "", f"{actor}#follow")
        body = json.dumps({"id": "https://example.org/a#create", "type": "Create"})
        assert fedisends.start_send(conn, "https://example.org/a#create", "a", "Create", body)
        fetcher = Fetcher(allow_private=True, timeout=5)
        for _ in range(MAX_ATTEMPTS + 2):  # later runs, the backoff over at once
            deliver_due(conn, fetcher)
        posts, stays = expected(script)
        assert len(inbox.got("reader")) == posts
        assert (followers.follower_count(conn) == 1) == stays
        assert fedisends.pending_sends(conn) == []

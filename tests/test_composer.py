"""The composers of a send: the copies a large send's forked composers make, in batches."""

from __future__ import annotations

import re

import pytest

from publish.content.settings import load_settings
from publish.mail import mime
from publish.mail.built import load_built_email
from publish.mail.composer import BATCH, FORK_THRESHOLD, Composer, Context, copy_for
from publish.state.ledger import Delivery
from publish.support import parallel
from tests.mailsite import SLUG, make_mail_site

SECRET = b"test-secret-composer-0123456789"
DATE = re.compile(rb"^Date: [^\r]*\r\n", re.MULTILINE)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Context:
    """A send's context on the built email fixture site."""
    root = make_mail_site(tmp_path_factory.mktemp("composer") / "built")
    settings = load_settings(root)
    return Context(load_built_email(root, SLUG), settings, SECRET, mime.site_domain(settings))


def reader(n: int) -> Delivery:
    """The benchmark-like reader `n`."""
    return Delivery(n, f"reader{n}@example.net", f"Reader {n}", "active")


def undated(message: bytes) -> bytes:
    """A copy without its Date field (the moment it was made)."""
    return DATE.sub(b"", message, count=1)


def test_forked_composers_make_the_copies_a_batch_at_a_time_and_in_order(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "can_fork", lambda: True)  # the suite's threads are idle
    composer = Composer(context, FORK_THRESHOLD)
    assert composer.pool is not None
    tasks: list[object] = []
    submit = composer.pool.submit
    monkeypatch.setattr(composer.pool, "submit", lambda *call: tasks.append(call) or submit(*call))
    try:
        first = [composer.copy(reader(n)) for n in range(3)]
        wanted = first[0].result()  # wanted before its batch filled: the batch goes as it is
        rest = [composer.copy(reader(n)) for n in range(3, 3 + 2 * BATCH)]
        made = [wanted] + [copy.result() for copy in first[1:] + rest]
    finally:
        composer.close()
    assert len(tasks) == 3  # the three copies first wanted, then two full batches
    expected = [copy_for(context, *_reader_fields(n)) for n in range(3 + 2 * BATCH)]
    assert [undated(copy) for copy in made] == [undated(copy) for copy in expected]


def _reader_fields(n: int) -> tuple[int, str, str]:
    """What a copy of reader `n` is made from."""
    delivery = reader(n)
    return delivery.subscriber_id, delivery.email, delivery.name


def test_a_copy_that_cannot_be_made_fails_for_its_reader_alone(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    composer = Composer(context, FORK_THRESHOLD)
    bad = Delivery(2, "reader2@example.net", "Bad\udcff", "active")  # no header carries it
    try:
        copies = [composer.copy(d) for d in (reader(1), bad, reader(3))]
        assert copies[0].result().startswith(b"Subject: ")
        with pytest.raises(Exception, match="could not be built"):
            copies[1].result()
        assert b"reader3@example.net" in copies[2].result()
    finally:
        composer.close()

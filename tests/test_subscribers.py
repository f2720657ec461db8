"""The subscriber list: validation, case-insensitive merging, imports, exports and tokens."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.cli.main import cli
from publish.content.settings import load_settings
from publish.errors import PublishError
from publish.outputs.urls import unsubscribe_url
from publish.state import db
from publish.state.imports import export_csv, import_csv
from publish.state.subscribers import (
    AddressError,
    active_subscribers,
    add_subscriber,
    find_subscriber,
    get_subscriber,
    list_subscribers,
    read_unsubscribe_token,
    remove_subscriber,
    set_status,
    unsubscribe_token,
)
from tests.mailsite import SETTINGS
from tests.sitebuilder import make_site


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh state database."""
    connection = db.connect(tmp_path / "state" / "publish.db")
    yield connection
    connection.close()


def write_csv(path: Path, text: str) -> Path:
    """Write a CSV file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


def test_add_validates_and_normalises(conn: sqlite3.Connection) -> None:
    subscriber = add_subscriber(conn, "  Ann@EXAMPLE.org ", name="Ann")
    assert subscriber.email == "Ann@example.org"
    assert subscriber.status == "active" and subscriber.confirmed_at
    for bad in ("no-at-sign", "two@@example.org", "a@b", "", "x@example.org\r\nBcc: y@z.org"):
        with pytest.raises(AddressError) as caught:
            add_subscriber(conn, bad)
        assert "is not a valid email address" in caught.value.reason
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, PublishError)
    assert len(list_subscribers(conn)) == 1


def test_duplicates_merge_case_insensitively(conn: sqlite3.Connection) -> None:
    first = add_subscriber(conn, "ann@example.org", name="Ann")
    again = add_subscriber(conn, "ANN@Example.ORG", name="Ann Lee")
    assert again.id == first.id and again.name == "Ann Lee"
    assert find_subscriber(conn, "aNN@example.org") == again
    assert len(list_subscribers(conn)) == 1


def test_names_lose_control_characters(conn: sqlite3.Connection) -> None:
    subscriber = add_subscriber(conn, "b@example.org", name="Bo\r\nBcc: x@y.org\u2028")
    assert subscriber.name == "Bo Bcc: x@y.org"


def test_status_changes_are_stamped(conn: sqlite3.Connection) -> None:
    pending = add_subscriber(conn, "p@example.org", status="pending", source="web")
    assert pending.confirmed_at is None
    active = set_status(conn, pending.id, "active")
    assert active.confirmed_at
    gone = remove_subscriber(conn, "P@example.org")
    assert gone is not None and gone.status == "unsubscribed" and gone.unsubscribed_at
    assert get_subscriber(conn, pending.id) == gone
    assert remove_subscriber(conn, "nobody@example.org") is None
    assert active_subscribers(conn) == []


def test_an_active_subscriber_never_drops_to_pending(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "a@example.org")
    assert add_subscriber(conn, "a@example.org", status="pending", source="web").status == "active"


def test_reimport_never_resubscribes(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", "email,name\nann@example.org,Ann\nbo@example.org,Bo\n")
    first = import_csv(conn, path)
    assert (first.added, first.kept_unsubscribed) == (2, 0)
    remove_subscriber(conn, "ann@example.org")
    second = import_csv(conn, write_csv(tmp_path / "again.csv", "Email\nANN@example.org\n"))
    assert second.kept_unsubscribed == 1
    assert find_subscriber(conn, "ann@example.org").status == "unsubscribed"
    assert [s.email for s in active_subscribers(conn)] == ["bo@example.org"]


def test_import_tolerates_column_names_and_blank_lines(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    text = "\ufeffFull Name,E-Mail Address\nAnn,ann@example.org\n\n,bo@example.org\n"
    report = import_csv(conn, write_csv(tmp_path / "l.csv", text))
    assert report.added == 2
    assert find_subscriber(conn, "ann@example.org").name == "Ann"


def test_import_reports_every_bad_row_and_writes_nothing(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "bad.csv", 'email,name\nok@example.org,Ok\nnot-an-address,X\n"a\nb",Y\nz@,Z\n'
    )
    with pytest.raises(PublishError) as caught:
        import_csv(conn, path)
    lines = [p.format() for p in caught.value.problems]
    assert [line.split(": error:")[0] for line in lines] == [
        f"{path}:3:1",
        f"{path}:4:1",
        f"{path}:6:1",
    ]
    assert "'not-an-address' is not a valid email address" in lines[0]
    assert list_subscribers(conn) == []


def test_import_without_an_email_column_says_so(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "who,what\na,b\n")
    with pytest.raises(PublishError, match="no email column"):
        import_csv(conn, path)


def test_export_lists_everyone(conn: sqlite3.Connection) -> None:
    add_subscriber(conn, "a@example.org", name="A, with comma")
    remove_subscriber(conn, add_subscriber(conn, "b@example.org").email)
    rows = list(csv.DictReader(io.StringIO(export_csv(conn))))
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [
        ("a@example.org", "A, with comma", "active"),
        ("b@example.org", "", "unsubscribed"),
    ]


def test_unsubscribe_tokens_are_signed(tmp_path: Path) -> None:
    token = unsubscribe_token(b"secret", 42)
    assert read_unsubscribe_token(b"secret", token) == 42
    assert read_unsubscribe_token(b"other", token) is None
    assert read_unsubscribe_token(b"secret", "43-" + token.split("-", 1)[1]) is None
    assert read_unsubscribe_token(b"secret", "garbage") is None
    settings = load_settings(make_site(tmp_path, settings=SETTINGS))
    assert unsubscribe_url(settings, token) == f"https://subs.example.org/unsubscribe/{token}"


def test_cli_subscriber_commands(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["--root", str(root), "subscribers", *args])
        return result.exit_code, result.output

    assert run("add", "Ann@Example.org", "--name", "Ann")[0] == 0
    csv_path = write_csv(tmp_path / "in.csv", "email,name\nann@example.org,A\nbo@example.org,B\n")
    code, output = run("import", str(csv_path))
    assert code == 0 and "1 added (1 active), 1 updated" in output
    assert run("remove", "BO@example.org")[0] == 0
    code, output = run("list")
    assert code == 0
    assert "Ann@example.org\tactive\tA" in output and "bo@example.org\tunsubscribed" in output
    rows = {line.split("\t")[0]: line.split("\t") for line in output.splitlines() if "\t" in line}
    assert rows["email"][3:] == ["subscribed", "confirmed", "unsubscribed", "bounced/complained"]
    assert rows["Ann@example.org"][5] == "-" and rows["Ann@example.org"][3] != "-"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", rows["bo@example.org"][5])
    code, output = run("list", "--status", "unsubscribed")
    assert "bo@example.org" in output and "Ann@example.org" not in output
    code, output = run("export")
    assert [r["email"] for r in csv.DictReader(io.StringIO(output))] == [
        "Ann@example.org",
        "bo@example.org",
    ]
    code, output = run("add", "not an address")
    assert code == 1 and "error: 'not an address' is not a valid email address" in output
    assert "Traceback" not in output
    bad = write_csv(tmp_path / "bad.csv", "email\nfine@example.org\nbroken@\n")
    code, output = run("import", str(bad))
    assert code == 1 and f"{bad}:3:1: error:" in output
    assert run("remove", "ghost@example.org")[0] != 0


def test_cli_names_a_state_database_it_cannot_use(tmp_path: Path) -> None:
    """A state file that is not SQLite gives one error line naming it, not a traceback."""
    root = make_site(tmp_path / "site", settings=SETTINGS)
    database = db.database_path(root, load_settings(root))
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(b"these bytes are not an SQLite database, only some text\n" * 20)
    result = CliRunner().invoke(cli, ["--root", str(root), "subscribers", "list"])
    assert result.exit_code == 1
    assert f"{database}:1:1: error: cannot use the state database" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_empty_secret_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty secret.key (a crash while making it) never signs links with an empty key."""
    monkeypatch.delenv(db.SECRET_ENV, raising=False)
    folder = tmp_path / "state"
    made = db.load_secret(folder)
    assert len(made) == 64 and db.load_secret(folder) == made
    (folder / db.SECRET_FILE).write_text("\n", encoding="utf-8")
    with pytest.raises(PublishError) as caught:
        db.load_secret(folder)
    [problem] = caught.value.problems
    assert problem.path == str(folder / db.SECRET_FILE)
    assert "secret is empty" in problem.message


# --- Export, import and the formats writers bring ---------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
NAMES = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
MOMENTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda m: m.replace(microsecond=0))
MAYBE = st.one_of(st.none(), MOMENTS)
# What the state can hold: an active reader has confirmed, an unsubscribed one has left.
READER = st.one_of(
    st.tuples(NAMES, st.just("active"), MOMENTS, MOMENTS, MAYBE),
    st.tuples(NAMES, st.just("pending"), MOMENTS, MAYBE, MAYBE),
    st.tuples(NAMES, st.just("unsubscribed"), MOMENTS, MAYBE, MOMENTS),
)
READERS = st.lists(READER, max_size=8)


def everyone(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    """Every subscriber without the row id, which a fresh state numbers anew."""
    return [
        (s.email, s.name, s.status, s.created_at, s.confirmed_at, s.unsubscribed_at)
        for s in list_subscribers(conn)
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readers=READERS)
def test_export_then_import_keeps_every_status_date_and_name(readers: list[tuple]) -> None:
    """Pending and unsubscribed readers stay so, with every date and name, in any script."""
    with tempfile.TemporaryDirectory() as folder:
        source = db.connect(Path(folder) / "a" / "publish.db")
        target = db.connect(Path(folder) / "b" / "publish.db")
        try:
            for number, (name, status, created, confirmed, left) in enumerate(readers):
                subscriber = add_subscriber(source, f"reader{number}@example.net", name, status)
                source.execute(
                    "UPDATE subscribers SET created_at = ?, confirmed_at = ?, unsubscribed_at = ?"
                    " WHERE id = ?",
                    (
                        created.isoformat(),
                        confirmed and confirmed.isoformat(),
                        left and left.isoformat(),
                        subscriber.id,
                    ),
                )
            exported = Path(folder) / "export.csv"
            exported.write_text(export_csv(source), encoding="utf-8")
            report = import_csv(target, exported)
            assert report.format == "publish export" and report.added == len(readers)
            assert everyone(target) == everyone(source)
        finally:
            source.close()
            target.close()


def test_cli_export_then_import_keeps_pending_and_unsubscribed(tmp_path: Path) -> None:
    """The round trip through the commands a writer types, into a fresh site."""
    old, new = (make_site(tmp_path / name, settings=SETTINGS) for name in ("old", "new"))
    with closing(db.connect(db.database_path(old, load_settings(old)))) as conn:
        add_subscriber(conn, "pending@example.net", "Pía", status="pending", source="web")
        remove_subscriber(conn, add_subscriber(conn, "left@example.net", "Łukasz").email)
        add_subscriber(conn, "here@example.net", "陳大文")
        before = everyone(conn)
    runner = CliRunner()
    exported = runner.invoke(cli, ["--root", str(old), "subscribers", "export"])
    path = write_csv(tmp_path / "export.csv", exported.output)
    result = runner.invoke(cli, ["--root", str(new), "subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "(publish export)" in result.output
    with closing(db.connect(db.database_path(new, load_settings(new)))) as conn:
        assert everyone(conn) == before
        assert [s.email for s in active_subscribers(conn)] == ["here@example.net"]


EXPECTED_IMPORTS = {
    "substack_email_list.csv": (
        "Substack email list",
        [
            ("zoë.brandt@mailbox.ink", "Zoë Brandt", "active", "2018-08-27T15:06:27+00:00"),
            ("kirsty@mailbox.ink", "", "active", "2018-12-19T08:03:04+00:00"),
            ("quiet@mailbox.ink", "Quiet Reader", "unsubscribed", "2019-02-01T10:00:00+00:00"),
        ],
        {
            "deletion request": [5, 6],
            "deleted-user placeholder": [7],
            "placeholder address (an example domain)": [8],
        },
    ),
    "ghost_members.csv": (
        "Ghost members export",
        [
            ("dana@mailbox.ink", "Dana Ó Súilleabháin", "active", "2021-03-04T05:06:07+00:00"),
            ("paying@mailbox.ink", "Paying Reader", "active", "2022-01-01T00:00:00+00:00"),
            ("muted@mailbox.ink", "Muted Member", "unsubscribed", "2022-05-05T12:00:00+00:00"),
        ],
        {"deleted member": [5], "placeholder address (a domain that cannot receive mail)": [6]},
    ),
    "buttondown_subscribers.csv": (
        "Buttondown subscribers export",
        [
            ("regular@mailbox.ink", "Wiremu Tāne", "active", "2020-04-05T06:07:08+00:00"),
            ("premium@mailbox.ink", "", "active", "2021-04-05T06:07:08+00:00"),
            ("unconfirmed@mailbox.ink", "", "pending", "2022-04-05T06:07:08+00:00"),
            ("left@mailbox.ink", "", "unsubscribed", "2019-04-05T06:07:08+00:00"),
            ("bounced@mailbox.ink", "", "unsubscribed", "2019-05-05T06:07:08+00:00"),
            ("angry@mailbox.ink", "", "unsubscribed", "2019-06-05T06:07:08+00:00"),
            ("removed@mailbox.ink", "", "unsubscribed", "2019-07-05T06:07:08+00:00"),
        ],
        {},
    ),
    "mailchimp_subscribed.csv": (
        "Mailchimp audience export",
        [
            ("s1@mailbox.ink", "Ana García López", "active", "2018-02-05T19:28:23+00:00"),
            ("s2@mailbox.ink", "Björk", "active", "2019-03-05T10:00:00+00:00"),
        ],
        {},
    ),
    "mailchimp_unsubscribed.csv": (
        "Mailchimp audience export",
        [
            ("u1@mailbox.ink", "Dolor", "unsubscribed", "2018-02-12T10:54:27+00:00"),
            ("u2@mailbox.ink", "Simet", "unsubscribed", "2018-02-12T10:54:26+00:00"),
        ],
        {},
    ),
    "mailchimp_cleaned.csv": (
        "Mailchimp audience export",
        [
            ("c1@mailbox.ink", "Lorem Ipsum", "unsubscribed", "2020-06-04T15:28:08+00:00"),
        ],
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_IMPORTS))
def test_import_recognises_platform_exports(conn: sqlite3.Connection, name: str) -> None:
    """Each platform's export: opt-outs kept unsubscribed, signup dates and full names kept,
    placeholders, deletion requests and deleted members skipped with their lines."""
    kind, expected, skipped = EXPECTED_IMPORTS[name]
    report = import_csv(conn, FIXTURES / name)
    assert report.format == kind
    assert [(s.email, s.name, s.status, s.created_at) for s in list_subscribers(conn)] == expected
    assert report.skipped == skipped
    for subscriber in list_subscribers(conn):
        assert (subscriber.unsubscribed_at is not None) == (subscriber.status == "unsubscribed")
        assert subscriber.confirmed_at is not None or subscriber.status != "active"


def test_mailchimp_keeps_confirmation_and_unsubscribe_times(conn: sqlite3.Connection) -> None:
    import_csv(conn, FIXTURES / "mailchimp_subscribed.csv")
    import_csv(conn, FIXTURES / "mailchimp_unsubscribed.csv")
    assert find_subscriber(conn, "s1@mailbox.ink").confirmed_at == "2018-02-05T19:30:00+00:00"
    left = find_subscriber(conn, "u2@mailbox.ink")
    assert left.unsubscribed_at == "2023-06-06T12:56:15+00:00"


def test_an_opt_out_in_a_later_export_unsubscribes_a_known_reader(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    add_subscriber(conn, "u1@mailbox.ink", "U")
    report = import_csv(conn, FIXTURES / "mailchimp_unsubscribed.csv")
    assert report.updated == 1
    assert find_subscriber(conn, "u1@mailbox.ink").status == "unsubscribed"


def test_generic_csv_joins_first_and_last_names(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", "First Name,Last Name,Email\nMarie,Curie,m@example.net\n")
    assert import_csv(conn, path).format == "CSV"
    assert find_subscriber(conn, "m@example.net").name == "Marie Curie"


def test_generic_csv_honours_a_status_column(conn: sqlite3.Connection, tmp_path: Path) -> None:
    """A hand-made list that marks who left never brings them back active."""
    path = write_csv(
        tmp_path / "l.csv",
        "email,status\na@example.net,Unsubscribed\nb@example.net,pending\nc@example.net,\n",
    )
    import_csv(conn, path)
    assert [(s.email, s.status) for s in list_subscribers(conn)] == [
        ("a@example.net", "unsubscribed"),
        ("b@example.net", "pending"),
        ("c@example.net", "active"),
    ]
    bad = write_csv(tmp_path / "bad.csv", "email,status\nd@example.net,maybe\n")
    with pytest.raises(PublishError) as caught:
        import_csv(conn, bad)
    assert [(p.line, p.col) for p in caught.value.problems] == [(2, 2)]


def test_cli_import_says_what_it_skipped_and_why(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", settings=SETTINGS)
    path = FIXTURES / "substack_email_list.csv"
    result = CliRunner().invoke(cli, ["--root", str(root), "subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"Imported {path} (Substack email list): 3 added (2 active, "
        "1 unsubscribed), 0 updated, 0 unchanged, 0 kept unsubscribed, "
        "4 skipped"
    )
    assert f"{path}: skipped 2: deletion request (lines 5, 6)" in lines
    assert f"{path}: skipped 1: deleted-user placeholder (line 7)" in lines


def test_a_bad_date_or_status_names_its_cell(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        "email,name,status,created_at,confirmed_at\n"
        "a@example.net,A,active,yesterday-ish,\n"
        "b@example.net,B,gone,2020-01-01T00:00:00+00:00,\n",
    )
    with pytest.raises(PublishError) as caught:
        import_csv(conn, path)
    assert [(p.line, p.col) for p in caught.value.problems] == [(2, 4), (3, 3)]
    assert list_subscribers(conn) == []


def test_a_field_over_the_csv_limit_is_a_clear_error(tmp_path: Path) -> None:
    """Python's csv refuses a field over 128 KB; the import says where, and imports nothing."""
    root = make_site(tmp_path / "site", settings=SETTINGS)
    path = write_csv(
        tmp_path / "big.csv",
        'email,name\nok@example.net,Ok\nbig@example.net,"' + "x" * 140_000 + '"\n',
    )
    result = CliRunner().invoke(cli, ["--root", str(root), "subscribers", "import", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{path}:3:17: error: a field is longer than 128 KB")
    assert "Traceback" not in result.output and not isinstance(result.exception, csv.Error)
    with closing(db.connect(db.database_path(root, load_settings(root)))) as conn:
        assert list_subscribers(conn) == []

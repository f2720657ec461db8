"""The subscriber list: validation, case-insensitive merging, imports, exports and tokens."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from publish import state
from publish.cli import cli
from publish.errors import PublishError
from publish.settings import load_settings
from publish.subscribers import (
    AddressError,
    active_subscribers,
    add_subscriber,
    export_csv,
    find_subscriber,
    get_subscriber,
    import_csv,
    list_subscribers,
    read_unsubscribe_token,
    remove_subscriber,
    set_status,
    unsubscribe_token,
    unsubscribe_url,
)
from tests.mailsite import SETTINGS
from tests.sitebuilder import make_site


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh state database."""
    connection = state.connect(tmp_path / "state" / "publish.db")
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
    assert code == 0 and "1 added, 1 updated" in output
    assert run("remove", "BO@example.org")[0] == 0
    code, output = run("list")
    assert code == 0
    assert "Ann@example.org\tactive\tA" in output and "bo@example.org\tunsubscribed" in output
    rows = {line.split("\t")[0]: line.split("\t") for line in output.splitlines() if "\t" in line}
    assert rows["email"][3:] == ["subscribed", "confirmed", "unsubscribed"]
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
    database = state.database_path(root, load_settings(root))
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(b"these bytes are not an SQLite database, only some text\n" * 20)
    result = CliRunner().invoke(cli, ["--root", str(root), "subscribers", "list"])
    assert result.exit_code == 1
    assert f"{database}:1:1: error: cannot use the state database" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_empty_secret_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty secret.key (a crash while making it) never signs links with an empty key."""
    monkeypatch.delenv(state.SECRET_ENV, raising=False)
    folder = tmp_path / "state"
    made = state.load_secret(folder)
    assert len(made) == 64 and state.load_secret(folder) == made
    (folder / state.SECRET_FILE).write_text("\n", encoding="utf-8")
    with pytest.raises(PublishError) as caught:
        state.load_secret(folder)
    [problem] = caught.value.problems
    assert problem.path == str(folder / state.SECRET_FILE)
    assert "secret is empty" in problem.message

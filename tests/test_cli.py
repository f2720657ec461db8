"""Tests for the command line: init, new, check, build and --version, in-process and for real."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner, Result

from publish import __version__
from publish.cli.main import cli
from publish.content.site import load_site
from tests.mailsite import SETTINGS as MAIL_SETTINGS
from tests.sitebuilder import essay_text, make_site
from tests.tools import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def run(*args: str | Path) -> Result:
    """Run the publish command line in-process."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def no_traceback(result: Result | subprocess.CompletedProcess) -> bool:
    """True when nothing in the output looks like a Python traceback."""
    output = result.stdout + result.stderr
    return "Traceback" not in output and not re.search(r"\bFile \".*\", line \d+", output)


def built_slugs(root: Path) -> set[str]:
    """The essay folders a build wrote (those holding an article)."""
    site = root / "build" / "site"
    return {
        p.parent.name
        for p in site.glob("*/index.html")
        if lxml.html.parse(str(p)).getroot().xpath("//article")
    }


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_python_dash_m_for_real(tmp_path: Path) -> None:
    version = subprocess.run(
        [sys.executable, "-m", "publish", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in version.stdout
    root = make_site(tmp_path, essays={"x": essay_text(body="Intro.\n\nOops[^bad-objct].\n")})
    result = subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(root), "check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert (
        "essays/x.md:6:5: error: unknown footnote 'bad-objct' (did you mean 'bad-object'?)"
    ) in result.stderr.splitlines()
    assert no_traceback(result)


def test_init_then_build_gives_a_working_site(tmp_path: Path) -> None:
    site = tmp_path / "letters"
    assert run("init", site).exit_code == 0
    assert set((site / ".gitignore").read_text().split()) >= {"build/", "state/"}
    assert run("--root", site, "build").exit_code == 0
    assert built_slugs(site) == set(), "the sample essay is a draft: no run mails it"
    result = run("--root", site, "build", "--drafts")
    assert result.exit_code == 0, result.output
    assert str(site / "build" / "site") in result.stdout
    [slug] = built_slugs(site)
    html = lxml.html.parse(str(site / "build" / "site" / slug / "index.html")).getroot()
    assert html.xpath("string(//h1)").strip()
    notes = html.xpath("//li[contains(@class, 'footnote-item')]")
    assert len(notes) == 2
    assert all(note.xpath(".//strong") for note in notes), "both are glossary notes"
    assert run("--root", site, "check").exit_code == 0


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run("init", tmp_path)
    assert result.exit_code != 0
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "publish.toml").exists()


def test_new_writes_the_essay_and_refuses_to_overwrite(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"other": essay_text("Other")})
    assert run("--root", root, "new", "Title").exit_code == 0
    path = root / "essays" / "title.md"
    site, _ = load_site(root)
    essay = site.essay("title")
    assert essay is not None and essay.title == "Title" and essay.draft
    path.write_text(path.read_text() + "\nMy own words.\n")
    before = path.read_text()
    result = run("--root", root, "new", "Title")
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert path.read_text() == before


def test_new_slugifies_and_quotes_the_title(tmp_path: Path) -> None:
    root = make_site(tmp_path)
    assert run("--root", root, "new", 'A "Quoted": Title').exit_code == 0
    site, _ = load_site(root)
    [essay] = site.essays
    assert (essay.slug, essay.title) == ("a-quoted-title", 'A "Quoted": Title')


def test_check_reports_every_problem(tmp_path: Path) -> None:
    root = make_site(
        tmp_path,
        essays={
            "a": "---\ntitle: [unclosed\n---\nBody.\n",
            "b": essay_text(date="2026-02-30"),
            "c": essay_text("C", body="Cites[^flw].\n"),
        },
    )
    result = run("--root", root, "check")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert [e.split(":")[0] for e in errors] == ["essays/a.md", "essays/b.md", "essays/c.md"]
    assert errors[2] == "essays/c.md:4:6: error: unknown footnote 'flw' (did you mean 'flow'?)"
    assert no_traceback(result)


def test_check_shows_warnings_and_passes(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text(titel="x")})
    result = run("--root", root, "check")
    assert result.exit_code == 0
    assert "essays/a.md:3:1: warning: unknown front matter key 'titel'" in result.stderr


def test_bad_settings_exit_1_without_traceback(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text()}, settings="[site]\ntitle = 'x'\nurl = \n")
    for command in ("check", "build"):
        result = run("--root", root, command)
        assert result.exit_code == 1
        assert result.stderr.startswith("publish.toml:3:7: error: invalid TOML")
        assert no_traceback(result)


def test_build_publishes_only_what_today_allows(tmp_path: Path) -> None:
    root = make_site(
        tmp_path,
        essays={
            "past": essay_text("Past", date="2026-01-06"),
            "today": essay_text("Today", date="2026-02-03"),
            "future": essay_text("Future", date="2026-03-03"),
            "draft": essay_text("Draft", date="2026-01-06", draft="true"),
            "undated": essay_text("Undated"),
        },
    )
    result = run("--root", root, "build", "--today", "2026-02-03")
    assert result.exit_code == 0, result.output
    assert built_slugs(root) == {"past", "today"}
    assert run("--root", root, "build", "--today", "2026-03-03").exit_code == 0
    assert built_slugs(root) == {"past", "today", "future"}


def test_build_rejects_a_bad_today(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text(date="2026-01-06")})
    result = run("--root", root, "build", "--today", "soon")
    assert result.exit_code == 2
    assert "'soon' is not a date" in result.stderr


def test_failed_build_leaves_the_previous_site(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text("A", date="2026-01-06")})
    assert run("--root", root, "build", "--today", "2026-02-01").exit_code == 0
    site_dir = root / "build" / "site"
    before = {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()}
    (root / "essays" / "b.md").write_text(
        essay_text("B", date="2026-01-20", body="Bad[^no-such-note].\n")
    )
    result = run("--root", root, "build", "--today", "2026-02-01")
    assert result.exit_code == 1 and no_traceback(result)
    assert {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()} == before
    assert not list((root / "build").glob(".site-*")), "no staging folder left behind"


def test_clean_removes_the_build(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"a": essay_text("A", date="2026-01-06")})
    built = run("--root", root, "build", "--today", "2026-01-06")  # "a" is due: its email too
    assert built.exit_code == 0, built.output
    assert built_slugs(root) == {"a"}
    assert (root / "build" / "email" / "a.eml").is_file()
    sources = sorted(p.relative_to(root) for p in root.rglob("*") if "build" not in p.parts)
    cleaned = run("--root", root, "clean")
    assert cleaned.exit_code == 0
    assert not (root / "build").exists()
    assert f"Removed {root / 'build'}" in cleaned.stdout
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == sources, "sources kept"


def test_the_example_site_passes_check(example_copy: Path) -> None:
    result = run("--root", example_copy, "check")
    assert result.exit_code == 0, result.output
    assert ": error: " not in result.stderr


def test_example_essay_01_numbers_its_eight_notes_by_first_use(example_copy: Path) -> None:
    site, _ = load_site(example_copy)
    [essay] = [e for e in site.essays if e.path.startswith("essays/01-")]
    body = (REPO_ROOT / essay.path).read_text(encoding="utf-8").split("\n---\n", 1)[1]
    cited = re.findall(r"\[\^([a-z0-9-]+)\](?!:)", body)
    first_use = list(dict.fromkeys(cited))
    assert len(first_use) == 8
    assert [(n.number, n.label) for n in essay.notes] == list(enumerate(first_use, start=1))
    assert all(n.glossary_key for n in essay.notes), "every note comes from the glossary"


@pytest.mark.parametrize("command", [["new"], ["build", "--no-such-flag"]])
def test_usage_errors_exit_2(tmp_path: Path, command: list[str]) -> None:
    result = run("--root", make_site(tmp_path), *command)
    assert result.exit_code == 2 and no_traceback(result)


def test_a_damaged_state_database_is_a_clear_error(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"one": essay_text("One", "Body.\n", date="2026-01-06")})
    (root / "state").mkdir()
    (root / "state" / "publish.db").write_bytes(b"not a database at all" * 100)
    for command in (["build", "--today", "2026-02-01"], ["schedule"], ["subscribers", "list"]):
        result = CliRunner().invoke(cli, ["--root", str(root), *command])
        assert result.exit_code == 1, command
        assert f"{root / 'state' / 'publish.db'}" in result.output
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit), command


@pytest.mark.parametrize("command", [["serve"], ["subscriptions", "serve"]])
def test_a_busy_port_exits_1_in_every_server(tmp_path: Path, command: list[str]) -> None:
    """A port another program holds is the same failure, with the same exit code, for the
    preview and for the subscription service: one `--port` error line, status 1."""
    port = free_port()
    root = make_site(
        tmp_path, essays={"a": essay_text("A", date="2026-01-06")}, settings=MAIL_SETTINGS
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run("--root", root, *command, "--port", str(port))
    [line] = [x for x in result.stderr.splitlines() if ": error: " in x]
    assert line.startswith(f"--port:1:1: error: cannot listen on 127.0.0.1:{port} (")
    assert result.exit_code == 1 and no_traceback(result)


def test_refusals_speak_the_one_error_dialect(tmp_path: Path) -> None:
    """`init` into a full folder, `new` over an existing essay and removing an address nobody
    has: each is one `path:line:col: error:` line naming the file, and status 1."""
    root = make_site(
        tmp_path / "site", essays={"title": essay_text("Title")}, settings=MAIL_SETTINGS
    )
    refusals = {
        ("init", str(root)): f"{root}:1:1: error: is not empty",
        ("--root", str(root), "new", "Title"): "essays/title.md:1:1: error: already exists",
        (
            "--root",
            str(root),
            "subscribers",
            "remove",
            "ghost@example.org",
        ): f"{root / 'state' / 'publish.db'}:1:1: error: no subscriber with the address",
    }
    for command, start in refusals.items():
        result = run(*command)
        [line] = [x for x in result.stderr.splitlines() if ": error: " in x]
        assert line.startswith(start), (command, result.stderr)
        assert result.exit_code == 1 and no_traceback(result)


# What `main()` is run with: a finalizer that says when the interpreter is torn down, an exit
# handler, and (with "thread") another thread still alive when the command ends.
ENDING = """
import atexit, sys, threading
from publish.cli.main import main

class Teardown:
    def __del__(self):
        sys.stderr.write("torn down\\n")

kept_until_teardown = Teardown()
atexit.register(lambda: sys.stderr.write("exit handler ran\\n"))
if sys.argv[1] == "thread":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
sys.argv = ["publish", *sys.argv[2:]]
main()
"""


def ended(*args: str) -> subprocess.CompletedProcess[str]:
    """`main()` run in a new process by ENDING with these arguments."""
    return subprocess.run(
        [sys.executable, "-c", ENDING, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )


def test_the_command_line_ends_without_tearing_the_interpreter_down(tmp_path: Path) -> None:
    root = make_site(
        tmp_path / "site", {"01-first": essay_text("First", "Hello.\n", date="2026-01-06")}
    )
    done = ended("alone", "--root", str(root), "build", "--today", "2030-01-01")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Built 1 essay(s)"), "the output is flushed"
    assert "exit handler ran" in done.stderr
    assert "torn down" not in done.stderr, "the objects are left to the end of the process"
    failed = ended("alone", "--root", str(tmp_path / "nowhere"), "build")
    assert failed.returncode == 1 and "error: settings file not found" in failed.stderr
    assert "exit handler ran" in failed.stderr and "torn down" not in failed.stderr
    assert ended("alone", "--version").stdout == f"publish, version {__version__}\n"


def test_with_another_thread_alive_the_command_line_ends_as_python_does(tmp_path: Path) -> None:
    root = make_site(
        tmp_path / "site", {"01-first": essay_text("First", "Hello.\n", date="2026-01-06")}
    )
    done = ended("thread", "--root", str(root), "build", "--today", "2030-01-01")
    assert done.returncode == 0, done.stderr
    assert "exit handler ran" in done.stderr and "torn down" in done.stderr

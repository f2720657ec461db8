"""Every bad input is a clear `path:line:col: error:` through the real command line.

Each case builds a good site first, then breaks one input, and runs `publish check` and
`publish build`: both must exit 1 with the same problems, no traceback, and leave the
previous build/ exactly as it was.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
import time
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.cli.main import cli
from publish.state import db
from tests.sitebuilder import DEFAULT_SETTINGS, due_since_long_ago, essay_text, make_site

TODAY = "2026-06-01"
GOOD = essay_text("A Good Essay", "A first paragraph.\n", date="2026-01-06")
PROBLEM_LINE = re.compile(r"^\S.*:\d+:\d+: (?:error|warning): ")


def run(root: Path, *args: str) -> Result:
    """Run the command line in-process on a site (catching any exception, to assert on)."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def check_and_build(root: Path) -> list[Result]:
    """`publish check` then `publish build`, as a writer would run them."""
    return [run(root, "check", "--today", TODAY), run(root, "build", "--today", TODAY)]


def problems(result: Result) -> list[str]:
    """The `path:line:col: severity: message` lines of a run."""
    return [line for line in result.stderr.splitlines() if PROBLEM_LINE.match(line)]


def shared_problems(result: Result) -> list[str]:
    """The problems both `check` and `build` report: all but the mailing set-up warnings,
    which only `check` gives (see publish.mail.setup)."""
    return [
        line
        for line in problems(result)
        if not (line.startswith("publish.toml:") and ": warning: " in line)
    ]


def no_traceback(result: Result) -> bool:
    """True when the run raised nothing but its exit and printed no traceback."""
    quiet = result.exception is None or isinstance(result.exception, SystemExit)
    return quiet and "Traceback" not in result.output


def build_tree(root: Path) -> dict[str, bytes]:
    """Every file of the web site and the emails, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for folder in ("site", "email")
        for p in sorted((root / "build" / folder).rglob("*"))
        if p.is_file()
    }


def good_site(tmp_path: Path, **extra: object) -> tuple[Path, dict[str, bytes]]:
    """A site that builds, built once; its root and the build it wrote (its essay is due,
    so its email is made too, through the email templates)."""
    root = due_since_long_ago(make_site(tmp_path, essays={"good": GOOD}, **extra))
    result = run(root, "build", "--today", TODAY)
    assert result.exit_code == 0, result.output
    return root, build_tree(root)


def refused(root: Path, before: dict[str, bytes]) -> list[str]:
    """Run check and build on a broken site; assert they refuse alike; return the problems."""
    check, build = check_and_build(root)
    for result in (check, build):
        assert result.exit_code == 1, result.output
        assert no_traceback(result), result.output
    assert shared_problems(check) == shared_problems(build)
    assert build_tree(root) == before, "a failing build changed build/"
    return problems(check)


def write(root: Path, relative: str, text: str) -> None:
    """Write one file of the site (folders made as needed)."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def starts(lines: list[str], expected: str) -> bool:
    """Whether some problem line starts with `expected`."""
    return any(line.startswith(expected) for line in lines)


BAD_ESSAYS = {
    # 1. control characters: refused at their position in the file...
    "bell in the title": (
        '---\ntitle: "Bell\x07 here"\n---\nBody.\n',
        "essays/bad.md:2:13: error: control character U+0007",
    ),
    "escape in the subtitle": (
        '---\ntitle: T\nsubtitle: "\x1b[31mred"\n---\nBody.\n',
        "essays/bad.md:3:12: error: control character U+001B",
    ),
    "form feed in the body": (
        "---\ntitle: T\n---\nOne\x0cTwo.\n",
        "essays/bad.md:4:4: error: control character U+000C",
    ),
    "C1 control in a tag": (
        "---\ntitle: T\ntags: [a\x85b]\n---\nBody.\n",
        "essays/bad.md:3:9: error: control character U+0085",
    ),
    "DEL in the author": (
        "---\ntitle: T\nauthor: A\x7fB\n---\nBody.\n",
        "essays/bad.md:3:10: error: control character U+007F",
    ),
    # ...and where written as an escape or a character reference, at the key or the block.
    "YAML escape in the title": (
        '---\ntitle: "Esc \\e[31m"\n---\nBody.\n',
        "essays/bad.md:2:1: error: 'title' holds control character U+001B",
    ),
    "CR LF escape in the title": (
        '---\ntitle: "x\\r\\nBcc: a@b"\n---\nBody.\n',
        "essays/bad.md:2:1: error: 'title' holds control character U+000D",
    ),
    "YAML escape in the author": (
        '---\ntitle: T\nauthor: "\\a"\n---\nBody.\n',
        "essays/bad.md:3:1: error: 'author' holds control character U+0007",
    ),
    "half of a character escaped in the title": (
        '---\ntitle: "Smile \\ud83d"\n---\nBody.\n',
        "essays/bad.md:2:1: error: 'title' holds half of a character (U+D83D, a lone surrogate",
    ),
    "entity in the body": (
        "---\ntitle: T\n---\nOne\n\nA &#12; B.\n",
        "essays/bad.md:6:3: error: a character reference here names a control character",
    ),
    # 2. keys YAML does not read as text
    "yes key": (
        "---\ntitle: T\nyes: 1\n---\nBody.\n",
        "essays/bad.md:3:1: error: front matter key 'yes' is not text: YAML reads it as a boolean",
    ),
    "on key": (
        "---\ntitle: T\non: 1\n---\nBody.\n",
        "essays/bad.md:3:1: error: front matter key 'on' is not text",
    ),
    "number key": (
        "---\ntitle: T\n1: x\n---\nBody.\n",
        "essays/bad.md:3:1: error: front matter key '1' is not text: YAML reads it as a number",
    ),
    "null key": (
        "---\ntitle: T\nnull: x\n---\nBody.\n",
        "essays/bad.md:3:1: error: front matter key 'null' is not text: YAML reads it as null",
    ),
    # 4. deep nesting, in the front matter and in the body
    "deep front matter": (
        "---\ntitle: T\ntags: " + "[" * 20000 + "]" * 20000 + "\n---\nB.\n",
        "essays/bad.md:3:56: error: invalid YAML front matter: front matter "
        "nests more than 50 levels deep",
    ),
    "deep quotes": (
        "---\ntitle: T\n---\n" + "> " * 20000 + "deep\n",
        "essays/bad.md:4:1: error: quotes or lists nest more than 8 levels deep",
    ),
    "deep lists": (
        "---\ntitle: T\n---\n" + "".join("  " * i + "- a\n" for i in range(2000)),
        "essays/bad.md:11:1: error: quotes or lists nest more than 8 levels deep",
    ),
    "deep raw HTML": (
        "---\ntitle: T\n---\nIntro.\n\n" + "<div>" * 20000 + "x\n",
        "essays/bad.md:6:1: error: raw HTML nests more than 100 elements deep",
    ),
    "deep inline HTML": (
        "---\ntitle: T\n---\n" + "Text <span>" * 20000 + "\n",
        "essays/bad.md:4:1: error: raw HTML nests more than 100 elements deep",
    ),
    # 5. dates out of range
    "year zero": (
        "---\ntitle: T\ndate: 0000-01-01\n---\nBody.\n",
        "essays/bad.md:3:7: error: bad date '0000-01-01'",
    ),
    "year 10000": (
        "---\ntitle: T\ndate: 10000-01-01\n---\nBody.\n",
        "essays/bad.md:3:7: error: bad date '10000-01-01'",
    ),
    "overflowing zone": (
        "---\ntitle: T\ndate: 9999-12-31 23:59:00 -12:00\n---\nBody.\n",
        "essays/bad.md:3:7: error: bad date '9999-12-31 23:59:00 -12:00'",
    ),
    "overflowing text date": (
        '---\ntitle: T\ndate: "9999-12-31 23:59 -12:00"\n---\nBody.\n',
        "essays/bad.md:3:7: error: bad date '9999-12-31 23:59 -12:00'",
    ),
    "underflowing zone": (
        "---\ntitle: T\ndate: 0001-01-01 00:00:00 +05:00\n---\nBody.\n",
        "essays/bad.md:3:7: error: bad date '0001-01-01 00:00:00 +05:00'",
    ),
    # 8. an explicit slug too long for a folder name
    "long slug": (
        "---\ntitle: T\nslug: " + "a" * 300 + "\n---\nBody.\n",
        "essays/bad.md:3:7: error: slug is 300 characters long; at most 80",
    ),
    "long tag": (
        "---\ntitle: T\ntags: [" + "t" * 300 + "]\n---\nBody.\n",
        "essays/bad.md:3:1: error: tag '" + "t" * 60 + "…' is 300 characters long",
    ),
    # 9. images that are unsafe or missing, in the front matter and in the body
    "absolute image": (
        "---\ntitle: T\nimage: /etc/passwd\nimage_alt: x\n---\nBody.\n",
        "essays/bad.md:3:8: error: image '/etc/passwd' is not a file under essays/",
    ),
    "climbing image": (
        "---\ntitle: T\nimage: ../publish.toml\nimage_alt: x\n---\nBody.\n",
        "essays/bad.md:3:8: error: image '../publish.toml' must not climb out",
    ),
    "script image": (
        '---\ntitle: T\nimage: "javascript:alert(1)"\nimage_alt: x\n---\nBody.\n',
        "essays/bad.md:3:9: error: image 'javascript:alert(1)' uses the scheme 'javascript:'",
    ),
    "missing image": (
        "---\ntitle: T\nimage: images/none.png\nimage_alt: x\n---\nBody.\n",
        "essays/bad.md:3:8: error: image 'images/none.png' is not a file under essays/",
    ),
    "inline absolute image": (
        "---\ntitle: T\n---\nSee ![a](/etc/passwd).\n",
        "essays/bad.md:4:10: error: image '/etc/passwd' is not a file",
    ),
    "inline climbing image": (
        "---\ntitle: T\n---\nSee\n![a](../../secret.png)\n",
        "essays/bad.md:5:6: error: image '../../secret.png' must not climb out",
    ),
    "inline script image": (
        "---\ntitle: T\n---\n![a](javascript:alert(1))\n",
        "essays/bad.md:4:6: error: image 'javascript:alert(1' uses the scheme 'javascript:'",
    ),
    "inline file image": (
        "---\ntitle: T\n---\n![a](file:///etc/passwd)\n",
        "essays/bad.md:4:6: error: image 'file:///etc/passwd' uses the scheme 'file:'",
    ),
    "inline missing image": (
        "---\ntitle: T\n---\nText.\n\n![a](nope.png)\n",
        "essays/bad.md:6:6: error: image 'nope.png' is not a file",
    ),
}


@pytest.mark.parametrize("text, expected", BAD_ESSAYS.values(), ids=BAD_ESSAYS.keys())
def test_a_bad_essay_is_refused_alike_by_check_and_build(
    tmp_path: Path, text: str, expected: str
) -> None:
    root, before = good_site(tmp_path)
    write(root, "essays/bad.md", text)
    lines = refused(root, before)
    assert starts(lines, expected), lines


def test_an_alias_bomb_is_refused_fast_without_expanding(tmp_path: Path) -> None:
    root, before = good_site(tmp_path)
    layers = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for name, previous in zip("bcdefg", "abcdef", strict=True):
        layers.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    write(root, "essays/bad.md", "---\ntitle: T\n" + "\n".join(layers) + "\ntags: *g\n---\nB.\n")
    started = time.monotonic()
    lines = refused(root, before)
    assert time.monotonic() - started < 10
    assert lines == [
        "essays/bad.md:4:8: error: invalid YAML front matter: aliases such as "
        "'*a' are not allowed in front matter; write the value out"
    ]


def test_a_long_value_is_cut_short_in_its_message(tmp_path: Path) -> None:
    root, before = good_site(tmp_path)
    write(root, "essays/bad.md", "---\ntitle: T\nslug: " + "Bad Slug " * 2000 + "\n---\nB.\n")
    [line] = refused(root, before)
    assert line.startswith("essays/bad.md:3:7: error: bad slug 'Bad Slug Bad")
    assert "…" in line and len(line) < 300


def test_a_long_title_gets_a_slug_that_fits_a_file_name(tmp_path: Path) -> None:
    title = "A very long title that goes on and on " * 12
    root = make_site(tmp_path, essays={"long": essay_text(title, date="2026-01-06")})
    check, build = check_and_build(due_since_long_ago(root))  # due: its email is built
    assert (check.exit_code, build.exit_code) == (0, 0), build.output
    [page] = [
        p
        for p in (root / "build" / "site").glob("*/index.html")
        if lxml.html.parse(str(p)).getroot().xpath("//article")
    ]
    slug = page.parent.name
    assert len(slug) <= 80 and title.lower().replace(" ", "-").startswith(slug + "-")
    assert (root / "build" / "email" / f"{slug}.eml").is_file()


BAD_TEMPLATES = {
    "syntax error in email.txt": (
        "email.txt",
        "Hello\n\n{% if %}\n",
        "templates/email.txt:3:1: error: template error: Expected an expression",
    ),
    "unknown filter in email.txt": (
        "email.txt",
        "Hello\n{{ title | shout }}\n",
        "templates/email.txt:2:1: error: template error: No filter named 'shout'",
    ),
    "undefined name in email.txt": (
        "email.txt",
        "Hello\n\n\n{{ nothing.here }}\n",
        "templates/email.txt:4:1: error: template error: 'nothing' is undefined",
    ),
    "syntax error in essay.html": (
        "essay.html",
        "<p>\n{{ title( }}\n",
        "templates/essay.html:2:1: error: template error: ",
    ),
    "syntax error in email.html": (
        "email.html",
        "<p>\n\n{% for %}\n",
        "templates/email.html:3:1: error: template error: ",
    ),
}


@pytest.mark.parametrize("name, text, expected", BAD_TEMPLATES.values(), ids=BAD_TEMPLATES.keys())
def test_a_bad_template_is_an_error_at_its_line(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    root, before = good_site(tmp_path)
    write(root, f"templates/{name}", text)
    lines = refused(root, before)
    assert starts(lines, expected), lines


BAD_EMAIL_SETTINGS = {
    "not an address": (
        'from = "not an address"',
        "publish.toml:9:8: error: 'email.from' is not an email address (there is "
        "no address in it, only a name)",
    ),
    "a display name only": (
        'from = "Ada Lovelace"',
        "publish.toml:9:8: error: 'email.from' is not an email address",
    ),
    "two addresses": (
        'from = "a@example.org, b@example.org"',
        "publish.toml:9:8: error: 'email.from' is not an email address (it must "
        "hold exactly one address)",
    ),
    "a bad reply-to": (
        'reply_to = "Ada <ada@>"',
        "publish.toml:9:12: error: 'email.reply_to' is not an email address",
    ),
    "negative retries": (
        "max_retries = -1",
        "publish.toml:9:15: error: 'email.max_retries' must not be negative",
    ),
    "negative rate": ("rate = -0.5", "publish.toml:9:8: error: 'email.rate' must not be negative"),
    "a rate that is no number": (
        'rate = "fast"',
        "publish.toml:9:1: error: 'email.rate' must be an integer or a number",
    ),
}


@pytest.mark.parametrize(
    "line, expected", BAD_EMAIL_SETTINGS.values(), ids=BAD_EMAIL_SETTINGS.keys()
)
def test_bad_email_settings_are_errors_at_their_value(
    tmp_path: Path, line: str, expected: str
) -> None:
    root, before = good_site(tmp_path)
    write(root, "publish.toml", DEFAULT_SETTINGS + f"\n[email]\n{line}\n")
    lines = refused(root, before)
    assert starts(lines, expected), lines


def test_a_control_character_in_a_setting_is_refused(tmp_path: Path) -> None:
    root, before = good_site(tmp_path)
    write(root, "publish.toml", DEFAULT_SETTINGS.replace('"Test Letters"', '"Test\\u0007"'))
    assert refused(root, before) == [
        "publish.toml:2:9: error: 'site.title' holds control character U+0007, which is not "
        "allowed; delete it"
    ]


def test_a_good_from_address_with_a_name_is_accepted(tmp_path: Path) -> None:
    root = make_site(
        tmp_path,
        essays={"good": GOOD},
        settings=DEFAULT_SETTINGS + '\n[email]\nfrom = "A. Writer <a@example.org>"\n',
    )
    assert [r.exit_code for r in check_and_build(root)] == [0, 0]


def test_a_glossary_definition_citing_a_note_is_an_error(tmp_path: Path) -> None:
    root, before = good_site(tmp_path)
    write(
        root,
        "footnotes/flow.md",
        "---\nterm: Flow\n---\n\nAbsorption, like\na splitting[^bad-object] of attention.\n",
    )
    assert refused(root, before) == [
        "footnotes/flow.md:6:12: error: a glossary definition cannot cite a note "
        "('[^bad-object]'); write the other term out, or link to it"
    ]


@pytest.mark.parametrize(
    "definition, expected",
    [
        (
            "Absorption.\n\n![a](../../etc/passwd)\n",
            "footnotes/flow.md:7:6: error: image '../../etc/passwd' must not climb out",
        ),
        (
            "Absorption.\n\n![a](javascript:x)\n",
            "footnotes/flow.md:7:6: error: image 'javascript:x' uses the scheme 'javascript:'",
        ),
        (
            "Absorption.\n\nA &#12; B\n",
            "footnotes/flow.md:7:3: error: a character reference here names a control character",
        ),
        (
            "Absorption.\n\n" + "<div>" * 5000 + "\n",
            "footnotes/flow.md:7:1: error: raw HTML nests more than 100 elements deep",
        ),
        (
            "Absorption.\n" + "> " * 40 + "deep\n",
            "footnotes/flow.md:6:1: error: quotes or lists nest too deep here",
        ),
    ],
)
def test_a_bad_glossary_definition_is_an_error_at_its_place(
    tmp_path: Path, definition: str, expected: str
) -> None:
    root, before = good_site(tmp_path)
    write(root, "footnotes/flow.md", f"---\nterm: Flow\n---\n\n{definition}")
    write(root, "essays/cites.md", essay_text("Cites", "Flow[^flow].\n", date="2026-01-07"))
    lines = refused(root, before)
    assert starts(lines, expected), lines
    assert not any(line.startswith("essays/") for line in lines), lines


def hold_state_database(root: Path) -> sqlite3.Connection:
    """Create the site's state database, then hold it the way a long write would."""
    assert run(root, "subscribers", "add", "ada@example.org").exit_code == 0
    holder = sqlite3.connect(root / "state" / "publish.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


@pytest.mark.parametrize("args", [("subscribers", "list"), ("build", "--today", TODAY)])
def test_a_busy_state_database_says_try_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT", 0.2)  # not the 30 s a real command waits
    root, before = good_site(tmp_path)
    holder = hold_state_database(root)
    try:
        result = run(root, *args)
    finally:
        holder.close()
    assert result.exit_code == 1 and no_traceback(result)
    [line] = problems(result)
    assert line.startswith(f"{root / 'state' / 'publish.db'}:1:1: error: cannot ")
    assert "it is busy: another publish command is using it; try again" in line
    assert "backup" not in line
    assert build_tree(root) == before


def test_a_damaged_state_database_still_says_damaged(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"good": GOOD})
    write(root, "state/publish.db", "not a database, only some text long enough for a header\n")
    for args in (("subscribers", "list"), ("build", "--today", TODAY)):
        result = run(root, *args)
        assert result.exit_code == 1 and no_traceback(result)
        [line] = problems(result)
        assert "it is damaged (file is not a database); restore it from a backup" in line


# Titles stay within what any header can carry today (ASCII and the C0/C1 controls); the
# body takes any text at all.
TITLE_TEXT = st.text(st.characters(max_codepoint=0x9F), max_size=40)
MARKDOWN_TEXT = st.text(
    st.sampled_from(list("> -*_[]()!^:#`\n\t&;x1\x07\x0c\x1b\x85</.")), max_size=200
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    title=TITLE_TEXT,
    body=st.one_of(st.text(max_size=200), MARKDOWN_TEXT),
    escaped=st.booleans(),
    tags=st.lists(TITLE_TEXT, max_size=3),
)
def test_check_and_build_agree_on_any_title_and_body(
    title: str, body: str, escaped: bool, tags: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        front_matter = (
            f"title: {json.dumps(title, ensure_ascii=escaped)}\ndate: 2026-01-06\n"
            f"tags: {json.dumps(tags, ensure_ascii=escaped)}\n"
        )
        root = make_site(Path(folder), essays={"x": f"---\n{front_matter}---\n{body}"})
        check, build = check_and_build(root)
        assert no_traceback(check) and no_traceback(build), (check.output, build.output)
        assert check.exit_code == build.exit_code
        assert shared_problems(check) == shared_problems(build)
        built = (root / "build" / "site").is_dir()
        assert built == (build.exit_code == 0)
        for path in (root / "build").rglob("*") if built else []:
            if path.is_file() and path.suffix in (".html", ".xml", ".txt", ".eml", ".json"):
                text = path.read_bytes().decode("utf-8")
                assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", text), path


def test_publish_new_with_a_long_title_writes_a_file_that_fits(tmp_path: Path) -> None:
    root = make_site(tmp_path, essays={"good": GOOD})
    result = run(root, "new", "Words " * 100)
    assert result.exit_code == 0 and no_traceback(result), result.output
    [written] = [p for p in (root / "essays").glob("*.md") if p.name != "good.md"]
    assert len(written.stem) <= 80 and written.stem.startswith("words-words")
    assert [r.exit_code for r in check_and_build(root)] == [0, 0]

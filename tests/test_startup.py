"""Start-up: `publish --version` imports only click and publish's own light modules; a
command imports what it uses when it runs."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from publish.cli.main import cli
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load
from tests.sitebuilder import due_since_long_ago, essay_text, make_site, site_settings

HEAVY = (
    "feedgen",
    "lxml",
    "flask",
    "jinja2",
    "markdown_it",
    "yaml",
    "css_inline",
    "watchdog",
    "email_validator",
    "msgspec",
    "waitress",
    "dateutil",
    "sqlite3",
)
PROBE = """
import sys
from publish.cli.main import cli
try:
    cli(["--version"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("loaded:", *sorted(name for name in {heavy!r} if name in sys.modules))
"""


def test_version_imports_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("publish, version ")
    assert lines[-1] == "loaded:"


# Loaded only to sign or serve: `check` and `build` have no use for them.
SENDING_ONLY = (
    "dkim",
    "dns",
    "flask",
    "waitress",
    "watchdog",
    "http.server",
    "publish.preview.serve",
)
COMMAND_PROBE = """
import sys
from publish.cli.main import cli
try:
    cli(["--root", sys.argv[1], *sys.argv[2:]])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("loaded:", *sorted(name for name in {names!r} if name in sys.modules))
"""


def loaded_of(names: tuple[str, ...], root: Path, *command: str) -> list[str]:
    """Which of `names` a command run in a fresh process loaded."""
    result = subprocess.run(
        [sys.executable, "-c", COMMAND_PROBE.format(names=names), str(root), *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()[-1].split()[1:]


def loaded_by(root: Path, *command: str) -> list[str]:
    """What a command run in a fresh process loaded of `SENDING_ONLY`."""
    return loaded_of(SENDING_ONLY, root, *command)


def dkim_key(path: Path) -> None:
    """Write a fresh 2048-bit RSA key, readable by its owner only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "dkim"])
def test_check_and_build_load_neither_dkim_nor_dns_nor_the_server(
    tmp_path: Path, signed: bool
) -> None:
    settings = site_settings("run")
    if signed:
        settings += 'dkim_selector = "mail2026"\ndkim_key_file = "dkim.pem"\n'
    root = make_site(
        tmp_path / "site", {"one": essay_text("One", date="2026-01-01")}, None, settings
    )
    if signed:
        dkim_key(root / "dkim.pem")
    assert loaded_by(root, "build", "--today", "2026-12-01") == []
    assert loaded_by(root, "check", "--today", "2026-12-01") == []
    if signed:  # the key is still checked
        (root / "dkim.pem").chmod(0o644)
        result = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", "2026-12-01"])
        assert result.exit_code == 1
        assert "dkim_key_file 'dkim.pem' can be read by every user" in result.output


# Loaded only by the sites, essays and emails that need them (each import costs a cold build
# milliseconds of CPU before its first essay).
ON_DEMAND = (
    "email_validator",
    "html.parser",
    "publish.content.htmldepth",
    "publish.mail.mime",
    "slugify",
)


def on_demand_loaded(root: Path, *command: str) -> list[str]:
    """What a command run in a fresh process loaded of `ON_DEMAND`."""
    return loaded_of(ON_DEMAND, root, *command)


@pytest.mark.parametrize("settings", ["minimal", "run"], ids=["no-email", "plain-addresses"])
def test_a_plain_build_loads_nothing_it_does_not_use(tmp_path: Path, settings: str) -> None:
    root = make_site(
        tmp_path / "site",
        {"one": essay_text("One", "Plain.", date="2026-01-01", slug="one", tags="[notes, day-1]")},
        None,
        site_settings(settings),
    )
    assert on_demand_loaded(root, "build", "--today", "2026-12-01") == []
    assert (root / "build" / "site" / "one" / "index.html").is_file()


def test_what_loads_on_demand_still_loads_where_it_is_used(tmp_path: Path) -> None:
    body = "<div><span>raw</span></div>\n\nText with <em>inline</em> markup."
    essays = {"one": essay_text("One", body, date="2026-01-01", tags="[Field Notes]")}
    settings = site_settings("run").replace("letters@example.org", "lettres@\u00e9ditions.example")
    root = due_since_long_ago(make_site(tmp_path / "site", essays, None, settings))
    assert on_demand_loaded(root, "build", "--today", "2026-12-01") == list(ON_DEMAND)
    assert (root / "build" / "email" / "one.eml").is_file()


# Loaded only where a build or a check uses them: SQLite by a site that has a state database,
# the email package by a setting of another form than the plainest (`Name <address>`) or by
# an email made, css_inline by an email made, idna by an internationalised domain,
# email_validator and the subscribers' module by a state database whose subscribers `check`
# counts (tests/test_mailsetup.py), subprocess by a site with search (Pagefind), tomli_w by
# the commands that write releases.toml, Pillow by an image to measure or (`check`) a raster
# image to offer in AVIF. A site without state, with plain settings, no email due, no search
# and no image loads none of them.
UNUSED_BY_A_PLAIN_SITE = (
    "sqlite3",
    "email",
    "email.utils",
    "css_inline",
    "idna",
    "email_validator",
    "publish.state.subscribers",
    "subprocess",
    "tomli_w",
    "PIL",
)


@pytest.mark.parametrize("settings", ["minimal", "run"], ids=["no-email", "plain-addresses"])
@pytest.mark.parametrize("command", ["build", "check"])
def test_a_site_without_state_loads_neither_sqlite_nor_the_email_package(
    tmp_path: Path, settings: str, command: str
) -> None:
    essays = {name: essay_text(name.title(), date="2026-01-01") for name in ("one", "two")}
    root = make_site(tmp_path / "site", essays, None, site_settings(settings))
    # A build with no problem to show points at no docs page (`check` warns of these sites).
    unused = (*UNUSED_BY_A_PLAIN_SITE, *(["publish.cli.docslinks"] if command == "build" else []))
    assert loaded_of(unused, root, command, "--today", "2026-12-01") == []
    assert not (root / "state").exists()


def test_sqlite_and_the_email_package_still_load_where_they_are_used(tmp_path: Path) -> None:
    from publish.state.db import connect

    settings = site_settings("run").replace("Test Author <", "\u00c9ditions Test <")
    root = due_since_long_ago(
        make_site(tmp_path / "site", {"one": essay_text("One", date="2026-01-01")}, None, settings)
    )
    connect(root / "state" / "publish.db").close()  # a state database, no subscriber yet
    assert loaded_of(UNUSED_BY_A_PLAIN_SITE, root, "build", "--today", "2026-12-01") == [
        "css_inline",  # the due essay's email
        "email",  # the sender's name is not plain ASCII
        "email.utils",
        "sqlite3",  # the releases are read from the database
    ]
    assert (root / "build" / "email" / "one.eml").is_file()
    assert "sqlite3" in loaded_of(UNUSED_BY_A_PLAIN_SITE, root, "check", "--today", "2026-12-01")


def test_pillow_still_loads_for_a_site_that_shows_an_image(tmp_path: Path) -> None:
    from PIL import Image

    body = "![A square](images/square.png)\n"
    essays = {"one": essay_text("One", body, date="2026-01-01")}
    root = make_site(tmp_path / "site", essays, None, site_settings("minimal"))
    (root / "essays" / "images").mkdir()
    Image.new("RGB", (8, 8), "teal").save(root / "essays" / "images" / "square.png")
    assert loaded_of(("PIL",), root, "check", "--today", "2026-12-01") == ["PIL"]


# What only the place phase uses: a cold build imports it while its parse workers work.
PLACE_ONLY = ("jinja2", "publish.pipeline.place", "publish.outputs.web", "feedgen")
TEAM_PROBE = """
import sys
from publish.cli.main import cli
from publish.support import parallel

made = parallel._Team.__init__

def noting(team, *args, **kwargs):
    print("team:", *sorted(name for name in {names!r} if name in sys.modules), flush=True)
    made(team, *args, **kwargs)

parallel._Team.__init__ = noting
try:
    cli(["--root", sys.argv[1], "build", "--today", "2026-12-01"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""


def _probed_cold_build(
    tmp_path: Path, probe: str, count: int, mark: str
) -> tuple[list[list[str]], Path]:
    """A cold build of `count` essays run by `probe` in a new process: the words of each
    line it printed after `mark` (one line a forked team, as the probes print), and the site."""
    essays = {
        f"e{n:03}": essay_text(f"Essay {n}", date="2026-01-01", slug=f"e{n:03}")
        for n in range(count)
    }
    root = make_site(tmp_path / "site", essays, None, site_settings("minimal"))
    result = subprocess.run(
        [sys.executable, "-c", probe, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith(mark)]
    return lines, root


def _loaded_at_each_fork(
    tmp_path: Path, names: tuple[str, ...], count: int
) -> tuple[list[list[str]], Path]:
    """Which of `names` a cold build of `count` essays had loaded as each team of workers
    was forked (`TEAM_PROBE`), and the site."""
    return _probed_cold_build(tmp_path, TEAM_PROBE.format(names=names), count, "team:")


def test_a_cold_build_forks_its_parse_workers_before_it_loads_the_place_phase(
    tmp_path: Path,
) -> None:
    teams, root = _loaded_at_each_fork(tmp_path, PLACE_ONLY, 120)
    assert len(teams) == 2, teams  # the parse workers, then the place workers
    assert teams[0] == []  # none loaded before the parse workers were forked
    assert teams[1] == sorted(PLACE_ONLY)  # all loaded, by this process, before the place
    assert (root / "build" / "site" / "e000" / "index.html").is_file()


# A decoder resolves the types of every field it may meet when it is made: a cold build,
# which finds no manifest, no index and no record to read, makes none of theirs before it
# forks its parse workers. Printed at the first team: the types decoders were made for.
DECODER_PROBE = """
import sys
import msgspec
from publish.support import parallel

made = []

def noting(decoder):
    def make(kind=None, *args, **kwargs):
        made.append(getattr(kind, "__name__", repr(kind)))
        return decoder(kind, *args, **kwargs)
    return make

msgspec.json.Decoder = noting(msgspec.json.Decoder)
msgspec.msgpack.Decoder = noting(msgspec.msgpack.Decoder)
from publish.cli.main import cli

forking = parallel._Team.__init__

def first(team, *args, **kwargs):
    if not hasattr(first, "done"):
        first.done = True
        print("decoders:", *sorted(made), flush=True)
    forking(team, *args, **kwargs)

parallel._Team.__init__ = first
try:
    cli(["--root", sys.argv[1], "build", "--today", "2026-12-01"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""


def test_a_cold_build_makes_no_decoder_for_what_it_finds_nothing_of(tmp_path: Path) -> None:
    lines, root = _probed_cold_build(tmp_path, DECODER_PROBE, 60, "decoders:")
    assert len(lines) == 1, lines  # the parse workers were forked
    assert not {"CacheRecord", "EssayIndex", "Manifest"} & set(lines[0]), lines[0]
    assert (root / "build" / "site" / "e000" / "index.html").is_file()


# What only the place phase's writer uses (the build's lock is the locks' own): a cold build
# imports it while its parse workers work, with the place phase (json with Jinja).
WRITER_SIDE = (
    "json",
    "publish.pipeline.journal",
    "publish.pipeline.listings",
    "publish.pipeline.writer",
    "tempfile",
)


def test_a_cold_build_forks_its_parse_workers_before_it_loads_the_writer(
    tmp_path: Path,
) -> None:
    teams, root = _loaded_at_each_fork(tmp_path, WRITER_SIDE, 120)
    assert len(teams) == 2, teams  # the parse workers, then the place workers
    assert teams[0] == []  # none loaded before the parse workers were forked
    assert teams[1] == sorted(WRITER_SIDE)  # all loaded, by this process, before the place
    assert (root / "build" / "site" / "e000" / "index.html").is_file()


# Only a site with a state database asks the send ledger which essay welcomes new readers.
LEDGER_ONLY = ("publish.state.statuses", "publish.state.welcomes")


def test_a_cold_build_without_state_loads_neither_the_welcomes_nor_the_statuses(
    tmp_path: Path,
) -> None:
    teams, root = _loaded_at_each_fork(tmp_path, LEDGER_ONLY, 60)
    assert teams[0] == [], teams  # none before the parse workers were forked
    assert loaded_of(LEDGER_ONLY, root, "build", "--today", "2026-12-01") == []


# Modules whose patterns only rare paths use (a releases file, a problem to place, raw HTML,
# an image, a language or an alias, a fediverse handle, a schedule rule, a preview's banner,
# text to fold): each compiles them on first use, so none before a cold build forks its parse
# workers. Printed at the first team: publish's modules that called `re.compile` so far.
PATTERN_PROBE = """
import re, sys
from publish.support import parallel

compiling, modules = re.compile, set()

def noted(*args, **kwargs):
    modules.add(sys._getframe(1).f_globals.get("__name__", ""))
    return compiling(*args, **kwargs)

re.compile = noted
from publish.cli.main import cli

made = parallel._Team.__init__

def noting(team, *args, **kwargs):
    if not hasattr(noting, "done"):
        noting.done = True
        print("compiled:", *sorted(m for m in modules if m.startswith("publish.")), flush=True)
    made(team, *args, **kwargs)

parallel._Team.__init__ = noting
try:
    cli(["--root", sys.argv[1], "build", "--today", "2026-12-01"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""
RARE_PATTERNS = (
    "publish.content.essayfields",
    "publish.content.fediverse_settings",
    "publish.content.images",
    "publish.content.positions",
    "publish.content.preflight",
    "publish.content.releasefile",
    "publish.pipeline.previewing",
    "publish.schedule.rules",
    "publish.support.safetext",
)


def test_a_cold_build_compiles_no_rare_pattern_before_it_forks(tmp_path: Path) -> None:
    lines, root = _probed_cold_build(tmp_path, PATTERN_PROBE, 60, "compiled:")
    assert len(lines) == 1, lines  # the parse workers were forked
    assert "publish.content.settings" in lines[0]  # the probe hears publish's own patterns
    assert sorted(set(lines[0]) & set(RARE_PATTERNS)) == []
    assert (root / "build" / "site" / "e000" / "index.html").is_file()


# A dataclass costs its module's import five or six `exec`-compiled functions; a Struct's
# class is made in C. Printed: publish's own dataclasses among the loaded modules.
DATACLASS_PROBE = """
import inspect, sys
from publish.cli.main import cli
try:
    cli(["--root", sys.argv[1], "build", "--today", "2026-12-01"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
dataclasses = sys.modules.get("dataclasses")
loaded = [(n, m) for n, m in list(sys.modules.items()) if n.startswith("publish.")]
found = [
    f"{name}.{value.__qualname__}"
    for name, module in loaded
    for value in vars(module).values()
    if inspect.isclass(value) and value.__module__ == name
    and dataclasses is not None and dataclasses.is_dataclass(value)
]
print("dataclasses:", len(found), *sorted(found))
"""


@pytest.mark.parametrize("settings", ["minimal", "run"], ids=["no-email", "plain-addresses"])
def test_a_fresh_build_creates_no_dataclass(tmp_path: Path, settings: str) -> None:
    essays = {"one": essay_text("One", "Plain.[^n]\n\n[^n]: A note.\n", date="2026-01-01")}
    root = make_site(tmp_path / "site", essays, None, site_settings(settings))
    result = subprocess.run(
        [sys.executable, "-c", DATACLASS_PROBE, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "dataclasses: 0"
    assert (root / "build" / "site" / "one" / "index.html").is_file()


def structs_in(value: object, seen: dict[int, msgspec.Struct]) -> dict[int, msgspec.Struct]:
    """Every Struct reachable from `value` through Struct fields, tuples, lists and dicts."""
    if isinstance(value, msgspec.Struct) and id(value) not in seen:
        seen[id(value)] = value
        for name in value.__struct_fields__:
            structs_in(getattr(value, name), seen)
    elif isinstance(value, tuple | list):
        for item in value:
            structs_in(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            structs_in(item, seen)
    return seen


def test_every_struct_of_a_loaded_site_and_its_build_is_frozen(tmp_path: Path) -> None:
    essays = {
        "one": essay_text("One", "See [a link](https://example.org/).[^flow]", date="2026-01-01"),
        "two": essay_text("Two", "![A picture](https://example.org/a.png)", date="2026-02-01"),
    }
    root = make_site(tmp_path / "site", essays, None, site_settings("run"))
    loaded = load(root)
    report = build(root, BuildOptions(today=date(2026, 12, 1)))
    found = structs_in([loaded, report], {})
    kinds = {type(value).__name__ for value in found.values()}
    assert {"Site", "Settings", "SiteSettings", "Essay", "Note", "Glossary"} <= kinds
    assert {"GlossaryEntry", "BuildReport"} <= kinds
    for value in found.values():
        assert type(value).__struct_config__.frozen, type(value).__name__
        name = value.__struct_fields__[0]
        with pytest.raises(AttributeError):
            setattr(value, name, getattr(value, name))


# Counts the collector's runs while the command line and the command's modules load: the
# outermost import under way is one of publish's command line or of the build it runs.
COLLECTOR_PROBE = """
import atexit, gc, runpy, sys

loading = []


def heard(phase, info):
    frame, outermost = sys._getframe(), None
    while frame is not None:
        if frame.f_code.co_name == "_find_and_load":
            outermost = frame.f_locals.get("name")
        frame = frame.f_back
    if phase == "start" and outermost and outermost.startswith({loaded!r}):
        loading.append(outermost)


gc.callbacks.append(heard)
atexit.register(lambda: print("collector:", gc.isenabled(), *sorted(set(loading))))
sys.argv = ["publish", "--root", *sys.argv[1:]]
runpy.run_module("publish", run_name="__main__")
"""
LOADED_BY_A_BUILD = ("publish.cli", "publish.pipeline.build", "publish.cache.store")


def test_the_collector_never_runs_while_a_build_loads_its_modules(tmp_path: Path) -> None:
    essays = {f"e{n}": essay_text(f"E{n}", date="2026-01-01", slug=f"e{n}") for n in range(3)}
    root = make_site(tmp_path / "site", essays, None, site_settings("minimal"))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            COLLECTOR_PROBE.format(loaded=LOADED_BY_A_BUILD),
            str(root),
            "build",
            "--today",
            "2026-12-01",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # on, once loaded; and no module of the list above was loading when it ran
    assert result.stdout.splitlines()[-1] == "collector: True"
    assert (root / "build" / "site" / "e0" / "index.html").is_file()


@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_a_command_leaves_the_collector_as_it_found_it(tmp_path: Path, enabled: bool) -> None:
    import gc

    essays = {"one": essay_text("One", date="2026-01-01")}
    root = make_site(tmp_path / "site", essays, None, site_settings("minimal"))
    if not enabled:
        gc.disable()
    try:
        result = CliRunner().invoke(cli, ["--root", str(root), "check", "--today", "2026-12-01"])
        assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, 0)
    finally:
        gc.enable()
    assert result.exit_code == 0, result.output


def test_a_build_of_dated_essays_expands_no_schedule_rule(tmp_path: Path) -> None:
    """What a first run would mail is known from the essays' dates alone: the build neither
    walks the default rule's slots since the first essay nor loads dateutil's rrule."""
    essays = {f"e{year}": essay_text(f"E{year}", date=f"{year}-01-01") for year in (2001, 2026)}
    settings = site_settings("run").replace('rule = "FREQ=MONTHLY;BYDAY=+1TU"\n', "")
    root = make_site(tmp_path / "site", essays, None, settings)
    assert loaded_of(("dateutil.rrule",), root, "build", "--today", "2026-12-01") == []
    (root / "essays" / "queued.md").write_text(essay_text("Queued", slug="queued"))
    assert loaded_of(("dateutil.rrule",), root, "build", "--today", "2026-12-01") == [
        "dateutil.rrule"  # the queued essay's slot is sought
    ]


def test_plain_front_matter_loads_no_yaml(tmp_path: Path) -> None:
    """Front matter of the plainest kind (essays' and the glossary's) is read without YAML:
    a build loads neither PyYAML nor python-frontmatter; other front matter still loads
    YAML, which reads it."""
    essays = {"one": essay_text("One", date="2026-01-01", slug="one", tags="[notes, day-1]")}
    footnotes = {"flow": '---\nterm: "Flow"\nsource: "A book"\n---\nA state of work.\n'}
    root = make_site(tmp_path / "site", essays, footnotes, site_settings("minimal"))
    yaml_modules = ("yaml", "frontmatter")
    assert loaded_of(yaml_modules, root, "build", "--today", "2026-12-01") == []
    (root / "essays" / "two.md").write_text(
        "---\ntitle: Two  # a comment\ndate: 2026-01-02\n---\nText.\n"
    )
    assert loaded_of(yaml_modules, root, "build", "--today", "2026-12-01") == ["yaml"]
    assert (root / "build" / "site" / "two" / "index.html").is_file()


# Printed: what each step the parent takes while its workers parse loads, in order.
STEPS_PROBE = """
import sys
from publish.pipeline.build import loading_place_phase
for step in loading_place_phase():
    before = set(sys.modules)
    step()
    print("step:", *sorted(set(sys.modules) - before))
"""


def test_the_parent_takes_its_longest_steps_first_while_the_workers_runs_are_long() -> None:
    """A worker whose runs in hand end before the parent's step does waits for it: Jinja and
    the feeds' libraries (feedgen, lxml), the longest steps by far, come first, while each
    worker's runs are long (they shorten toward the end, see `weighed_runs`)."""
    result = subprocess.run(
        [sys.executable, "-c", STEPS_PROBE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    steps = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("step:")]
    assert {"jinja2", "jinja2.environment", "jinja2.compiler"} <= set(steps[0]), steps
    assert {"feedgen.feed", "lxml.etree", "dateutil.parser"} <= set(steps[1]), steps
    later = {name.split(".")[0] for step in steps[2:] for name in step}
    assert not later & {"feedgen", "lxml", "dateutil"}, steps

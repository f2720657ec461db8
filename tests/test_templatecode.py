"""The packaged templates' compiled code is kept with the package (as Python keeps `.pyc`
files), so a cold build of any site compiles none of them; a site's own templates' code is
kept in its build cache; a stale or damaged kept file is never used; a forked worker never
compiles a template; and the trees are byte for byte those compiled from source."""

from __future__ import annotations

import marshal
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.bccache import Bucket, bc_magic

import publish.pipeline.build
import publish.pipeline.place
from publish.cache.store import NO_CACHE_ENV, BuildCache
from publish.errors import PublishError
from publish.layout import CACHE_DIR
from publish.outputs import templatecode
from publish.outputs.templatecode import (
    PACKAGE_TEMPLATES,
    JoinedOutputCode,
    TemplateCode,
    compile_options,
    is_packaged,
    template_key,
)
from publish.outputs.templates import (
    compile_packaged_templates,
    plain_templates,
    template_environment,
)
from publish.pipeline.build import BuildOptions, build
from publish.support import parallel
from tests.sitebuilder import due_since_long_ago
from tests.websites import TODAY, fixture_site, snapshot

Compiles = Callable[[], list[tuple[int, str]]]


@pytest.fixture
def package_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test keeps the packaged templates' code (not the checkout's own folder),
    written there as Python writes bytecode by default."""
    folder = tmp_path / "package" / "__pycache__" / "templates"
    monkeypatch.setattr(templatecode, "PACKAGED_CODE", folder)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return folder


@pytest.fixture
def compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Compiles:
    """Each template compiled since the last call, by the process that compiled it and its
    name (noted in a file, so a forked worker's compiles count too)."""
    log = tmp_path / "compiles.log"
    log.touch()
    compile_source = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        with open(log, "a", encoding="utf-8") as noted:
            noted.write(f"{os.getpid()} {name}\n")
        return compile_source(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)

    def since() -> list[tuple[int, str]]:
        lines = log.read_text(encoding="utf-8").splitlines()
        log.write_text("", encoding="utf-8")
        return [(int(pid), name) for pid, name in (line.split(" ", 1) for line in lines)]

    return since


def _site(root: Path) -> Path:
    """The fixture site in German with an essay in Japanese and one in English, a template
    of its own (a footer that includes a partial), every essay due (so each has its email)."""
    fixture_site(root, essays=6)
    settings = root / "publish.toml"
    settings.write_text(settings.read_text().replace('"en-GB"', '"de"'), encoding="utf-8")
    for name, language in (("ja", "ja"), ("en", "en-GB")):
        (root / "essays" / f"50-{name}.md").write_text(
            f"---\ntitle: In {name}\ndate: 2025-05-05\nslug: in-{name}\nlanguage: {language}\n"
            "---\nA paragraph[^flow].\n",
            encoding="utf-8",
        )
    footer = (PACKAGE_TEMPLATES / "footer.html").read_text(encoding="utf-8")
    (root / "templates" / "parts").mkdir(parents=True)
    (root / "templates" / "parts" / "mark.html").write_text("<!-- own {{ lang }} -->\n")
    (root / "templates" / "footer.html").write_text(footer + '{% include "parts/mark.html" %}\n')
    return due_since_long_ago(root)


def _build(root: Path, **options: object) -> None:
    """A cold build of `root` as a new process would run it (a cache of its own)."""
    shutil.rmtree(root / "build", ignore_errors=True)
    build(root, BuildOptions(today=TODAY, **options), cache=BuildCache.for_site(root))  # type: ignore[arg-type]


def _packaged(names: list[tuple[int, str]]) -> set[str]:
    """The names compiled that are packaged templates, not the site's own."""
    own = {"footer.html", "parts/mark.html"}
    return {name for _, name in names if name not in own}


def _kept_in_site(root: Path) -> list[Path]:
    return sorted((root / CACHE_DIR / "templates").rglob("*.cache"))


def test_a_cold_build_compiles_no_packaged_template_once_their_code_is_kept(
    tmp_path: Path, package_code: Path, compiles: Compiles
) -> None:
    _build(_site(tmp_path / "first"))
    compiled = compiles()
    assert {"essay.html", "email.html", "email.txt", "base.html"} <= _packaged(compiled)
    kept = sorted(package_code.glob("*.cache"))
    assert len(kept) == len(_packaged(compiled))  # each packaged one kept with the package
    assert len(_kept_in_site(tmp_path / "first")) == 2  # the site's own two, with the site

    second = _site(tmp_path / "second")
    _build(second)  # another site, cold: the packaged templates' code is read, not compiled
    assert _packaged(compiles()) == set()
    assert sorted(package_code.glob("*.cache")) == kept
    build(second, BuildOptions(today=TODAY), cache=BuildCache.for_site(second))
    assert compiles() == []  # its own templates' code is read from its build cache


def test_install_compiles_every_packaged_template_once(
    tmp_path: Path, package_code: Path, compiles: Compiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # written all the same when asked
    compile_packaged_templates()
    names = sorted(p.name for p in PACKAGE_TEMPLATES.iterdir())
    assert sorted(name for _, name in compiles()) == sorted(names * 2)  # escaped and plain
    assert len(list(package_code.glob("*.cache"))) == 2 * len(names)
    compile_packaged_templates()
    _build(_site(tmp_path / "site"))
    assert _packaged(compiles()) == set()


@pytest.mark.parametrize("unwritable", ["no bytecode", "not a folder"])
def test_where_the_package_is_not_written_its_templates_code_is_kept_with_the_site(
    tmp_path: Path,
    package_code: Path,
    compiles: Compiles,
    monkeypatch: pytest.MonkeyPatch,
    unwritable: str,
) -> None:
    if unwritable == "no bytecode":
        monkeypatch.setattr(sys, "dont_write_bytecode", True)  # PYTHONDONTWRITEBYTECODE=1
    else:
        package_code.parent.parent.mkdir(parents=True)
        package_code.parent.write_text("a file where the folder would be")
    root = _site(tmp_path / "site")
    _build(root)
    compiled = _packaged(compiles())
    assert not package_code.is_dir()
    assert len(_kept_in_site(root)) == len(compiled) + 2
    build(root, BuildOptions(today=TODAY), cache=BuildCache.for_site(root))  # a new process
    assert compiles() == []


def test_with_the_cache_off_or_only_read_the_site_templates_are_compiled_in_memory(
    tmp_path: Path, package_code: Path, compiles: Compiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    root = _site(tmp_path / "site")
    publish.pipeline.build.check(root, BuildOptions(today=TODAY), cache=BuildCache.for_site(root))
    assert compiles() and _kept_in_site(root) == []
    monkeypatch.setenv(NO_CACHE_ENV, "1")
    _build(root)
    assert compiles() and _kept_in_site(root) == [] and not package_code.exists()


def test_no_worker_compiles_a_template(
    tmp_path: Path, package_code: Path, compiles: Compiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build forks its workers after loading every template they render (in each
    language, escaped and plain): they inherit them, and compile none, cold or not."""
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    monkeypatch.setattr(publish.pipeline.place, "PARALLEL_THRESHOLD", 2)
    workers = tmp_path / "workers.log"
    place = publish.pipeline.place.place

    def noting_place(placing):  # type: ignore[no-untyped-def]
        with open(workers, "a", encoding="utf-8") as noted:
            noted.write(f"{os.getpid()}\n")
        return place(placing)

    monkeypatch.setattr(publish.pipeline.place, "place", noting_place)
    root = _site(tmp_path / "site")
    for _ in range(2):  # with no code kept anywhere, then with the packaged code kept
        _build(root)
        assert set(workers.read_text().split()) - {str(os.getpid())}, "no worker was forked"
        compiled = compiles()
        assert {pid for pid, _ in compiled} <= {os.getpid()}, compiled


def test_kept_code_and_code_compiled_from_source_give_the_same_trees(
    tmp_path: Path, package_code: Path, compiles: Compiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page and email, in three languages, escaped and plain: byte for byte."""
    kept = _site(tmp_path / "kept")
    _build(kept)  # the packaged and the site's templates compiled and kept
    compiles()
    _build(kept)  # cold again: the packaged code read from the package
    assert _packaged(compiles()) == set()
    afresh = _site(tmp_path / "afresh")
    monkeypatch.setattr(templatecode, "PACKAGED_CODE", None)
    monkeypatch.setenv(NO_CACHE_ENV, "1")
    _build(afresh)  # every template compiled from its source, in memory
    assert len(compiles()) > len(list(package_code.glob("*.cache")))
    trees = [snapshot(root / "build" / "site") for root in (kept, afresh)]
    assert trees[0] == trees[1]
    emails = [snapshot(root / "build" / "email") for root in (kept, afresh)]
    assert emails[0] == emails[1]
    assert {"in-ja.html", "in-ja.txt", "in-en.html", "in-en.txt"} <= set(emails[0])


# --- The key ---------------------------------------------------------------------------


def _environment(**options: object) -> jinja2.Environment:
    """The build's environment (the packaged templates, English), with `options` changed."""
    environment = template_environment(Path("/nonexistent/templates"), auto_reload=False)
    for name, value in options.items():
        setattr(environment, name, value)
    return environment


# Environments' compile options, drawn at random (two of them are compared).
COMPILE_SETTINGS = st.fixed_dictionaries(
    {
        "trim_blocks": st.booleans(),
        "lstrip_blocks": st.booleans(),
        "keep_trailing_newline": st.booleans(),
        "autoescape": st.booleans(),
        "optimized": st.booleans(),
        "newline_sequence": st.sampled_from(["\n", "\r\n"]),
    }
)


def _key(environment: jinja2.Environment, name: str = "essay.html") -> str:
    return template_key(environment, name, str(PACKAGE_TEMPLATES / name))


@given(COMPILE_SETTINGS, COMPILE_SETTINGS)
def test_two_environments_share_a_key_exactly_when_their_compile_options_agree(
    first: dict[str, object], second: dict[str, object]
) -> None:
    same = _key(_environment(**first)) == _key(_environment(**second))
    assert same == (first == second)


def test_every_other_thing_the_code_depends_on_changes_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = _environment()
    key = _key(base)
    assert _key(_environment()) == key  # a new environment, as a new process makes
    from publish.i18n.templates import localized
    from publish.i18n.words import words_for

    assert _key(localized(base, words_for("de", None))) == key  # languages share the code
    assert _key(plain_templates(base)) != key
    assert _key(base, "archive.html") != key
    assert template_key(base, "essay.html", "/elsewhere/essay.html") != key  # moved package
    changed = [
        _environment(finalize=lambda value: value),
        _environment(undefined=jinja2.Undefined),
        _environment(block_start_string="<%"),
        _environment(line_statement_prefix="#"),
        _environment(newstyle_gettext=False),
    ]
    newer_code = type("NewerCode", (JoinedOutputCode,), {"code_version": 99})
    newer_code.__module__ = JoinedOutputCode.__module__  # the same class, a new version
    newer_code.__qualname__ = JoinedOutputCode.__qualname__
    changed.append(_environment(code_generator_class=newer_code))
    with_extension = _environment()
    with_extension.add_extension("jinja2.ext.loopcontrols")
    changed.append(with_extension)
    passing_context = _environment()
    passing_context.filters["iso"] = jinja2.pass_context(lambda context, value: value)
    changed.append(passing_context)
    another_test = _environment()
    another_test.tests["fresh"] = lambda value: True
    changed.append(another_test)
    keys = [_key(environment) for environment in changed]
    assert key not in keys and len(set(keys)) == len(keys)
    monkeypatch.setattr(jinja2, "__version__", "9.9.9")
    assert _key(base) != key
    monkeypatch.undo()
    monkeypatch.setattr(sys.implementation, "cache_tag", "cpython-399")
    assert _key(base) != key


# --- Stale and damaged kept files ------------------------------------------------------


def _kept_file(folder: Path, name: str) -> Path:
    return folder / f"__jinja2_{_key(_environment(), name)}.cache"


def _stale(data: bytes) -> bytes:
    """Kept from an earlier text of the template: its checksum and code another text's."""
    bucket = Bucket(_environment(), "", "the checksum of an earlier text")
    bucket.code = compile("raise SystemExit('the old code ran')", "old", "exec")
    return bucket.bytecode_to_string()


def _other_python(data: bytes) -> bytes:
    other = bc_magic[:-5] + pickle.dumps((3 << 24) | 99, 2)[-5:]
    assert other != bc_magic
    return other + data[len(bc_magic) :]


def _not_code(data: bytes) -> bytes:
    head = data[: len(bc_magic)]
    checksum = pickle.loads(data[len(bc_magic) :])  # the checksum comes first: still good
    return head + pickle.dumps(checksum, 2) + marshal.dumps(42)


FOOTER = {
    "site": {"url": "u", "author": "A", "profiles": [], "title": "T", "description": ""},
    "root": "/",
    "subscribe_box": True,
}
DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "source edited": _stale,
    "cut in the magic": lambda data: data[:5],
    "cut in the checksum": lambda data: data[: len(bc_magic) + 6],
    "cut in the code": lambda data: data[:-40],
    "empty": lambda data: b"",
    "other Python": _other_python,
    "not code": _not_code,
    "noise": lambda data: bytes(reversed(data)),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_stale_or_damaged_kept_file_is_compiled_again_and_rewritten(
    package_code: Path, compiles: Compiles, damage: str
) -> None:
    expected = _environment().get_template("footer.html").render(**FOOTER)
    compiles()
    kept = _kept_file(package_code, "footer.html")
    sound = kept.read_bytes()
    kept.write_bytes(DAMAGES[damage](sound))
    assert _environment().get_template("footer.html").render(**FOOTER) == expected
    assert [name for _, name in compiles()] == ["footer.html"]
    assert kept.read_bytes() == sound  # rewritten
    _environment().get_template("footer.html")
    assert compiles() == []


def test_code_kept_under_another_jinja_is_not_read(
    package_code: Path, compiles: Compiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as other:
        other.setattr(jinja2, "__version__", "2.11.3")
        _environment().get_template("footer.html")
    assert [name for _, name in compiles()] == ["footer.html"]
    _environment().get_template("footer.html")
    assert [name for _, name in compiles()] == ["footer.html"]
    assert len(list(package_code.glob("*.cache"))) == 2


def test_a_damaged_kept_file_of_the_sites_own_template_is_compiled_again(
    tmp_path: Path, package_code: Path
) -> None:
    root = _site(tmp_path / "site")
    _build(root)
    kept = _kept_in_site(root)
    sound = [path.read_bytes() for path in kept]
    for path in kept:
        path.write_bytes(path.read_bytes()[: len(bc_magic) + 6])  # cut in the checksum
    essay = root / "essays" / "01-essay.md"
    essay.write_text(essay.read_text() + "\nA line added since.\n", encoding="utf-8")
    build(root, BuildOptions(today=TODAY), cache=BuildCache.for_site(root))  # renders it
    assert "A line added since." in (root / "build/site/essay-1/index.html").read_text()
    assert [path.read_bytes() for path in kept] == sound  # rewritten


# --- Errors still name the template's file and line -------------------------------------


def _problem(render: Callable[[], str]) -> tuple[str, int, str]:
    with pytest.raises(PublishError) as raised:
        render()
    problem = raised.value.problems[0]
    return problem.path, problem.line, problem.message


def test_an_error_in_a_packaged_template_read_from_kept_code_names_its_file_and_line(
    package_code: Path, compiles: Compiles
) -> None:
    site = FOOTER["site"]  # `subscribe_box` left out: undefined on the footer's fourth line
    fresh = _problem(lambda: _environment().get_template("footer.html").render(site=site))
    assert [name for _, name in compiles()] == ["footer.html"]
    kept = _problem(lambda: _environment().get_template("footer.html").render(site=site))
    assert compiles() == []  # read from the kept code
    assert kept == fresh
    path, line, message = kept
    assert Path(path) == PACKAGE_TEMPLATES / "footer.html" and line == 4
    assert "'subscribe_box' is undefined" in message
    assert "subscribe_box" in Path(path).read_text(encoding="utf-8").splitlines()[line - 1]


def test_an_error_in_a_sites_own_template_read_from_kept_code_names_its_file_and_line(
    tmp_path: Path, package_code: Path, compiles: Compiles
) -> None:
    root = tmp_path / "site"
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "own.html").write_text(
        "<p>\n{% if true %}\n{{ missing.name }}\n{% endif %}\n"
    )
    folder = tmp_path / "kept"

    def render() -> str:
        templates = template_environment(root / "templates", folder, auto_reload=False)
        return templates.get_template("own.html").render()

    fresh = _problem(render)
    assert [name for _, name in compiles()] == ["own.html"]
    assert _problem(render) == fresh == ("templates/own.html", 3, fresh[2])
    assert compiles() == []
    assert "missing" in fresh[2]


def test_the_kept_code_class_keeps_a_packaged_template_beside_the_package_by_default() -> None:
    code = TemplateCode.for_site(None)
    assert code.packaged == templatecode.PACKAGED_CODE
    assert templatecode.PACKAGED_CODE.parent.name == "__pycache__"
    assert templatecode.PACKAGED_CODE.parent.parent == PACKAGE_TEMPLATES.parent
    assert "trim_blocks=True" in compile_options(_environment())


def test_an_environment_is_read_once_for_the_keys_of_its_templates() -> None:
    """Its settings, filters and tests are read when it keys its first template, not again
    for each (Jinja holds an environment unchanged once it has loaded one): a filter added
    later changes the key of a new environment only."""
    environment = _environment()
    key = _key(environment)
    late = jinja2.pass_context(lambda context, value: value)
    environment.filters["late"] = late
    assert _key(environment) == key
    another = _environment()
    another.filters["late"] = late
    assert _key(another) != key


def test_a_packaged_template_is_known_without_resolving_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the package loader finds a template, it is packaged: no link of its path is
    resolved (a dozen system calls a template, each time one is loaded); a site's own
    template is still resolved, and one linked into the packaged folder is packaged."""
    own = tmp_path / "templates" / "essay.html"
    own.parent.mkdir()
    own.write_text("x")
    linked = tmp_path / "templates" / "base.html"
    linked.symlink_to(PACKAGE_TEMPLATES / "base.html")
    resolved: list[Path] = []
    real_resolve = Path.resolve

    def noted(self: Path, strict: bool = False) -> Path:
        resolved.append(self)
        return real_resolve(self, strict)

    monkeypatch.setattr(Path, "resolve", noted)
    assert is_packaged(str(PACKAGE_TEMPLATES / "essay.html"))
    assert resolved == []
    assert not is_packaged(str(own))
    assert is_packaged(str(linked))
    assert resolved == [own, linked]

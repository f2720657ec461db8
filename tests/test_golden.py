"""Golden corpus: the example site and a generated 50-essay site build to exactly the bytes
committed under tests/golden/ (web site and email folders, file by file).

The expected trees were built before the package was restructured (issue 11), so a change
of shape that changes a byte of output fails here. To accept a deliberate change of output,
run `python -m tests.test_golden` and say why in the commit message.

On TODAY every essay of both corpora is a back issue (no state database, no first run: the
horizon is the start of that day), so a plain build writes no email at all (issue 20: an
email only where a send needs it). The golden email files stay as the reference for the
emails a build makes when asked to (`BuildOptions.emails`, as `publish run` asks) and for
those made on demand (`publish send SLUG`): both must be these bytes.
"""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path

import msgspec
import pytest

from bench.generate import generate
from publish.mail.built import EMAIL_DIR
from publish.mail.ondemand import make_email
from publish.pipeline.build import BuildOptions, build
from publish.pipeline.load import load

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
TODAY = "2026-12-01"
EXAMPLE_PARTS = ("publish.toml", "essays", "footnotes", "templates")
GENERATED_ESSAYS = 50


def example_site(target: Path) -> Path:
    """A copy of the repository's example site (its sources only) at `target`."""
    target.mkdir(parents=True)
    for part in EXAMPLE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        elif source.is_file():
            shutil.copy2(source, target / part)
    return target


def generated_site(target: Path) -> Path:
    """The benchmark's seeded corpus of 50 essays at `target`."""
    return generate(GENERATED_ESSAYS, target)


CORPORA = {"example": example_site, "generated-50": generated_site}


def built_files(root: Path, every_email: bool = False) -> dict[str, bytes]:
    """Every file of build/site and build/email, by path relative to build/; with
    `every_email`, of a build asked for every essay's email (as `publish run` asks for
    the emails it is about to send)."""
    options = BuildOptions(today=date.fromisoformat(TODAY))
    if every_email:
        site = load(root).site
        options = msgspec.structs.replace(options, emails=frozenset(e.slug for e in site.essays))
    build(root, options)
    out = root / "build"
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for folder in ("site", "email")
        for p in sorted((out / folder).rglob("*"))
        if p.is_file()
    }


def expected_files(name: str) -> dict[str, bytes]:
    """The committed golden tree of one corpus."""
    folder = GOLDEN / name
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def differences(found: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    """The paths whose bytes differ (both trees must hold the same paths)."""
    assert sorted(found) == sorted(expected), "the build writes other files than the golden tree"
    return [path for path in expected if found[path] != expected[path]]


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_the_build_gives_the_golden_bytes(name: str, tmp_path: Path) -> None:
    expected = expected_files(name)
    assert expected, f"tests/golden/{name} is empty: run python -m tests.test_golden"
    found = built_files(CORPORA[name](tmp_path / name))
    web = {path: data for path, data in expected.items() if not path.startswith("email/")}
    assert len(web) < len(expected), "the golden tree keeps the emails as a reference"
    changed = differences(found, web)  # every essay is a back issue: no email is built
    assert not changed, f"{len(changed)} file(s) differ from the golden tree, e.g. {changed[:5]}"


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_a_build_asked_for_every_email_gives_the_golden_emails(name: str, tmp_path: Path) -> None:
    changed = differences(built_files(CORPORA[name](tmp_path / name), True), expected_files(name))
    assert not changed, f"{len(changed)} file(s) differ from the golden tree, e.g. {changed[:5]}"


def test_an_email_made_on_demand_is_the_golden_bytes(tmp_path: Path) -> None:
    root = example_site(tmp_path / "example")
    built_files(root)
    assert not list((root / "build" / "email").iterdir())
    options = BuildOptions(today=date.fromisoformat(TODAY))
    golden = GOLDEN / "example" / "email"
    slugs = sorted({p.stem for p in golden.iterdir()})
    for slug in slugs:
        assert make_email(root, slug, EMAIL_DIR, options)
    made = sorted(p.name for p in (root / "build" / "email").iterdir())
    assert made == sorted(p.name for p in golden.iterdir())
    for name in made:
        assert (root / "build" / "email" / name).read_bytes() == (golden / name).read_bytes()


def regenerate() -> None:
    """Write the golden trees anew from the current code (say why in the commit)."""
    import tempfile

    for name, make in CORPORA.items():
        with tempfile.TemporaryDirectory() as scratch:
            files = built_files(make(Path(scratch) / name), every_email=True)
        target = GOLDEN / name
        shutil.rmtree(target, ignore_errors=True)
        for path, data in files.items():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_bytes(data)
        print(f"{name}: {len(files)} files", file=sys.stderr)


if __name__ == "__main__":
    regenerate()

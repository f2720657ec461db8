"""Golden corpus: the example site and a generated 50-essay site build to exactly the bytes
committed under tests/golden/ (web site and email folders, file by file).

The expected trees were built before the package was restructured (issue 11), so a change
of shape that changes a byte of output fails here. To accept a deliberate change of output,
run `python -m tests.test_golden` and say why in the commit message.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from bench.generate import generate
from publish.build import BuildOptions, build

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


def built_files(root: Path) -> dict[str, bytes]:
    """Every file of build/site and build/email, by path relative to build/."""
    from datetime import date

    build(root, BuildOptions(today=date.fromisoformat(TODAY)))
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


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_the_build_gives_the_golden_bytes(name: str, tmp_path: Path) -> None:
    expected = expected_files(name)
    assert expected, f"tests/golden/{name} is empty: run python -m tests.test_golden"
    found = built_files(CORPORA[name](tmp_path / name))
    assert sorted(found) == sorted(expected), "the build writes other files than the golden tree"
    changed = [path for path in expected if found[path] != expected[path]]
    assert not changed, f"{len(changed)} file(s) differ from the golden tree, e.g. {changed[:5]}"


def regenerate() -> None:
    """Write the golden trees anew from the current code (say why in the commit)."""
    import tempfile

    for name, make in CORPORA.items():
        with tempfile.TemporaryDirectory() as scratch:
            files = built_files(make(Path(scratch) / name))
        target = GOLDEN / name
        shutil.rmtree(target, ignore_errors=True)
        for path, data in files.items():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_bytes(data)
        print(f"{name}: {len(files)} files", file=sys.stderr)


if __name__ == "__main__":
    regenerate()

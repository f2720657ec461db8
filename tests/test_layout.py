"""The package's rooms: every import of publish's own modules runs down (or sideways inside
a room that allows it), never up; the outputs never import the cache or another format."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "publish"
# Bottom to top. A module may import any module of a lower rank.
RANKS = {
    "errors": 0,
    "model": 0,
    "safetext": 0,
    "parallel": 0,
    "addresses": 0,
    "locks": 0,
    "atomic": 0,
    "cadence": 0,
    "rules": 0,
    "dnsrecords": 0,
    "loginurl": 0,
    "cache": 1,
    "content": 2,
    "schedule": 3,
    "releases": 4,
    "state": 4,
    "outputs": 5,
    "journal": 6,
    "writer": 6,
    "checker": 6,
    "previewing": 6,
    "build": 7,
}
FORMATS = {"publish.outputs.web", "publish.outputs.feeds", "publish.outputs.mail"}


def module_name(path: Path) -> str:
    """The dotted name of a module file of the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(name: str) -> str:
    """The room of a dotted module name: its subpackage, or the module itself."""
    return name.split(".")[1] if name.count(".") else ""


def own_imports(path: Path) -> set[str]:
    """Every publish module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("publish"):
            found.add(node.module)
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/"))
                .with_suffix(".py")
                .exists()
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("publish."))
    return {name for name in found if name != "publish"}


def ranked_modules() -> dict[str, set[str]]:
    """The ranked modules of the package and what each imports."""
    return {
        module_name(path): own_imports(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if room(module_name(path)) in RANKS
    }


def test_no_import_runs_up_the_rooms() -> None:
    upward = []
    for name, imports in ranked_modules().items():
        for target in imports:
            if room(target) in RANKS and RANKS[room(target)] > RANKS[room(name)]:
                upward.append(f"{name} -> {target}")
            elif room(target) not in RANKS and room(target):
                upward.append(f"{name} -> {target} (a room above the build)")
    assert upward == []


def test_outputs_import_neither_the_cache_nor_another_format() -> None:
    wrong = [
        f"{name} -> {target}"
        for name, imports in ranked_modules().items()
        if room(name) == "outputs"
        for target in imports
        if room(target) == "cache" or (target in FORMATS and name != target)
    ]
    assert wrong == []


def test_the_cache_imports_neither_content_nor_outputs() -> None:
    wrong = [
        f"{name} -> {target}"
        for name, imports in ranked_modules().items()
        if room(name) == "cache"
        for target in imports
        if room(target) in ("content", "outputs")
    ]
    assert wrong == []

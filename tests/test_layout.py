"""The package's rooms: every import of publish's own modules runs down (or sideways inside
a room that allows it), never up; the outputs never import the cache or another format."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "publish"
TEMPLATES = PACKAGE / "templates"
# Bottom to top. A module may import any module of a lower rank.
RANKS = {
    "errors": 0,
    "model": 0,
    "layout": 0,
    "support": 0,
    "cache": 1,
    "schedule": 2,
    "content": 3,
    "i18n": 4,
    "state": 4,
    "outputs": 5,
    "pipeline": 6,
    "fediverse": 6,
    "mail": 6,
    "deploy": 6,
    "bounces": 6,
    "importers": 6,
    "service": 7,
    "ops": 8,
    "preview": 8,
    "cli": 9,
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


def test_every_output_row_names_a_function_of_a_room_below_its_own() -> None:
    """The output table names its makers as `module:function` (imported while the workers
    parse): each names a function, in a module the pipeline may import."""
    from publish.pipeline.formats import FORMATS as ROWS
    from publish.pipeline.formats import named_function

    named = [ref for row in ROWS for ref in (row.maker, row.loads) if ref is not None]
    wrong = [
        ref
        for ref in named
        if RANKS[room(ref.partition(":")[0])] > RANKS["pipeline"]
        or not callable(named_function(ref))
    ]
    assert len(named) == len(ROWS) + 1  # every row's maker, and the feeds' libraries
    assert wrong == []


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


# Constants another branch still defines a second time (publish/pipeline/build.py is being rewritten
# there); each pair names the module that should import it from publish.layout instead.
DEFINED_TWICE_ELSEWHERE: set[tuple[str, str]] = set()


def module_constants(path: Path) -> dict[str, str]:
    """The UPPER_CASE names a module sets at its top to a literal, with the literal."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            pairs = (
                zip(target.elts, value.elts, strict=False)
                if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                else [(target, value)]
            )
            for name, literal in pairs:
                if isinstance(name, ast.Name) and name.id.isupper():
                    try:
                        found[name.id] = repr(ast.literal_eval(literal))
                    except ValueError:
                        continue
    return found


def test_no_constant_is_defined_twice() -> None:
    where: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, value in module_constants(path).items():
            if (name, module_name(path)) not in DEFINED_TWICE_ELSEWHERE:
                where.setdefault((name, value), []).append(module_name(path))
    assert {key: names for key, names in where.items() if len(names) > 1} == {}


def used_names(path: Path) -> set[str]:
    """Every name a file uses: names, attributes, imports, and words of its strings (Click
    names some commands' functions in strings)."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.alias):
            used.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            used.update(node.value.replace(".", " ").replace(":", " ").split())
    return used


def test_every_function_class_and_constant_of_the_package_is_used() -> None:
    files = [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "tests").rglob("*.py")]
    used = set().union(*(used_names(path) for path in files))
    unused = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.decorator_list:
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in ast.walk(node.targets[0]) if isinstance(t, ast.Name)]
            else:
                continue
            unused += [
                f"{module_name(path)}.{name}"
                for name in names
                if (name.isupper() or isinstance(node, ast.FunctionDef | ast.ClassDef))
                and name not in used
            ]
    assert unused == []


# Modules other branches are rewriting, that still name a build folder themselves.
FOLDERS_NAMED_ELSEWHERE: set[str] = set()
FOLDER_NAMES = {"build", "site", "email", "preview", ".cache"}  # the build's folders


def folder_literals(path: Path) -> list[int]:
    """The lines where a module joins the name of a build folder as a literal to a path
    (`root / "build"`, `Path("build")`)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts = [node.left, node.right]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Path":
            parts = node.args
        else:
            continue
        if any(isinstance(p, ast.Constant) and p.value in FOLDER_NAMES for p in parts):
            lines.append(node.lineno)
    return lines


def test_the_build_folders_are_named_only_in_the_layout() -> None:
    found = {
        module_name(path): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if module_name(path) not in FOLDERS_NAMED_ELSEWHERE
        and path.name != "layout.py"
        and (lines := folder_literals(path))
    }
    assert found == {}


def attribute_reads(tree: ast.AST) -> tuple[set[str], dict[str, set[str]]]:
    """The attributes a file reads: on anything but `self` (with the words of its strings
    other than docstrings: templates and Click name some), and through `self` by class."""
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    elsewhere: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            if getattr(node.value, "id", "") != "self":
                elsewhere.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            elsewhere.update(re.findall(r"\w+", node.value) if id(node) not in docstrings else ())
    through_self: dict[str, set[str]] = {}
    for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
        through_self.setdefault(cls.name, set()).update(
            node.attr
            for node in ast.walk(cls)
            if isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Load)
            and getattr(node.value, "id", "") == "self"
        )
    return elsewhere, through_self


def test_every_attribute_an_object_sets_on_itself_is_read() -> None:
    files = [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "tests").rglob("*.py")]
    elsewhere = set().union(*(re.findall(r"\w+", p.read_text()) for p in TEMPLATES.rglob("*")))
    through_self: dict[str, set[str]] = {}
    bases: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found, by_class = attribute_reads(tree)
        elsewhere |= found
        for name, attrs in by_class.items():
            through_self.setdefault(name, set()).update(attrs)
        for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
            bases[cls.name] = {getattr(b, "id", getattr(b, "attr", "")) for b in cls.bases}
    unread = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for cls in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(cls, ast.ClassDef):
                continue
            family = {cls.name} | {name for name, of in bases.items() if cls.name in of}
            read = elsewhere.union(*(through_self.get(name, set()) for name in family))
            unread += [
                f"{module_name(path)}.{cls.name}.{node.attr}"
                for node in ast.walk(cls)
                if isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and getattr(node.value, "id", "") == "self"
                and node.attr not in read
            ]
    assert unread == []


def test_every_module_of_the_package_imports() -> None:
    """A move that left a name behind (imported from a module that no longer has it) fails
    here, not in whichever test happens to reach that module."""
    names = [module_name(path) for path in sorted(PACKAGE.rglob("*.py")) if path.stem != "__main__"]
    for name in names:
        importlib.import_module(name)

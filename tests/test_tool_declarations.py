"""Every outside program a test runs is declared one way, with `requires` from tests/tools.py,
and .ci/run installs each without Debian's recommended packages.

The check reads the tests' source (ast): a program named first in a command list, at the
start of a command string, after `command:` in a deploy target, or implied by an `rsync:` or
`git:` target must be declared by a `requires(...)` in the same function, in a helper it
calls or in a fixture it takes. Programs are looked for nowhere else (no `shutil.which`, no
`/usr/sbin/...` path outside tests/tools.py), so a machine without one is honoured everywhere.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from tests.tools import REPO_ROOT, TOOLS

TESTS = Path(__file__).resolve().parent
CI_SCRIPT = REPO_ROOT / ".ci" / "run"
PROGRAMS = {Path(tool.program).name: name for name, tool in TOOLS.items() if not tool.is_file}
IMPLIED = {"rsync": ("rsync", "ssh"), "git": ("git",)}  # what a deploy target's kind runs
TARGET = re.compile(r'(?:^|")(rsync|git):')
COMMAND = re.compile(r"command:([^\s\"'{}]+)")
SYSTEM_PATH = re.compile(r"^/(?:usr/)?s?bin/[\w.+-]+$")
HOMES = {"tools.py", "test_tool_declarations.py"}  # where tools may be named as such
ALWAYS_THERE = {"dash", "coreutils", "util-linux"}  # Debian's essential packages


def texts(node: ast.AST) -> Iterator[str]:
    """Every string in a piece of code; an f-string's literal parts one by one."""
    for found in ast.walk(node):
        if isinstance(found, ast.Constant) and isinstance(found.value, str):
            yield found.value


def first_word(text: str) -> str:
    """The program a command string starts with (`rsync -a …`: a name, then an option), or ''."""
    words = text.split(maxsplit=2)
    return Path(words[0]).name if len(words) >= 2 and words[1].startswith("-") else ""


def programs_used(function: ast.AST) -> set[str]:
    """The declared names of the tools a function runs, directly or through a deploy target."""
    used = set()
    for found in ast.walk(function):
        if isinstance(found, ast.List) and found.elts:
            head = found.elts[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                used.add(PROGRAMS.get(Path(head.value).name, ""))
    for text in texts(function):
        used.add(PROGRAMS.get(first_word(text), ""))
        used.update(PROGRAMS.get(Path(name).name, "") for name in COMMAND.findall(text))
        for kind in TARGET.findall(text):
            used.update(IMPLIED[kind])
    return used - {""}


def declared_here(function: ast.AST) -> set[str]:
    """The tool names a function's own `requires(...)` calls name."""
    return {
        argument.value
        for call in ast.walk(function)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "requires"
        for argument in call.args
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    }


def reaches(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The functions it calls by name and the fixtures it takes."""
    called = {
        call.func.id
        for call in ast.walk(function)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
    }
    return called | {argument.arg for argument in function.args.args}


Function = ast.FunctionDef | ast.AsyncFunctionDef


def functions(sources: dict[str, str]) -> list[tuple[str, Function]]:
    """Every function (at any depth) of the given modules, with its module's name."""
    return [
        (name, node)
        for name, source in sources.items()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def undeclared(sources: dict[str, str], homes: dict[str, str] | None = None) -> list[str]:
    """`module:line: function runs X` for each tool a function of `sources` runs without
    declaring it (helpers in `homes` may declare tools for it, and are not checked)."""
    found = functions(sources)
    declared: dict[str, set[str]] = {}
    for _, function in found + functions(homes or {}):
        declared.setdefault(function.name, set()).update(declared_here(function))
    changed = True
    while changed:  # what a helper or fixture declares, it declares for its callers
        changed = False
        for _, function in found + functions(homes or {}):
            before = len(declared[function.name])
            for name in reaches(function):
                declared[function.name] |= declared.get(name, set())
            changed |= len(declared[function.name]) != before
    return [
        f"{module}:{function.lineno}: {function.name} runs {tool} without requires({tool!r})"
        for module, function in found
        for tool in sorted(programs_used(function) - declared[function.name])
    ]


def looked_up_elsewhere(name: str, source: str) -> list[str]:
    """Each place a module looks for a program itself instead of through tests/tools.py."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "which":
            problems.append(f"{name}:{node.lineno}: shutil.which (use requires)")
        if isinstance(node, ast.Name) and node.id == "need_tool":
            problems.append(f"{name}:{node.lineno}: need_tool (use requires)")
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and SYSTEM_PATH.match(text):
            problems.append(f"{name}:{node.lineno}: {node.value} (use requires)")
    return problems


def source_texts(homes: bool = False) -> dict[str, str]:
    """The text of every module under tests/ but the tools' own homes (or only those)."""
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(TESTS.glob("*.py"))
        if (path.name in HOMES) == homes
    }


def test_every_test_declares_the_programs_it_runs() -> None:
    assert undeclared(source_texts(), source_texts(homes=True)) == []


def test_no_test_looks_for_a_program_but_through_tests_tools() -> None:
    found = [p for name, text in source_texts().items() for p in looked_up_elsewhere(name, text)]
    assert found == []


def test_the_check_sees_each_way_a_program_is_run() -> None:
    cases = {
        "argv": 'def test_a():\n    subprocess.run(["rsync", "-a", src, dest])\n',
        "command": "def test_b():\n    deploy(f'target = \"command:sleep {n}\"')\n",
        "target": "def test_c():\n    make(f'target = \"rsync:{user}@host:/srv\"')\n",
        "string": 'def test_d():\n    shell = "tmux -L x new-session"\n    "tmux died"\n',
        "helper": "def start():\n    return 1\n\ndef test_e():\n    start(['dovecot', '-F'])\n",
    }
    found = [line for source in cases.values() for line in undeclared({"m.py": source})]
    assert [line.split(" runs ")[1].split()[0] for line in found] == [
        "rsync",
        "sleep",
        "rsync",
        "ssh",
        "tmux",
        "dovecot",
    ]
    declared = {
        "m.py": "def server():\n    requires('dovecot')\n\n"
        "def test_f(server):\n    run(['dovecot', '-F'])\n\n"
        "def helper():\n    return requires('git')\n\n"
        "def test_g():\n    helper()\n    make('target = \"git:/x#b\"')\n"
    }
    assert undeclared(declared) == []
    assert looked_up_elsewhere("m.py", 'X = "/usr/sbin/sshd"\nshutil.which("git")\n') == [
        "m.py:1: /usr/sbin/sshd (use requires)",
        "m.py:2: shutil.which (use requires)",
    ]


def ci_install_lines() -> list[list[str]]:
    """The words of each `apt-get install` command in .ci/run (continued lines joined)."""
    text = CI_SCRIPT.read_text(encoding="utf-8").replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if "apt-get install" in line]


def test_ci_installs_every_tool_without_recommended_packages() -> None:
    lines = ci_install_lines()
    assert lines and all("--no-install-recommends" in words for words in lines)
    script = CI_SCRIPT.read_text(encoding="utf-8")
    needed = re.findall(r"\bneed ([\w. -]+)", script)
    named = {package for line in needed for package in line.split()}
    for name, tool in TOOLS.items():
        kind, _, package = tool.install.rpartition(" ")
        if kind == "apt-get install":
            assert package in named | ALWAYS_THERE, f"{name}: .ci/run does not install {package}"
        else:
            npm = tool.install.split()[:2] in (["npm", "install"], ["npm", "ci"])
            assert npm and package in script, name

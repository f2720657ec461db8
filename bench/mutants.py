"""The mutants of one Python module, for `make mutation` (bench/mutation.py runs them).

Each mutant replaces one span of the source text with another and still compiles. Python
code gets the usual operators: a comparison swapped (`<` to `<=`, `==` to `!=`, `in` to
`not in`, ...), `and` to `or`, a `not` dropped, an integer one more or one less, `True` to
`False`, a value returned as None, a call made as a statement removed, and a short name-like
string (a status, a kind) changed. SQL in string literals gets its own: a comparison swapped,
`AND` to `OR`, one condition of a `WHERE` or `ON` made always true, `ASC` to `DESC` (or a
`DESC` added to an `ORDER BY` that has none), `IS NULL` to `IS NOT NULL`, `IN` to `NOT IN`,
`MAX` to `MIN`, and a quoted status changed. Docstrings, f-strings, annotations and
dictionary keys are left alone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|CREATE|VALUES|ORDER BY|JOIN)\b")
NAME_LIKE = re.compile(r"[a-z][a-z_]{1,30}")
COMPARE_SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
SQL_OPERATORS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "=": "!=", "!=": "=", "<>": "="}
SQL_SWAPS = [
    (re.compile(r"(?<![<>!=])(<=|>=|!=|<>|=|<|>)(?![<>=])"), lambda m: SQL_OPERATORS[m[1]]),
    (re.compile(r"\bAND\b"), lambda m: "OR"),
    (re.compile(r"\bOR\b"), lambda m: "AND"),
    (re.compile(r"\bASC\b"), lambda m: "DESC"),
    (re.compile(r"\bDESC\b"), lambda m: "ASC"),
    (re.compile(r"\bIS NULL\b"), lambda m: "IS NOT NULL"),
    (re.compile(r"\bIS NOT NULL\b"), lambda m: "IS NULL"),
    (re.compile(r"(?<!NOT )\bIN \("), lambda m: "NOT IN ("),
    (re.compile(r"\bNOT IN \("), lambda m: "IN ("),
    (re.compile(r"\bMAX\("), lambda m: "MIN("),
    (re.compile(r"\bMIN\("), lambda m: "MAX("),
    (re.compile(r"'([a-z_]{2,30})'"), lambda m: f"'{m[1]}_mutant'"),
]
# One condition after WHERE, ON or AND: anything up to the next keyword, with at most one
# level of parentheses inside it.
SQL_CONDITION = re.compile(
    r"\b(?:WHERE|AND|ON)\s+((?:[^()']|'[^']*'|\((?:[^()]|\([^()]*\))*\))+?)"
    r"(?=\s+(?:AND|OR|WHERE|ORDER|GROUP|LIMIT|RETURNING|JOIN|LEFT|UNION)\b|\s*\)|\s*;|\s*$)"
)
ORDER_BY_TERM = re.compile(r"\bORDER BY ([\w.]+)(?!\s+(?:ASC|DESC)\b)")


@dataclass(frozen=True)
class Mutant:
    """One changed version of a module: where, what it was, what it became, the new text."""

    line: int
    original: str
    mutated: str
    source: str

    def describe(self, path: str) -> str:
        """`path:line: original → mutant`, one line."""
        return f"{path}:{self.line}: {self.original} → {self.mutated}"


def mutants(source: str) -> list[Mutant]:
    """Every mutant of `source` that compiles, in source order, without repeats."""
    tree = ast.parse(source)
    skipped = _docstrings_and_fstring_parts(tree)
    lines = source.splitlines(keepends=True)
    found: dict[str, Mutant] = {}
    for node in ast.walk(tree):
        if id(node) in skipped or not hasattr(node, "end_lineno"):
            continue
        for replacement, original, mutated in _node_mutations(node):
            text = _replace(lines, node, replacement)
            if text == source or text in found:
                continue
            try:
                compile(text, "<mutant>", "exec")
            except SyntaxError:
                continue
            found[text] = Mutant(node.lineno, _short(original), _short(mutated), text)
    return sorted(found.values(), key=lambda m: (m.line, m.original, m.mutated))


def _node_mutations(node: ast.AST) -> Iterator[tuple[str, str, str]]:
    """(replacement source, shown original, shown mutant) for each mutation of one node."""
    original = ast.unparse(node)
    if isinstance(node, ast.Compare):
        for index, operator in enumerate(node.ops):
            swap = COMPARE_SWAPS.get(type(operator))
            if swap is not None:
                changed = _copy(node)
                changed.ops[index] = swap()
                yield _expression(changed), original, ast.unparse(changed)
    elif isinstance(node, ast.BoolOp):
        changed = _copy(node)
        changed.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield _expression(changed), original, ast.unparse(changed)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield _expression(node.operand), original, ast.unparse(node.operand)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        changed = _copy(node)
        changed.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        yield _expression(changed), original, ast.unparse(changed)
    elif isinstance(node, ast.Constant):
        yield from _constant_mutations(node)
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return None", original, "return None"
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "pass", original, "pass"


def _constant_mutations(node: ast.Constant) -> Iterator[tuple[str, str, str]]:
    """Mutations of a literal: booleans flipped, integers moved by one, names and SQL changed."""
    value = node.value
    if isinstance(value, bool):
        yield repr(not value), repr(value), repr(not value)
    elif isinstance(value, int):
        for other in (value + 1, value - 1):
            yield f"({other!r})", repr(value), repr(other)
    elif isinstance(value, str) and SQL_WORDS.search(value):
        for mutated in _sql_mutations(value):
            before, after = _difference(value, mutated)
            yield f"({mutated!r})", before, after
    elif isinstance(value, str) and NAME_LIKE.fullmatch(value):
        yield repr(value + "_mutant"), repr(value), repr(value + "_mutant")


def _sql_mutations(sql: str) -> Iterator[str]:
    """Each one-place change of an SQL text."""
    for pattern, swap in SQL_SWAPS:
        for match in pattern.finditer(sql):
            yield sql[: match.start()] + swap(match) + sql[match.end() :]
    for match in SQL_CONDITION.finditer(sql):
        if match[1].strip() not in ("1", ""):
            yield sql[: match.start(1)] + "1" + sql[match.end(1) :]
    for match in ORDER_BY_TERM.finditer(sql):
        yield sql[: match.end(1)] + " DESC" + sql[match.end(1) :]


def _difference(before: str, after: str, context: int = 18) -> tuple[str, str]:
    """The part of two texts that differs, with a little context either side."""
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while end < min(len(before), len(after)) - start and before[-1 - end] == after[-1 - end]:
        end += 1
    first = max(0, start - context)

    def cut(text: str) -> str:
        stop = len(text) - max(0, end - context)
        return ("…" if first else "") + text[first:stop] + ("…" if stop < len(text) else "")

    return f'"{cut(before)}"', f'"{cut(after)}"'


def _docstrings_and_fstring_parts(tree: ast.AST) -> set[int]:
    """The ids of nodes never mutated: docstrings, and the pieces of f-strings."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            skipped.update(id(key) for key in node.keys if key is not None)
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                skipped.update({id(body[0]), id(value)})
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(part) for part in ast.walk(node))
        if isinstance(node, ast.AnnAssign | ast.arg | ast.FunctionDef):
            for annotation in (getattr(node, "annotation", None), getattr(node, "returns", None)):
                if annotation is not None:
                    skipped.update(id(part) for part in ast.walk(annotation))
    return skipped


def _copy(node: ast.AST) -> ast.AST:
    """A copy of a node whose lists can be changed without touching the original."""
    fields = {}
    for name, value in ast.iter_fields(node):
        fields[name] = list(value) if isinstance(value, list) else value
    clone = type(node)(**fields)
    return ast.copy_location(clone, node)


def _expression(node: ast.AST) -> str:
    """Source for an expression, in parentheses so that it fits wherever it stood."""
    return f"({ast.unparse(node)})"


def _replace(lines: list[str], node: ast.AST, replacement: str) -> str:
    """The source with a node's span (UTF-8 columns, as ast counts them) replaced."""
    start_line, end_line = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
    head = lines[start_line].encode("utf-8")[: node.col_offset].decode("utf-8")
    tail = lines[end_line].encode("utf-8")[node.end_col_offset :].decode("utf-8")  # type: ignore[attr-defined]
    return "".join(lines[:start_line]) + head + replacement + tail + "".join(lines[end_line + 1 :])


def _short(text: str, width: int = 90) -> str:
    """One line of at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"

"""The names a cell's code binds in the user's namespace, read from its source: what to rerun to
rebuild a name once a restart or death took it.

Only the module level counts: assignments (plain, augmented, annotated, walrus), `for` and
`with ... as` targets, imports, `def` and `class`; `del` unbinds. Bodies of functions, classes,
lambdas and comprehensions bind their own names (a function's `global` binds only when it is
called, by the cell that calls it: not known here), and `except ... as e` unbinds `e` at its end.
Code is read as Python first; where IPython's own syntax makes it fail (`%magic`, `!shell`,
`x = !ls`, `obj?`), those lines are read as harmless Python: `%time x = f()` and `%%time`,
`%%prun` and `%%capture` cells run their statements in the namespace, other magics bind nothing
(`%timeit` runs its statement in a function, `%%writefile` writes a file). Code that still is
not Python binds nothing known.
"""

from __future__ import annotations

import ast
import re
from typing import Literal

Kind = Literal["value", "import", "function", "class", "deleted"]

MAX_CODE = 100_000
"""Characters of a cell read at most: a longer cell binds nothing known (parsing it would cost
more than it tells)."""
MAX_NAMES = 200
"""Names one cell is read for at most."""

_MAGIC_LINE = re.compile(r"^(\s*)(?:%|!|\?)")
_MAGIC_VALUE = re.compile(r"^(\s*[\w.,\s\[\]()*]+?=\s*)[%!].*$")
_HELP = re.compile(r"^(\s*)[\w.]+\?\??\s*$")
_TIMED = re.compile(r"^(\s*)%(?:time|prun)\s+(?:-\w+\s+)*(.*)$")
_CELL_MAGIC = re.compile(r"^\s*%%(\w+)(.*)$")
_IN_NAMESPACE = {"time", "prun", "capture"}
"""Cell magics that run their body in the user's namespace."""


def bound_names(code: str) -> dict[str, tuple[Kind, str]]:
    """Names the code binds at module level, in order: name -> (kind, detail); the detail of an
    import is the module it names (`numpy`), else ""."""
    if len(code) > MAX_CODE:
        return {}
    found: dict[str, tuple[Kind, str]] = {}
    magic = _CELL_MAGIC.match(code.split("\n", 1)[0])
    if magic is not None:
        if magic.group(1) not in _IN_NAMESPACE:
            return {}
        if magic.group(1) == "capture" and (output := magic.group(2).split()) and output[-1].isidentifier():
            _add(found, output[-1], "value")  # `%%capture out` binds out
        code = "\n" + code.split("\n", 1)[1] if "\n" in code else ""
    tree = _parsed(code)
    if tree is None:
        tree = _parsed(_as_python(code))
    if tree is None:
        return found
    _statements(tree.body, found)
    return found


def _parsed(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _as_python(code: str) -> str:
    """IPython's syntax made harmless Python, line by line (line numbers kept)."""
    if "%" not in code and "!" not in code and "?" not in code:
        return code
    lines = code.splitlines()
    out = []
    for line in lines:
        if (timed := _TIMED.match(line)) is not None and _parses(timed.group(2)):
            line = f"{timed.group(1)}{timed.group(2)}"  # `%time x = f()` runs its statement
        elif _MAGIC_LINE.match(line) or _HELP.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}pass"
        elif (value := _MAGIC_VALUE.match(line)) is not None:
            line = f"{value.group(1)}None"
        out.append(line)
    return "\n".join(out)


def _parses(statement: str) -> bool:
    try:
        ast.parse(statement)
    except (SyntaxError, ValueError):
        return False
    return True


def _add(found: dict[str, tuple[Kind, str]], name: str, kind: Kind, detail: str = "") -> None:
    if len(found) < MAX_NAMES or name in found:
        found.pop(name, None)  # the latest binding comes last
        found[name] = (kind, detail)


def _statements(body: list[ast.stmt], found: dict[str, tuple[Kind, str]]) -> None:
    for node in body:
        _statement(node, found)


def _statement(node: ast.stmt, found: dict[str, tuple[Kind, str]]) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        _add(found, node.name, "function")
        return
    if isinstance(node, ast.ClassDef):
        _add(found, node.name, "class")
        return
    if isinstance(node, ast.Delete):
        for target in node.targets:
            _targets(target, found, "deleted")  # `del df["x"]` changes df, and deletes no name
        return
    if isinstance(node, ast.Import):
        for alias in node.names:
            _add(found, alias.asname or alias.name.split(".")[0], "import", alias.name)
        return
    if isinstance(node, ast.ImportFrom):
        for alias in node.names:
            if alias.name != "*":
                _add(found, alias.asname or alias.name, "import", f"{node.module or '.'}.{alias.name}")
        return
    if isinstance(node, ast.Assign):
        _walrus(node.value, found)
        for target in node.targets:
            _targets(target, found)
        return
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        if node.value is not None:
            _walrus(node.value, found)
        if not isinstance(node, ast.AnnAssign) or node.value is not None:
            _targets(node.target, found)
        return
    if isinstance(node, (ast.For, ast.AsyncFor)):
        _walrus(node.iter, found)
        _targets(node.target, found)
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        for item in node.items:
            _walrus(item.context_expr, found)
            if item.optional_vars is not None:
                _targets(item.optional_vars, found)
    elif isinstance(node, (ast.Try, ast.TryStar)):
        for handler in node.handlers:
            _statements(handler.body, found)
            if handler.name:
                _add(found, handler.name, "deleted")  # unbound as the handler ends
    elif isinstance(node, ast.Match):
        _walrus(node.subject, found)
        for case in node.cases:
            for child in ast.walk(case.pattern):
                name = getattr(child, "name", None) or getattr(child, "rest", None)
                if isinstance(name, str):
                    _add(found, name, "value")
            _statements(case.body, found)
        return
    elif isinstance(node, (ast.Expr, ast.If, ast.While, ast.Assert)):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                _walrus(child, found)
    # Nested blocks of compound statements run at module level too.
    for field in ("body", "orelse", "finalbody"):
        block = getattr(node, field, None)
        if isinstance(block, list):
            _statements(block, found)


def _targets(target: ast.expr, found: dict[str, tuple[Kind, str]], kind: Kind = "value") -> None:
    if isinstance(target, ast.Name):
        _add(found, target.id, kind)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            _targets(element, found, kind)
    elif isinstance(target, ast.Starred):
        _targets(target.value, found, kind)
    # `df["x"] = ...` and `obj.attr = ...` change a name's value without binding it.


def _walrus(expression: ast.expr, found: dict[str, tuple[Kind, str]]) -> None:
    """`(y := ...)` in a module-level expression binds y there, also inside a comprehension;
    not inside a lambda."""
    stack = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            _add(found, node.target.id, "value")
        stack.extend(ast.iter_child_nodes(node))

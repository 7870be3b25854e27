"""Code that plainly ends the kernel's process, found before it is sent.

In IPython `exit()` and `quit()` (bare or called) shut the kernel down after the cell, and so do
`get_ipython().ask_exit()` and `os._exit(...)`: in the user's kernel that loses their work. Such
a statement of the cell itself is refused; inside a function, a class or a string it is not the
cell's doing, and `sys.exit()` only raises SystemExit, which IPython shows as an error.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

_EXITS = frozenset({"exit", "quit"})
_WORDS = ("exit", "quit")
"""Every statement looked for names one of these: code without them is not parsed."""


def exit_statement(code: str) -> str | None:
    """The statement of the cell that would end the kernel process, as written; None if none."""
    if not any(word in code for word in _WORDS):
        return None
    python = _as_python(code)
    try:
        tree = ast.parse(python)
    except SyntaxError:  # the kernel says what is wrong with it
        return None
    for statement in _statements(tree.body):
        if isinstance(statement, ast.Expr) and _ends_kernel(statement.value):
            return (ast.get_source_segment(python, statement) or "exit()").strip()
    return None


def _as_python(code: str) -> str:
    """The cell as IPython runs it: magics and `obj?` turned into Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(code)
    except Exception:  # an IPython too old or too new to agree: read it as plain Python
        return code


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The cell's own statements, also inside its if/for/while/with/try blocks; not inside
    functions or classes, which the cell only defines."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(statement, field, None) or [])
        for handler in getattr(statement, "handlers", None) or []:
            yield from _statements(handler.body)
        for case in getattr(statement, "cases", None) or []:
            yield from _statements(case.body)


def _ends_kernel(value: ast.expr) -> bool:
    if isinstance(value, ast.Name):  # IPython calls a bare `exit` itself
        return value.id in _EXITS
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        keeps = any(k.arg == "keep_kernel" and _truthy(k.value) for k in value.keywords)
        return func.id in _EXITS and not keeps
    if isinstance(func, ast.Attribute):
        owner = func.value
        if func.attr == "_exit":
            return _named(owner, "os")
        if func.attr == "ask_exit":  # get_ipython().ask_exit()
            return isinstance(owner, ast.Call) and _named(owner.func, "get_ipython")
    return False


def _named(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _truthy(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and bool(node.value)

"""The house rules of the package, read from its source: layers that import one way, no import
cycle (not even under TYPE_CHECKING), and the words the model reads about tools written in the
server layer only."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import ipython_mcp
from ipython_mcp.server.app import INSTRUCTIONS, READ_ONLY_INSTRUCTIONS, READ_ONLY_STAND_INS, TOOLS

PACKAGE = Path(ipython_mcp.__file__).parent
BELOW_SERVER = ("transport", "discovery", "session", "run", "look", "rendering", "errors", "settings")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The modules of the package a module imports, anywhere in it (TYPE_CHECKING blocks and
    functions included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:  # `from . import notes` imports the module notes
                found.add(f"{target}.{alias.name}" if MODULES.get(f"{target}.{alias.name}") else target)
    return {module for module in found if module.split(".")[0] in ("ipython_mcp", "mcp", "mcp_types")}


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in imports_of(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def layer(name: str) -> str:
    return name.split(".")[1] if "." in name else name


def test_no_module_imports_itself_through_others() -> None:
    """Strongly connected components of the import graph (Tarjan): each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not cycles


def test_layers_below_the_server_know_no_mcp() -> None:
    for name, path in MODULES.items():
        if layer(name) in BELOW_SERVER:
            wrong = {m for m in imports_of(path) if m.startswith(("mcp", "ipython_mcp.server", "ipython_mcp.cli"))}
            assert not wrong, f"{name} imports {wrong}"


def test_tool_names_are_written_in_the_server_layer_only() -> None:
    """Strings and docstrings below the server name no tool: what the model can do next is
    worded in server/ (words/, the tools' descriptions)."""
    names = [tool.__name__ for tool in EVERY_TOOL]
    assert len(names) == 19
    # `complete` is also an English word: only its call counts.
    named = re.compile("|".join(rf"\b{tool}\b" if tool != "complete" else r"\bcomplete\(" for tool in names))
    for name, path in MODULES.items():
        if layer(name) not in BELOW_SERVER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                said = named.findall(node.value)
                assert not said, f"{name}, line {node.lineno}: {said} in {node.value[:120]!r}"


EVERY_TOOL = [*(tool for tool, _ in TOOLS), *READ_ONLY_STAND_INS.values()]
"""The tools of either mode."""
SNAKE_NAME = re.compile(r"(?<![\w.$%-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")
"""A name such as `read_output` in a sentence; not one inside a dotted, `$`, `%` or `--` name."""
CALLED = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*)\(")
"""A call such as `complete(` or `input(` in a sentence."""
OUTSIDE_NAMES = {"clear_output", "iopub_msg_rate_limit", "token_env", "is_error"}
"""Names the model reads that are not ours: IPython's clear_output, a Jupyter Server option, a
key of the servers file, the protocol's error flag of a result."""


def sentences_of_the_server() -> list[tuple[str, str]]:
    """What the model may read, with where it is written: the sentences of server/ (a string
    with a space, not a docstring: words/, the tools' results), the tools' descriptions and the
    server's instructions."""
    said = []
    for path in (PACKAGE / "server").rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            sentence = isinstance(node, ast.Constant) and isinstance(node.value, str) and " " in node.value
            if sentence and id(node) not in docstrings:
                said.append((f"{path.relative_to(PACKAGE)}, line {node.lineno}", node.value))
    said += [(f"{tool.__name__}'s description", tool.__doc__ or "") for tool in EVERY_TOOL]
    return [*said, ("instructions", INSTRUCTIONS), ("read-only instructions", READ_ONLY_INSTRUCTIONS)]


def test_the_words_the_model_reads_name_only_tools_that_exist() -> None:
    """A tool the model is told of, by name or as a call, is one the server offers; the other
    names in its words are the tools' arguments or names from outside (IPython's, Jupyter's)."""
    tools = {tool.__name__ for tool in EVERY_TOOL}
    arguments = {name for tool in EVERY_TOOL for name in inspect.signature(tool).parameters} - {"deps", "ctx"}
    known = tools | arguments | OUTSIDE_NAMES
    assert SNAKE_NAME.findall("read_output('e3') and gone_tool read") == ["read_output", "gone_tool"]
    assert CALLED.findall("complete('df.') or input() or os.getcwd()") == ["complete", "input"]
    named: set[str] = set()
    for where, words in sentences_of_the_server():
        for name in SNAKE_NAME.findall(words):
            assert name in known, f"{where}: no tool or argument {name!r} in {words[:160]!r}"
            named.add(name)
        for name in CALLED.findall(words):
            assert name in tools | {"input", "exit", "quit"}, f"{where}: no tool {name!r} in {words[:160]!r}"
    assert len(named & tools) > 12  # the scan reads the words that name tools


ADVISING = re.compile(
    r"\b(?:Ask the user|[Tt]he user (?:should|can))\b|(?:^|[.:;]\s)(?:Call|Pass|Fix:|Prefer|Check|Run|Install) "
)
"""How what to do next is worded: `Ask the user …`, `The user should …`, `Call …`, `Fix: …`."""


def test_what_to_do_is_advised_in_the_server_layer_only() -> None:
    """Below the server, strings say what happened; what the model or the user can do about it
    is an advice of server/words/advice.py. settings.py's start-up errors, read by a person at
    a terminal before any model, may say what to do."""
    for name, path in MODULES.items():
        if layer(name) not in BELOW_SERVER or layer(name) == "settings":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                said = ADVISING.search(node.value)
                assert not said, f"{name}, line {node.lineno}: {said[0]!r} in {node.value[:120]!r}"

"""The words the model reads about what to do next live in the server layer: the layers below it
name no tool, and every advice they name is written in server/advice.py with the facts it needs."""

from __future__ import annotations

import ast
import io
import re
import string
import tokenize
import typing
from collections.abc import Iterator
from pathlib import Path

import ipython_mcp
from ipython_mcp.server.advice import ADVICE, advice_text
from ipython_mcp.server.app import TOOLS
from ipython_mcp.session.link import Recovery

SRC = Path(ipython_mcp.__file__).parent
BELOW_THE_SERVER = [
    *sorted(path for layer in ("discovery", "transport", "session") for path in (SRC / layer).glob("*.py")),
    SRC / "errors.py",
]
"""The layers the server layer's words are kept out of (run/, look/ and rendering/ are others)."""
TOOL_NAME = re.compile(rf"\b({'|'.join(tool.__name__ for tool, _ in TOOLS if tool.__name__ != 'complete')})\b")
GATEWAY_OPTION = "--EnterpriseGatewayApp.list_kernels"
"""Enterprise Gateway's own option, named in what a gateway that lists no kernels is told."""


def words_of(path: Path) -> Iterator[tuple[int, str]]:
    """Every string (docstrings and the pieces of f-strings included) and comment of a module."""
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def test_the_layers_below_the_server_name_no_tool() -> None:
    named = [
        f"{path.relative_to(SRC)}:{line}: {text!r}"
        for path in BELOW_THE_SERVER
        for line, text in words_of(path)
        if TOOL_NAME.search(text.replace(GATEWAY_OPTION, ""))
    ]
    assert not named


def test_every_advice_named_below_the_server_is_written_with_the_facts_it_needs() -> None:
    checked = 0
    for path in SRC.rglob("*.py"):
        if "server" in path.relative_to(SRC).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            advice = next((k.value for k in node.keywords if k.arg == "advice"), None)
            if advice is None:
                continue
            keys = [
                c.value for c in ast.walk(advice) if isinstance(c, ast.Constant) and isinstance(c.value, str)
            ]
            facts = {k.arg for k in node.keywords if k.arg is not None}
            for key in filter(None, keys):
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                assert key in ADVICE, f"{where}: no advice {key!r} in server/advice.py"
                words = ADVICE[key]
                if isinstance(words, str) and None not in {k.arg for k in node.keywords}:
                    needed = {field for _, field, _, _ in string.Formatter().parse(words) if field}
                    assert needed <= facts, f"{where}: advice {key!r} needs the facts {needed - facts}"
                checked += 1
    assert checked > 20


def test_every_recovery_of_a_gone_kernel_is_worded() -> None:
    for key in typing.get_args(typing.get_type_hints(Recovery)["advice"]):
        assert advice_text(key, server="lab").startswith(("Call", "Ask"))

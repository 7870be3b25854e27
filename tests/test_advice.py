"""Every advice the layers below the server name is written in server/words/advice.py, with the facts
its words need: a failure never reaches the model as an internal error for want of its words."""

from __future__ import annotations

import ast
import string
import typing
from pathlib import Path

import ipython_mcp
from ipython_mcp.errors import KernelNotChosen
from ipython_mcp.server.words.advice import ADVICE, advice_text, error_text
from ipython_mcp.session.link import Recovery

SRC = Path(ipython_mcp.__file__).parent


def test_every_advice_named_below_the_server_is_written_with_the_facts_it_needs() -> None:
    checked = 0
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] == "server":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            advice = isinstance(node, ast.Call) and next(
                (k.value for k in node.keywords if k.arg == "advice"), None
            )
            if not advice:
                continue
            keys = [c.value for c in ast.walk(advice) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            facts = {k.arg for k in node.keywords}
            for key in filter(None, keys):
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                assert key in ADVICE, f"{where}: no advice {key!r} in server/words/advice.py"
                words = ADVICE[key]
                if isinstance(words, str) and None not in facts:  # not with **facts passed on
                    needed = {field for _, field, _, _ in string.Formatter().parse(words) if field}
                    assert needed <= facts, f"{where}: advice {key!r} needs the facts {needed - facts}"
                checked += 1
    assert checked > 20


def test_every_way_back_to_a_gone_kernel_is_worded() -> None:
    for key in typing.get_args(typing.get_type_hints(Recovery)["advice"]):
        assert advice_text(key, server="lab").startswith(("Call", "Ask"))


def test_the_kernels_of_a_gateway_that_lists_none_are_reached_by_id_before_the_advice() -> None:
    error = KernelNotChosen(
        "No running kernel found in /run. Jupyter Server 'gw' (http://gw/) does not list its kernels "
        "(an Enterprise Gateway).",
        advice="no_kernel_running",
        unlisted=["gw"],
    )
    assert error_text(error) == (
        "No running kernel found in /run. Jupyter Server 'gw' (http://gw/) does not list its kernels "
        "(an Enterprise Gateway). connect_to_kernel takes a full kernel id with server='gw'. Its admin "
        "can enable listing with --EnterpriseGatewayApp.list_kernels=True. Ask the user for their "
        "kernel's connection file (Spyder: Consoles > Connection info; Jupyter: %connect_info), or call "
        "start_kernel."
    )

"""Running kernel_side code beside the user's cell without IPython's execute machinery.

Every execute_request, even a silent one in a subshell, and every comm message runs IPython's
post_execute hooks, where matplotlib's inline backend shows and closes the figures drawn so
far: code of ours run that way beside a cell that is drawing would take its figures, their
display_data going out under our request's parent header, never reaching the user's client.
An inspect_request runs none of that (ipykernel's do_inspect asks the shell's
object_inspect_mime), and IPython 8.21+ calls the hooks of its Inspector (`mime_hooks`) with
each object it inspects, adding what they return to the bundle it answers with.
kernel_side/inspect_hook.py installs one, through a silent user expression; from then on a look
is an inspect_request in our subshell that carries the code and its options in a field of its
content, and whose answer comes back under our own media type. The hook finds that field in
the request the kernel is answering (ipykernel's get_parent, per thread and task), so it
answers nothing else: the user's own inspections get what they got before.

The code runs in the subshell's thread while the user's cell runs in the main one, as every
look beside a cell does (help and completions too): it reads values that may be changing.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from . import kernel_side

MIME = "application/x.ipython-mcp+json"
"""The key of the hook in IPython's Inspector, and of its answer in the inspect_reply."""
FIELD = "ipython_mcp"
"""The field of an inspect_request's content that carries our code."""
CARRIER = "__IPYTHON__"
"""What the request inspects: a name every IPython shell has (a builtin), cheap to describe.
The hooks run only for a name that is found."""
_OPTIONS = {"mime": MIME, "field": FIELD}


def install_expression() -> str:
    """A user expression that installs the hook (run as the kernel_side modules are run)."""
    return _expression("inspect_hook", _OPTIONS)


def installed(value: dict[str, Any] | None) -> bool | None:
    """Whether the hook is in place, from the install expression's value; None: not known."""
    try:
        return bool(json.loads(ast.literal_eval((value or {})["data"]["text/plain"]))["installed"])
    except (KeyError, TypeError, ValueError, SyntaxError):
        return None


def request(sources: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """An inspect_request's content that runs `sources` (each in turn, until one sets RESULT)
    with `options` through the hook."""
    return {
        "code": CARRIER,
        "cursor_pos": len(CARRIER),
        "detail_level": 0,
        FIELD: {"sources": sources, "options": options},
    }


def leave_request() -> dict[str, Any]:
    """An inspect_request that tells the hook this client is gone: the last one removes it."""
    return request([kernel_side.source("inspect_hook")], {**_OPTIONS, "leave": True})


def answer(content: dict[str, Any]) -> dict[str, Any] | None:
    """What the hook answered in an inspect_reply: {"result": JSON} or {"ename", "evalue"};
    None when it did not answer (it is gone, or the kernel never called it)."""
    value = (content.get("data") or {}).get(MIME)
    return value if isinstance(value, dict) else None


def _expression(module: str, options: dict[str, Any]) -> str:
    source = kernel_side.source(module)
    return f"(lambda g: (exec({source!r}, g), g['RESULT'])[1])({{'NS': globals(), 'OPTIONS': {options!r}}})"

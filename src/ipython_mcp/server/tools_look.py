"""The tools that look into a kernel without running a cell: history, variables, one value,
completions.

Each tool is a plain function: `deps` first, then what the SDK reads from its signature (the
typed arguments with their descriptions, and the client's Context); its docstring is the
description the model reads. app.py registers them. No `from __future__ import annotations`:
the SDK evaluates these signatures.
"""

from typing import Annotated

import regex
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from ..errors import KernelBusy, KernelSideError
from ..rendering import strip_ansi
from .deps import Deps, KernelArg, fitted
from .words.looks import completion_text, during_note, history_result, inspection_text, variables_text

DOTTED_NAME = regex.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")
"""A name and its attributes (`df.columns`): all a read-only server inspects."""


async def get_history(
    deps: Deps,
    ctx: Context,
    n: Annotated[int, Field(description="How many of the most recent cells to return.", ge=1, le=200)] = 20,
    kernel: KernelArg = None,
) -> CallToolResult:
    """Show the last cells run in the kernel by anyone (the user's IDE included), with
    their execution numbers; the outputs the user saw for cells they ran while this
    server was connected; the most recent exception (so "why did my last cell fail?"
    needs one call); and the user's most recent figure as an image. Leaves no trace in
    the kernel."""
    session = await deps.view(ctx).use(kernel)
    history = await session.inspector.history(n)
    observed = session.observed
    seen_error = any(c.log.error is not None for c in observed.cells())
    last_error: str | None = ""
    if not seen_error:
        try:
            last_error = await session.inspector.last_exception()
        except KernelBusy:
            last_error = None  # it needs code run, which a busy kernel may not allow
    settings, figure = deps.settings, None
    if observed.latest_image is not None:
        cell, image = observed.latest_image
        [shown] = await fitted([image], long_edge=settings.max_image_px, budget=settings.max_image_bytes)
        figure = (cell, shown)
    return history_result(session, history, observed.cells(), last_error, figure, settings.max_output_chars)


async def list_variables(
    deps: Deps,
    ctx: Context,
    kernel: KernelArg = None,
    include_private: Annotated[bool, Field(description="Also names starting with _.")] = False,
    include_callables: Annotated[bool, Field(description="Also functions and classes.")] = False,
) -> str:
    """List the user's variables as a compact table, largest first: name, type, shape or
    length, dtype, approximate memory and a short preview. Cheap even for huge data (no
    full reprs) and leaves no trace in the kernel. Modules, IPython internals and, by
    default, functions and classes are left out. Works while the user's cell runs where
    the kernel allows it (ipykernel 7, Spyder); elsewhere says at once that it is busy."""
    session = await deps.view(ctx).use(kernel)
    options = {"include_private": include_private, "include_callables": include_callables}
    found, during = await session.inspector.look("namespace", options, "a variable listing")
    note = during_note(during, found)
    return variables_text(session, found, deps.settings.max_output_chars - len(note)) + note


async def inspect_variable(
    deps: Deps,
    ctx: Context,
    name: Annotated[
        str, Field(description="A variable or expression, e.g. 'df', 'df.columns', 'model.coef_'.")
    ],
    kernel: KernelArg = None,
) -> str:
    """Look closely at one value: DataFrame/Series shape, dtypes, head and numeric summary;
    array shape, dtype, min/max/mean/NaN count and a slice; length and first items of
    containers and strings; signature and docstring of functions, classes and modules;
    type and public attributes otherwise. Huge data is sampled (and says so). Nothing
    beyond evaluating the expression happens in the kernel; no trace is left."""
    if deps.settings.read_only and not DOTTED_NAME.fullmatch(name.strip()):
        raise ToolError(
            f"{name!r} is an expression; this read-only server inspects names and their "
            "attributes only (e.g. 'df' or 'df.columns'), since an expression could call code."
        )
    session = await deps.view(ctx).use(kernel)
    found, during = await session.inspector.look("inspect_value", {"expression": name}, "an inspection")
    if "error" in found:
        raise KernelSideError(
            f"{name} could not be evaluated in the kernel: {found['error']}.", advice="list_names"
        )
    help_text = ""
    if found.get("callable"):
        reply = await session.inspector.help(name)
        help_text = strip_ansi((reply.get("data") or {}).get("text/plain", ""))
    note = during_note(during, found)
    return inspection_text(found, help_text, deps.settings.max_output_chars - len(note)) + note


async def complete(
    deps: Deps,
    ctx: Context,
    code: Annotated[str, Field(description="Code to complete, e.g. 'df.gr' or 'import num'.")],
    cursor_pos: Annotated[
        int | None, Field(description="Cursor position in code. Default: the end.", ge=0)
    ] = None,
    kernel: KernelArg = None,
) -> str:
    """Ask the kernel for completions at the cursor: names, attributes, keys, paths,
    from the live objects in the user's namespace. Runs no cell (completing an attribute
    may evaluate the object's properties, as in an IDE)."""
    session = await deps.view(ctx).use(kernel)
    position = len(code) if cursor_pos is None else min(cursor_pos, len(code))
    return completion_text(code, await session.inspector.complete(code, position))

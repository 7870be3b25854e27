"""The tools that look into a kernel without running a cell: history, variables, one value,
completions.

Each tool is a plain function: `deps` first, then what the SDK reads from its signature (the
typed arguments with their descriptions, and the client's Context); its docstring is the
description the model reads. app.py registers them. No `from __future__ import annotations`:
the SDK evaluates these signatures.
"""

from typing import Annotated, Any

import regex
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from ..errors import KernelBusy, KernelSideError
from ..rendering import strip_ansi
from ..rendering.budget import clip
from ..rendering.mime import render_bundle
from ..session.base import KernelSession
from .deps import Deps, KernelArg, fitted
from .words.looks import (
    completion_text,
    during_note,
    evaluation_result,
    history_result,
    inspection_text,
    module_frame_text,
    no_exception_text,
    no_stack_text,
    post_mortem_text,
    read_only_expression_text,
    variables_text,
    whose_error,
)

DOTTED_NAME = regex.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")
"""A name and its attributes (`df.columns`): all a read-only server inspects."""


async def get_history(
    deps: Deps,
    ctx: Context,
    n: Annotated[int, Field(description="How many recent cells", ge=1, le=200)] = 20,
    kernel: KernelArg = None,
) -> CallToolResult:
    """The last cells anyone ran, the outputs the user saw while this server listened, the
    latest exception and figure. Leaves no trace."""
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
    include_private: Annotated[bool, Field(description="Also names starting with _")] = False,
    include_callables: Annotated[bool, Field(description="Also functions and classes")] = False,
) -> str:
    """The user's variables, largest first: type, shape, dtype, memory, preview. Cheap even
    for huge data; leaves no trace; may answer while a cell runs."""
    session = await deps.view(ctx).use(kernel)
    options = {"include_private": include_private, "include_callables": include_callables}
    found, during = await session.inspector.look("namespace", options, "a variable listing")
    note = during_note(during, found)
    return variables_text(session, found, deps.settings.max_output_chars - len(note)) + note


async def inspect_variable(
    deps: Deps,
    ctx: Context,
    name: Annotated[str, Field(description="Variable or expression, e.g. 'df.columns'")],
    kernel: KernelArg = None,
) -> str:
    """One value in detail: a DataFrame's dtypes, head and summary, an array's stats, a
    callable's signature and docs... Samples huge data; leaves no trace."""
    if deps.settings.read_only and not DOTTED_NAME.fullmatch(name.strip()):
        raise ToolError(read_only_expression_text(name))
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
    code: Annotated[str, Field(description="Code to complete, e.g. 'df.gr'")],
    cursor_pos: Annotated[
        int | None, Field(description="Cursor index; default: the end of code", ge=0)
    ] = None,
    kernel: KernelArg = None,
) -> str:
    """Completions at the cursor from the kernel's live objects; runs no cell."""
    session = await deps.view(ctx).use(kernel)
    position = len(code) if cursor_pos is None else min(cursor_pos, len(code))
    return completion_text(code, await session.inspector.complete(code, position))


async def debug_error(
    deps: Deps,
    ctx: Context,
    frame: Annotated[
        int | None, Field(description="Default: the deepest in the user's code", ge=0)
    ] = None,
    expression: Annotated[
        str | None, Field(description="A name to inspect or expression to evaluate there")
    ] = None,
    kernel: KernelArg = None,
) -> str | CallToolResult:
    """Post-mortem of the kernel's last exception (the user's or the assistant's): its stack
    with source and a frame's locals; with expression, a value there. Leaves no trace."""
    session = await deps.view(ctx).use(kernel)
    found = await in_frame(session, "post_mortem", {})
    if found.get("error") is None:
        return no_exception_text(session)
    frames = {f["index"]: f for f in found["frames"]}
    depth = found.get("depth", len(frames))
    if depth == 0:
        return no_stack_text(found["error"])
    chosen = found["user_frame"] if frame is None else frame
    if not 0 <= chosen < depth:
        raise KernelSideError(f"The stack has frames 0 to {depth - 1}.", advice="pick_a_frame")
    budget, at = deps.settings.max_output_chars, {"frame": chosen, "exception": found["exception"]}
    if expression is None:
        stack = clip(post_mortem_text(found, chosen, whose_error(session, found["frames"])), budget // 2)
        cell = frames.get(chosen, {})
        if cell.get("function") == "<module>" and cell.get("cell") is not None:
            return f"{stack}\n{module_frame_text(chosen)}"
        options = {**at, "locals_only": True, "include_private": False, "include_callables": False}
        scope = f"frame #{chosen}" + (f" ({frames[chosen]['function']})" if chosen in frames else "")
        local = await in_frame(session, "namespace", options)
        return f"{stack}\n{variables_text(session, local, budget - len(stack), scope=scope)}"
    if DOTTED_NAME.fullmatch(expression):
        found = await in_frame(session, "inspect_value", {**at, "expression": expression})
        return inspection_text(found, "", budget)
    if deps.settings.read_only:
        raise ToolError(read_only_expression_text(expression))
    value = await in_frame(session, "evaluate", {**at, "expression": expression})
    blocks = [block for block in [render_bundle(value.get("data") or {})] if block is not None]
    settings = deps.settings
    fitted_blocks = await fitted(blocks, long_edge=settings.max_image_px, budget=settings.max_image_bytes)
    return evaluation_result(fitted_blocks, session, budget)


async def in_frame(session: KernelSession, module: str, options: dict[str, Any]) -> dict[str, Any]:
    """A kernel_side module run with the last exception's stack (in a frame, with options'
    "frame"); an error the model reads when the frame is gone or the module failed there."""
    found, _ = await session.inspector.run_kernel_side(module, options, "a post-mortem", in_stack=True)
    if "frame_error" in found:
        raise KernelSideError("The last exception changed since its stack was read.", advice="ask_again")
    if "frame" in options and "error" in found:
        where = f"frame #{options['frame']}"
        raise KernelSideError(
            f"{options.get('expression')} could not be evaluated in {where}: {found['error']}.",
            advice="see_the_frame",
            frame=options["frame"],
        )
    return found

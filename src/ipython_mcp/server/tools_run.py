"""The tools that run the assistant's code and get its output: execute, wait, answer input(),
read or search the whole output, save the executions as a notebook.

Each tool is a plain function: `deps` first, then what the SDK reads from its signature (the
typed arguments with their descriptions, and the client's Context); its docstring is the
description the model reads. app.py registers them. No `from __future__ import annotations`:
the SDK evaluates these signatures.
"""

from typing import Annotated, Literal

import regex
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult
from pydantic import Field

from ..look.follow import follow_other_cell
from ..rendering import Image
from ..run.execution import Execution
from ..session.clients import ClientView
from .deps import Deps, KernelArg, TimeoutArg, fitted, progress_to, result_for
from .elicit import answer_from_user, asker, reply
from .fit import RESULT_BYTES
from .notebooks import write_notebook
from .words.kernels import restart_notice
from .words.runs import figure_result, no_such_figure, output_lines, output_matches
from .words.users_cell import USER, users_cell_blocks, users_cell_result

FIGURE_NOTE_ROOM = 10_000
"""Bytes of a figure's result left for the text beside it."""
READ_LINES = 200
"""How many lines read_output returns unless told."""
SEARCH_MATCHES = 50
"""How many matching lines a search of read_output returns unless told."""
SEARCH_SECONDS = 3.0
"""Longest time a search of read_output may take; a pathological pattern is stopped after it."""


async def execute_code(
    deps: Deps,
    code: Annotated[str, Field(description="Python code or IPython magics")],
    ctx: Context,
    timeout: TimeoutArg = None,
    on_timeout: Annotated[
        Literal["interrupt", "continue"],
        Field(description="What to do at the timeout"),
    ] = "interrupt",
    if_busy: Annotated[
        Literal["wait", "fail"],
        Field(description="If another cell is running"),
    ] = "wait",
    kernel: KernelArg = None,
) -> CallToolResult | InputRequiredResult:
    """Run code in the kernel as a cell, sharing state with the user's IDE. Returns its
    output (figures as images) and any traceback (is_error); read_output has the rest.
    At the timeout the code is interrupted, or with on_timeout='continue' runs on
    (wait_for_execution). input() goes to the user where the client can, else
    answer it with send_input."""
    view = deps.view(ctx)
    timeout = timeout or deps.settings.timeout
    if (answered := await answer_from_user(ctx, deps.registry, view, timeout)) is not None:
        return answered  # the client called again with the user's answer to an input()
    session = await view.use(kernel)
    result = await session.runner.execute(
        code,
        timeout=timeout,
        on_timeout=on_timeout,
        if_busy=if_busy,
        progress=progress_to(ctx),
        ask=asker(ctx),
    )
    return await reply(ctx, view, session, result)


async def wait_for_execution(
    deps: Deps,
    ctx: Context,
    execution_id: Annotated[
        str | None,
        Field(description="Default: the latest running or unread; 'user': the user's cell"),
    ] = None,
    timeout: Annotated[float, Field(description="Seconds to wait", gt=0)] = 30,
    kernel: KernelArg = None,
) -> CallToolResult | InputRequiredResult:
    """Wait for code still running (on_timeout='continue', or queued): returns what it
    printed since last read and, once done, its status. execution_id='user' waits for the
    cell the user's IDE runs. Never interrupts either."""
    view = deps.view(ctx)
    if (answered := await answer_from_user(ctx, deps.registry, view, timeout)) is not None:
        return answered  # the client called again with the user's answer to an input()
    if execution_id == USER:
        return await _users_cell(deps, ctx, view, timeout, kernel)
    session = view.with_execution(execution_id, kernel)
    result = await session.runner.wait_for(execution_id, timeout, progress=progress_to(ctx), ask=asker(ctx))
    return await reply(ctx, view, session, result)


async def wait_for_users_cell(
    deps: Deps,
    ctx: Context,
    timeout: Annotated[float, Field(description="Seconds to wait", gt=0)] = 30,
    kernel: KernelArg = None,
) -> CallToolResult:
    """Wait for the cell the user's IDE runs: progress while it runs, then what the user saw
    (output, figures, error). Never interrupts it."""
    return await _users_cell(deps, ctx, deps.view(ctx), timeout, kernel)


async def _users_cell(
    deps: Deps, ctx: Context, view: ClientView, timeout: float, kernel: str | None
) -> CallToolResult:
    """Follow the cell another client (the user's IDE) runs, never touching it."""
    session = await view.use(kernel)
    followed = await follow_other_cell(session.link, session.observed, timeout, progress_to(ctx))
    blocks = users_cell_blocks(followed)
    if any(isinstance(block, Image) for block in blocks):
        settings = deps.settings
        blocks = await fitted(blocks, long_edge=settings.max_image_px, budget=settings.max_image_bytes)
    notices = [restart_notice(restart) for restart in view.untold_restarts(session)]
    return users_cell_result(followed, blocks, session, notices)


async def send_input(
    deps: Deps,
    ctx: Context,
    text: Annotated[str, Field(description="The answer (no newline)")],
    execution_id: Annotated[str | None, Field(description="Default: the latest waiting")] = None,
    timeout: TimeoutArg = None,
    kernel: KernelArg = None,
) -> CallToolResult:
    """Answer the input() the code waits on; returns what it prints next, like
    wait_for_execution."""
    view = deps.view(ctx)
    session = view.with_execution(execution_id, kernel)
    result = await session.runner.answer_input(
        text, execution_id, timeout or deps.settings.timeout, progress_to(ctx)
    )
    return await result_for(view, session, result)


async def read_output(
    deps: Deps,
    ctx: Context,
    execution_id: Annotated[str, Field(description="Id from execute_code")],
    offset: Annotated[int, Field(description="First line (0-based)", ge=0)] = 0,
    limit: Annotated[
        int | None, Field(description="Default: 200; 50 with pattern", ge=1)
    ] = None,
    pattern: Annotated[str | None, Field(description="Python regex to search for")] = None,
    char_offset: Annotated[
        int,
        Field(description="Start in a long line; each piece names the next", ge=0),
    ] = 0,
    figure: Annotated[
        int | None, Field(description="This figure of it (from 1) instead", ge=1)
    ] = None,
    max_px: Annotated[
        int | None, Field(description="With figure: its longest edge", ge=64, le=8000)
    ] = None,
    kernel: KernelArg = None,
) -> str | CallToolResult:
    """A recent execution's whole output by line (what a result left out); with pattern,
    the matching lines. A search past its time limit gives the offset to go on from."""
    session = deps.view(ctx).with_execution(execution_id, kernel)
    ex = session.runner.execution(execution_id)
    if figure is not None:
        if pattern is not None:
            raise ToolError("figure returns one figure, pattern searches the text: pass one of them.")
        image = ex.outputs.figure(figure)
        if image is None:
            raise no_such_figure(execution_id, figure, ex.outputs.figures)
        # Asked at a size: up to what a transport carries; else within a result's image budget.
        edge = max_px or deps.settings.max_image_px
        budget = RESULT_BYTES - FIGURE_NOTE_ROOM if max_px else deps.settings.max_image_bytes
        blocks = await fitted([image], long_edge=edge, budget=budget)
        return figure_result(blocks[0], execution_id)
    if pattern is None:
        return output_lines(ex, offset, limit or READ_LINES, deps.settings.max_output_chars, char_offset)
    if char_offset:
        raise ToolError("char_offset reads a long line in pieces; a search (with pattern) takes offset only.")
    return await _search(deps, ctx, ex, _compiled(pattern), offset, limit or SEARCH_MATCHES)


def _compiled(pattern: str) -> regex.Pattern[str]:
    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise ToolError(f"{pattern!r} is not a valid regular expression: {exc}.") from None


async def _search(
    deps: Deps, ctx: Context, ex: Execution, pattern: regex.Pattern[str], offset: int, limit: int
) -> str:
    """The lines of the execution's whole output that match, searched beside the event loop
    for at most SEARCH_SECONDS."""
    from ..run.search import search_in_thread

    try:
        found = await search_in_thread(
            ex.outputs,
            pattern,
            limit=limit,
            seconds=SEARCH_SECONDS,
            offset=offset,
            progress=progress_to(ctx),
        )
    except TimeoutError:
        raise ToolError(
            f"Searching for {pattern.pattern!r} took over {SEARCH_SECONDS:g} s and was stopped: the "
            "pattern backtracks too much. Use a simpler one."
        ) from None
    return output_matches(ex, found, offset, deps.settings.max_output_chars, SEARCH_SECONDS)


async def save_notebook(
    deps: Deps,
    ctx: Context,
    path: Annotated[str, Field(description=".ipynb path, relative to the kernel's cwd")],
    overwrite: Annotated[
        bool, Field(description="Replace a notebook saved here, unedited since")
    ] = False,
    replace_other_file: Annotated[
        bool,
        Field(description="With overwrite: even the user's file, if they asked"),
    ] = False,
    kernel: KernelArg = None,
) -> str:
    """Save the assistant's executions here (code and outputs) as a notebook for the user
    to review and rerun; not the user's own cells."""
    session = await deps.view(ctx).use(kernel)
    target, count = await write_notebook(
        session, path, overwrite=overwrite, replace_other=overwrite and replace_other_file
    )
    return (
        f"Saved {count} cell{'s' if count != 1 else ''} (the assistant's executions in kernel "
        f"{session.name}) to {target}."
    )

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

from ..run.execution import Execution
from .deps import Deps, KernelArg, TimeoutArg, progress_to, result_for
from .elicit import answer_from_user, asker, reply
from .notebooks import write_notebook
from .words.runs import output_lines, output_matches

READ_LINES = 200
"""How many lines read_output returns unless told."""
SEARCH_MATCHES = 50
"""How many matching lines a search of read_output returns unless told."""
SEARCH_SECONDS = 3.0
"""Longest time a search of read_output may take; a pathological pattern is stopped after it."""


async def execute_code(
    deps: Deps,
    code: Annotated[str, Field(description="Python code (or IPython magics) to run, as in a notebook cell.")],
    ctx: Context,
    timeout: TimeoutArg = None,
    on_timeout: Annotated[
        Literal["interrupt", "continue"],
        Field(
            description="Past the timeout: 'interrupt' the code, or let it 'continue' in the "
            "background and collect it with wait_for_execution."
        ),
    ] = "interrupt",
    if_busy: Annotated[
        Literal["wait", "fail"],
        Field(
            description="If the user's cell keeps the kernel busy: 'wait' for it (within the "
            "timeout), or 'fail' at once without sending the code."
        ),
    ] = "wait",
    kernel: KernelArg = None,
) -> CallToolResult | InputRequiredResult:
    """Run code in the kernel, as a cell the user could have typed, and return its output.

    Returns printed output (stderr marked), the value of the last expression, displayed
    rich output (tables as text, plots as images) and, if the code raised, the
    traceback with is_error set. Long output keeps its beginning and end; read_output
    returns the rest. Past the timeout the code is interrupted with its partial output
    returned, or with on_timeout='continue' keeps running and wait_for_execution
    collects it. input() is asked of the user where the client can, else the result
    says "Waiting for input" and send_input answers it. State persists between calls
    and is shared with the user's IDE."""
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
    return reply(ctx, view, session, result)


async def wait_for_execution(
    deps: Deps,
    ctx: Context,
    execution_id: Annotated[
        str | None,
        Field(description="Id from execute_code, e.g. 'e3'. Default: the latest running, or ended unseen."),
    ] = None,
    timeout: Annotated[
        float, Field(description="Seconds to wait for it to finish before returning.", gt=0)
    ] = 30,
    kernel: KernelArg = None,
) -> CallToolResult | InputRequiredResult:
    """Wait for code left running by execute_code(on_timeout='continue'): returns what it
    printed since the last read, and its final status once it has finished. It is never
    interrupted by this call; interrupt_kernel stops it."""
    view = deps.view(ctx)
    if (answered := await answer_from_user(ctx, deps.registry, view, timeout)) is not None:
        return answered  # the client called again with the user's answer to an input()
    session = view.with_execution(execution_id, kernel)
    result = await session.runner.wait_for(execution_id, timeout, progress=progress_to(ctx), ask=asker(ctx))
    return reply(ctx, view, session, result)


async def send_input(
    deps: Deps,
    ctx: Context,
    text: Annotated[str, Field(description="The answer, without a trailing newline.")],
    execution_id: Annotated[
        str | None,
        Field(description="Id of the execution waiting for input. Default: the latest one."),
    ] = None,
    timeout: TimeoutArg = None,
    kernel: KernelArg = None,
) -> CallToolResult:
    """Answer the input() the assistant's code waits on (a result said "Waiting for
    input"), then return what the code printed next, like wait_for_execution."""
    view = deps.view(ctx)
    session = view.with_execution(execution_id, kernel)
    result = await session.runner.answer_input(
        text, execution_id, timeout or deps.settings.timeout, progress_to(ctx)
    )
    return result_for(view, session, result)


async def read_output(
    deps: Deps,
    ctx: Context,
    execution_id: Annotated[str, Field(description="Id from execute_code, e.g. 'e3'.")],
    offset: Annotated[
        int,
        Field(
            description="First line to read or search (0-based); a search stopped by its time limit "
            "says where to go on.",
            ge=0,
        ),
    ] = 0,
    limit: Annotated[
        int | None,
        Field(description="Lines at most: 200 read, or 50 matching lines with pattern.", ge=1),
    ] = None,
    pattern: Annotated[
        str | None,
        Field(description="Python regular expression: list the lines it matches instead, numbered."),
    ] = None,
    char_offset: Annotated[
        int,
        Field(
            description="Character of the first line to start from: a line too long for one "
            "result comes in pieces, and each names the char_offset of the next.",
            ge=0,
        ),
    ] = 0,
    kernel: KernelArg = None,
) -> str:
    """Read the whole output of one of the recent executions, by line: what a result left
    out of long output, as its notice says. Carriage returns are applied as a terminal
    shows them. Past the disk cap the oldest output is dropped, and the result says so.

    With pattern, find the lines that match it, with their line numbers for reading. A
    search runs for at most a few seconds: past them it returns what it found and the
    offset to go on from."""
    session = deps.view(ctx).with_execution(execution_id, kernel)
    ex = session.runner.execution(execution_id)
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
    path: Annotated[
        str,
        Field(
            description="Where to write the .ipynb; a relative path is taken from the kernel's "
            "working directory when known."
        ),
    ],
    overwrite: Annotated[
        bool, Field(description="Replace a notebook this server saved there before (unchanged since).")
    ] = False,
    replace_other_file: Annotated[
        bool,
        Field(
            description="With overwrite: also replace a file this server did not save (the "
            "user's own notebook). Only when the user asked for exactly that."
        ),
    ] = False,
    kernel: KernelArg = None,
) -> str:
    """Save the assistant's executions in this kernel since connecting, code and outputs
    (figures included), as a notebook the user can open in JupyterLab or VS Code to review
    and rerun. The user's own cells are not in it."""
    session = await deps.view(ctx).use(kernel)
    target, count = await write_notebook(
        session, path, overwrite=overwrite, replace_other=overwrite and replace_other_file
    )
    return (
        f"Saved {count} cell{'s' if count != 1 else ''} (the assistant's executions in kernel "
        f"{session.name}) to {target}."
    )

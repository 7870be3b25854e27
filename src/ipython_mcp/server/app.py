"""The MCP server: built from the settings, with its instructions and the tools it offers, and
the one place where our exceptions become tool errors the model can read.

A tool is a plain function in tools_kernels.py, tools_run.py or tools_look.py, whose first
parameter is its dependencies (Deps). TOOLS lists them in the order clients show them, each
with its annotations; registering a tool gives it its Deps and shows the SDK the rest of its
signature: the typed arguments it describes to the model, and the client's Context.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar, get_args, get_origin

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations
from mcp_types import Tool as ListedTool

from .. import __version__
from ..errors import IPythonMCPError
from ..session.registry import KernelRegistry
from ..settings import Settings
from .deps import DefaultTimeout, Deps
from .fit import fit_result, fit_text
from .http import HttpOptions, auth_settings
from .schema import lean_schema
from .tools_kernels import (
    connect_to_kernel,
    disconnect_kernel,
    interrupt_kernel,
    kernel_status,
    list_kernels,
    restart_kernel,
    shutdown_kernel,
    start_kernel,
)
from .tools_look import complete, debug_error, get_history, inspect_variable, list_variables
from .tools_run import (
    execute_code,
    read_output,
    save_notebook,
    send_input,
    wait_for_execution,
    wait_for_users_cell,
)
from .words.advice import error_text

log = logging.getLogger(__name__)

R = TypeVar("R")
Tool = Callable[..., Awaitable[Any]]

INSTRUCTIONS = """\
This server runs code in the user's live IPython/Jupyter kernel, the same one their IDE \
(Spyder, JupyterLab, VS Code, jupyter console) uses: variables, imports and data are shared \
with the user. Start with connect_to_kernel (or list_kernels when unsure which kernel), or \
start_kernel when the user has none. It is the user's session: don't overwrite their \
variables, and restart, shut down or interrupt it only when they ask. A cell another client \
runs is almost always the user's own work: wait for it (wait_for_execution with \
execution_id='user'), never interrupt it unasked. When the user's code failed, debug_error \
shows where and why without rerunning it."""

READ_ONLY_INSTRUCTIONS = """\
This server is read-only: it looks at the user's live IPython/Jupyter kernel, the same one \
their IDE (Spyder, JupyterLab, VS Code, jupyter console) uses (its status, variables, \
history), but runs no code of its own in it and changes nothing. Start with \
connect_to_kernel (or list_kernels when unsure which kernel). wait_for_users_cell follows a \
cell the user runs to its end; debug_error shows where and why their code failed. Looking at \
a value calls its repr and size methods, as a variable explorer does. Where a result suggests \
a tool this server does not offer (running code, starting or restarting a kernel), tell the user instead."""


def _hints(*, read_only: bool, destructive: bool) -> ToolAnnotations:
    """A tool's annotations, each hint given only where it differs from the protocol's default
    (readOnlyHint false, destructiveHint true, idempotentHint false, openWorldHint true), and
    destructiveHint only beside readOnlyHint false, the only place the protocol gives it a
    meaning: a client reads a hint left out as its default. No tool reaches beyond the user's
    kernels and files (openWorldHint false)."""
    if read_only:
        return ToolAnnotations(read_only_hint=True, open_world_hint=False)
    if destructive:
        return ToolAnnotations(open_world_hint=False)
    return ToolAnnotations(destructive_hint=False, open_world_hint=False)


READ_ONLY = _hints(read_only=True, destructive=False)
CHANGES_STATE = _hints(read_only=False, destructive=False)
WRITES_FILES = _hints(read_only=False, destructive=True)
DESTRUCTIVE = _hints(read_only=False, destructive=True)

TOOLS: tuple[tuple[Tool, ToolAnnotations], ...] = (
    (start_kernel, CHANGES_STATE),
    (connect_to_kernel, CHANGES_STATE),
    (execute_code, CHANGES_STATE),
    (wait_for_execution, READ_ONLY),
    (send_input, CHANGES_STATE),
    (read_output, READ_ONLY),
    (kernel_status, READ_ONLY),
    (interrupt_kernel, DESTRUCTIVE),
    (list_kernels, READ_ONLY),
    (get_history, READ_ONLY),
    (list_variables, READ_ONLY),
    (inspect_variable, READ_ONLY),
    (debug_error, READ_ONLY),
    (complete, READ_ONLY),
    (save_notebook, WRITES_FILES),
    (disconnect_kernel, CHANGES_STATE),
    (restart_kernel, DESTRUCTIVE),
    (shutdown_kernel, DESTRUCTIVE),
)
"""Every tool, in the order clients list them, with what it may change."""

ATTACHING = {connect_to_kernel, disconnect_kernel}
"""Offered in read-only mode too: attaching changes nothing in the kernel."""
OWN_RUNS = {read_output}
"""Not offered in read-only mode though it changes nothing: it reads the assistant's own
executions, and a read-only server runs none."""
READ_ONLY_STAND_INS = {wait_for_execution: wait_for_users_cell}
"""What read-only mode offers in their place: the user's cell is the only one to wait for."""


def offered(settings: Settings) -> list[tuple[Tool, ToolAnnotations]]:
    """The tools this server offers: in read-only mode, those that cannot change a kernel and
    have something to look at."""
    if not settings.read_only:
        return list(TOOLS)
    return [
        (READ_ONLY_STAND_INS.get(tool, tool), hints)
        for tool, hints in TOOLS
        if (hints is READ_ONLY or tool in ATTACHING) and tool not in OWN_RUNS
    ]


class LeanToolList(MCPServer[Any]):
    """The MCP server, listing each tool's arguments in a lean schema (see schema.py): every
    conversation carries the tool list. The SDK's tools/list handler lists what this returns;
    calls are still validated against each tool's signature."""

    async def list_tools(self) -> list[ListedTool]:
        return [
            tool.model_copy(update={"input_schema": lean_schema(tool.input_schema)})
            for tool in await super().list_tools()
        ]


def build_server(
    settings: Settings, registry: KernelRegistry | None = None, *, http: HttpOptions | None = None
) -> MCPServer[Any]:
    """The MCP server with its tools; with `http`, requiring its bearer token on every request
    and keeping each client's default kernel apart."""
    deps = Deps.of(settings, registry, shared=http is not None)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):  # the server may be stopping by cancellation
                await deps.registry.close_all()

    server = LeanToolList(
        "ipython-mcp",
        version=__version__,
        instructions=READ_ONLY_INSTRUCTIONS if settings.read_only else INSTRUCTIONS,
        lifespan=lifespan,
        **(auth_settings(http) if http is not None else {}),
    )
    for tool, hints in offered(settings):
        server.add_tool(
            tool_errors(with_deps(tool, deps)),
            name=tool.__name__,
            description=description(tool),
            annotations=hints,
            structured_output=False,
        )
    return server


def with_deps(tool: Tool, deps: Deps) -> Tool:
    """The tool as the SDK calls it: its Deps given, and its signature without them, so the SDK
    finds the typed arguments (each DefaultTimeout made a description with the settings'
    timeout) and the Context parameter."""
    signature = inspect.signature(tool)
    _, *parameters = signature.parameters.values()  # `deps`
    parameters = [p.replace(annotation=_with_settings(p.annotation, deps.settings)) for p in parameters]

    async def call(*args: Any, **kwargs: Any) -> Any:
        return await tool(deps, *args, **kwargs)

    call.__name__ = call.__qualname__ = tool.__name__
    call.__module__ = tool.__module__
    call.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in parameters} | {
        "return": signature.return_annotation
    }
    return call


def _with_settings(annotation: Any, settings: Settings) -> Any:
    if get_origin(annotation) is not Annotated:
        return annotation
    kind, *metadata = get_args(annotation)
    metadata = [m.field(settings) if isinstance(m, DefaultTimeout) else m for m in metadata]
    return Annotated[(kind, *metadata)]


def description(tool: Tool) -> str:
    """The tool's docstring, as the model reads it: without the indentation Python before 3.13
    keeps in a docstring, each paragraph on one line."""
    paragraphs = inspect.cleandoc(tool.__doc__ or "").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def tool_errors(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """The one place where our exceptions become tool errors the model can read, and every
    result is kept within what the transports accept (see fit.py)."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> R:
        try:
            return _fitted(await fn(*args, **kwargs))
        except IPythonMCPError as exc:
            raise ToolError(error_text(exc)) from exc
        except ToolError:
            raise
        except Exception as exc:
            log.exception("internal error in %s", fn.__name__)
            raise ToolError(
                f"ipython-mcp hit an internal error ({type(exc).__name__}: {exc}). "
                "The kernel itself is unaffected; call kernel_status to check it."
            ) from exc

    return wrapper


def _fitted(result: R) -> R:
    """Any result within what the transports accept."""
    if isinstance(result, str):
        return fit_text(result)  # type: ignore[return-value]
    if isinstance(result, CallToolResult):
        return fit_result(result)  # type: ignore[return-value]
    return result

"""The MCP tools: thin, typed and documented for the model; the work happens in `kernels`.

No `from __future__ import annotations` here: the SDK evaluates the tool signatures, and
some argument descriptions are built from the settings at run time.
"""

import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import anyio
import regex
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
    ToolAnnotations,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import IPythonMCPError, KernelBusy, KernelSideError, NoSuchExecution
from ..rendering import strip_ansi
from ..run.execution import Ask, ExecutionResult, InputRequest, Progress
from ..session.base import KernelSession
from ..session.clients import ClientView
from ..session.local import LocalKernelSession
from ..session.registry import KernelRegistry
from ..settings import Settings
from . import notebooks, results
from .clients import ClientViews
from .fit import fit_result, fit_text
from .http import HttpOptions, auth_settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

KernelArg = Annotated[
    str | None,
    Field(
        description="Name of a connected kernel (from connect/start/list_kernels). "
        "Default: the most recently connected one."
    ),
]

INSTRUCTIONS = """\
This server runs code in the user's live IPython/Jupyter kernel, the same one their IDE \
(Spyder, JupyterLab, VS Code, jupyter console) uses: variables, imports and data are shared \
with the user. Start with connect_to_kernel (or list_kernels when unsure which kernel), or \
start_kernel when the user has none. It is the user's session: don't overwrite their \
variables, and restart, shut down or interrupt it only when they ask. A cell another client \
runs is almost always the user's own work: wait for it, never interrupt it unasked."""

READ_ONLY_NOTE = """ This server is read-only: it can look at kernels (status, variables, \
history) but not run code of its own in them or change them. Looking at a value calls its \
repr and size methods, as a variable explorer does."""
ATTACHING = {"connect_to_kernel", "disconnect_kernel"}
DOTTED_NAME = regex.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")
"""Offered in read-only mode too: attaching changes nothing in the kernel."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
CHANGES_STATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
WRITES_FILES = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """The one place where our exceptions become tool errors the model can read."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return _fitted(await fn(*args, **kwargs))
        except IPythonMCPError as exc:
            raise ToolError(str(exc)) from exc
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
    """Any result within what the transports accept (see fit.py)."""
    if isinstance(result, str):
        return fit_text(result)  # type: ignore[return-value]
    if isinstance(result, CallToolResult):
        return fit_result(result)  # type: ignore[return-value]
    return result


def build_server(
    settings: Settings, registry: KernelRegistry | None = None, *, http: HttpOptions | None = None
) -> MCPServer[Any]:
    """The MCP server with its tools; with `http`, requiring its bearer token on every request
    and keeping each client's default kernel apart."""
    registry = registry or KernelRegistry(settings)
    views = ClientViews(registry, shared=http is not None)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):  # the server may be stopping by cancellation
                await registry.close_all()

    mcp = MCPServer(
        "ipython-mcp",
        version=__version__,
        instructions=INSTRUCTIONS + (READ_ONLY_NOTE if settings.read_only else ""),
        lifespan=lifespan,
        **(auth_settings(http) if http is not None else {}),
    )

    def tool(
        annotations: ToolAnnotations,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        def register(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            if settings.read_only and annotations is not READ_ONLY and fn.__name__ not in ATTACHING:
                return fn  # --read-only: tools that can change a kernel are not offered
            mcp.add_tool(tool_errors(fn), annotations=annotations, structured_output=False)
            return fn

        return register

    @tool(CHANGES_STATE)
    async def start_kernel(
        ctx: Context,
        connection_file: Annotated[
            str | None,
            Field(
                description="Path for the new connection file. "
                "Default: a new kernel-<id>.json in the Jupyter runtime dir."
            ),
        ] = None,
        python: Annotated[
            str | None,
            Field(
                description="Python interpreter of the environment to run in (it needs ipykernel). "
                "Default: this server's own."
            ),
        ] = None,
        cwd: Annotated[
            str | None, Field(description="Working directory of the kernel. Default: the server's.")
        ] = None,
        server: Annotated[
            str | None,
            Field(
                description="Start the kernel on this Jupyter Server (name or URL, see list_kernels) "
                "instead of on this machine; on Enterprise Gateway it runs in the cluster."
            ),
        ] = None,
        kernel_name: Annotated[
            str | None,
            Field(
                description="With server: the kernel spec to start (e.g. 'python3'). Default: the server's."
            ),
        ] = None,
    ) -> str:
        """Start a new IPython kernel and connect to it.

        The kernel runs detached: it keeps running after this server exits, so the user can
        attach their IDE to it and share its state. Use it when the user has no kernel
        running (see list_kernels) or asks for a fresh one. Returns the kernel's name, pid,
        connection file and how the user attaches to it."""
        view = views.of(ctx)
        if server is not None:
            session = await view.start_on_server(server, kernel_name)
        else:
            session = await view.start(connection_file, python, cwd)
        reach = results.default_phrase(view, session)
        return (
            f"Started kernel {results.kernel_line(session)} and connected; {reach}. "
            f"It keeps running after this server exits (shutdown_kernel stops it).\n"
            f"{session.location}\n{results.attach_instructions(session)}"
        )

    @tool(CHANGES_STATE)
    async def connect_to_kernel(
        ctx: Context,
        connection_file: Annotated[
            str | None,
            Field(
                description="Connection file path, or a unique part of its name in the Jupyter runtime dir "
                "(e.g. '12345' for kernel-12345.json), or a notebook open in a Jupyter Server "
                "('analysis.ipynb'), or a server kernel's id. Default: $IPYTHON_MCP_CONNECTION, else the "
                "only running kernel."
            ),
        ] = None,
        server: Annotated[
            str | None,
            Field(description="The Jupyter Server (name or URL, see list_kernels) whose kernel this is."),
        ] = None,
    ) -> str:
        """Attach to a running kernel (the user's, from Spyder, Jupyter, VS Code or jupyter
        console) through its connection file, or to the kernel of a notebook open in
        JupyterLab or on a Jupyter Server, JupyterHub or Enterprise Gateway, and make it the
        default kernel.

        Variables and imports are then shared with the user. Connected means the kernel
        answered. With no argument and several kernels running, the error lists them."""
        view = views.of(ctx)
        session, already = await view.connect(connection_file, server)
        verb = "Already connected to" if already else "Connected to"
        busy = (
            ""
            if await session.link.shell_answers(0.5)
            else (" It is busy running a cell right now; execute_code will wait for it.")
        )
        warning = session.conn.exposure_warning() if isinstance(session, LocalKernelSession) else None
        reach = results.default_phrase(view, session)
        warned = f"\n{warning}" if warning else ""
        return f"{verb} kernel {results.kernel_line(session)}; {reach}.{busy}{warned}"

    @tool(CHANGES_STATE)
    async def execute_code(
        code: Annotated[
            str, Field(description="Python code (or IPython magics) to run, as in a notebook cell.")
        ],
        ctx: Context,
        timeout: Annotated[
            float | None,
            Field(description=f"Seconds to wait for the code. Default: {settings.timeout:g}.", gt=0),
        ] = None,
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
        view = views.of(ctx)
        timeout = timeout or settings.timeout
        if (answered := await _answer_from_user(ctx, registry, view, timeout)) is not None:
            return answered
        session = await view.use(kernel)
        result = await session.runner.execute(
            code,
            timeout=timeout or settings.timeout,
            on_timeout=on_timeout,
            if_busy=if_busy,
            progress=_progress(ctx),
            ask=_asker(ctx),
        )
        return _reply(ctx, view, session, result)

    @tool(READ_ONLY)
    async def wait_for_execution(
        ctx: Context,
        execution_id: Annotated[
            str | None,
            Field(description="Id from execute_code, e.g. 'e3'. Default: the latest still running."),
        ] = None,
        timeout: Annotated[
            float, Field(description="Seconds to wait for it to finish before returning.", gt=0)
        ] = 30,
        kernel: KernelArg = None,
    ) -> CallToolResult | InputRequiredResult:
        """Wait for code left running by execute_code(on_timeout='continue'): returns what it
        printed since the last read, and its final status once it has finished. It is never
        interrupted by this call; interrupt_kernel stops it."""
        view = views.of(ctx)
        if (answered := await _answer_from_user(ctx, registry, view, timeout)) is not None:
            return answered
        session = view.with_execution(execution_id, kernel)
        result = await session.runner.wait_for(
            execution_id, timeout, progress=_progress(ctx), ask=_asker(ctx)
        )
        return _reply(ctx, view, session, result)

    @tool(CHANGES_STATE)
    async def send_input(
        ctx: Context,
        text: Annotated[str, Field(description="The answer, without a trailing newline.")],
        execution_id: Annotated[
            str | None,
            Field(description="Id of the execution waiting for input. Default: the latest one."),
        ] = None,
        timeout: Annotated[
            float | None,
            Field(description=f"Seconds to wait for the code after. Default: {settings.timeout:g}.", gt=0),
        ] = None,
        kernel: KernelArg = None,
    ) -> CallToolResult:
        """Answer the input() the assistant's code waits on (a result said "Waiting for
        input"), then return what the code printed next, like wait_for_execution."""
        view = views.of(ctx)
        session = view.with_execution(execution_id, kernel)
        result = await session.runner.send_input(
            text, execution_id, timeout or settings.timeout, _progress(ctx)
        )
        return results.execution_result(_noticed(view, session, result))

    @tool(READ_ONLY)
    async def read_output(
        ctx: Context,
        execution_id: Annotated[str, Field(description="Id from execute_code, e.g. 'e3'.")],
        offset: Annotated[int, Field(description="First line to return (0-based).", ge=0)] = 0,
        limit: Annotated[int, Field(description="How many lines at most.", ge=1)] = 200,
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
        shows them. Past the disk cap the oldest output is dropped, and the result says so."""
        session = views.of(ctx).with_execution(execution_id, kernel)
        ex = session.runner.execution(execution_id)
        return results.output_lines(ex, offset, limit, settings.max_output_chars, char_offset)

    @tool(READ_ONLY)
    async def search_output(
        ctx: Context,
        execution_id: Annotated[str, Field(description="Id from execute_code, e.g. 'e3'.")],
        pattern: Annotated[str, Field(description="Python regular expression, searched in each line.")],
        limit: Annotated[int, Field(description="How many matching lines at most.", ge=1)] = 50,
        offset: Annotated[
            int,
            Field(
                description="First line to search (0-based): a search stopped by its time limit "
                "says where to go on.",
                ge=0,
            ),
        ] = 0,
        kernel: KernelArg = None,
    ) -> str:
        """Find the lines of an execution's whole output that match a regular expression,
        with their line numbers for read_output. A search runs for at most a few seconds:
        past them it returns what it found and the offset to go on from."""
        from ..run.transcript import search_in_thread

        session = views.of(ctx).with_execution(execution_id, kernel)
        ex = session.runner.execution(execution_id)
        try:
            compiled = regex.compile(pattern)
        except regex.error as exc:
            raise ToolError(f"{pattern!r} is not a valid regular expression: {exc}.") from None
        try:
            found = await search_in_thread(
                ex.transcript,
                compiled,
                limit=limit,
                seconds=SEARCH_SECONDS,
                offset=offset,
                progress=_progress(ctx),
            )
        except TimeoutError:
            raise ToolError(
                f"Searching for {pattern!r} took over {SEARCH_SECONDS:g} s and was stopped: the "
                "pattern backtracks too much. Use a simpler one."
            ) from None
        return results.output_matches(ex, found, offset, settings.max_output_chars, SEARCH_SECONDS)

    @tool(READ_ONLY)
    async def kernel_status(ctx: Context, kernel: KernelArg = None) -> str:
        """Check a connected kernel: alive or not, idle or busy (and with whose cell),
        execution count, language and versions, pid and connection file."""
        session = await views.of(ctx).use(kernel)
        return results.status_text(session, await session.status())

    @tool(DESTRUCTIVE)
    async def interrupt_kernel(ctx: Context, kernel: KernelArg = None) -> str:
        """Stop the code running in the kernel (like Ctrl+C / the stop button), whoever started
        it. Sends an interrupt request, then SIGINT to a local kernel if still busy. Says
        what was stopped and whether the kernel is idle now. Variables are kept, but the
        cell's work in progress is lost: stop another client's cell (the user's) only when
        the user asks."""
        session = await views.of(ctx).use(kernel)
        return results.interrupt_text(session, await session.interrupt())

    @tool(READ_ONLY)
    async def list_kernels(ctx: Context) -> str:
        """List the kernels on this machine (connection files in the Jupyter runtime dir):
        live or stale, pid, kernel name, who runs each (Spyder, JupyterLab with the notebook's
        path, jupyter console, ...), its working directory, and which are connected (* marks
        the default); then the kernels of the Jupyter Servers the user configured, with their
        notebooks, state and number of clients."""
        discovery = await registry.list_kernels()
        return results.listing_text(settings.runtime_dir, discovery, views.of(ctx))

    @tool(READ_ONLY)
    async def get_history(
        ctx: Context,
        n: Annotated[
            int, Field(description="How many of the most recent cells to return.", ge=1, le=200)
        ] = 20,
        kernel: KernelArg = None,
    ) -> CallToolResult:
        """Show the last cells run in the kernel by anyone (the user's IDE included), with
        their execution numbers; the outputs the user saw for cells they ran while this
        server was connected; the most recent exception (so "why did my last cell fail?"
        needs one call); and the user's most recent figure as an image. Leaves no trace in
        the kernel."""
        session = await views.of(ctx).use(kernel)
        history = await session.inspector.history(n)
        observed = session.observed
        seen_error = any(c.log.error is not None for c in observed.cells())
        last_error: str | None = ""
        if not seen_error:
            try:
                last_error = await session.inspector.last_exception()
            except KernelBusy:
                last_error = None  # it needs code run, which a busy kernel may not allow
        return results.history_result(
            session, history, observed.cells(), last_error, observed.latest_image, settings.max_output_chars
        )

    @tool(READ_ONLY)
    async def list_variables(
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
        session = await views.of(ctx).use(kernel)
        options = {"include_private": include_private, "include_callables": include_callables}
        found, during = await session.inspector.look("namespace", options, "a variable listing")
        note = results.during_note(during, found)
        return results.variables_text(session, found, settings.max_output_chars - len(note)) + note

    @tool(READ_ONLY)
    async def inspect_variable(
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
        if settings.read_only and not DOTTED_NAME.fullmatch(name.strip()):
            raise ToolError(
                f"{name!r} is an expression; this read-only server inspects names and their "
                "attributes only (e.g. 'df' or 'df.columns'), since an expression could call code."
            )
        session = await views.of(ctx).use(kernel)
        found, during = await session.inspector.look("inspect_value", {"expression": name}, "an inspection")
        if "error" in found:
            raise KernelSideError(
                f"{name} could not be evaluated in the kernel: {found['error']}. "
                "list_variables shows the names there."
            )
        help_text = ""
        if found.get("callable"):
            reply = await session.inspector.help(name)
            help_text = strip_ansi((reply.get("data") or {}).get("text/plain", ""))
        note = results.during_note(during, found)
        return results.inspection_text(found, help_text, settings.max_output_chars - len(note)) + note

    @tool(READ_ONLY)
    async def complete(
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
        session = await views.of(ctx).use(kernel)
        position = len(code) if cursor_pos is None else min(cursor_pos, len(code))
        return results.completion_text(code, await session.inspector.complete(code, position))

    @tool(WRITES_FILES)
    async def save_notebook(
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
        session = await views.of(ctx).use(kernel)
        target, count = await notebooks.save(
            session, path, overwrite=overwrite, replace_other=overwrite and replace_other_file
        )
        return (
            f"Saved {count} cell{'s' if count != 1 else ''} (the assistant's executions in kernel "
            f"{session.name}) to {target}."
        )

    @tool(CHANGES_STATE)
    async def disconnect_kernel(ctx: Context, kernel: KernelArg = None) -> str:
        """Stop using a kernel. The kernel keeps running with all its state."""
        view = views.of(ctx)
        session, shared = await view.disconnect(kernel)
        others = " (another client of this server still uses it)" if shared else ""
        default = results.default_now(view)
        return f"Disconnected from kernel {session.name}; it is still running{others}.{default}"

    @tool(DESTRUCTIVE)
    async def restart_kernel(ctx: Context, kernel: KernelArg = None) -> str:
        """Restart a kernel started by start_kernel (keeping its connection file so attached
        IDEs reconnect), or a Jupyter Server's kernel through that server. All variables are
        lost. Kernels started by the user's IDE are restarted from the IDE: the error says how."""
        session = await views.of(ctx).restart(kernel)
        return f"Restarted kernel {results.kernel_line(session)}; its variables are gone."

    @tool(DESTRUCTIVE)
    async def shutdown_kernel(ctx: Context, kernel: KernelArg = None) -> str:
        """Shut a kernel down for good: its process ends and all its state is lost. Only do
        this when the user asked for it."""
        view = views.of(ctx)
        session, steps = await view.shutdown(kernel)
        return f"Shut down kernel {session.name}: {'; '.join(steps)}.{results.default_now(view)}"

    return mcp


def _progress(ctx: Context) -> Progress:
    """Progress notifications to the client, when it asked for them: elapsed seconds and what
    is happening. A client that went away must not break the call."""

    async def report(elapsed: float, message: str) -> None:
        with contextlib.suppress(Exception):
            await ctx.report_progress(round(elapsed, 1), None, message)

    return report


class _Answer(BaseModel):
    answer: str = Field(description="What to type at the prompt")


SEARCH_SECONDS = 3.0
"""Longest time search_output may take; a pathological pattern is stopped after it."""
USER_ANSWER = 300.0
"""Seconds the user gets to answer a question put to them through the client."""
ELICITATION_PROTOCOL = "2026-07-28"
"""From this protocol on, a tool asks the user by returning InputRequiredResult; the client
answers by calling it again. Before it, the tool sends an elicitation request mid-call."""


def _can_elicit(ctx: Context) -> bool:
    elicitation = ctx.client_capabilities.elicitation if ctx.client_capabilities else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _elicits_by_result(ctx: Context) -> bool:
    version = ctx.protocol_version
    return _can_elicit(ctx) and version is not None and is_version_at_least(version, ELICITATION_PROTOCOL)


def _question(prompt: str) -> str:
    return f"Code the assistant runs in your Python kernel asks for input: {prompt!r}"


def _asker(ctx: Context) -> Ask | None:
    """Asks the user through the client in the middle of the call, on protocols that allow
    it; the answer goes to the kernel, not to the model."""
    if not _can_elicit(ctx) or _elicits_by_result(ctx):
        return None

    async def ask(request: InputRequest) -> str | None:
        result = await ctx.elicit(_question(request.prompt), _Answer)
        return result.data.answer if result.action == "accept" else None

    return ask


async def _answer_from_user(
    ctx: Context, registry: KernelRegistry, view: ClientView, wait: float
) -> CallToolResult | InputRequiredResult | None:
    """On a call the client repeats with the user's answer to our InputRequiredResult: give
    the answer to the input() waiting for it and go on following the code. The execution is
    the one named in the (sealed) request state, whichever kernel is the default now."""
    if not ctx.request_state:
        return None
    session = registry.with_execution(ctx.request_state)
    response = (ctx.input_responses or {}).get("input")
    answer = None
    if isinstance(response, ElicitResult) and response.action == "accept":
        answer = str((response.content or {}).get("answer", ""))
    try:
        result = await session.runner.send_input(answer or "", ctx.request_state, wait, _progress(ctx))
        note = "" if answer is not None else "The user gave no answer: input() got ''."
    except NoSuchExecution:  # it stopped waiting first (deadline, interrupt): say so, go on
        result = await session.runner.wait_for(ctx.request_state, wait, _progress(ctx))
        note = "The user's answer came after input() had stopped waiting; it was not used."
    if note:
        result = dataclasses.replace(result, notes=[note, *result.notes])
    return _reply(ctx, view, session, result)


def _reply(
    ctx: Context, view: ClientView, session: KernelSession, result: ExecutionResult
) -> CallToolResult | InputRequiredResult:
    """The result; or, when the code waits for input and the client can ask its user by
    answering a result, the question for the user (the model never sees the answer)."""
    if result.status == "input" and _elicits_by_result(ctx):
        ex = session.runner.execution(result.execution_id)
        request = ex.input
        if request is not None:
            ex.rewind()  # the model sees none of this result: the resumed call shows it
            session.runner.wait_for_user(ex, USER_ANSWER)
            schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
            question = ElicitRequest(params=ElicitRequestFormParams(message=_question(request.prompt),
                                                                    requested_schema=schema))  # fmt: skip
            return InputRequiredResult(input_requests={"input": question}, request_state=result.execution_id)
    return results.execution_result(_noticed(view, session, result))


def _noticed(view: ClientView, session: KernelSession, result: ExecutionResult) -> ExecutionResult:
    """The result with what this client has not been told yet: that the kernel restarted."""
    notices = view.notices(session)
    return dataclasses.replace(result, notes=[*notices, *result.notes]) if notices else result

"""The tools that find, attach, start and stop kernels, and tell their state.

Each tool is a plain function: `deps` first, then what the SDK reads from its signature (the
typed arguments with their descriptions, and the client's Context); its docstring is the
description the model reads. app.py registers them. No `from __future__ import annotations`:
the SDK evaluates these signatures.
"""

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from ..session.local import LocalKernelSession
from .deps import Deps, KernelArg
from .words.advice import advice_text
from .words.kernels import (
    attach_instructions,
    default_now,
    default_phrase,
    interrupt_text,
    kernel_line,
    listing_text,
    status_text,
    unlisted_servers_note,
)


async def start_kernel(
    deps: Deps,
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
        Field(description="With server: the kernel spec to start (e.g. 'python3'). Default: the server's."),
    ] = None,
) -> str:
    """Start a new IPython kernel and connect to it.

    The kernel runs detached: it keeps running after this server exits, so the user can
    attach their IDE to it and share its state. Use it when the user has no kernel
    running (see list_kernels) or asks for a fresh one. Returns the kernel's name, pid,
    connection file and how the user attaches to it."""
    view = deps.view(ctx)
    if server is not None:
        session = await view.start_on_server(server, kernel_name)
    else:
        session = await view.start(connection_file, python, cwd)
    return (
        f"Started kernel {kernel_line(session)} and connected; {default_phrase(view, session)}. "
        f"It keeps running after this server exits (shutdown_kernel stops it).\n"
        f"{session.location}\n{attach_instructions(session)}"
    )


async def connect_to_kernel(
    deps: Deps,
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
    kernel_ref = connection_file  # (named so in the tool's contract) or a notebook, or a kernel id
    view = deps.view(ctx)
    session, already = await view.connect(kernel_ref, server)
    verb = "Already connected to" if already else "Connected to"
    busy = (
        ""
        if await session.link.shell_answers(0.5)
        else " It is busy running a cell right now; execute_code will wait for it."
    )
    warning = session.conn.exposure_warning() if isinstance(session, LocalKernelSession) else None
    warned = f"\n{warning} {advice_text('restrict_the_file', path=session.conn.path)}" if warning else ""
    return f"{verb} kernel {kernel_line(session)}; {default_phrase(view, session)}.{busy}{warned}"


async def kernel_status(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Check a connected kernel: alive or not, idle or busy (and with whose cell),
    execution count, language and versions, pid and connection file."""
    session = await deps.view(ctx).use(kernel)
    return status_text(session, await session.status())


async def interrupt_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Stop the code running in the kernel (like Ctrl+C / the stop button), whoever started
    it. Sends an interrupt request, then SIGINT to a local kernel if still busy. Says
    what was stopped and whether the kernel is idle now. Variables are kept, but the
    cell's work in progress is lost: stop another client's cell (the user's) only when
    the user asks."""
    session = await deps.view(ctx).use(kernel)
    return interrupt_text(session, await session.interrupt())


async def list_kernels(deps: Deps, ctx: Context) -> str:
    """List the kernels on this machine (connection files in the Jupyter runtime dir):
    live or stale, pid, kernel name, who runs each (Spyder, JupyterLab with the notebook's
    path, jupyter console, ...), its working directory, and which are connected (* marks
    the default); then the kernels of the Jupyter Servers the user configured, with their
    notebooks, state and number of clients."""
    discovery = await deps.registry.list_kernels()
    listing = listing_text(deps.settings.runtime_dir, discovery, deps.view(ctx))
    return listing + unlisted_servers_note(discovery.servers)


async def disconnect_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Stop using a kernel. The kernel keeps running with all its state."""
    view = deps.view(ctx)
    session, shared = await view.disconnect(kernel)
    others = " (another client of this server still uses it)" if shared else ""
    return f"Disconnected from kernel {session.name}; it is still running{others}.{default_now(view)}"


async def restart_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Restart a kernel started by start_kernel (keeping its connection file so attached
    IDEs reconnect), or a Jupyter Server's kernel through that server. All variables are
    lost. Kernels started by the user's IDE are restarted from the IDE: the error says how."""
    session = await deps.view(ctx).restart(kernel)
    return f"Restarted kernel {kernel_line(session)}; its variables are gone."


async def shutdown_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Shut a kernel down for good: its process ends and all its state is lost. Only do
    this when the user asked for it."""
    view = deps.view(ctx)
    session, steps = await view.shutdown(kernel)
    return f"Shut down kernel {session.name}: {'; '.join(steps)}.{default_now(view)}"

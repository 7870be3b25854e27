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
    restarted_text,
    status_text,
    unlisted_servers_note,
)


async def start_kernel(
    deps: Deps,
    ctx: Context,
    connection_file: Annotated[str | None, Field(description="Path for its connection file")] = None,
    python: Annotated[str | None, Field(description="Python (with ipykernel) to run it in")] = None,
    cwd: Annotated[str | None, Field(description="Working directory")] = None,
    server: Annotated[str | None, Field(description="Jupyter Server (name or URL) to start it on")] = None,
    kernel_name: Annotated[str | None, Field(description="With server: kernel spec, e.g. 'python3'")] = None,
) -> str:
    """Start and connect a new IPython kernel when the user has none or wants one. It
    outlives this server; the result says how the user attaches."""
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
            description="Connection file (path or name part), server notebook or kernel id; "
            "default: the only one running"
        ),
    ] = None,
    server: Annotated[str | None, Field(description="Jupyter Server (name or URL) it is on")] = None,
) -> str:
    """Attach to a running kernel as the default: the user's (Spyder, Jupyter, VS Code...)
    or a server notebook's. Its state is shared with the user."""
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
    """A kernel's state: alive, idle or busy (with whose cell), execution count, versions,
    pid, connection file."""
    session = await deps.view(ctx).use(kernel)
    return status_text(session, await session.status())


async def interrupt_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Interrupt the running code (Ctrl+C): variables stay, the cell's work is lost.
    Another client's (the user's) cell only when asked."""
    session = await deps.view(ctx).use(kernel)
    return interrupt_text(session, await session.interrupt())


async def list_kernels(deps: Deps, ctx: Context) -> str:
    """Kernels to connect to, here and on configured Jupyter Servers: live or stale, pid,
    the program running each (Spyder, a notebook...), which are connected."""
    discovery = await deps.registry.list_kernels()
    listing = listing_text(deps.settings.runtime_dir, discovery, deps.view(ctx))
    return listing + unlisted_servers_note(discovery.servers)


async def disconnect_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Stop using a kernel; it keeps running with all its state."""
    view = deps.view(ctx)
    session, shared = await view.disconnect(kernel)
    others = " (another client of this server still uses it)" if shared else ""
    return f"Disconnected from kernel {session.name}; it is still running{others}.{default_now(view)}"


async def restart_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Restart a kernel started by start_kernel or on a Jupyter Server, losing its
    variables (an IDE's own kernel: the error says how)."""
    session = await deps.view(ctx).restart(kernel)
    return restarted_text(session)


async def shutdown_kernel(deps: Deps, ctx: Context, kernel: KernelArg = None) -> str:
    """Shut a kernel down for good, losing all its state. Only when the user asks."""
    view = deps.view(ctx)
    session, steps = await view.shutdown(kernel)
    return f"Shut down kernel {session.name}: {'; '.join(steps)}.{default_now(view)}"

"""What every tool works with: its dependencies (Deps), the `kernel` argument, progress to the
client, and an execution's result with what the client is still to be told about its kernel."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Self

import anyio
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field
from pydantic.fields import FieldInfo

from ..rendering import Block, Image
from ..rendering.figures import fit_figures
from ..run.execution import ExecutionResult, Progress
from ..session.base import KernelSession
from ..session.clients import ClientView
from ..session.registry import KernelRegistry
from ..settings import Settings
from .clients import ClientViews
from .words.kernels import restart_notice
from .words.runs import execution_result


@dataclass(frozen=True, slots=True)
class Deps:
    """What a tool needs besides its arguments; the first parameter of every tool."""

    settings: Settings
    registry: KernelRegistry
    """Every kernel this server is attached to."""
    views: ClientViews
    """Each client's view of the registry: its default kernel, the kernels it attached."""

    @classmethod
    def of(cls, settings: Settings, registry: KernelRegistry | None = None, *, shared: bool = False) -> Self:
        """`shared`: the server has several clients (over HTTP), each with a view of its own."""
        registry = registry or KernelRegistry(settings)
        return cls(settings, registry, ClientViews(registry, shared=shared))

    def view(self, ctx: Context) -> ClientView:
        """The view of the client making this call."""
        return self.views.of(ctx)


KernelArg = Annotated[str | None, Field(description="Default: last connected")]
"""The `kernel` argument of every tool that works on one kernel."""


@dataclass(frozen=True, slots=True)
class DefaultTimeout:
    """In an argument's `Annotated`: a time in seconds whose description ends with the default
    timeout of the settings, known only when the tool is registered (`field` then replaces it)."""

    description: str

    def field(self, settings: Settings) -> FieldInfo:
        return Field(description=f"{self.description}; default {settings.timeout:g}", gt=0)


TimeoutArg = Annotated[float | None, DefaultTimeout("Seconds to wait")]
"""The `timeout` of the tools that run code: the settings' timeout unless given."""


def progress_to(ctx: Context) -> Progress:
    """Progress notifications to the client, when it asked for them: elapsed seconds and what
    is happening. A client that went away must not break the call."""

    async def report(elapsed: float, message: str) -> None:
        with contextlib.suppress(Exception):
            await ctx.report_progress(round(elapsed, 1), None, message)

    return report


async def result_for(
    view: ClientView, session: KernelSession, result: ExecutionResult, said: Sequence[str] = ()
) -> CallToolResult:
    """An execution's result for this client, its figures fitted (in a thread: it is CPU work),
    first with what it has not been told yet (that the kernel restarted), then what the caller
    `said`."""
    if any(isinstance(block, Image) for block in result.blocks):
        settings = session.settings
        blocks = await fitted(result.blocks, long_edge=settings.max_image_px, budget=settings.max_image_bytes)
        result = dataclasses.replace(result, blocks=blocks)
    notices = [restart_notice(restart) for restart in view.untold_restarts(session)]
    return execution_result(result, session, before=[*notices, *said])


async def fitted(blocks: Sequence[Block], *, long_edge: int, budget: int) -> list[Block]:
    """The blocks with their figures fitted (rendering.figures), in a thread: it is CPU work."""
    fit = functools.partial(fit_figures, blocks, long_edge=long_edge, budget=budget)
    return await anyio.to_thread.run_sync(fit)

"""Each tool is a plain function of its dependencies: called here directly, with a real kernel
and no MCP client or server in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import IdeKernel, texts
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from ipython_mcp.errors import IPythonMCPError
from ipython_mcp.server.deps import Deps
from ipython_mcp.server.tools_kernels import connect_to_kernel, kernel_status
from ipython_mcp.server.tools_look import inspect_variable, list_variables
from ipython_mcp.server.tools_run import execute_code
from ipython_mcp.settings import Settings

NO_REQUEST = Context()
"""A call outside any request: no client to ask for input(), nobody to send progress to."""


@pytest.fixture
async def deps(settings: Settings) -> AsyncIterator[Deps]:
    deps = Deps.of(settings)
    yield deps
    await deps.registry.close_all()


async def test_the_tools_work_in_the_users_kernel_when_called_directly(
    deps: Deps, shared_kernel: IdeKernel
) -> None:
    connected = await connect_to_kernel(deps, NO_REQUEST, connection_file=str(shared_kernel.path))
    assert connected.startswith(f"Connected to kernel {shared_kernel.name} (python ")
    result = await execute_code(deps, "called_directly = 6 * 7\nprint('printed')\ncalled_directly", NO_REQUEST)
    assert not result.is_error and texts(result) == "printed\n\n42"
    assert "called_directly" in await list_variables(deps, NO_REQUEST)
    assert "alive, idle" in await kernel_status(deps, NO_REQUEST, kernel=shared_kernel.name)
    _, printed = await shared_kernel.ide.run("print(called_directly); del called_directly")
    assert printed == "42\n"  # the user's kernel, shared with their IDE


async def test_a_tool_raises_our_own_errors_which_registration_turns_into_tool_errors(
    runtime_dir: Path,
) -> None:
    deps = Deps.of(Settings(runtime_dir=str(runtime_dir), read_only=True))
    with pytest.raises(IPythonMCPError, match="No kernel is connected"):
        await kernel_status(deps, NO_REQUEST)
    with pytest.raises(ToolError, match="read-only server inspects names"):
        await inspect_variable(deps, NO_REQUEST, name="df.drop(columns='a')")

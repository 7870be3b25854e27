"""A third-party MCP client, the MCP Inspector's CLI (npm @modelcontextprotocol/inspector),
against the installed server."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from conftest import IdeKernel
from test_server import SCRIPT, TOOLS

INSPECTOR = os.environ.get("IPYTHON_MCP_TEST_INSPECTOR")

pytestmark = pytest.mark.skipif(
    not INSPECTOR, reason="scripts/test.sh installs the MCP Inspector where npm is available"
)


async def inspector(*args: str, runtime_dir: Path, connection: Path) -> dict:
    assert INSPECTOR is not None
    node_bin = str(Path(INSPECTOR).parent)  # the Node.js installed beside it
    process = await asyncio.create_subprocess_exec(
        INSPECTOR, "--cli", SCRIPT,
        "-e", f"JUPYTER_RUNTIME_DIR={runtime_dir}", "-e", f"IPYTHON_MCP_CONNECTION={connection}",
        *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PATH": f"{node_bin}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-2000:]
    return json.loads(out)


async def test_the_mcp_inspector_lists_the_tools_and_runs_code(
    shared_kernel: IdeKernel, runtime_dir: Path
) -> None:
    listed = await inspector("--method", "tools/list", runtime_dir=runtime_dir, connection=shared_kernel.path)
    assert {tool["name"] for tool in listed["tools"]} == TOOLS
    called = await inspector(
        "--method", "tools/call", "--tool-name", "execute_code", "--tool-arg", "code=print(6 * 7)",
        runtime_dir=runtime_dir, connection=shared_kernel.path,
    )  # fmt: skip
    assert called == {"content": [{"type": "text", "text": "42\n"}], "isError": False}

"""The server as a process and as a contract: stdio, signals, tool metadata."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mcp
from conftest import Assistant, Gate, IdeKernel
from mcp.client.stdio import StdioServerParameters, stdio_client

from ipython_mcp.server import build_server
from ipython_mcp.server.app import TOOLS as REGISTERED
from ipython_mcp.settings import Settings

SCRIPT = str(Path(sys.executable).parent / "ipython-mcp")
TOOLS = {
    "start_kernel",
    "connect_to_kernel",
    "execute_code",
    "kernel_status",
    "disconnect_kernel",
    "interrupt_kernel",
    "shutdown_kernel",
    "list_kernels",
    "restart_kernel",
    "get_history",
    "complete",
    "list_variables",
    "inspect_variable",
    "debug_error",
    "wait_for_execution",
    "read_output",
    "send_input",
    "save_notebook",
}


async def test_installed_script_serves_over_stdio(shared_kernel: IdeKernel, runtime_dir: Path) -> None:
    params = StdioServerParameters(
        command=SCRIPT,
        args=["--connection-file", str(shared_kernel.path)],
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir)},
    )
    async with stdio_client(params) as (read, write), mcp.ClientSession(read, write) as session:
        await session.initialize()
        listed = (await session.list_tools()).tools
        assert {t.name for t in listed} == TOOLS
        assert not any("title" in t.input_schema for t in listed)  # the lean tool list
        assert not (await session.call_tool("connect_to_kernel", {})).is_error
        result = await session.call_tool("execute_code", {"code": "print('over stdio'); 2 ** 10"})
        assert [c.text for c in result.content] == ["over stdio\n", "1024"]


async def test_sigterm_ends_the_server_promptly_interrupting_its_running_code(
    own_kernel: IdeKernel, runtime_dir: Path, gates: Callable[[], Gate]
) -> None:
    server = await asyncio.create_subprocess_exec(
        SCRIPT,
        "--connection-file",
        str(own_kernel.path),
        "--log-level",
        "DEBUG",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir)},
    )
    assert server.stdin and server.stdout and server.stderr
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "connect_to_kernel", "arguments": {}},
        },
    ]
    for request in requests:
        server.stdin.write((json.dumps(request) + "\n").encode())
    lines = [json.loads(await server.stdout.readline()) for _ in range(2)]
    assert [m.get("id") for m in lines] == [1, 2]
    assert "Connected to kernel" in lines[1]["result"]["content"][0]["text"]

    gate = gates()  # never opened while the test runs: the code runs until interrupted
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "execute_code", "arguments": {"code": gate.code}},
    }
    server.stdin.write((json.dumps(call) + "\n").encode())
    # The IDE user watches the kernel take up the assistant's cell.
    await own_kernel.ide.started(str(gate.path))
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(server.wait(), 10)
    except TimeoutError:
        server.kill()
        raise AssertionError((await server.stderr.read()).decode()[-3000:]) from None
    assert time.monotonic() - started < 5
    rest = (await server.stdout.read()).decode()
    assert all(json.loads(line) for line in rest.splitlines() if line.strip())  # protocol only
    assert "Traceback" not in (await server.stderr.read()).decode()
    assert own_kernel.process.poll() is None
    reply, printed = await own_kernel.ide.run("print('kernel free')", timeout=5)
    assert printed == "kernel free\n"


async def test_every_tool_and_argument_is_described_and_annotated(assistant: Assistant) -> None:
    tools = {t.name: t for t in (await assistant.client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name}"
        assert tool.output_schema is None, tool.name
    hints = {name: effective_hints(tool) for name, tool in tools.items()}
    for name in ("kernel_status", "list_kernels", "get_history", "complete", "list_variables"):
        assert hints[name]["read_only_hint"], name
    for name in ("inspect_variable", "wait_for_execution", "read_output"):
        assert hints[name]["read_only_hint"], name
    for name in ("shutdown_kernel", "restart_kernel", "interrupt_kernel", "save_notebook"):
        assert not hints[name]["read_only_hint"] and hints[name]["destructive_hint"], name
    for name in ("execute_code", "start_kernel", "connect_to_kernel", "send_input", "disconnect_kernel"):
        assert not hints[name]["read_only_hint"] and not hints[name]["destructive_hint"], name
    assert not any(h["open_world_hint"] for h in hints.values())


PROTOCOL_DEFAULTS = {
    "read_only_hint": False,
    "destructive_hint": True,
    "idempotent_hint": False,
    "open_world_hint": True,
}
"""What a client takes a hint left out for (the MCP specification's ToolAnnotations)."""


def effective_hints(tool: mcp.types.Tool) -> dict[str, bool]:
    given = tool.annotations.model_dump(exclude_none=True) if tool.annotations else {}
    return {name: given.get(name, default) for name, default in PROTOCOL_DEFAULTS.items()}


async def test_the_tools_offered_are_the_tool_functions_as_written(runtime_dir: Path) -> None:
    """In the order of app.TOOLS, each with its annotations, its docstring and its arguments
    (all but `deps` and the Context), the settings' timeout in the descriptions that name it."""
    settings = Settings(runtime_dir=str(runtime_dir), timeout=7.5)
    async with mcp.Client(build_server(settings)) as client:
        listed = (await client.list_tools()).tools
    assert [tool.name for tool in listed] == [function.__name__ for function, _ in REGISTERED]
    for tool, (function, hints) in zip(listed, REGISTERED, strict=True):
        assert tool.annotations == hints, tool.name
        assert tool.description.split()[:8] == (function.__doc__ or "").split()[:8], tool.name
        parameters = inspect.signature(function).parameters
        assert list(tool.input_schema["properties"]) == [name for name in parameters if name not in {"deps", "ctx"}]
    timeouts = {tool.name: tool.input_schema["properties"].get("timeout") for tool in listed}
    assert timeouts["execute_code"]["description"] == "Seconds to wait; default 7.5"
    assert timeouts["send_input"]["description"] == "Seconds to wait; default 7.5"
    assert timeouts["send_input"]["exclusiveMinimum"] == 0


async def test_read_only_mode_offers_only_tools_that_cannot_change_a_kernel(
    shared_kernel: IdeKernel, runtime_dir: Path
) -> None:
    settings = Settings(runtime_dir=str(runtime_dir), read_only=True)
    async with mcp.Client(build_server(settings)) as client:
        cautious = Assistant(client, runtime_dir)
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {
            "connect_to_kernel", "disconnect_kernel", "kernel_status", "list_kernels", "get_history",
            "list_variables", "inspect_variable", "debug_error", "complete", "wait_for_users_cell",
        }  # fmt: skip
        assert "read-only" in (client.instructions or "")
        # Nothing the model reads of the tools points at one this server does not offer.
        absent = re.compile("|".join(rf"\b{name}\b" for name in TOOLS - set(tools)))
        said = [client.instructions or ""]
        for tool in tools.values():
            said.append(tool.description or "")
            said += [p.get("description", "") for p in tool.input_schema.get("properties", {}).values()]
        assert not [absent.findall(words) for words in said if absent.search(words)]
        await shared_kernel.ide.run("seen_read_only = [1, 2, 3]")
        await cautious.text("connect_to_kernel", connection_file=str(shared_kernel.path))
        assert "seen_read_only" in await cautious.text("list_variables")
        assert "list" in await cautious.text("inspect_variable", name="seen_read_only")
        refused = await cautious.error("inspect_variable", name="seen_read_only.append(4)")
        assert "read-only server inspects names and their attributes only" in refused
        _, printed = await shared_kernel.ide.run("print(seen_read_only)")
        assert printed == "[1, 2, 3]\n"

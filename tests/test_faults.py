"""Faults, against real kernels: broken connection files, ports held by something else, a
frozen kernel, a client that goes away mid-call, and many calls in a row."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp
import psutil
from conftest import Assistant, Gate, IdeKernel, texts, wait_until
from mcp.client.stdio import StdioServerParameters, stdio_client
from test_server import SCRIPT

from ipython_mcp.server import build_server
from ipython_mcp.settings import Settings

KEY = secrets.token_hex(32)
VALID = {
    "shell_port": 1,
    "iopub_port": 2,
    "stdin_port": 3,
    "control_port": 4,
    "hb_port": 5,
    "ip": "127.0.0.1",
    "key": KEY,
}


BROKEN = [
    (None, "does not exist"),
    ("", "is not valid JSON (empty or truncated?)"),
    (json.dumps(VALID)[:40], "is not valid JSON (empty or truncated?)"),
    ("\x00\xff garbage", "is not valid JSON"),
    ("[1, 2]", "does not hold a JSON object"),
    (json.dumps({"ip": "127.0.0.1"}), "is missing shell_port"),
    ("a folder", "cannot be read"),  # unreadable as a file, whoever runs the tests
]


async def test_broken_connection_files_get_clear_messages(assistant: Assistant, tmp_path: Path) -> None:
    for i, (content, message) in enumerate(BROKEN):
        path = tmp_path / f"kernel-broken{i}.json"
        if content == "a folder":
            path.mkdir()
        elif content is not None:
            path.write_text(content, errors="surrogateescape")
        error = await assistant.error("connect_to_kernel", connection_file=str(path))
        assert message in error and "Traceback" not in error, (content, error)
    async with mcp.Client(build_server(Settings(runtime_dir=str(tmp_path)))) as client:
        listing = await Assistant(client, tmp_path).text("list_kernels")  # listed, not fatal
    assert "broken1" in listing and "broken6" in listing


async def test_ports_held_by_something_else_are_reported_not_waited_on(tmp_path: Path) -> None:
    sockets = []
    for _ in range(5):
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen()
        sockets.append(held)
    ports = [s.getsockname()[1] for s in sockets]
    path = tmp_path / "kernel-impostor.json"
    names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    path.write_text(
        json.dumps(
            {**dict(zip(names, ports, strict=True)), "ip": "127.0.0.1", "key": KEY, "transport": "tcp"}
        )
    )
    settings = Settings(runtime_dir=str(tmp_path), connect_timeout=3.0)
    try:
        async with mcp.Client(build_server(settings)) as client:
            started = asyncio.get_running_loop().time()
            error = await Assistant(client, tmp_path).error("connect_to_kernel", connection_file=str(path))
            assert asyncio.get_running_loop().time() - started < 10
        assert "Nothing answered at 127.0.0.1" in error and "within 3 s" in error
    finally:
        for held in sockets:
            held.close()


async def test_a_frozen_kernel_is_reported_never_waited_on(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    pid = own_kernel.process.pid
    os.kill(pid, signal.SIGSTOP)
    await wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    try:
        error = await assistant.error("execute_code", code="1 + 1")
        assert f"pid {pid}) is stopped (SIGSTOP" in error and f"kill -CONT {pid}" in error
        assert "STOPPED" in await assistant.text("kernel_status")
        assert "is stopped" in await assistant.error("list_variables")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert await assistant.text("execute_code", code="1 + 1") == "2"

    # Frozen while a call waits: the call ends at its timeout and says why.
    # Runs until interrupted below: frozen meanwhile, it cannot end before the call's timeout.
    call = asyncio.create_task(assistant.call("execute_code", code=gates().code, timeout=2))
    await assistant.until_busy("the assistant's cell In[")
    os.kill(pid, signal.SIGSTOP)
    await wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    try:
        result = await asyncio.wait_for(call, 30)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.is_error and f"kill -CONT {pid}" in texts(result)
    await assistant.text("interrupt_kernel")
    assert await assistant.text("execute_code", code="'awake'") == "'awake'"


async def _send(server: asyncio.subprocess.Process, *messages: dict[str, Any]) -> None:
    assert server.stdin is not None
    for message in messages:
        server.stdin.write((json.dumps(message) + "\n").encode())
    await server.stdin.drain()


async def test_a_client_that_goes_away_mid_call_leaves_nothing_running(
    own_kernel: IdeKernel, runtime_dir: Path, gates: Callable[[], Gate]
) -> None:
    gate = gates()  # never opened while the test runs: the code runs until interrupted
    server = await asyncio.create_subprocess_exec(
        SCRIPT, "--connection-file", str(own_kernel.path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir)},
    )  # fmt: skip
    assert server.stdout is not None and server.stderr is not None and server.stdin is not None
    await _send(
        server,
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "execute_code", "arguments": {"code": gate.code}}},
    )  # fmt: skip
    await server.stdout.readline()  # initialized
    parent = await own_kernel.ide.started(str(gate.path))  # the IDE user sees the assistant's cell start
    children = psutil.Process(server.pid).children(recursive=True)
    server.stdin.close()  # the client is gone (its window closed, it crashed)
    assert await asyncio.wait_for(server.wait(), 15) == 0
    # Its code was interrupted, not left running in the user's kernel.
    messages = await own_kernel.ide.outputs_of(parent, timeout=15)
    assert [m["content"]["ename"] for m in messages if m["msg_type"] == "error"] == ["KeyboardInterrupt"]
    assert not [c for c in children if c.is_running()]  # no orphans
    assert "Traceback" not in (await server.stderr.read()).decode()
    _, printed = await own_kernel.ide.run("print('mine again')")
    assert printed == "mine again\n"


async def test_a_thousand_calls_do_not_grow_the_servers_memory(
    shared_kernel: IdeKernel, runtime_dir: Path
) -> None:
    params = StdioServerParameters(
        command=SCRIPT,
        args=["--connection-file", str(shared_kernel.path)],
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir)},
    )
    async with stdio_client(params) as (read, write), mcp.ClientSession(read, write) as session:
        await session.initialize()
        server = next(p for p in psutil.Process().children(recursive=True) if SCRIPT in p.cmdline()[:2])
        for i in range(100):  # warm-up: imports, caches, the first executions' bookkeeping
            await session.call_tool("execute_code", {"code": f"{i} + 1"})
        before = server.memory_info().rss
        for i in range(1_000):
            result = await session.call_tool("execute_code", {"code": f"{i} * 2"})
            assert not result.is_error
        grown = server.memory_info().rss - before
    assert grown < 20 * 2**20, f"the server grew by {grown / 2**20:.1f} MB over 1,000 calls"

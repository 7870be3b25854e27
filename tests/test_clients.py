"""Several clients on one HTTP server: each keeps its own default kernel, none reaches another's
kernel or executions without naming that kernel itself."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import mcp
import pytest
import uvicorn
from conftest import Assistant, IdeKernel, ide_kernel, images, texts
from mcp.client.streamable_http import streamable_http_client

from ipython_mcp.server import build_server
from ipython_mcp.server.http import HttpOptions, http_app
from ipython_mcp.settings import Settings


@dataclass
class HttpServer:
    url: str
    token: str
    runtime_dir: Path

    @asynccontextmanager
    async def client(self, mode: str = "auto") -> AsyncIterator[Assistant]:
        """A client of its own: mode 'legacy' has an MCP session, 'auto' speaks the
        sessionless protocol (2026-07-28) the official SDK prefers."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=120) as http,
            mcp.Client(streamable_http_client(self.url, http_client=http), mode=mode) as client,
        ):
            yield Assistant(client, self.runtime_dir)


async def pid_of(client: Assistant, **arguments: Any) -> int:
    """The pid of the kernel the client's code runs in."""
    return int(await client.text("execute_code", code="import os; os.getpid()", **arguments))


@pytest.fixture
async def http_server(runtime_dir: Path) -> AsyncIterator[HttpServer]:
    """The server over streamable HTTP, in this process, on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = HttpOptions(port=port, token=secrets.token_urlsafe(16))
    settings = Settings(runtime_dir=str(runtime_dir), timeout=30.0)
    server = uvicorn.Server(
        uvicorn.Config(
            http_app(build_server(settings, http=options), options),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the HTTP server did not start"
        await asyncio.sleep(0.02)
    try:
        yield HttpServer(f"http://127.0.0.1:{port}/mcp", options.token, runtime_dir)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 30)


@pytest.fixture
async def two_kernels(runtime_dir: Path) -> AsyncIterator[tuple[IdeKernel, IdeKernel]]:
    async with ide_kernel(runtime_dir) as first, ide_kernel(runtime_dir) as second:
        yield first, second


async def test_each_client_with_a_session_keeps_its_own_default_kernel(
    http_server: HttpServer, two_kernels: tuple[IdeKernel, IdeKernel]
) -> None:
    first, second = two_kernels
    async with http_server.client("legacy") as ada, http_server.client("legacy") as bob:
        assert "it is the default kernel" in await ada.text("connect_to_kernel", connection_file=str(first.path))
        await bob.text("connect_to_kernel", connection_file=str(second.path))
        assert await pid_of(ada) == first.process.pid  # not bob's, connected after
        assert await pid_of(bob) == second.process.pid
        await ada.text("execute_code", code="adas_variable = 1")
        assert await bob.text("execute_code", code="'adas_variable' in globals()") == "False"

        # Bob disconnecting from his kernel leaves Ada untouched; hers stays her default.
        assert "it is still running." in await bob.text("disconnect_kernel")
        assert "No kernel is connected" in await bob.error("execute_code", code="1")
        assert await pid_of(ada) == first.process.pid


async def test_an_execution_is_reached_only_by_a_client_that_attached_its_kernel(
    http_server: HttpServer, two_kernels: tuple[IdeKernel, IdeKernel]
) -> None:
    first, second = two_kernels
    async with http_server.client("legacy") as ada, http_server.client("legacy") as bob:
        await ada.text("connect_to_kernel", connection_file=str(first.path))
        await bob.text("connect_to_kernel", connection_file=str(second.path))
        long = await ada.text("execute_code", code="for i in range(4000): print('line', i)")
        execution = long.split("read_output('", 1)[1].split("'", 1)[0]
        assert f"No execution {execution!r}" in await bob.error("read_output", execution_id=execution)

        # Naming Ada's kernel is attaching it: then Bob reaches it, and it stays attached
        # to the server when Ada leaves it.
        lines = await bob.text("read_output", execution_id=execution, kernel=first.name, limit=2)
        assert "line 0\nline 1" in lines
        left = await ada.text("disconnect_kernel")
        assert "another client of this server still uses it" in left
        assert await pid_of(bob, kernel=first.name) == first.process.pid
        assert await pid_of(bob) == second.process.pid  # naming a kernel does not change the default


async def test_clients_without_sessions_name_their_kernel_and_never_get_another_ones(
    http_server: HttpServer, two_kernels: tuple[IdeKernel, IdeKernel]
) -> None:
    first, _ = two_kernels
    async with http_server.client() as ada, http_server.client() as bob:
        connected = await ada.text("connect_to_kernel", connection_file=str(first.path))
        assert f"pass kernel={first.name!r} to the other tools" in connected
        refused = await bob.error("execute_code", code="ran_in_adas_kernel = True")
        assert "Name the kernel (kernel='...')" in refused and first.name in refused
        assert "Name the kernel" in await ada.error("execute_code", code="1")
        assert await pid_of(ada, kernel=first.name) == first.process.pid
        _, printed = await first.ide.run("print('ran_in_adas_kernel' in globals())")
        assert printed == "False\n"


async def test_a_kernel_shut_down_by_one_client_is_named_to_the_other(
    http_server: HttpServer, own_kernel: IdeKernel
) -> None:
    async with http_server.client("legacy") as ada, http_server.client("legacy") as bob:
        await ada.text("connect_to_kernel", connection_file=str(own_kernel.path))
        await bob.text("connect_to_kernel", connection_file=str(own_kernel.path))
        await bob.text("shutdown_kernel")
        gone = await ada.error("execute_code", code="1")
        assert f"Kernel {own_kernel.name} is no longer attached to this server" in gone
        assert "another client of it shut it down" in gone


def serialized_size(result: mcp.types.CallToolResult) -> int:
    """Bytes of the result as the SDK sends it (UTF-8 JSON)."""
    return len(result.model_dump_json(by_alias=True).encode())


FIGURES = (
    "import matplotlib.pyplot as plt, numpy as np\n"
    "rng = np.random.default_rng(0)\n"
    "for i in range({count}):\n"
    "    fig = plt.figure(figsize=({inches}, {inches}), dpi=100)\n"
    "    plt.scatter(rng.random(5000), rng.random(5000), s=2, c=rng.random(5000))\n"
    "    plt.title(f'figure {{i}}')\n"
    "    plt.show()\n"
)


async def test_a_result_fits_the_official_clients_event_limit_whatever_was_drawn(
    http_server: HttpServer, own_kernel: IdeKernel
) -> None:
    async with http_server.client() as ada:
        await ada.text("connect_to_kernel", connection_file=str(own_kernel.path))
        many = await ada.call("execute_code", code=FIGURES.format(count=10, inches=6), kernel=own_kernel.name)
        assert not many.is_error, texts(many)
        assert serialized_size(many) < 900_000
        shown = len(images(many))
        assert 0 < shown < 10 and sum(len(image.data) for image in images(many)) <= 72_000
        assert f"[{10 - shown} figures ({shown + 1}-10), " in texts(many)
        assert "left out: over this result's 72 kB for images" in texts(many)

        noise = "plt.figure(figsize=(16, 16)); plt.imshow(rng.random((1200, 1200, 3))); plt.show()"
        detailed = await ada.call("execute_code", code=noise, kernel=own_kernel.name)
        assert serialized_size(detailed) < 10_000 and not images(detailed)  # noise: no size fits
        assert re.search(r"\[figure 1 \(1\d{3}x1\d{3}\) left out: over this result's 72 kB for images; ", texts(detailed))


UNICODE_FLOOD: Callable[[int], str] = lambda n: f"print('😀' * {n})"  # noqa: E731


async def test_a_large_text_budget_still_fits_the_transport(runtime_dir: Path, own_kernel: IdeKernel) -> None:
    """Whatever budget the user sets, no result breaks the transport."""
    settings = Settings(runtime_dir=str(runtime_dir), max_output_chars=5_000_000)
    async with mcp.Client(build_server(settings)) as client:
        await client.call_tool("connect_to_kernel", {"connection_file": str(own_kernel.path)})
        result = await client.call_tool("execute_code", {"code": UNICODE_FLOOD(1_000_000)})
        assert serialized_size(result) < 900_000
        assert "left out" in texts(result) and "read_output" in texts(result)

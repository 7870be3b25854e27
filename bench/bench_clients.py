"""Benchmark: several clients on one HTTP server, and the size of its largest results.

Run by hand (`.venv/bin/python bench/bench_clients.py`); the figures go into the README.
Starts `ipython-mcp serve --transport http` and one kernel per client, then:
- isolation: every client (half with an MCP session, half sessionless, each naming nothing or
  its kernel as its protocol needs) asks `os.getpid()` N times, all clients at once, and the
  benchmark counts the answers that came from another client's kernel (must be 0), with the
  median and p95 latency of a call;
- result sizes over HTTP with the official client: ten scatter plots, one detailed figure, a
  10 MB print, a million emoji under a 5,000,000-character budget; the serialized size of each
  result (the official client refuses an event over 1 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

import httpx2
import mcp
from kernels import start_kernel
from mcp.client.streamable_http import streamable_http_client

SCRIPT = shutil.which("ipython-mcp", path=os.path.dirname(sys.executable)) or "ipython-mcp"
CELLS = {
    "ten scatter plots": (
        "import matplotlib.pyplot as plt, numpy as np\nrng = np.random.default_rng(0)\n"
        "for i in range(10):\n    plt.figure(figsize=(6, 6)); plt.scatter(rng.random(5000), "
        "rng.random(5000), s=2, c=rng.random(5000)); plt.title(f'figure {i}'); plt.show()"
    ),
    "one detailed figure": (
        "import matplotlib.pyplot as plt, numpy as np\nplt.figure(figsize=(16, 16))\n"
        "plt.imshow(np.random.default_rng(1).random((1200, 1200, 3))); plt.show()"
    ),
    "10 MB print": "import sys\nfor i in range(10_000):\n    sys.stdout.write('x' * 1000 + '\\n')",
    "1M emoji, 5M-character budget": "print('😀' * 1_000_000)",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def serve(runtime: Path, token: str, *flags: str) -> tuple[str, asyncio.subprocess.Process]:
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "IPYTHON_MCP_HTTP_TOKEN": token}
    server = await asyncio.create_subprocess_exec(
        SCRIPT, *flags, "serve", "--transport", "http", "--port", str(port), env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    async with httpx2.AsyncClient() as probe:
        for _ in range(600):
            try:
                await probe.get(url)
                return url, server
            except httpx2.ConnectError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the server did not start")


async def client(stack: AsyncExitStack, url: str, token: str, mode: str) -> mcp.Client:
    http = await stack.enter_async_context(
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=300)
    )
    return await stack.enter_async_context(mcp.Client(streamable_http_client(url, http_client=http), mode=mode))


def text_of(result: mcp.types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def isolation(runtime: Path, clients: int, calls: int) -> None:
    token = secrets.token_urlsafe(16)
    kernels = [start_kernel(runtime, f"client{i}") for i in range(clients)]
    url, server = await serve(runtime, token)
    try:
        async with AsyncExitStack() as stack:
            users = []
            for i, (path, process) in enumerate(kernels):
                mode = "legacy" if i % 2 == 0 else "auto"  # with and without an MCP session
                user = await client(stack, url, token, mode)
                connected = await user.call_tool("connect_to_kernel", {"connection_file": str(path)})
                assert not connected.is_error, text_of(connected)
                named = {} if mode == "legacy" else {"kernel": path.stem.removeprefix("kernel-")}
                users.append((user, named, process.pid))

            latencies: list[float] = []
            wrong = 0

            async def run(user: mcp.Client, named: dict[str, str], pid: int) -> None:
                nonlocal wrong
                loop = asyncio.get_running_loop()
                for _ in range(calls):
                    started = loop.time()
                    result = await user.call_tool("execute_code", {"code": "import os; os.getpid()", **named})
                    latencies.append(loop.time() - started)
                    wrong += text_of(result) != str(pid)

            await asyncio.gather(*(run(*u) for u in users))
        latencies.sort()
        print(
            f"isolation: {clients} clients ({(clients + 1) // 2} with a session, {clients // 2} "
            f"sessionless), {calls} calls each at once: {wrong} answered from another kernel; "
            f"latency median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms"
        )
    finally:
        server.terminate()
        await server.wait()
        for _, process in kernels:
            process.kill()


async def sizes(runtime: Path) -> None:
    token = secrets.token_urlsafe(16)
    path, process = start_kernel(runtime, "sizes")
    servers = [await serve(runtime, token), await serve(runtime, token, "--max-output-chars", "5000000")]
    try:
        async with AsyncExitStack() as stack:
            users = [await client(stack, url, token, "auto") for url, _ in servers]
            name = path.stem.removeprefix("kernel-")
            for user in users:
                await user.call_tool("connect_to_kernel", {"connection_file": str(path)})
            for label, code in CELLS.items():
                user = users[1] if "budget" in label else users[0]
                result = await user.call_tool("execute_code", {"code": code, "kernel": name, "timeout": 120})
                size = len(result.model_dump_json(by_alias=True).encode())
                shown = sum(c.type == "image" for c in result.content)
                left = "left out" in text_of(result) or "omitted" in text_of(result)
                print(f"{label}: {size:,} bytes serialized, {shown} images, something left out: {left}")
    finally:
        for _, server in servers:
            server.terminate()
            await server.wait()
        process.kill()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime:
        await isolation(Path(runtime), args.clients, args.calls)
        await sizes(Path(runtime))


if __name__ == "__main__":
    asyncio.run(main())

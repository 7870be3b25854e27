"""Benchmark: execute_code through the stdio server vs a raw AsyncKernelClient, on one kernel.

Run by hand (`.venv/bin/python bench/bench_execute.py`); the figures go into the README. Measures,
in one run and on the same kernel:
- median and p95 of N tiny executions (`1+1`) through `ipython-mcp` over stdio, driven by the
  official MCP client, against N raw `AsyncKernelClient` executions (reply + idle), alternating
  one of each so both see the same machine, and the ratio;
- server start-up: spawn to the `initialize` reply;
- a 10 MB output: wall time, size of the result the model gets, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from jupyter_client.asynchronous import AsyncKernelClient
from kernels import machine, start_kernel, stop_kernel
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

SCRIPT = shutil.which("ipython-mcp", path=os.path.dirname(sys.executable)) or "ipython-mcp"
BIG_OUTPUT = "import sys\nfor i in range({lines}):\n    sys.stdout.write(f'{{i:06d}}' + 'x' * 1000 + '\\n')"


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


class RawClient:
    """A bare AsyncKernelClient: the floor any client of the kernel pays."""

    def __init__(self, path: Path) -> None:
        self.client = AsyncKernelClient()
        self.client.load_connection_file(str(path))

    async def start(self) -> None:
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)

    def stop(self) -> None:
        self.client.stop_channels()

    async def execute(self, code: str) -> float:
        """Seconds from sending to both the reply and the idle status."""
        client = self.client
        # The server's executions reach our iopub socket too; read them before the clock starts,
        # as the server's router reads ours in the background.
        while await client.iopub_channel.msg_ready():
            await client.get_iopub_msg(timeout=0)
        start = time.perf_counter()
        msg_id = client.execute(code)
        idle = replied = False
        while not idle:
            msg = await client.get_iopub_msg(timeout=10)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
                idle = msg["content"]["execution_state"] == "idle"
        while not replied:
            replied = (await client.get_shell_msg(timeout=10))["parent_header"].get("msg_id") == msg_id
        return time.perf_counter() - start


def server_params(path: Path, runtime_dir: Path) -> StdioServerParameters:
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir), "IPYTHON_MCP_CONNECTION": str(path)}
    return StdioServerParameters(command=SCRIPT, args=[], env=env)


def peak_rss(pid: int) -> int:
    """VmHWM: the most memory the process ever had resident (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def server_process() -> psutil.Process:
    children = [
        c for c in psutil.Process().children(recursive=True) if "ipython-mcp" in " ".join(c.cmdline())
    ]
    return children[-1]


async def paired_executions(
    path: Path, runtime_dir: Path, n: int, big_mb: int
) -> tuple[list[float], list[float], dict[str, float]]:
    """N tiny executions each way, alternating, so both paths see the same machine."""
    raw = RawClient(path)
    await raw.start()
    raw_times, mcp_times = [], []
    big: dict[str, float] = {}
    try:
        async with (
            stdio_client(server_params(path, runtime_dir)) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await session.call_tool("connect_to_kernel", {})
            for _ in range(10):
                await raw.execute("1+1")
                await session.call_tool("execute_code", {"code": "1+1"})
            for _ in range(n):
                raw_times.append(await raw.execute("1+1"))
                start = time.perf_counter()
                result = await session.call_tool("execute_code", {"code": "1+1"})
                mcp_times.append(time.perf_counter() - start)
                assert result.content[0].text == "2", result
            proc = server_process()
            rss_before = proc.memory_info().rss
            start = time.perf_counter()
            code = BIG_OUTPUT.format(lines=big_mb * 1000)
            result = await session.call_tool("execute_code", {"code": code, "timeout": 600})
            big["seconds"] = time.perf_counter() - start
            big["result_chars"] = sum(len(c.text) for c in result.content if c.type == "text")
            big["rss_before_mb"] = rss_before / 2**20
            big["rss_after_mb"] = proc.memory_info().rss / 2**20
            big["rss_peak_mb"] = peak_rss(proc.pid) / 2**20
    finally:
        raw.stop()
    return raw_times, mcp_times, big


async def startup_times(path: Path, runtime_dir: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        async with (
            stdio_client(server_params(path, runtime_dir)) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            times.append(time.perf_counter() - start)
    return times


def sdk_import_times(runs: int) -> list[float]:
    """Spawn to exit of `python -c 'import mcp.server.mcpserver'`: the floor under start-up."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mcp.server.mcpserver"], check=True)
        times.append(time.perf_counter() - start)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="tiny executions per path (200)")
    parser.add_argument("--startups", type=int, default=10, help="server start-ups to time (10)")
    parser.add_argument("--big-mb", type=int, default=10, help="size of the large output in MB (10)")
    args = parser.parse_args()

    runtime_dir = Path(tempfile.mkdtemp(prefix="ipython-mcp-bench-"))
    path, kernel = start_kernel(runtime_dir)
    try:
        raw_all, via_mcp, big = await paired_executions(path, runtime_dir, args.n, args.big_mb)
        startups = await startup_times(path, runtime_dir, args.startups)
        sdk_imports = sdk_import_times(args.startups)
    finally:
        stop_kernel(kernel, runtime_dir)

    ms = 1000
    print(
        f"# {machine()}"
    )
    print(
        f"raw AsyncKernelClient   median {statistics.median(raw_all) * ms:6.2f} ms   p95 {p95(raw_all) * ms:6.2f} ms  (n={len(raw_all)})"
    )
    print(
        f"execute_code via stdio  median {statistics.median(via_mcp) * ms:6.2f} ms   p95 {p95(via_mcp) * ms:6.2f} ms  (n={len(via_mcp)})"
    )
    print(
        f"ratio (median)          {statistics.median(via_mcp) / statistics.median(raw_all):.2f}   (p95 {p95(via_mcp) / p95(raw_all):.2f})"
    )
    print(
        f"server start-up to initialize reply: median {statistics.median(startups):.3f} s, "
        f"min {min(startups):.3f} s  (n={len(startups)}); "
        f"of which importing the MCP SDK alone: median {statistics.median(sdk_imports):.3f} s"
    )
    print(
        f"{args.big_mb} MB output: {big['seconds']:.2f} s, result {big['result_chars']:,.0f} chars, "
        f"server RSS {big['rss_before_mb']:.0f} -> {big['rss_after_mb']:.0f} MB (peak {big['rss_peak_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    asyncio.run(main())

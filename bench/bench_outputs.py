"""Benchmark: whole outputs on disk, and read_output searching beside other calls, through the stdio server.

Run by hand (`.venv/bin/python bench/bench_outputs.py`); the figures go into the README. Measures,
on one kernel and one `ipython-mcp` server driven by the official MCP client over stdio:
- read_output with a pattern over a 3M-line output (about 100 MB), for a selective pattern, a frequent one
  and one with a lookahead (searched line by line), while a stream of tiny kernel_status calls
  runs beside it: the search's time and what it covered, and the latency of the status calls
  answered during the search, against their latency alone;
- a runaway cell, `while True: print('x' * 1000)`, interrupted by its 10 s timeout: the bytes in
  the server's temporary files, the most seen while it ran and at the end (expected: at most
  the cap, IPYTHON_MCP_MAX_OUTPUT_DISK_MB, 256 MB by default), against what the cell printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from kernels import machine, start_kernel, stop_kernel
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

SCRIPT = shutil.which("ipython-mcp", path=os.path.dirname(sys.executable)) or "ipython-mcp"
LINES = (
    "for k in range(0, {lines}, 100_000):\n"
    "    print('\\n'.join(f'{{i:07d}} step loss=0.{{i % 9973:04d}} lr=0.001 ok' for i in range(k, k + 100_000)))"
)
RUNAWAY = "while True:\n    print('x' * 1000)"
PATTERNS = {
    "selective": r"^1234567 ",
    "frequent (1 line in 100)": r"loss=0\.00\d\d ",
    "lookahead (line by line)": r"(?=\d)\d{7} step",
}


def text_of(result: object) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")  # type: ignore[attr-defined]


def server_pid() -> int:
    children = [
        c for c in psutil.Process().children(recursive=True) if "ipython-mcp" in " ".join(c.cmdline())
    ]
    return children[-1].pid


def temporary_bytes(pid: int) -> int:
    """Bytes in the temporary files a process holds open (deleted ones included)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(tempfile.gettempdir()):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            continue
    return total


async def status_stream(session: ClientSession, stop: asyncio.Event) -> list[tuple[float, float]]:
    """kernel_status calls one after another until `stop`: (sent, answered) of each."""
    calls = []
    while not stop.is_set():
        sent = time.perf_counter()
        result = await session.call_tool("kernel_status", {})
        assert not result.is_error, text_of(result)
        calls.append((sent, time.perf_counter()))
    return calls


async def search_beside_status(session: ClientSession, execution_id: str, pattern: str) -> dict[str, object]:
    stop = asyncio.Event()
    stream = asyncio.ensure_future(status_stream(session, stop))
    await asyncio.sleep(0.2)  # the stream is going
    began = time.perf_counter()
    result = await session.call_tool("read_output", {"execution_id": execution_id, "pattern": pattern})
    ended = time.perf_counter()
    stop.set()
    calls = await stream
    # Every call the search overlapped: one sent before it and held up by it counts too.
    during = [answered - sent for sent, answered in calls if answered >= began and sent <= ended]
    text = text_of(result)
    stopped = re.search(r"Searched lines 0-([\d,]+) of", text)
    return {
        "seconds": ended - began,
        "head": text.split("\n", 1)[0],
        "covered": stopped.group(1) if stopped else "all",
        "status_calls": len(during),
        "status_max_ms": max(during, default=0) * 1000,
        "status_median_ms": statistics.median(during) * 1000 if during else 0,
    }


async def run(path: Path, runtime_dir: Path, lines: int, runaway_timeout: float) -> None:
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir), "IPYTHON_MCP_CONNECTION": str(path)}
    params = StdioServerParameters(command=SCRIPT, args=[], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("connect_to_kernel", {})
        pid = server_pid()

        alone = []
        for _ in range(200):
            sent = time.perf_counter()
            await session.call_tool("kernel_status", {})
            alone.append(time.perf_counter() - sent)
        print(
            f"kernel_status alone: median {statistics.median(alone) * 1000:.1f} ms, "
            f"max {max(alone) * 1000:.1f} ms (n={len(alone)})"
        )

        started = time.perf_counter()
        result = await session.call_tool("execute_code", {"code": LINES.format(lines=lines), "timeout": 600})
        execution_id = re.search(r"read_output\('(e\d+)'", text_of(result)).group(1)  # type: ignore[union-attr]
        print(
            f"{lines:,}-line output ({temporary_bytes(pid) / 2**20:.0f} MB in temporary files): "
            f"{time.perf_counter() - started:.1f} s to run and take in"
        )
        for name, pattern in PATTERNS.items():
            found = await search_beside_status(session, execution_id, pattern)
            print(
                f"read_output pattern {name} {pattern!r}: {found['seconds']:.2f} s, lines covered: "
                f"{found['covered']}; {found['status_calls']} kernel_status calls meanwhile, "
                f"median {found['status_median_ms']:.1f} ms, max {found['status_max_ms']:.1f} ms\n"
                f"  -> {found['head']}"
            )

        most = 0
        running = asyncio.ensure_future(
            session.call_tool("execute_code", {"code": RUNAWAY, "timeout": runaway_timeout})
        )
        while not running.done():
            most = max(most, temporary_bytes(pid))
            await asyncio.sleep(0.1)
        text = text_of(await running)
        omitted = re.search(r"\[\.\.\. ([\d,]+) characters", text)
        printed = int(omitted.group(1).replace(",", "")) + len(text) if omitted else len(text)
        print(
            f"runaway print loop, {runaway_timeout:g} s timeout: printed {printed / 2**20:,.0f} MB; "
            f"temporary files at most {most / 2**20:.1f} MB while it ran, "
            f"{temporary_bytes(pid) / 2**20:.1f} MB after; server RSS "
            f"{psutil.Process(pid).memory_info().rss / 2**20:.0f} MB"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lines", type=int, default=3_000_000, help="lines of the output searched, in 100,000s (3M)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="timeout of the runaway cell (10 s)")
    args = parser.parse_args()

    runtime_dir = Path(tempfile.mkdtemp(prefix="ipython-mcp-bench-"))
    path, kernel = start_kernel(runtime_dir)
    print(
        f"# {machine()}, cap "
        f"{os.environ.get('IPYTHON_MCP_MAX_OUTPUT_DISK_MB', '256')} MB"
    )
    try:
        await run(path, runtime_dir, args.lines, args.timeout)
    finally:
        stop_kernel(kernel, runtime_dir)


if __name__ == "__main__":
    asyncio.run(main())

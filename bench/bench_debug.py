"""Benchmark: debug_error, the post-mortem of the user's last exception, on a deep stack over big data.

Run by hand (`.venv/bin/python bench/bench_debug.py`); the figures go into the README. The
user's cell (run by a plain jupyter_client, as an IDE does) raises 30 frames deep in a function
of a module of their own whose locals hold a 1 GB array and a 10-million-row DataFrame. The
`ipython-mcp` server, driven by the official MCP client over stdio, then examines it: the stack
with the locals of the deepest user frame (target: within 200 ms and within the output budget),
one of those locals in detail, and an expression evaluated in the frame.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from kernels import machine, start_kernel, stop_kernel
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

SCRIPT = shutil.which("ipython-mcp", path=os.path.dirname(sys.executable)) or "ipython-mcp"
MODULE = '''
import numpy as np, pandas as pd

def descend(depth, table, array):
    if depth == 0:
        scale = array[:10].sum()
        return table["missing_column"] * scale
    return descend(depth - 1, table, array)
'''
SETUP = "import sys; sys.path.insert(0, {folder!r})\nimport numpy as np, pandas as pd\nimport deep_module"
RAISE = (
    "big_array = np.ones(1024**3 // 8)\n"
    "big_frame = pd.DataFrame({'id': np.arange(10_000_000), 'price': np.random.rand(10_000_000)})\n"
    "deep_module.descend(28, big_frame, big_array)"
)
RUNS = 20


async def timed(session: ClientSession, arguments: dict[str, object]) -> tuple[float, int, str]:
    times, text = [], ""
    for _ in range(RUNS):
        start = time.perf_counter()
        result = await session.call_tool("debug_error", arguments)
        times.append(time.perf_counter() - start)
        assert not result.is_error, result
        text = "\n".join(c.text for c in result.content if c.type == "text")
    return statistics.median(times), len(text), text


async def main() -> None:
    runtime_dir = Path(tempfile.mkdtemp(prefix="ipython-mcp-bench-"))
    (runtime_dir / "deep_module.py").write_text(MODULE)
    path, kernel = start_kernel(runtime_dir)
    user = AsyncKernelClient()
    user.load_connection_file(str(path))
    user.start_channels()
    try:
        await user.wait_for_ready(timeout=60)
        reply = await user.execute(SETUP.format(folder=str(runtime_dir)), reply=True, timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
        reply = await user.execute(RAISE, reply=True, timeout=600)
        assert reply["content"]["status"] == "error", reply["content"]
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir), "IPYTHON_MCP_CONNECTION": str(path)}
        params = StdioServerParameters(command=SCRIPT, args=[], env=env)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("connect_to_kernel", {})
            stack, stack_chars, stack_text = await timed(session, {})
            detail, detail_chars, _ = await timed(session, {"expression": "table"})
            value, value_chars, _ = await timed(session, {"expression": "array[:10].sum() + depth"})
    finally:
        user.stop_channels()
        stop_kernel(kernel, runtime_dir)
    print(
        f"# {machine()}; median of {RUNS}"
    )
    print("## a KeyError 30 frames deep in the user's module; locals: a 1 GB array, a 10M-row DataFrame")
    print(f"debug_error() (stack and locals): median {stack * 1000:.0f} ms, {stack_chars:,} chars")
    print(f"debug_error(expression='table') (detail, sampled): median {detail * 1000:.0f} ms, {detail_chars:,} chars")
    print(f"debug_error(expression=...) (evaluated in the frame): median {value * 1000:.0f} ms, {value_chars:,} chars")
    if "--show" in sys.argv:
        print(stack_text)


if __name__ == "__main__":
    asyncio.run(main())

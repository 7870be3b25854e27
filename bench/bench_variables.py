"""Benchmark: list_variables and inspect_variable on a namespace full of big data.

Run by hand (`.venv/bin/python bench/bench_variables.py`); the figures go into the README. The
user's namespace holds 2,000 names, among them a 1 GB array, a 10-million-row DataFrame and a
100 MB string. Targets: list_variables <= 200 ms and <= 20,000 characters; inspect_variable on
the DataFrame <= 300 ms. Both are also timed while the user's cell runs (it waits for a file),
which ipykernel 7 answers in a subshell; and list_variables beside a cell that has drawn a
matplotlib figure and not shown it yet (target <= 100 ms), which ipykernel 7 answers through
ipython-mcp's inspector hook without taking the figure (the cell checks it is still open).

Then the cost of the record of the namespace the server keeps for telling what a restart or
death took with the kernel (look/record.py): the time one record holds the kernel (its silent
request, timed from a client of our own against an empty silent request), and the latency of
`execute_code("x = i")` through a server that keeps the record and one that does not
(IPYTHON_MCP_NAMES_KEPT=0), one at a time in blocks taken in turn (a server records after
anyone's cells, so the two cannot share the kernel at once), with the next call sent at once
(back to back), 0.1 s after the last result (as the record is due: the worst case) and 0.5 s
after (a model's pace); and one record with 2,000 small DataFrames added, whose sizes need a
call each (the record sizes objects for at most 3 ms, then lists the rest without a size).
Target: under 5 ms added to an execution's result.

`--spyder PYTHON` runs the kernel as Spyder does, with that environment's spyder-kernels
(e.g. `.venv-kernels/bin/python`, built by scripts/test.sh, which has no numpy: the namespace
then holds 2,000 names and a 100 MB string), and times the busy case through Spyder's comm.
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
SETUP = """
import numpy as np, pandas as pd
big_array = np.ones(1024**3 // 8)
big_frame = pd.DataFrame({"id": np.arange(10_000_000), "price": np.random.rand(10_000_000), "qty": 3})
big_text = "x" * 100_000_000
for i in range(1997):
    globals()[f"value_{i}"] = [i] * (i % 50)
"""
FRAMES_SETUP = """
import pandas as pd
for i in range(2000):
    globals()[f"frame_{i}"] = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
"""
FRAMES_CLEANUP = "for i in range(2000):\n    del globals()[f'frame_{i}']"
BLOCKS = 4
"""Blocks of calls through a server with the record and one without, in turn (ABBA...)."""
PLAIN_SETUP = """
big_text = "x" * 100_000_000
big_list = list(range(10_000_000))
for i in range(1998):
    globals()[f"value_{i}"] = [i] * (i % 50)
"""


async def timed(
    session: ClientSession, tool: str, arguments: dict[str, object], runs: int
) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        result = await session.call_tool(tool, arguments)
        times.append(time.perf_counter() - start)
        assert not result.is_error, result
        size = sum(len(c.text) for c in result.content if c.type == "text")
    return statistics.median(times), size


async def started(user: AsyncKernelClient, code: str, until: str = "execute_input") -> str:
    """Send a cell; its msg_id once the kernel says it started it (or it printed, with
    `until="stream"`)."""
    msg_id = user.execute(code)
    while True:
        msg = await user.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == until:
            return msg_id


async def finished(user: AsyncKernelClient, msg_id: str) -> str:
    """What a cell printed, once it is done."""
    printed = ""
    while True:
        msg = await user.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            printed += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return printed


def waiting_for(gate: Path) -> str:
    return f"while not __import__('os').path.exists({str(gate)!r}): __import__('time').sleep(0.005)"


async def silent_request(user: AsyncKernelClient, expressions: dict[str, str], runs: int) -> float:
    """The median round trip of a silent request with these user expressions."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        reply = await user.execute(
            "", silent=True, store_history=False, user_expressions=expressions, reply=True, timeout=60
        )
        times.append(time.perf_counter() - start)
        assert all(v["status"] == "ok" for v in reply["content"]["user_expressions"].values()), reply
    return statistics.median(times)


async def record_cost(user: AsyncKernelClient, env: dict[str, str], runs: int) -> list[str]:
    """What the namespace record costs: its own time in the kernel, and what it adds to the
    results of execute_code at three paces of calls."""
    from ipython_mcp.look.record import SNAPSHOT_DELAY, names_expression

    record = await silent_request(user, {"names": names_expression(500)}, runs)
    empty = await silent_request(user, {}, runs)
    lines = [
        f"one record (silent request, 2,000 names, 500 kept): median {record * 1000:.1f} ms; "
        f"an empty silent request {empty * 1000:.1f} ms"
    ]
    reply = await user.execute(FRAMES_SETUP, reply=True, timeout=120)
    if reply["content"]["status"] == "ok":  # no pandas in Spyder's environment
        frames = await silent_request(user, {"names": names_expression(500)}, runs)
        lines.append(f"one record with 2,000 small DataFrames more: median {frames * 1000:.1f} ms")
        await user.execute(FRAMES_CLEANUP, reply=True, timeout=120)
    paces = (("back to back", 0.0), ("as a record is due", SNAPSHOT_DELAY), ("0.5 s apart", 0.5))
    times: dict[tuple[str, str], list[float]] = {}
    for block in range(BLOCKS):  # one server at a time (a server records after anyone's cells)
        for label, kept in (("with", "500"), ("without", "0"))[:: 1 if block % 2 == 0 else -1]:
            params = StdioServerParameters(command=SCRIPT, args=[], env={**env, "IPYTHON_MCP_NAMES_KEPT": kept})
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                await session.call_tool("connect_to_kernel", {})
                for i in range(3):  # warm up
                    await session.call_tool("execute_code", {"code": f"x = {i}"})
                await asyncio.sleep(0.5)
                for pace, think in paces:
                    for i in range(runs // BLOCKS):
                        start = time.perf_counter()
                        result = await session.call_tool("execute_code", {"code": f"x = {i}"})
                        times.setdefault((pace, label), []).append(time.perf_counter() - start)
                        assert not result.is_error, result
                        await asyncio.sleep(think)
    for pace, _ in paces:
        with_, without = (statistics.median(times[pace, k]) * 1000 for k in ("with", "without"))
        p95 = {k: sorted(times[pace, k])[int(len(times[pace, k]) * 0.95) - 1] * 1000 for k in ("with", "without")}
        lines.append(
            f"execute_code('x = i'), {pace}: median {with_:.1f} ms with the record, "
            f"{without:.1f} ms without ({with_ - without:+.1f} ms); p95 {p95['with']:.1f} / "
            f"{p95['without']:.1f} ms (n={len(times[pace, 'with'])})"
        )
    return lines


async def main(spyder_python: str | None) -> None:
    runtime_dir = Path(tempfile.mkdtemp(prefix="ipython-mcp-bench-"))
    if spyder_python:
        path, kernel = start_kernel(runtime_dir, python=spyder_python, module="spyder_kernels.console")
    else:
        path, kernel = start_kernel(runtime_dir)
    user = AsyncKernelClient()
    user.load_connection_file(str(path))
    user.start_channels()
    try:
        await user.wait_for_ready(timeout=60)
        reply = await user.execute(PLAIN_SETUP if spyder_python else SETUP, reply=True, timeout=600)
        assert reply["content"]["status"] == "ok", reply["content"]
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir), "IPYTHON_MCP_CONNECTION": str(path)}
        params = StdioServerParameters(command=SCRIPT, args=[], env=env)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("connect_to_kernel", {})
            name = "big_list" if spyder_python else "big_frame"
            listing, listing_chars = await timed(session, "list_variables", {}, 10)
            inspect, inspect_chars = await timed(session, "inspect_variable", {"name": name}, 10)
            gate = runtime_dir / "gate"
            waiting = await started(user, waiting_for(gate))
            busy_listing, busy_chars = await timed(session, "list_variables", {}, 10)
            busy_inspect, _ = await timed(session, "inspect_variable", {"name": name}, 10)
            gate.touch()
            await finished(user, waiting)
            drawing_listing, drawn = None, ""
            if not spyder_python:
                gate = runtime_dir / "drawing-gate"
                drawing = await started(  # timed once it has drawn, then waits
                    user,
                    "import matplotlib.pyplot as plt\nplt.plot(range(10))\nprint('drawn', flush=True)\n"
                    f"{waiting_for(gate)}\nprint(plt.get_fignums())",
                    until="stream",
                )
                drawing_listing, _ = await timed(session, "list_variables", {}, 10)
                gate.touch()
                drawn = await finished(user, drawing)
        record_lines = await record_cost(user, env, 100)
    finally:
        user.stop_channels()
        stop_kernel(kernel, runtime_dir)
    print(
        f"# {machine()}"
    )
    kind = (
        "spyder-kernels, 2,000 names, 10M-element list, 100 MB str"
        if spyder_python
        else ("ipykernel 7, 2,000 names, 1 GB array, 10M-row frame, 100 MB str")
    )
    print(f"## {kind}")
    print(f"list_variables: median {listing * 1000:.0f} ms, {listing_chars:,} chars")
    print(f"inspect_variable({name!r}): median {inspect * 1000:.0f} ms, {inspect_chars:,} chars")
    print(
        f"while the user's cell runs: list_variables median {busy_listing * 1000:.0f} ms, {busy_chars:,} chars"
    )
    print(f"while the user's cell runs: inspect_variable({name!r}) median {busy_inspect * 1000:.0f} ms")
    if drawing_listing is not None:
        kept = "its figure still open" if drawn.endswith("[1]\n") else f"its figure taken ({drawn.strip()})"
        print(f"beside a cell that has drawn: list_variables median {drawing_listing * 1000:.0f} ms, {kept}")
    for line in record_lines:
        print(line)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    asyncio.run(main(arguments[1] if arguments[:1] == ["--spyder"] else None))

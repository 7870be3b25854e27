"""End-to-end demo: an assistant and a user share one live kernel through ipython-mcp.

1. A kernel is started the way Spyder or `jupyter console` start one (a connection file with a
   random key), and the "user" defines a DataFrame in it from their own client.
2. The `ipython-mcp` server is launched over stdio and driven with the official MCP client, as
   Claude Code or Claude Desktop would: it connects, reads the user's data, plots it (saved as
   PNG), hits an error, runs away and is interrupted, examines the error of a cell the *user*
   ran (debug_error), follows the user's running cell to its end, and stops a cell the user
   started.
3. The transcript of every call is printed; the kernel is shut down at the end.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import write_connection_file
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

OUTPUT_DIR = Path(__file__).resolve().parent.parent / "demo-output"


def show(title: str, text: str) -> None:
    print(f"\n\033[1m── {title}\033[0m")
    print(textwrap.indent(text.rstrip() or "(empty)", "   "))


async def call(session: ClientSession, tool: str, **arguments: object) -> object:
    shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    result = await session.call_tool(tool, arguments)
    lines = []
    for block in result.content:
        if block.type == "text":
            lines.append(block.text)
        elif block.type == "image":
            OUTPUT_DIR.mkdir(exist_ok=True)
            target = OUTPUT_DIR / "plot.png"
            target.write_bytes(base64.b64decode(block.data))
            lines.append(f"[{block.mime_type} image, {target.stat().st_size:,} bytes, saved to {target}]")
    flag = "  (is_error)" if result.is_error else ""
    show(f"assistant → {tool}({shown}){flag}", "\n".join(lines))
    return result


async def main() -> None:
    runtime_dir = Path(tempfile.mkdtemp(prefix="ipython-mcp-demo-"))
    connection_file = runtime_dir / f"kernel-demo-{secrets.token_hex(3)}.json"
    write_connection_file(str(connection_file), ip="127.0.0.1", key=secrets.token_hex(32).encode())
    kernel = subprocess.Popen(
        [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    user = AsyncKernelClient()
    user.load_connection_file(str(connection_file))
    user.start_channels()
    try:
        await user.wait_for_ready(timeout=60)
        user_code = "import pandas as pd\nsales = pd.DataFrame({'month': range(1, 13), 'units': [3, 5, 4, 8, 9, 12, 15, 14, 11, 9, 6, 4]})"
        await user.execute(user_code, reply=True, timeout=30)
        show("user (in their IDE) runs", user_code)

        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir)}
        server = StdioServerParameters(
            command=shutil.which("ipython-mcp", path=os.path.dirname(sys.executable)) or "ipython-mcp",
            args=["--timeout", "30"],
            env=env,
        )
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            show("server offers", ", ".join(tools))
            await call(session, "list_kernels")
            await call(session, "connect_to_kernel")
            await call(session, "execute_code", code="sales.describe().loc[['mean', 'max']]")
            await call(
                session,
                "execute_code",
                code=(
                    "import matplotlib.pyplot as plt\n"
                    "ax = sales.plot(x='month', y='units', marker='o', title='Units sold per month')\n"
                    "plt.show()"
                ),
            )
            await call(
                session, "execute_code", code="by_month = dict(zip(sales.month, sales.units))\nby_month[13]"
            )
            await call(
                session,
                "execute_code",
                code="import itertools, time\nfor step in itertools.count():\n    print('step', step, flush=True)\n    time.sleep(0.5)",
                timeout=2,
            )
            failing = (
                "def growth(frame):\n    previous = frame['units'].shift()\n    return frame['units'] / frame['prior']\n"
                "trend = growth(sales)"
            )
            await user.execute(failing, reply=True, timeout=30)
            show("user (in their IDE) runs a cell that fails", f"{failing}\nKeyError: 'prior'")
            await call(session, "debug_error")  # the user's error, frame by frame, without rerunning it
            await call(session, "debug_error", expression="frame.columns.tolist()")
            training = user.execute(
                "import time\nfor epoch in range(1, 4):\n    time.sleep(0.4)\n    print(f'epoch {epoch}: loss {1 / epoch:.2f}', flush=True)"
            )
            show("user starts a short training cell", "for epoch in range(1, 4): ...")
            await call(session, "wait_for_execution", execution_id="user", timeout=20)
            reply = await user.get_shell_msg(timeout=10)
            while reply["parent_header"].get("msg_id") != training:
                reply = await user.get_shell_msg(timeout=10)
            user_cell = user.execute(
                "import time\nfor minute in range(60): time.sleep(60)  # the user's long job"
            )
            show("user starts a long cell", "for minute in range(60): time.sleep(60)")
            await asyncio.sleep(0.5)
            await call(session, "kernel_status")
            await call(session, "list_variables")  # answered beside the user's running cell
            await call(session, "inspect_variable", name="sales")
            await call(session, "interrupt_kernel")
            reply = await user.get_shell_msg(timeout=10)
            while reply["parent_header"].get("msg_id") != user_cell:
                reply = await user.get_shell_msg(timeout=10)
            show("user's IDE sees", f"{reply['content']['status']}: {reply['content'].get('ename', '')}")
            await call(session, "get_history", n=3)
            await call(session, "execute_code", code="sales['units'].sum()")
            await call(session, "shutdown_kernel")
    finally:
        user.stop_channels()
        if kernel.poll() is None:
            kernel.kill()
        kernel.wait()
        shutil.rmtree(runtime_dir, ignore_errors=True)
    print("\nDemo complete.")


if __name__ == "__main__":
    asyncio.run(main())

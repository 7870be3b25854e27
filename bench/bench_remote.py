"""Benchmark: tiny executions over a Jupyter Server's websocket vs over ZMQ, to the same kernel.

Run by hand (`.venv/bin/python bench/bench_remote.py`); the figures go into the README. Starts
`jupyter server` on 127.0.0.1 (token, base URL /user/bench/), starts a kernel through its REST
API, and connects to that kernel twice: over ZMQ with its connection file (the server keeps it
in the runtime dir) and over the server's websocket, both through ipython-mcp's session layer
(`runner.execute`, reply and idle). Executions alternate, one of each, so both see the same
machine. A third series runs over the websocket without TCP_QUICKACK, as a naive client would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from ipython_mcp.discovery.files import read_connection_file
from ipython_mcp.discovery.servers import configured_servers
from ipython_mcp.session.base import KernelSession
from ipython_mcp.session.local import LocalKernelSession
from ipython_mcp.session.remote import ServerKernelSession
from ipython_mcp.settings import ServerConfig, Settings
from ipython_mcp.transport import websocket


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


async def timed(session: KernelSession, code: str = "1+1") -> float:
    start = time.perf_counter()
    result = await session.runner.execute(code, timeout=30)
    elapsed = time.perf_counter() - start
    assert result.status == "ok", result
    return elapsed


async def start_server(runtime: Path, root: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    token = secrets.token_hex(24)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            "--port=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.base_url=/user/bench/",
            f"--ServerApp.root_dir={root}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)},
    )
    info = runtime / f"jpserver-{process.pid}.json"
    for _ in range(600):
        if info.exists() and info.read_text().strip():
            return process, json.loads(info.read_text())["url"], token
        await asyncio.sleep(0.05)
    process.kill()
    raise SystemExit("jupyter server did not start")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="executions per path (200)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        runtime, root = Path(tmp) / "runtime", Path(tmp) / "root"
        runtime.mkdir()
        root.mkdir()
        process, url, token = await start_server(runtime, root)
        try:
            async with httpx2.AsyncClient(base_url=url, headers={"Authorization": f"token {token}"}) as rest:
                kernel_id = (await rest.post("api/kernels", json={})).json()["id"]
            settings = Settings(runtime_dir=str(runtime), servers=(ServerConfig(url, token, "bench"),))
            [server] = configured_servers(settings.servers)
            over_ws = await ServerKernelSession.open("ws", server, kernel_id, settings)
            conn = read_connection_file(runtime / f"kernel-{kernel_id}.json")
            over_zmq = await LocalKernelSession.open("zmq", conn, settings)
            naive = await ServerKernelSession.open("naive", server, kernel_id, settings)
            for session in (over_ws, over_zmq, naive):
                for _ in range(20):  # warm-up: imports, caches, TCP windows
                    await timed(session)

            ws_times, zmq_times, naive_times = [], [], []
            for _ in range(args.n):
                ws_times.append(await timed(over_ws))
                zmq_times.append(await timed(over_zmq))
            quickack, websocket._QUICKACK = websocket._QUICKACK, None  # what a naive client does
            try:
                for _ in range(min(args.n, 50)):
                    naive_times.append(await timed(naive))
            finally:
                websocket._QUICKACK = quickack
            protocol = over_ws.channels.protocol
            for session in (over_ws, over_zmq, naive):
                await session.close()
        finally:
            process.terminate()
            process.wait(timeout=30)

    ms = 1000
    print(
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; {args.n} executions each"
    )
    for label, values in (
        ("ZMQ (connection file)", zmq_times),
        (f"websocket ({protocol}), QUICKACK", ws_times),
        ("websocket, no QUICKACK", naive_times),
    ):
        print(
            f"{label:32} median {statistics.median(values) * ms:6.2f} ms   "
            f"p95 {p95(values) * ms:6.2f} ms  (n={len(values)})"
        )
    print(
        f"ratio websocket / ZMQ (median)   {statistics.median(ws_times) / statistics.median(zmq_times):.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())

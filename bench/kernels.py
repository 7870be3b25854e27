"""What the benchmarks share: a kernel started as an IDE starts one (a connection file with a
random key on loopback, then `PYTHON -m MODULE -f FILE`: ipykernel, or Spyder's kernel), stopped
with its runtime dir, and the line that says which machine a report is from."""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from jupyter_client.connect import write_connection_file


def start_kernel(
    runtime_dir: Path, name: str = "bench", python: str = sys.executable, module: str = "ipykernel_launcher"
) -> tuple[Path, subprocess.Popen[bytes]]:
    """The connection file of a kernel just launched (it may not answer yet), and its process."""
    path = runtime_dir / f"kernel-{name}.json"
    write_connection_file(str(path), ip="127.0.0.1", key=secrets.token_hex(32).encode())
    process = subprocess.Popen(
        [python, "-m", module, "-f", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return path, process


def stop_kernel(process: subprocess.Popen[bytes], runtime_dir: Path) -> None:
    """Kill the kernel and remove its runtime dir (connection file, outputs)."""
    process.kill()
    process.wait()
    shutil.rmtree(runtime_dir, ignore_errors=True)


def machine() -> str:
    """`2026-11-29, CPython 3.11.7, 2 cores, x86_64`: where and when a report was measured."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{time.strftime('%Y-%m-%d')}, {python}, {os.cpu_count()} cores, {platform.machine()}"

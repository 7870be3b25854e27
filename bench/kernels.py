"""A kernel started for a benchmark as an IDE starts one: a connection file with a random key
on loopback, then `PYTHON -m MODULE -f FILE` (ipykernel, or Spyder's kernel)."""

from __future__ import annotations

import secrets
import subprocess
import sys
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

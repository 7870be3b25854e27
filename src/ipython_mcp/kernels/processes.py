"""Local kernel processes, found through psutil: who listens on a port, is a pid alive."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from .connection_files import ConnectionFile

_ANY_ADDRESS = ("0.0.0.0", "::", "")


@dataclass(frozen=True, slots=True)
class Listener:
    ip: str
    port: int
    pid: int | None


def tcp_listeners() -> dict[int, list[Listener]]:
    """Every listening TCP socket of this machine that we may see, by port."""
    by_port: dict[int, list[Listener]] = {}
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return by_port
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr:
            by_port.setdefault(c.laddr.port, []).append(Listener(c.laddr.ip, c.laddr.port, c.pid))
    return by_port


def kernel_pid(conn: ConnectionFile, listeners: dict[int, list[Listener]] | None = None) -> int | None:
    """The pid of the local process listening on the kernel's shell port, if any."""
    if conn.transport != "tcp":
        return None
    listeners = tcp_listeners() if listeners is None else listeners
    for listener in listeners.get(conn.shell_port, ()):
        if listener.pid and (listener.ip == conn.ip or listener.ip in _ANY_ADDRESS or conn.is_loopback):
            return listener.pid
    return None


def is_listening(conn: ConnectionFile, listeners: dict[int, list[Listener]]) -> bool:
    """Whether something on this machine listens on the shell port (even with a hidden pid)."""
    return any(
        listener.ip == conn.ip or listener.ip in _ANY_ADDRESS or conn.is_loopback
        for listener in listeners.get(conn.shell_port, ())
    )


def process_mentioning(path: Path) -> int | None:
    """A process whose command line names this connection file: a kernel still starting up."""
    needle = str(path)
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or ()
        if any(needle in arg for arg in cmdline):
            return proc.pid
    return None


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def send_sigint(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGINT)
    except OSError:
        return False
    return True


def process_summary(pid: int) -> dict[str, str]:
    """The command line and working directory of a process, where visible."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            summary = {"cmdline": " ".join(proc.cmdline())}
            with contextlib.suppress(psutil.AccessDenied, psutil.ZombieProcess):
                summary["cwd"] = proc.cwd()
            return summary
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return {}


async def end_process(pid: int, *, grace: float, reap: Callable[[], object] | None = None) -> list[str]:
    """Wait for a process to exit; terminate, then kill it if it does not. Returns the steps.

    A zombie counts as gone: its parent (often the IDE) reaps it, not us. `reap` lets us reap
    a child of our own."""
    steps = []
    for action, done in ((None, ""), ("terminate", "terminated it"), ("kill", "killed it")):
        if action is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                getattr(psutil.Process(pid), action)()
            steps.append(done)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if reap is not None:
                reap()
            if not pid_alive(pid):
                steps.append(f"process {pid} has exited")
                return steps
            await asyncio.sleep(0.05)
        if action is None:
            steps.append(f"process {pid} did not exit within {grace:g} s")
    steps.append(f"process {pid} is still there")
    return steps

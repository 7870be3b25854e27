"""Local kernel processes, found through psutil: who serves a kernel's ports, is it alive."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from .files import ConnectionFile

_ANY_ADDRESS = ("0.0.0.0", "::", "")


@dataclass(frozen=True, slots=True)
class Listener:
    ip: str
    port: int
    pid: int | None


Listeners = dict[int, list[Listener]]


def tcp_listeners() -> Listeners | None:
    """Every listening TCP socket we may see, by port; None where the system hides them
    (macOS without root), so that callers treat liveness as unknown rather than dead."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    by_port: Listeners = {}
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr:
            by_port.setdefault(c.laddr.port, []).append(Listener(c.laddr.ip, c.laddr.port, c.pid))
    return by_port


def _serving(conn: ConnectionFile, listeners: Listeners, port: int) -> list[Listener]:
    return [
        listener
        for listener in listeners.get(port, ())
        if listener.ip == conn.ip or listener.ip in _ANY_ADDRESS or conn.is_loopback
    ]


def is_listening(conn: ConnectionFile, listeners: Listeners | None) -> bool | None:
    """Whether something listens on the kernel's shell port; None when we cannot tell."""
    if listeners is None or conn.transport != "tcp":
        return None
    return bool(_serving(conn, listeners, conn.shell_port))


def kernel_process(conn: ConnectionFile, listeners: Listeners | None) -> psutil.Process | None:
    """The local process serving this kernel: it listens on the shell, control and heartbeat
    ports itself. A tunnel or port forwarder (ssh for `jupyter console --ssh`) is not it."""
    if listeners is None or conn.transport != "tcp":
        return None
    ports = (conn.shell_port, int(conn.info["control_port"]), int(conn.info["hb_port"]))
    pid_sets = [{lst.pid for lst in _serving(conn, listeners, port) if lst.pid} for port in ports]
    for pid in set.intersection(*pid_sets):
        try:
            proc = psutil.Process(pid)
            if not proc.name().startswith("ssh"):
                return proc
        except psutil.Error:
            continue
    return None


def process_mentioning(path: Path) -> int | None:
    """A process whose command line names this connection file: a kernel still starting up."""
    needle = str(path)
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or ()
        if any(needle in arg for arg in cmdline):
            return proc.pid
    return None


def alive(proc: psutil.Process) -> bool:
    """Whether the process still runs (is_running also rules out a reused pid)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def gone(proc: psutil.Process) -> bool:
    """Whether the process has exited (or is a zombie), in one read: for frequent checks;
    `alive` also rules out a reused pid."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def stopped(proc: psutil.Process) -> bool:
    """Whether the process is stopped by a signal (SIGSTOP, Ctrl+Z). A tracer's brief stops
    (strace, py-spy) are not: they pass by themselves."""
    try:
        return proc.status() == psutil.STATUS_STOPPED
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def age(proc: psutil.Process) -> float:
    """Seconds since the process started."""
    try:
        return time.time() - proc.create_time()
    except psutil.Error:
        return float("inf")


def send_sigint(proc: psutil.Process) -> bool:
    # On Windows os.kill(pid, SIGINT) terminates the process: never do that to the user's kernel.
    if os.name == "nt" or not alive(proc):
        return False
    try:
        proc.send_signal(signal.SIGINT)
    except psutil.Error:
        return False
    return True


def command_line(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


async def end_process(
    proc: psutil.Process, *, grace: float, reap: Callable[[], object] | None = None
) -> list[str]:
    """Wait for a process to exit; terminate, then kill it if it does not. Returns the steps.

    A zombie counts as gone: its parent (often the IDE) reaps it, not us. `reap` lets us reap
    a child of our own."""
    steps = []
    for action, done in ((None, ""), ("terminate", "terminated it"), ("kill", "killed it")):
        if action is not None:
            with contextlib.suppress(psutil.Error):
                getattr(proc, action)()
            steps.append(done)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if reap is not None:
                reap()
            if not alive(proc):
                steps.append(f"process {proc.pid} has exited")
                return steps
            await asyncio.sleep(0.05)
        if action is None:
            steps.append(f"process {proc.pid} did not exit within {grace:g} s")
    steps.append(f"process {proc.pid} is still there")
    return steps


_OWNERS = (
    ("spyder_kernels", "Spyder"),
    ("jupyter-lab", "JupyterLab"),
    ("jupyter_server", "Jupyter Server"),
    ("jupyter-server", "Jupyter Server"),
    ("jupyter-notebook", "Jupyter Notebook"),
    ("jupyter-console", "jupyter console"),
    ("jupyter-qtconsole", "qtconsole"),
    ("vscode", "VS Code"),
    ("ipython-mcp", "ipython-mcp"),
)


def owner(proc: psutil.Process) -> str:
    """Which program runs this kernel, judged from its command line and its parent's."""
    try:
        parent = proc.parent()
    except psutil.Error:
        parent = None
    for candidate in (proc, parent):
        for needle, name in _OWNERS:
            if candidate is not None and _runs(candidate, needle):
                return name
    if parent is None or parent.pid == 1:
        return "no parent (detached)"
    try:
        return f"started by {parent.name()} (pid {parent.pid})"
    except psutil.Error:
        return f"started by pid {parent.pid}"


def _runs(proc: psutil.Process, needle: str) -> bool:
    """Whether a process runs the program or `-m` module `needle` (`python -m jupyter_server`,
    `/usr/bin/jupyter-lab`, a script run by python), or lives in a hidden folder of that name
    (VS Code's `~/.vscode-server/`). Other arguments, such as file names, do not count."""
    try:
        argv = proc.cmdline()
    except psutil.Error:
        return False
    names = [Path(arg).name for arg in argv[:2] if not arg.startswith("-")]
    names += [module for flag, module in itertools.pairwise(argv) if flag == "-m"][:1]
    hidden = [part for arg in argv[:1] for part in Path(arg).parts if part.startswith(".")]
    return any(name.startswith(needle) for name in names) or any(
        part.startswith("." + needle) for part in hidden
    )


def working_dir(proc: psutil.Process) -> str | None:
    try:
        return proc.cwd()
    except psutil.Error:
        return None


def release_free_memory() -> None:
    """Hand memory freed by Python back to the system (glibc keeps it otherwise).

    Receiving a huge output decodes messages of many megabytes each; once freed, glibc's
    allocator keeps most of that in fragmented arenas, so the server's RSS stayed ~60 MB
    higher after a 100 MB output. Elsewhere this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

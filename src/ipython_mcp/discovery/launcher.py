"""Launching detached IPython kernels that outlive this server, and reading why one failed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import KernelStartError
from .files import ConnectionFile

# A kernel that inherits these would exit with its parent, or steal its parent's interrupt event.
_PARENT_VARIABLES = ("JPY_PARENT_PID", "JPY_INTERRUPT_EVENT", "IPY_INTERRUPT_EVENT")


@dataclass(slots=True)
class LaunchedKernel:
    """A kernel process this server started: how, and where its own output goes."""

    process: subprocess.Popen[bytes]
    argv: list[str]
    cwd: str | None
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> bool:
        return self.process.poll() is not None

    def failure(self) -> KernelStartError:
        """Why the process ended before answering."""
        log = _tail(self.log_path)
        python = self.argv[0]
        if "No module named ipykernel" in log:
            return KernelStartError(f"{python} has no ipykernel.", advice="install_ipykernel", python=python)
        code = self.process.returncode
        return KernelStartError(
            f"The kernel process exited with code {code} before answering. {self.output()}"
        )

    def output(self) -> str:
        """The end of what the kernel printed, for an error message (its log is removed)."""
        log = _tail(self.log_path)
        return f"Its last output:\n{log}" if log else "It printed nothing."


def resolve_python(python: str | None) -> str:
    """The interpreter to run: a path, a command on PATH, or this server's own."""
    if not python:
        return sys.executable
    found = shutil.which(os.path.expanduser(python))
    if found is None:
        raise KernelStartError(f"No Python interpreter at {python!r}.", advice="python_path")
    return found


def launch_kernel(conn: ConnectionFile, *, python: str, cwd: str | None) -> LaunchedKernel:
    """Start `python -m ipykernel_launcher -f FILE` in its own session, so it outlives us."""
    if cwd is not None:
        cwd = os.path.expanduser(cwd)
        if not os.path.isdir(cwd):
            raise KernelStartError(f"Working directory {cwd} does not exist.", advice="existing_cwd")
    argv = [python, "-m", "ipykernel_launcher", "-f", str(conn.path)]
    log_path = conn.path.with_suffix(".log")
    env = {k: v for k, v in os.environ.items() if k not in _PARENT_VARIABLES}
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    with open(log_path, "ab") as log:
        os.chmod(log_path, 0o600)
        try:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise KernelStartError(f"Could not run {python}: {exc.strerror}.") from None
    return LaunchedKernel(process=process, argv=argv, cwd=cwd, log_path=log_path)


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""

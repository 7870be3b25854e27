"""What the `kernels`, `start-kernel` and `doctor` commands do and print, for a person at a terminal."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from .discovery.files import list_connection_files, read_connection_file
from .discovery.server_kernels import list_server_kernels
from .discovery.servers import configured_servers, find_servers
from .errors import IPythonMCPError
from .session.listing import Discovery
from .session.registry import KernelRegistry
from .settings import Settings

AT_THE_TERMINAL = {
    "python_path": "Pass --python the full path of the environment's python (e.g. ~/envs/data/bin/python), "
    "or leave it out to use ipython-mcp's own.",
    "existing_cwd": "Pass an existing directory as --cwd.",
    "install_ipykernel": "Install it with `{python} -m pip install ipykernel`, then run this command again.",
}
"""What a person at the terminal can do about a kernel that did not start (the assistant's advice
names tool arguments instead)."""


def terminal_error(exc: IPythonMCPError) -> str:
    """`ipython-mcp: ` what happened, and what to do at the terminal where that is known."""
    advice = AT_THE_TERMINAL.get(exc.advice)
    return f"ipython-mcp: {exc}" + (f" {advice.format(**exc.facts)}" if advice else "")


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def kernels_table(discovery: Discovery) -> str:
    rows = [["NAME", "STATE", "PID", "KERNEL", "RUN BY", "NOTEBOOK / CWD"]]
    for k in discovery.listings:
        notebook = k.server_kernel.path if k.server_kernel and k.server_kernel.path else None
        owner = f"Jupyter Server {k.server_kernel.server.url}" if k.server_kernel else (k.owner or "")
        state = "live" if k.live else ("unreadable" if k.problem else "stale")
        rows.append([k.name, state, str(k.pid or ""), k.kernel_name, owner, notebook or k.cwd or ""])
    for k in discovery.server_kernels():
        rows.append([k.kernel_id[:8], k.execution_state, "", k.kernel_name, k.server.title, k.path or ""])
    lines = [table(rows)] if len(rows) > 1 else ["No kernels found."]
    lines += [f"{r.server.title} {r.problem}." for r in discovery.servers if r.problem]
    lines += [
        f"Warning: {k.path} is readable by other users: chmod 600 {k.path}"
        for k in discovery.listings
        if k.readable_by_others
    ]
    return "\n".join(lines)


async def kernels(settings: Settings, args: argparse.Namespace) -> int:
    discovery = await KernelRegistry(settings).list_kernels()
    print(kernels_table(discovery))
    return 0


async def start_kernel(settings: Settings, args: argparse.Namespace) -> int:
    registry = KernelRegistry(settings)
    try:
        session = await registry.start(None, args.python, args.cwd)
    except IPythonMCPError as exc:
        print(terminal_error(exc), file=sys.stderr)
        return 1
    path = session.conn.path  # type: ignore[attr-defined]
    print(f"Started kernel {session.name} (pid {session.pid}); it keeps running after this command.")
    print(f"Connection file: {path}\n")
    print(
        "Attach to it from:\n"
        f"- Spyder: Consoles > Connect to an existing kernel > Browse: {path}\n"
        f"- jupyter console or qtconsole: jupyter console --existing {path.name}\n"
        f"- JupyterLab or VS Code: in their terminal, jupyter console --existing {path.name}\n"
        "  (their notebooks start kernels of their own; to share a notebook's kernel instead, ask\n"
        "  the assistant to connect to the notebook)\n\n"
        f'Then ask your assistant to "connect to kernel {session.name}". It keeps running until you\n'
        f"exit it from a console attached to it, or the assistant shuts it down."
    )
    await registry.close_all()
    return 0


async def doctor(settings: Settings, args: argparse.Namespace) -> int:
    """Each check prints `ok`, `warn` or `FAIL` with what to do; 1 when anything failed."""
    failed = False

    def say(level: str, text: str) -> None:
        nonlocal failed
        failed = failed or level == "FAIL"
        print(f"{level:4}  {text}")

    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("mcp", "jupyter_client", "ipykernel", "websockets")
    )
    say("ok", f"ipython-mcp {_version('ipython-mcp')} on Python {sys.version.split()[0]} ({versions})")

    runtime = Path(settings.runtime_dir)
    _check_runtime_dir(runtime, say)

    try:
        import ipykernel  # noqa: F401

        say("ok", f"start_kernel can start kernels with {sys.executable}")
    except ImportError:
        say("FAIL", f"ipykernel is not installed for {sys.executable}: pip install ipykernel")

    servers = find_servers(runtime, configured_servers(settings.servers))
    for report in await list_server_kernels(servers):
        how = "configured" if report.server.configured else "found in the runtime dir"
        if report.problem:
            level = "FAIL" if report.server.configured else "warn"
            say(level, f"{report.server.title} ({how}) {report.problem}")
        else:
            say("ok", f"{report.server.title} ({how}): {len(report.kernels)} kernel(s)")
    if not servers:
        say("ok", "no Jupyter Server configured (IPYTHON_MCP_JUPYTER_URL) or running here")
    print("\nSomething failed: fix the lines marked FAIL." if failed else "\nAll set.")
    return 1 if failed else 0


def _check_runtime_dir(runtime: Path, say: Callable[[str, str], None]) -> None:
    if not runtime.is_dir():
        say("warn", f"runtime dir {runtime} does not exist yet; it is created when a kernel starts")
    else:
        mode = stat.S_IMODE(runtime.stat().st_mode)
        if not os.access(runtime, os.W_OK):
            say(
                "FAIL",
                f"runtime dir {runtime} is not writable: start_kernel cannot write connection files there",
            )
        elif mode & 0o077:
            say("warn", f"runtime dir {runtime} is open to other users (mode {mode:o}): chmod 700 {runtime}")
        else:
            say("ok", f"runtime dir {runtime} (mode {mode:o})")
        _check_connection_files(runtime, say)


def _check_connection_files(runtime: Path, say: Callable[[str, str], None]) -> None:
    paths = list_connection_files(runtime)
    broken, exposed = [], []
    for path in paths:
        try:
            conn = read_connection_file(path)
        except IPythonMCPError:
            broken.append(path.name)
            continue
        if conn.readable_by_others:
            exposed.append(path)
    say("ok", f"{len(paths)} connection file(s) in the runtime dir (`ipython-mcp kernels` lists them)")
    if broken:
        say("warn", f"unreadable or invalid connection files (safe to delete if stale): {', '.join(broken)}")
    for path in exposed:
        say("warn", f"{path} is readable by other users, who could run code in its kernel: chmod 600 {path}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"

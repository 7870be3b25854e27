"""What the model reads about kernels: one kernel in a line, status, interrupts, listings, how
the user attaches to a kernel, restart notices, how unlisted servers' kernels are reached."""
from __future__ import annotations

from ...discovery.server_kernels import ServerReport
from ...session.base import KernelSession, KernelStatus, Restart
from ...session.clients import ClientView
from ...session.link import InterruptReport
from ...session.listing import Discovery
from ...session.local import LocalKernelSession
from ...session.remote import ServerKernelSession
from .advice import advice_text, reach_by_id
from .lost import gone_phrase
from .users_cell import follow_call


def kernel_line(session: KernelSession) -> str:
    """`ab12cd34 (python 3.11.7, ipykernel 7.4.0, pid 1234)`"""
    info = session.kernel_info
    language = info.get("language_info", {})
    parts = [f"{language.get('name', '?')} {language.get('version', '')}".strip()]
    implementation = info.get("implementation")
    if implementation:
        parts.append(f"{implementation} {info.get('implementation_version', '')}".strip())
    if session.pid is not None:
        parts.append(f"pid {session.pid}")
    notebook = session.notebook
    if notebook is not None:
        on = notebook.server.url
        parts.append(f"notebook {notebook.path} on {on}" if notebook.path else f"on {on}")
    return f"{session.name} ({', '.join(parts)})"


def default_phrase(view: ClientView, session: KernelSession) -> str:
    """How the model reaches the kernel it just attached: by default, or by its name."""
    if view.named_only:
        return (
            f"pass kernel={session.name!r} to the other tools (this server is shared over HTTP "
            "and keeps no default kernel for this client)"
        )
    return "it is the default kernel"


def default_now(view: ClientView) -> str:
    """` Default kernel is now ab12cd34.` after the default was disconnected, or ``."""
    return f" Default kernel is now {view.current}." if view.current and not view.named_only else ""


def status_text(session: KernelSession, status: KernelStatus) -> str:
    if status.frozen is not None:
        resume = advice_text("resume_process", pid=status.pid)
        return f"Kernel {kernel_line(session)}: STOPPED. {status.frozen} {resume}\n{session.location}"
    if status.busy:
        doing = "busy running " + (
            status.running.describe() if status.running else "a cell this server did not see start"
        )
    else:
        doing = "idle"
    lines = [
        f"Kernel {kernel_line(session)}: {'alive' if status.alive else _not_alive(session)}, {doing}.",
    ]
    users = status.busy and (status.running is None or not status.running.ours)
    if users:
        lines.append(f"{follow_call(session)} waits for that cell's end and output.")
    if status.execution_count is not None:
        lines.append(f"Execution count: {status.execution_count}.")
    lines.append(session.location)
    if session.restartable:
        lines.append("restart_kernel can restart it (its variables are then lost).")
    if session.restarts:
        times = "once" if session.restarts == 1 else f"{session.restarts} times"
        lines.append(f"Restarted by another client {times} while connected: state from before is gone.")
    return "\n".join(lines)


def _not_alive(session: KernelSession) -> str:
    if isinstance(session, ServerKernelSession):
        return "its server connection is down, reconnecting (calls wait for it)"
    return "NOT answering its heartbeat (frozen or overloaded?)"


def interrupt_text(session: KernelSession, report: InterruptReport) -> str:
    if report.frozen is not None:
        return (
            f"Nothing was sent to kernel {session.name}: it cannot take an interrupt now. {report.frozen} "
            + advice_text("resume_process", pid=session.pid)
        )
    if not report.steps:
        return f"Nothing was running in kernel {session.name}; it is idle (no interrupt sent)."
    what = report.interrupted.describe() if report.interrupted else "the running cell"
    how = " then ".join(report.steps)
    if report.idle:
        return f"Interrupted {what} in kernel {session.name} ({how}). The kernel is idle."
    return (
        f"Kernel {session.name} is still busy after {how}: the running code may be in a C "
        "extension or a loop that ignores KeyboardInterrupt. Try interrupt_kernel again, or "
        "restart_kernel (its variables are lost)."
    )


def listing_text(runtime_dir: str, discovery: Discovery, view: ClientView) -> str:
    listings = discovery.listings
    current = view.current
    servers = _servers_text(discovery)
    if not listings:
        return servers or (
            f"No kernel connection files in {runtime_dir}. Call start_kernel to start a kernel, "
            "or ask the user for their kernel's connection file."
        )
    live = sum(k.live for k in listings)
    files = "1 connection file" if len(listings) == 1 else f"{len(listings)} connection files"
    lines = [f"{files} in {runtime_dir}, {live} live:"]
    for k in listings:
        marks = []
        if k.live:
            marks.append("live")
            if k.pid:
                marks.append(f"pid {k.pid}")
        else:
            marks.append(k.problem or "stale: no kernel answers (safe to ignore)")
        if k.kernel_name:
            marks.append(k.kernel_name)
        if k.server_kernel is not None:
            marks.append(k.server_kernel.describe())
        elif k.owner:
            marks.append(k.owner)
        if k.cwd:
            marks.append(f"cwd {k.cwd}")
        if k.readable_by_others:
            marks.append(f"WARNING file readable by other users (chmod 600 {k.path})")
        if k.connected and view.holds(k.name):
            marks.append("connected" + (", default" if k.name == current else ""))
        elif k.connected:
            marks.append("attached by another client of this server")
        lines.append(f"{'*' if k.name == current else '-'} {k.name}: {'; '.join(marks)}")
    if servers:
        lines.append(servers)
    return "\n".join(lines)


def _servers_text(discovery: Discovery) -> str:
    """What does not show in the connection files: servers that failed to answer, and server
    kernels whose files are elsewhere."""
    lines = [f"{r.server.title} {r.problem}." for r in discovery.servers if r.problem]
    remote = discovery.server_kernels()
    if remote:
        lines.append("Kernels of Jupyter Servers (connect_to_kernel takes the notebook path or kernel id):")
        lines.extend(f"- {k.kernel_id[:8]}: {k.kernel_name}; {k.describe()}" for k in remote)
    return "\n".join(lines)


def attach_instructions(session: KernelSession) -> str:
    if isinstance(session, ServerKernelSession):
        return (
            f"The user can use it from JupyterLab on {session.server.url}: in a notebook, Kernel > "
            f"Change Kernel… lists it among the running kernels ({session.kernel_id[:8]})."
        )
    assert isinstance(session, LocalKernelSession)
    path = session.conn.path
    return "\n".join(
        [
            "The user can attach to the same kernel:",
            f"- jupyter console / qtconsole: jupyter console --existing {path.name}",
            f"- Spyder: Consoles > Connect to an existing kernel > Browse: {path}",
            "- JupyterLab / VS Code: their notebooks start their own kernels; open a terminal "
            f"there and run `jupyter console --existing {path.name}`, or, to share a notebook's "
            "kernel instead, call list_kernels and connect_to_kernel on it.",
        ]
    )


_RESTARTED_BY = {
    "this_server": "restart_kernel (from a client of this server)",
    "another_client": "another client, most likely the user's IDE",
    "another_client_of_its_server": "another client (JupyterLab?)",
    "its_server": "{server} after it died (a crash, or out of memory?)",
}


def restarted_by(restart: Restart) -> str:
    """`another client, most likely the user's IDE`."""
    return _RESTARTED_BY[restart.by].format(server=restart.server)


def restart_notice(restart: Restart) -> str:
    """What a client of the kernel is told once about its latest restart."""
    by = restarted_by(restart)
    pids = f" (pid {restart.old_pid} is now pid {restart.new_pid})" if restart.old_pid else ""
    unknown = "all its variables, imports and state from before the restart are gone. Rerun what is needed."
    return f"The kernel {restart.kernel} was restarted by {by}{pids}: {gone_phrase(restart.lost, unknown)}"


def restarted_text(session: KernelSession) -> str:
    """The result of this server's own restart of a kernel."""
    lost = session.last_restart.lost if session.last_restart is not None else None
    return f"Restarted kernel {kernel_line(session)}; {gone_phrase(lost, 'its variables are gone.')}"


def unlisted_servers_note(reports: list[ServerReport]) -> str:
    """How the kernels of the servers that do not list them are reached, after a listing (whose
    lines say which servers those are)."""
    return "".join(f"\n{reach_by_id(r.server.name)}" for r in reports if not r.listed)

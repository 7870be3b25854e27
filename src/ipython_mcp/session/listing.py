"""Every kernel this server can see: the connection files of the runtime dir, live or stale,
with who runs each kernel, and the kernels Jupyter Servers report, with their notebooks."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..discovery import processes
from ..discovery.files import ConnectionFile, kernel_name_of, list_connection_files, read_connection_file
from ..discovery.server_kernels import ServerKernel, ServerReport, list_server_kernels
from ..discovery.servers import JupyterServer, configured_servers, find_servers
from ..errors import ConnectionFileError
from ..settings import Settings
from .local import LocalKernelSession, probe_heartbeat


@dataclass(frozen=True, slots=True)
class KernelListing:
    """One connection file in the runtime dir, and whether a kernel answers for it."""

    name: str
    path: Path
    live: bool
    pid: int | None
    kernel_name: str
    connected: bool
    problem: str | None = None
    owner: str | None = None
    cwd: str | None = None
    server_kernel: ServerKernel | None = None
    """What the Jupyter Server running this kernel says of it (its notebook), if one does."""
    readable_by_others: bool = False


@dataclass(frozen=True, slots=True)
class Discovery:
    """The kernels of this machine: connection files, and what local Jupyter Servers report."""

    listings: list[KernelListing]
    servers: list[ServerReport]

    def server_kernels(self) -> list[ServerKernel]:
        """Kernels reached over their server's websocket: those of configured servers, and
        those of local servers whose connection files are not in the runtime dir."""
        named = {kernel_name_of(k.path) for k in self.listings}
        return [k for r in self.servers for k in r.kernels if r.server.configured or k.kernel_id not in named]


async def discover(settings: Settings, connected: Mapping[Path, LocalKernelSession]) -> Discovery:
    """Every connection file in the runtime dir, live or stale, and the kernels of Jupyter
    Servers with their notebooks; `connected`: the sessions of this server, by connection file.
    Where the local process table cannot tell (another host, or a system that hides sockets),
    the kernel's heartbeat is pinged, all in parallel."""
    (listings, unsure), reports = await asyncio.gather(
        asyncio.to_thread(_connection_files, settings.runtime_dir, connected),
        list_server_kernels(known_servers(settings)),
    )
    answers = await asyncio.gather(*(probe_heartbeat(conn) for conn in unsure))
    alive = {conn.path for conn, answered in zip(unsure, answers, strict=True) if answered}
    served = served_kernels(reports)
    listings = [
        dataclasses.replace(
            k,
            live=k.live or k.path in alive or kernel_name_of(k.path) in served,
            server_kernel=served.get(kernel_name_of(k.path)),
        )
        for k in listings
        if not (kernel_name_of(k.path) in served and served[kernel_name_of(k.path)].server.configured)
    ]
    return Discovery(listings, list(reports))


def _connection_files(
    runtime_dir: str, connected: Mapping[Path, LocalKernelSession]
) -> tuple[list[KernelListing], list[ConnectionFile]]:
    """Each connection file, and those whose kernel only its heartbeat can tell of."""
    listeners = processes.tcp_listeners()
    listings, unsure = [], []
    for path in list_connection_files(runtime_dir):
        path = path.resolve()
        try:
            conn = read_connection_file(path)
        except ConnectionFileError as exc:
            listings.append(KernelListing(kernel_name_of(path), path, False, None, "", False, str(exc)))
            continue
        session = connected.get(path)
        process = session.process if session else processes.kernel_process(conn, listeners)
        listening = processes.is_listening(conn, listeners)
        live = session is not None or process is not None or bool(listening)
        if not live and (listening is None or not conn.is_loopback):
            unsure.append(conn)
        listings.append(
            KernelListing(
                session.name if session else conn.name,
                path,
                live,
                process.pid if process else None,
                conn.kernel_name,
                session is not None,
                owner=(
                    "started by this server"
                    if session and session.launched
                    else processes.owner(process)
                    if process
                    else None
                ),
                cwd=processes.working_dir(process) if process else None,
                readable_by_others=conn.readable_by_others,
            )
        )
    return listings, unsure


def known_servers(settings: Settings) -> list[JupyterServer]:
    """The servers the user configured, then those running here (their jpserver files)."""
    return find_servers(settings.runtime_dir, configured_servers(settings.servers))


def served_kernels(reports: list[ServerReport]) -> dict[str, ServerKernel]:
    """Kernel id -> what its server says of it; a configured server's word wins."""
    ordered = sorted(reports, key=lambda r: r.server.configured)
    return {k.kernel_id: k for r in ordered for k in r.kernels}

"""The kernels this server is connected to, by name, and which one tools use by default."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import weakref
from dataclasses import dataclass
from pathlib import Path

from ..discovery import processes
from ..discovery.files import (
    ConnectionFile,
    kernel_name_of,
    list_connection_files,
    new_connection_file,
    read_connection_file,
    resolve_connection_file,
)
from ..discovery.launcher import LaunchedKernel, launch_kernel, resolve_python
from ..discovery.server_api import ServerAPI
from ..discovery.server_kernels import (
    ServerKernel,
    ServerReport,
    kernels_by_id,
    list_server_kernels,
    notebook_matches,
)
from ..discovery.servers import JupyterServer, configured_servers, find_servers
from ..errors import (
    CannotRestart,
    ConnectionFileError,
    JupyterServerError,
    KernelNotChosen,
    NoSuchExecution,
    NoSuchKernel,
)
from ..settings import Settings
from .base import KernelSession, Restart
from .local import LocalKernelSession, probe_heartbeat
from .remote import ServerKernelSession

Holder = object
"""Whoever uses a kernel (a client's view): kept weakly, so a client gone stops holding it."""


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


class KernelRegistry:
    """The kernels this server is attached to, by name, each one session shared by every
    client that attached it (see `clients.ClientView` for what is a client's own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: dict[str, KernelSession] = {}
        self._holders: dict[str, weakref.WeakSet[Holder]] = {}
        self._lock = asyncio.Lock()

    def find(self, name: str) -> KernelSession | None:
        """The attached kernel of that name, or with a name that starts so (uniquely)."""
        session = self._sessions.get(name)
        if session is None:
            matches = [s for n, s in self._sessions.items() if n.startswith(name)]
            session = matches[0] if len(matches) == 1 else None
        return session

    def lookup(self, name: str) -> KernelSession:
        """As `find`, with a clear error when no attached kernel has that name."""
        session = self.find(name)
        if session is None:
            known = ", ".join(self._sessions) or "none"
            raise NoSuchKernel(
                f"No connected kernel is named {name!r} (connected: {known}).", advice="connect_by_name"
            )
        return session

    def names(self) -> list[str]:
        return list(self._sessions)

    def with_execution(self, execution_id: str) -> KernelSession:
        """The kernel an execution belongs to, whichever client ran it: for a request state
        the protocol sealed, which only the client it was given to can send back."""
        for session in self._sessions.values():
            if execution_id in session.runner.executions:
                return session
        raise NoSuchExecution(f"No execution {execution_id!r} is kept any more.")

    @property
    def sessions(self) -> list[KernelSession]:
        return list(self._sessions.values())

    def hold(self, session: KernelSession, client: Holder) -> None:
        """Note that a client uses the kernel: it stays attached while any client does."""
        self._holders.setdefault(session.name, weakref.WeakSet()).add(client)

    async def release(self, session: KernelSession, client: Holder) -> bool:
        """A client stops using the kernel; closed once no client uses it. Whether another
        client still does."""
        holders = self._holders.get(session.name)
        if holders is not None:
            holders.discard(client)
            if holders:
                return True
        await session.close()
        self._remove(session)
        return False

    async def connect(self, spec: str | None, server: str | None = None) -> tuple[KernelSession, bool]:
        """Attach to a kernel by path, partial name, notebook or server kernel id; returns
        (session, was already connected)."""
        target = await self._choose(spec, server)
        async with self._lock:
            identity = _identity(target)
            for session in self._sessions.values():
                if session.identity == identity and session.death is None:
                    return session, True
            if isinstance(target, ServerKernel):
                name = self._free_name(target.kernel_id, identity)
                stale = self._sessions.get(name)
                session = await ServerKernelSession.open(name, target.server, target.kernel_id, self.settings)
            else:
                conn = read_connection_file(target.path)
                name = self._free_name(conn.name, identity)
                stale = self._sessions.get(name)
                session = await LocalKernelSession.open(name, conn, self.settings)
                target = target.notebook
            session.notebook = target
            if stale is not None:
                await stale.close()
            self._add(session)
            return session, False

    async def _choose(self, spec: str | None, server: str | None) -> Target:
        """The kernel to connect to: a connection file (with the notebook a local server says
        it serves), or a server kernel reached over the server's websocket."""
        runtime_dir = Path(self.settings.runtime_dir)
        if server is not None:
            report = await self._report_of(server, spec)
            return self._target(_pick(report, spec), runtime_dir)
        spec = spec or self.settings.connection_file
        if not spec:
            return await self._only_kernel()
        reports = await list_server_kernels(self._servers())
        configured = [k for r in reports if r.server.configured for k in r.kernels]
        matches = server_kernel_matches(configured, spec) or await kernels_by_id(
            [r.server for r in reports if not r.listed], spec
        )
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise _ambiguous(spec, matches)
        try:
            path = resolve_connection_file(spec, runtime_dir)
        except ConnectionFileError as not_a_file:
            found = self._notebook_kernel(spec, reports)
            if found is None:
                raise ConnectionFileError(
                    f"{not_a_file}{_problems(reports)}",
                    advice=not_a_file.advice,
                    **not_a_file.facts,
                    unlisted=_unlisted(reports),
                ) from None
            return self._target(found, runtime_dir)
        return FileTarget(path, _served(reports).get(kernel_name_of(path)))

    async def _only_kernel(self) -> Target:
        runtime_dir = self.settings.runtime_dir
        discovery = await self.list_kernels()
        live = [k for k in discovery.listings if k.live]
        remote = discovery.server_kernels()
        if len(live) + len(remote) == 1:
            return remote[0] if remote else FileTarget(live[0].path, live[0].server_kernel)
        listings = discovery.listings
        if not live and not remote:
            stale = f" ({len(listings)} stale files there)" if listings else ""
            raise KernelNotChosen(
                f"No running kernel found in {runtime_dir}{stale}.{_problems(discovery.servers)}",
                advice="no_kernel_running",
                unlisted=_unlisted(discovery.servers),
            )
        names = [f"{k.name} (pid {k.pid})" if k.pid else k.name for k in live]
        names += [f"{k.path or k.kernel_id} on {k.server.name}" for k in remote]
        raise KernelNotChosen(
            f"{len(names)} kernels are running: {', '.join(names[:10])}.", advice="pass_one_of_them"
        )

    async def _report_of(self, name: str, spec: str | None = None) -> ServerReport:
        server = self._server_named(name)
        (report,) = await list_server_kernels([server])
        if not report.listed and spec:  # it answers for a kernel by its id all the same
            return dataclasses.replace(report, kernels=await kernels_by_id([server], spec))
        if report.problem:
            raise JupyterServerError(
                f"{server.title} {report.problem}.",
                advice="" if report.listed else "full_id_or_start",
                server=server.name,
            )
        return report

    def _server_named(self, name: str) -> JupyterServer:
        servers = self._servers()
        wanted = name.strip()
        for server in servers:
            if wanted in (server.name, server.url, server.url.rstrip("/")):
                return server
        matches = [s for s in servers if wanted in s.url]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(f"{s.name} ({s.url})" for s in servers) or "none"
        raise JupyterServerError(
            f"No Jupyter Server is named {name!r} (known: {known}). Servers come from "
            "IPYTHON_MCP_JUPYTER_URL, a servers file, or a JupyterLab running on this machine."
        )

    def _target(self, kernel: ServerKernel, runtime_dir: Path) -> Target:
        """Over ZMQ when a local server left the kernel's connection file here, else its websocket."""
        path = runtime_dir / f"kernel-{kernel.kernel_id}.json"
        if kernel.server.configured or not path.is_file():
            return kernel
        return FileTarget(path.resolve(), kernel)

    def _servers(self) -> list[JupyterServer]:
        return find_servers(self.settings.runtime_dir, configured_servers(self.settings.servers))

    def _notebook_kernel(self, spec: str, reports: list[ServerReport]) -> ServerKernel | None:
        """The kernel of an open notebook on a Jupyter Server, by the notebook's path or its id."""
        kernels = [k for r in reports for k in r.kernels]
        matches = server_kernel_matches(kernels, spec)
        if not matches:
            if not spec.endswith(".ipynb"):
                return None
            open_ones = sorted({k.path for k in kernels if k.path})
            listed = f" Open notebooks: {', '.join(open_ones[:10])}." if open_ones else ""
            raise KernelNotChosen(
                f"No running Jupyter Server here has {spec} open with a kernel "
                f"({len(reports)} server(s) found).{listed}{_problems(reports)}",
                advice="open_the_notebook",
                unlisted=_unlisted(reports),
            )
        if len(matches) > 1:
            raise _ambiguous(spec, matches)
        return matches[0]

    async def start_on_server(self, server: str, kernel_name: str | None) -> KernelSession:
        """Start a kernel on a Jupyter Server (on Enterprise Gateway, in its cluster) and connect."""
        target = self._server_named(server)
        async with ServerAPI(target) as api:
            model = await api.start_kernel(kernel_name)
        kernel = ServerKernel(
            kernel_id=model["id"],
            kernel_name=str(model.get("name", "")),
            execution_state=str(model.get("execution_state", "starting")),
            connections=0,
            server=target,
        )
        try:
            session = await ServerKernelSession.open(
                self._free_name(kernel.kernel_id, _identity(kernel)),
                target,
                kernel.kernel_id,
                self.settings,
                started=True,
            )
        except BaseException:  # leave nothing running that nobody knows of
            async with ServerAPI(target) as api:
                with contextlib.suppress(Exception):
                    await api.shutdown(kernel.kernel_id)
            raise
        session.notebook = kernel
        async with self._lock:
            self._add(session)
        return session

    async def start(self, connection_file: str | None, python: str | None, cwd: str | None) -> KernelSession:
        """Launch a detached kernel, wait until it answers, and make it the default."""
        python = resolve_python(python)
        conn = new_connection_file(self.settings.runtime_dir, connection_file)
        try:
            launched = launch_kernel(conn, python=python, cwd=cwd)
        except BaseException:
            conn.path.unlink(missing_ok=True)
            raise
        name = self._free_name(conn.name, ("file", str(conn.path)))
        session = await self._open_launched(name, conn, launched)
        async with self._lock:
            self._add(session)
        return session

    async def restart(self, old: KernelSession) -> KernelSession:
        """Restart a kernel this server launched, on the same connection file (a new session
        under the same name, which tells the other clients), or a server's kernel."""
        if isinstance(old, ServerKernelSession):
            await old.restart()
            old.restarts += 1
            old.last_restart = Restart(old.name, "this_server")
            return old
        assert isinstance(old, LocalKernelSession)
        if old.launched is None:
            owner = processes.command_line(old.process)[:120] if old.process else ""
            by = f" (pid {old.pid}: {owner})" if owner else ""
            raise CannotRestart(
                f"Kernel {old.name} was started by another program{by}, which manages its restarts.",
                advice="restart_it_there",
            )
        launched = old.launched
        await old.shutdown()
        self._remove(old, keep_holders=True)  # the clients of the old kernel are those of the new
        relaunched = launch_kernel(old.conn, python=launched.argv[0], cwd=launched.cwd)
        session = await self._open_launched(old.name, old.conn, relaunched)
        session.restarts = old.restarts + 1
        session.last_restart = Restart(session.name, "this_server")
        async with self._lock:
            self._add(session)
        return session

    async def _open_launched(
        self, name: str, conn: ConnectionFile, launched: LaunchedKernel
    ) -> KernelSession:
        """Connect to a kernel we just launched; if it does not come up, leave nothing behind."""
        try:
            return await LocalKernelSession.open(name, conn, self.settings, launched)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                launched.process.kill()
            launched.process.wait()
            _remove_files(conn)
            raise

    async def shutdown(self, session: KernelSession) -> list[str]:
        """Shut the kernel down for every client attached to it; the steps taken."""
        steps = await session.shutdown()
        if isinstance(session, LocalKernelSession) and session.launched is not None:
            _remove_files(session.conn)
            steps.append("removed its connection file")
        self._remove(session)
        return steps

    async def close_all(self) -> None:
        sessions, self._sessions = self.sessions, {}
        self._holders.clear()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    async def list_kernels(self) -> Discovery:
        """Every connection file in the runtime dir, live or stale, and the notebooks of
        local Jupyter Servers. Where the local process table cannot tell (another host, or
        a system that hides sockets), the kernel's heartbeat is pinged, all in parallel."""
        (listings, unsure), reports = await asyncio.gather(
            asyncio.to_thread(self._listings_sync),
            list_server_kernels(self._servers()),
        )
        answers = await asyncio.gather(*(probe_heartbeat(conn) for conn in unsure))
        alive = {conn.path for conn, answered in zip(unsure, answers, strict=True) if answered}
        served = _served(reports)
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

    def _listings_sync(self) -> tuple[list[KernelListing], list[ConnectionFile]]:
        listeners = processes.tcp_listeners()
        connected = {
            s.conn.path: s
            for s in self._sessions.values()
            if isinstance(s, LocalKernelSession) and s.death is None
        }
        listings, unsure = [], []
        for path in list_connection_files(self.settings.runtime_dir):
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

    def _free_name(self, full: str, identity: tuple[str, ...]) -> str:
        short = full[:8] if len(full) > 12 else full
        taken = {n for n, s in self._sessions.items() if s.identity != identity}
        return short if short not in taken else full

    def _add(self, session: KernelSession) -> None:
        self._sessions[session.name] = session

    def _remove(self, session: KernelSession, *, keep_holders: bool = False) -> None:
        if self._sessions.get(session.name) is session:
            del self._sessions[session.name]
            if not keep_holders:
                self._holders.pop(session.name, None)


@dataclass(frozen=True, slots=True)
class FileTarget:
    path: Path
    notebook: ServerKernel | None


Target = FileTarget | ServerKernel
"""A kernel to connect to: by connection file (ZMQ) or a server's kernel (websocket)."""


def _served(reports: list[ServerReport]) -> dict[str, ServerKernel]:
    """Kernel id -> what its server says of it; a configured server's word wins."""
    ordered = sorted(reports, key=lambda r: r.server.configured)
    return {k.kernel_id: k for r in ordered for k in r.kernels}


def _identity(target: Target) -> tuple[str, ...]:
    if isinstance(target, ServerKernel):
        return ("server", target.server.url, target.kernel_id)
    return ("file", str(target.path))


def server_kernel_matches(kernels: list[ServerKernel], spec: str) -> list[ServerKernel]:
    """Server kernels named by `spec`: their notebook, or (the start of) their kernel id."""
    by_notebook = notebook_matches(kernels, spec)
    if by_notebook:
        return by_notebook
    spec = spec.strip()
    return [k for k in kernels if len(spec) >= 4 and k.kernel_id.startswith(spec)]


def _pick(report: ServerReport, spec: str | None) -> ServerKernel:
    kernels = report.kernels
    title = report.server.title
    if spec is None:
        if len(kernels) == 1:
            return kernels[0]
        what = f"{len(kernels)} kernels" if kernels else "no kernels"
        raise KernelNotChosen(
            f"{title} runs {what}.",
            advice="pick_one_of_them" if kernels else "start_one_there",
            server=report.server.name,
        )
    matches = server_kernel_matches(kernels, spec)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _ambiguous(spec, matches)
    if not report.listed:
        raise KernelNotChosen(
            f"{title} has no kernel with the id {spec!r}. It does not list its kernels.",
            advice="full_id_or_start",
            server=report.server.name,
        )
    listed = ", ".join(k.path or k.kernel_id for k in kernels[:10]) or "none"
    raise KernelNotChosen(
        f"{title} has no kernel or open notebook matching {spec!r} (its kernels: {listed}).",
        advice="list_them",
    )


def _ambiguous(spec: str, matches: list[ServerKernel]) -> KernelNotChosen:
    where = ", ".join(
        f"{k.path or 'no notebook'} ({k.kernel_id[:8]} on {k.server.name})" for k in matches[:10]
    )
    return KernelNotChosen(f"{len(matches)} kernels match {spec!r}: {where}.", advice="tell_them_apart")


def _problems(reports: list[ServerReport]) -> str:
    """` Jupyter Server http://… did not answer (ConnectTimeout).` for each server with a problem."""
    return "".join(f" {r.server.title} {r.problem}." for r in reports if r.problem)


def _unlisted(reports: list[ServerReport]) -> list[str]:
    """The names of the servers that do not list their kernels, which are reached by id."""
    return [r.server.name for r in reports if not r.listed]


def _remove_files(conn: ConnectionFile) -> None:
    for path in (conn.path, conn.path.with_suffix(".log")):
        path.unlink(missing_ok=True)

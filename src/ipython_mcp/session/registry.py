"""The kernels this server is attached to, by name: one session per kernel, shared by the clients
that attached it. Connecting (chooser.py tells which kernel is meant), starting kernels here or
on a Jupyter Server, restarting and shutting them down; what there is to connect to is
listing.py's. Which kernel a client uses by default is its own (clients.py)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref

from ..discovery import processes
from ..discovery.files import ConnectionFile, new_connection_file, read_connection_file
from ..discovery.launcher import LaunchedKernel, launch_kernel, resolve_python
from ..discovery.server_api import ServerAPI
from ..discovery.server_kernels import ServerKernel
from ..errors import CannotRestart, NoSuchExecution, NoSuchKernel
from ..settings import Settings
from .base import KernelSession, Restart
from .chooser import KernelChooser, identity_of
from .listing import Discovery, discover
from .local import LocalKernelSession
from .remote import ServerKernelSession

Holder = object
"""Whoever uses a kernel (a client's view): kept weakly, so a client gone stops holding it."""


class KernelRegistry:
    """The kernels this server is attached to, by name, each one session shared by every
    client that attached it (see `clients.ClientView` for what is a client's own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: dict[str, KernelSession] = {}
        self._holders: dict[str, weakref.WeakSet[Holder]] = {}
        self._lock = asyncio.Lock()
        self._chooser = KernelChooser(settings, self.list_kernels)

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
        target = await self._chooser.choose(spec, server)
        async with self._lock:
            identity = identity_of(target)
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

    async def start_on_server(self, server: str, kernel_name: str | None) -> KernelSession:
        """Start a kernel on a Jupyter Server (on Enterprise Gateway, in its cluster) and connect."""
        target = self._chooser.server_named(server)
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
                self._free_name(kernel.kernel_id, identity_of(kernel)),
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
        """Launch a detached kernel and wait until it answers."""
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
            lost, error = await old.names.final(), old.errors.latest
            await old.restart()
            old.restarts += 1
            old.last_restart = Restart(old.name, "this_server", lost=lost, error=error)
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
        lost = old.link.lost if old.death is not None else await old.names.final()
        await old.shutdown()
        self._remove(old, keep_holders=True)  # the clients of the old kernel are those of the new
        relaunched = launch_kernel(old.conn, python=launched.argv[0], cwd=launched.cwd)
        session = await self._open_launched(old.name, old.conn, relaunched)
        session.restarts = old.restarts + 1
        session.last_restart = Restart(session.name, "this_server", lost=lost, error=old.errors.latest)
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
        """Every kernel this server can see (see listing.discover)."""
        connected = {
            s.conn.path: s
            for s in self._sessions.values()
            if isinstance(s, LocalKernelSession) and s.death is None
        }
        return await discover(self.settings, connected)

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


def _remove_files(conn: ConnectionFile) -> None:
    for path in (conn.path, conn.path.with_suffix(".log")):
        path.unlink(missing_ok=True)

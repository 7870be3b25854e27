"""What one client of this server sees: its default kernel and the kernels it attached.

The registry holds one session per kernel, shared by every client that attaches to it: its
message router, its executions (ids, outputs, input()) and its notebook. What is a client's
own is which kernel its calls use by default, which kernels it attached, and which restarts
it has been told about. A client reaches a kernel only by attaching it itself: connecting,
starting it, or naming it in a call.

A client is one MCP connection over stdio, or one MCP session over HTTP (the Mcp-Session-Id
of protocols before 2026-07-28). Requests of the sessionless protocol cannot be told apart:
they share one view that remembers no default, so they name the kernel in every call (the
kernel's name is the handle their results give them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NoSuchKernel

if TYPE_CHECKING:
    from .base import KernelSession, Restart
    from .registry import KernelRegistry


class ClientView:
    """One client's default kernel, attached kernels and restart notices."""

    def __init__(self, registry: KernelRegistry, *, named_only: bool = False) -> None:
        self._registry = registry
        self.named_only = named_only
        """Remembers no default: its calls name the kernel (sessionless clients)."""
        self._attached: dict[str, None] = {}  # names, oldest first
        self._current: str | None = None
        self._told: dict[str, int] = {}  # name -> restarts of that kernel already told

    @property
    def current(self) -> str | None:
        """The name of this client's default kernel, while it is attached."""
        if self._current is not None and self._registry.find(self._current) is None:
            return None
        return self._current

    @property
    def attached(self) -> list[str]:
        """Names of the kernels this client attached that are still attached here."""
        return [name for name in self._attached if self._registry.find(name) is not None]

    def holds(self, name: str) -> bool:
        return name in self._attached

    def get(self, name: str | None = None) -> KernelSession:
        """The named kernel (attaching it to this client), or this client's default one."""
        if name is not None:
            session = self._registry.lookup(name)
            self._attach(session, default=False)
            return session
        if self._current is None:
            raise self._no_default()
        session = self._registry.find(self._current)
        if session is None:
            gone, self._current = self._current, None
            raise NoSuchKernel(
                f"Kernel {gone} is no longer attached to this server: another client of it shut it down.",
                advice="kernel_gone",
            )
        return session

    async def use(self, name: str | None = None) -> KernelSession:
        """As `get`, but with no kernel named or attached yet, the kernel the user configured
        (IPYTHON_MCP_CONNECTION) is connected first."""
        if name is None and self.current is None and self._registry.settings.connection_file:
            session, _ = await self.connect(None)
            return session
        return self.get(name)

    def with_execution(self, execution_id: str | None, name: str | None) -> KernelSession:
        """The kernel an execution id belongs to, among the kernels this client attached;
        else the named or default kernel (whose error then says the id is unknown)."""
        if execution_id is not None and name is None:
            for attached in self.attached:
                session = self._registry.find(attached)
                if session is not None and execution_id in session.runner.executions:
                    return session
        return self.get(name)

    async def connect(self, spec: str | None, server: str | None = None) -> tuple[KernelSession, bool]:
        """Attach to a kernel and make it this client's default; (session, was attached before)."""
        session, already = await self._registry.connect(spec, server)
        already = already and self.holds(session.name)
        self._attach(session, default=True)
        return session, already

    async def start(self, connection_file: str | None, python: str | None, cwd: str | None) -> KernelSession:
        session = await self._registry.start(connection_file, python, cwd)
        self._attach(session, default=True)
        return session

    async def start_on_server(self, server: str, kernel_name: str | None) -> KernelSession:
        session = await self._registry.start_on_server(server, kernel_name)
        self._attach(session, default=True)
        return session

    async def restart(self, name: str | None) -> KernelSession:
        session = await self._registry.restart(self.get(name))
        self._told[session.name] = session.restarts  # the result says so itself
        return session

    async def shutdown(self, name: str | None) -> tuple[KernelSession, list[str]]:
        session = self.get(name)
        steps = await self._registry.shutdown(session)
        self._detach(session.name)
        return session, steps

    async def disconnect(self, name: str | None) -> tuple[KernelSession, bool]:
        """Stop using a kernel; (session, whether another client still uses it, so it stays
        attached to the server)."""
        session = self.get(name)
        self._detach(session.name)
        shared = await self._registry.release(session, self)
        return session, shared

    def untold_restarts(self, session: KernelSession) -> list[Restart]:
        """What this client has not been told yet about the kernel: that it restarted."""
        told = self._told.get(session.name, 0)
        if told > session.restarts:  # the name now stands for another kernel
            told = 0
        self._told[session.name] = session.restarts
        if session.restarts > told and session.last_restart is not None:
            return [session.last_restart]
        return []

    def _attach(self, session: KernelSession, *, default: bool) -> None:
        if session.name not in self._attached:
            self._attached[session.name] = None
            self._told.setdefault(session.name, session.restarts)
        self._registry.hold(session, self)
        if default and not self.named_only:
            self._current = session.name

    def _detach(self, name: str) -> None:
        self._attached.pop(name, None)
        self._told.pop(name, None)
        if self._current == name:
            self._current = next(reversed(self.attached), None)

    def _no_default(self) -> NoSuchKernel:
        if self.named_only:
            attached = ", ".join(self._registry.names()) or "none yet"
            return NoSuchKernel(
                "No kernel was named: this server is shared over HTTP by clients it cannot tell apart, "
                f"so it keeps no default kernel for them (attached: {attached}).",
                advice="name_the_kernel",
            )
        return NoSuchKernel("No kernel is connected.", advice="connect_first")

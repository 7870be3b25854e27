"""A connection to one kernel, however it is reached: handshake, restarts, interrupts, status.

`local.LocalKernelSession` reaches a kernel through its connection file (ZMQ);
`remote.ServerKernelSession` through a Jupyter Server's REST API and websocket. What they share
lives here. Running code is `run.runner.CodeRunner`, looking at the kernel
`look.inspector.KernelInspector`; both see the kernel through the session's `link.KernelLink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from ..discovery.launcher import LaunchedKernel
from ..discovery.server_kernels import ServerKernel
from ..look.errors_seen import ErrorsSeen, SeenError
from ..look.inspector import KernelInspector
from ..look.lost import LostNames
from ..look.observed import ObservedCells
from ..look.record import NamespaceRecord
from ..run.runner import CodeRunner
from ..settings import Settings
from ..transport.channels import Channels
from ..transport.router import Activity, MessageRouter
from .link import PROMPT_REPLY, InterruptReport, InterruptStep, KernelLink, Recovery

log = logging.getLogger(__name__)

PROBE_WAIT = 1.0
"""Seconds connecting waits for the first look at a kernel's hooks (milliseconds when idle)."""


RestartedBy = Literal["this_server", "another_client", "another_client_of_its_server", "its_server"]
"""Who restarted a kernel: a client of this server; another client (the user's IDE) of a kernel
of a connection file, or of a Jupyter Server's kernel; or its Jupyter Server, after it died."""


@dataclass(frozen=True, slots=True)
class Restart:
    """A restart of a kernel, told once to each of its clients; the server layer words it."""

    kernel: str
    by: RestartedBy
    server: str = ""
    """The title of the kernel's Jupyter Server, when that server restarted it."""
    old_pid: int | None = None
    new_pid: int | None = None
    lost: LostNames | None = None
    """What the old kernel held, as last recorded, if known."""
    error: SeenError | None = None
    """The old kernel's latest exception, if one was seen: its stack went with it."""


@dataclass(frozen=True, slots=True)
class KernelStatus:
    alive: bool
    busy: bool
    running: Activity | None
    execution_count: int | None
    pid: int | None
    kernel_info: dict[str, Any]
    frozen: str | None = None
    """Why it answers nothing (its process is stopped), if so."""


class KernelSession:
    """The one connection of this server to one kernel. Create it with `open` of a subclass."""

    launched: LaunchedKernel | None = None
    """The kernel process, when this server started it locally."""

    def __init__(self, name: str, settings: Settings, channels: Channels) -> None:
        self.name = name
        self.settings = settings
        self.router = MessageRouter(channels)
        self.link = KernelLink(name, settings, self.router, controls=self)
        """The kernel as the runner and the inspector see it."""
        self.observed = ObservedCells()
        """Cells of other clients (the user's IDE), with what they printed, for the kernel's
        history; never part of a result."""
        self.router.on_other_cell = self.observed.add
        self.notebook: ServerKernel | None = None
        """The notebook whose kernel this is, when a Jupyter Server said so."""
        self.restarts = 0
        self.last_restart: Restart | None = None
        """The latest restart, told once to each client (see clients.ClientView.untold_restarts)."""
        self._watcher: asyncio.Task[None] | None = None
        self.runner = CodeRunner(self.link)
        """Runs the assistant's code: executions, their outputs, input(), waiting for them."""
        self.inspector = KernelInspector(self.link)
        """Looks at the kernel without running a cell: variables, history, help, completions."""
        self.names = NamespaceRecord(self.link, settings.names_kept)
        """What the kernel holds, recorded between cells: what a restart or death takes with it."""
        self.errors = ErrorsSeen()
        """The latest exception a cell raised in the kernel, and whose cell it was."""
        self.router.on_execute = self._on_execute

    @property
    def kernel_info(self) -> dict[str, Any]:
        return self.link.kernel_info

    @property
    def death(self) -> str | None:
        """Why the kernel can take no more requests (it died, was shut down, closed), if so."""
        return self.link.death

    def check_alive(self) -> None:
        self.link.check_alive()

    async def interrupt(self, only: Collection[str] | None = None) -> InterruptReport:
        return await self.link.interrupt(only)

    # -- what subclasses say about themselves ----------------------------------------------

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes two sessions the same kernel (a connection file; a server's kernel id)."""
        raise NotImplementedError

    @property
    def location(self) -> str:
        """Where the kernel is, for the model: `Connection file: …` or `Kernel … on Jupyter Server …`."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return None

    @property
    def restartable(self) -> bool:
        """Whether this server can restart it: it started it, or a Jupyter Server manages it."""
        return False

    def recovery(self) -> Recovery:
        raise NotImplementedError

    def frozen(self) -> str | None:
        """Why the kernel cannot answer anything now (its process is stopped), if so."""
        return None

    def being_replaced(self) -> bool:
        """Whether the kernel's process is gone while its successor may be starting."""
        return False

    def interrupt_steps(self) -> list[InterruptStep]:
        raise NotImplementedError

    async def _connect(self) -> float:
        """Reach the kernel until it answers kernel_info (then in `kernel_info`); the deadline."""
        raise NotImplementedError

    async def _watch_liveness(self) -> None:
        raise NotImplementedError

    async def _alive(self) -> bool:
        raise NotImplementedError

    async def shutdown(self) -> list[str]:
        raise NotImplementedError

    async def _close_transport(self) -> None:
        """Release sockets and clients, after the router stopped reading."""

    def _iopub_hint(self) -> str:
        return ""

    # -- connecting -----------------------------------------------------------------------

    @classmethod
    async def _opened(cls, session: KernelSession) -> KernelSession:
        """Connect and return only once the kernel answered and its outputs reach us."""
        try:
            deadline = await session._connect()
            await session.link.ensure_iopub(deadline, hint=session._iopub_hint())
            probe = session.inspector.start()
            if probe is not None:  # done before the user's next cell, which may hold the kernel
                await asyncio.wait({probe}, timeout=PROBE_WAIT)
            session.router.on_lifecycle = session._on_lifecycle
            session._watcher = asyncio.create_task(session._watch_liveness())
            session.names.start()
        except BaseException:
            await session.close()
            raise
        return session

    def _on_execute(self, msg_id: str, msg_type: str, content: dict[str, Any], ours: bool) -> None:
        self.names.on_execute(msg_id, msg_type, content, ours)
        self.errors.on_execute(msg_id, msg_type, content, ours)

    # -- restarts and death ---------------------------------------------------------------

    def _on_lifecycle(self, state: str) -> None:
        """A restart or death the kernel or its server announced (see MessageRouter.on_lifecycle)."""

    def _restarted(self, restart: Restart) -> None:
        """Carry on with the new kernel that replaced ours."""
        self.restarts += 1
        self.last_restart = dataclasses.replace(restart, lost=self.names.lost(), error=self.errors.latest)
        log.warning("kernel %s was restarted (%s)", self.name, restart)
        self._new_kernel()

    def _new_kernel(self) -> None:
        """What was set up in the old kernel is gone; calls waiting on it return."""
        self.link.begin_new_kernel()
        self.inspector.restarted()
        self.names.restarted()
        self.errors.restarted()
        self.runner.restarted()
        self.link.announce_new_kernel()

    def _mark_dead(self, reason: str) -> None:
        self._lose_names()
        self.link.mark_dead(reason)

    def _lose_names(self) -> None:
        """The kernel is gone with its namespace: keep what it held, for the words of its death."""
        if self.link.death is None:
            self.link.lost = self.names.lost()

    def _end(self, death: str) -> None:
        """No more requests: calls waiting on this kernel return at once, saying `death`."""
        self.link.end(death)

    # -- status and ending -----------------------------------------------------------------

    async def status(self) -> KernelStatus:
        self.link.check_alive()
        frozen = self.frozen()
        if frozen is not None:  # it would answer nothing: ask nothing
            return KernelStatus(
                False,
                False,
                self.router.current(),
                self.router.execution_count,
                self.pid,
                self.kernel_info,
                frozen,
            )
        alive, caught_up = await asyncio.gather(self._alive(), self.router.catch_up())
        running = self.router.current()
        execution_count = self.router.execution_count
        busy = running is not None
        if not busy or not caught_up:
            # A cell may have started before we connected, or just now, or ended unseen where
            # we cannot catch up: a shell request not answered promptly says one runs. It asks
            # for the last cell of this kernel session (a tail reaches into other kernels').
            latest = (
                {"hist_access_type": "range", "session": 0, "start": -1, "stop": None}
                if self.kernel_info.get("implementation") == "ipython"
                else {"hist_access_type": "tail", "n": 1}
            )
            msg_id, reply = self.router.request(
                "shell", "history_request", {**latest, "output": False, "raw": True}
            )
            asked = time.monotonic()
            try:
                msg = await asyncio.wait_for(asyncio.shield(reply), PROMPT_REPLY if busy else 1.0)
                busy = time.monotonic() - asked > PROMPT_REPLY
                history = msg["content"].get("history") or []
                if history:
                    execution_count = max(execution_count or 0, history[-1][1])
            except TimeoutError:
                self.router.forget(msg_id)
                busy = True
            running = self.router.current() if busy else None
        return KernelStatus(alive, busy, running, execution_count, self.pid, self.kernel_info)

    async def close(self) -> None:
        """Stop listening to the kernel, first stopping the assistant's code if it still runs."""
        ours = self.runner.ours()
        if ours and self.death is None:
            with contextlib.suppress(Exception):
                await self.interrupt(only=ours)
        with contextlib.suppress(Exception):
            await self.inspector.close()
        await self.names.close()
        if self.death is None:
            self.runner.answer_pending()  # nobody is left to answer: never leave input() waiting
        self._end(f"The connection to kernel {self.name} was closed.")
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.link.close()
        await self.runner.close()
        await self.router.stop(self.link.died())
        await self._close_transport()

"""A connection to one kernel, however it is reached: handshake, restarts, interrupts, status.

`local.LocalKernelSession` reaches a kernel through its connection file (ZMQ);
`remote.ServerKernelSession` through a Jupyter Server's REST API and websocket. What they share
lives here; running code is `runner.CodeRunner`, looking at the kernel `inspector.KernelInspector`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from ..discovery.launcher import LaunchedKernel
from ..discovery.servers import ServerKernel
from ..errors import KernelDied, KernelFrozen, KernelUnreachable
from ..look.inspector import KernelInspector
from ..look.observed import ObservedCells
from ..run.execution import InterruptReport
from ..run.runner import CodeRunner
from ..settings import Settings
from ..transport.channels import Channels
from ..transport.router import Activity, MessageRouter

log = logging.getLogger(__name__)

INTERRUPT_GRACE = 2.0
"""Seconds an interrupted cell gets to stop before the next, stronger step."""
PROBE_WAIT = 1.0
"""Seconds connecting waits for the first look at a kernel's hooks (milliseconds when idle)."""
REPLACEMENT_WAIT = 15.0
"""Seconds code waits for a kernel being replaced (a restart in progress) before it is sent."""
PROMPT_REPLY = 0.25
"""Seconds within which an idle kernel answers a shell request; slower means it was busy."""

InterruptStep = Callable[[], Awaitable[str | None]]
"""One way to interrupt, strongest last: says what it did, or None when it does not apply."""


def restart_notice(name: str, by: str, detail: str = "") -> str:
    return (
        f"The kernel {name} was restarted by {by}{detail}: all its variables, imports and "
        "state from before the restart are gone. Rerun what is needed."
    )


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
        self.observed = ObservedCells()
        """Cells of other clients (the user's IDE), for get_history; never part of a result."""
        self.router.on_other_cell = self.observed.add
        self.kernel_info: dict[str, Any] = {}
        self.notebook: ServerKernel | None = None
        """The notebook whose kernel this is, when a Jupyter Server said so."""
        self.death: str | None = None
        self.dead: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.restarted_signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Set when another client restarts the kernel (then replaced by a fresh one)."""
        self.restarts = 0
        self.restart_notice: str | None = None
        """The latest restart, told once to each client (see clients.ClientView.notices)."""
        self.settled = asyncio.Event()  # cleared while an interrupt is in progress
        self.settled.set()
        self._interrupt_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._rejoin: asyncio.Future[None] | None = None
        self.runner = CodeRunner(self)
        """Runs the assistant's code: executions, their outputs, input(), waiting for them."""
        self.inspector = KernelInspector(self)
        """Looks at the kernel without running a cell: variables, history, help, completions."""

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
        """Whether restart_kernel may restart it: we started it, or a server manages it."""
        return False

    def recovery_hint(self) -> str:
        raise NotImplementedError

    async def _connect(self) -> float:
        """Reach the kernel until it answers kernel_info (then in `kernel_info`); the deadline."""
        raise NotImplementedError

    async def _watch_liveness(self) -> None:
        raise NotImplementedError

    def _interrupt_steps(self) -> list[InterruptStep]:
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
            await session._ensure_iopub(deadline)
            probe = session.inspector.start()
            if probe is not None:  # done before the user's next cell, which may hold the kernel
                await asyncio.wait({probe}, timeout=PROBE_WAIT)
            session.router.on_lifecycle = session._on_lifecycle
            session._watcher = asyncio.create_task(session._watch_liveness())
        except BaseException:
            await session.close()
            raise
        return session

    async def ready_for_code(self) -> None:
        """Before code of ours is sent: a kernel being replaced (its process gone) has been,
        and the new kernel's outputs reach us. A new kernel publishes only to subscribers it
        has heard from: code sent before our subscription reached it would run unseen."""
        if self._being_replaced():
            await _first({self.dead, self.restarted_signal}, REPLACEMENT_WAIT)
        if not self.router.iopub_seen.is_set() and self._rejoin is not None:
            await _first({self._rejoin, self.dead}, REPLACEMENT_WAIT)

    def _being_replaced(self) -> bool:
        """Whether the kernel's process is gone while its successor may be starting."""
        return False

    async def _rejoin_iopub(self) -> None:
        """After a restart, prod the new kernel until its outputs reach us."""
        with contextlib.suppress(KernelUnreachable):
            await self._ensure_iopub(time.monotonic() + REPLACEMENT_WAIT, channel="shell")

    async def _ensure_iopub(self, deadline: float, channel: str = "control") -> None:
        """Wait until our iopub subscription delivers, so no early output of ours is lost."""
        wait = 0.05
        while not self.router.iopub_seen.is_set():
            if time.monotonic() >= deadline:
                raise KernelUnreachable(
                    f"The kernel {self.name} answers requests, but nothing arrives from its output "
                    f"channel (iopub{self._iopub_hint()}): a firewall or tunnel may be missing it. "
                    "Outputs could not be returned."
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.router.iopub_seen.wait(), wait)
                return
            msg_id, _ = self.router.request(channel, "kernel_info_request")
            self.router.forget(msg_id)
            wait = min(wait * 2, 1.0)

    # -- restarts and death ---------------------------------------------------------------

    def _on_lifecycle(self, state: str) -> None:
        """A restart or death the kernel or its server announced (see MessageRouter.on_lifecycle)."""

    def _restarted(self, detail: str = "", by: str = "another client, most likely the user's IDE") -> None:
        """Carry on with the new kernel that replaced ours."""
        self.restarts += 1
        self.restart_notice = restart_notice(self.name, by, detail)
        log.warning("%s", self.restart_notice)
        self._new_kernel()

    def _new_kernel(self) -> None:
        """What was set up in the old kernel is gone; calls waiting on it return."""
        self.router.kernel_session = None  # the new kernel's first reply names its session
        self.router.iopub_seen.clear()  # outputs of code sent now reach us once it is set again
        self._rejoin = asyncio.ensure_future(self._rejoin_iopub())
        self.inspector.restarted()
        self.runner.restarted()
        restarted, self.restarted_signal = self.restarted_signal, asyncio.get_running_loop().create_future()
        restarted.set_result(None)

    def _mark_dead(self, reason: str) -> None:
        self._end(f"The kernel {self.name} died ({reason}).")
        log.warning("%s", self.death)

    def _end(self, death: str) -> None:
        """No more requests: calls waiting on this kernel return at once, saying `death`."""
        if self.death is None:
            self.death = death
        if not self.dead.done():
            self.dead.set_result(None)

    def check_alive(self) -> None:
        if self.death is not None:
            raise KernelDied(f"{self.death} {self.recovery_hint()}")

    def check_ready(self) -> None:
        """Before a request: the kernel is alive and not frozen."""
        self.check_alive()
        frozen = self.frozen()
        if frozen is not None:
            raise KernelFrozen(f"{frozen} Nothing was sent.")

    def frozen(self) -> str | None:
        """Why the kernel cannot answer anything now (its process is stopped), if so."""
        return None

    def death_note(self) -> str:
        return f"{self.death} {self.recovery_hint()}"

    # -- interrupting ---------------------------------------------------------------------

    async def interrupt(self, only: Collection[str] | None = None) -> InterruptReport:
        """Stop the running cell, each step stronger than the last until it stops.

        With `only`, act just if the running cell is one of these requests (ours)."""
        self.check_alive()
        async with self._interrupt_lock:
            self.settled.clear()
            try:
                return await self._interrupt(only)
            finally:
                self.settled.set()

    async def _interrupt(self, only: Collection[str] | None) -> InterruptReport:
        frozen = self.frozen()
        if frozen is not None:  # a stopped process takes no signal and answers no request
            return InterruptReport(self.router.current(), [], idle=False, frozen=frozen)
        await self.router.catch_up()
        target = self.router.current()
        if only is not None and (target is None or target.msg_id not in only):
            return InterruptReport(target, [], idle=target is None)
        if target is None and await self.shell_answers(PROMPT_REPLY):
            return InterruptReport(None, [], idle=True)  # nothing runs: no signal to send
        steps: list[str] = []
        stopped = False
        for step in self._interrupt_steps():
            done = await step()
            if done is None:
                continue
            steps.append(done)
            stopped = await self._stopped(target)
            if stopped:
                break
        return InterruptReport(target, steps, idle=stopped)

    async def _interrupt_request(self) -> str:
        _, reply = self.router.request("control", "interrupt_request")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(reply), 1.0)
        return "sent interrupt_request" + ("" if reply.done() else " (no reply)")

    async def _stopped(self, target: Activity | None) -> bool:
        """Whether the cell we interrupted finished within the grace period."""
        if target is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(target.ended.wait(), INTERRUPT_GRACE)
            return target.ended.is_set()
        # We never saw it start (it began before we connected): a shell reply means it ended.
        return await self.shell_answers(INTERRUPT_GRACE)

    async def running_cell(self) -> tuple[bool, Activity | None]:
        """Whether a cell runs now, and which one when we saw it start, found without a request
        that could show the kernel as idle to the user's IDE: caught up where the kernel
        allows it, else by whether the shell answers at once."""
        if await self.router.catch_up():
            running = self.router.current()
            return running is not None, running
        # Not caught up, our view may lag either way: the shell tells whether a cell runs now.
        if await self.shell_answers(PROMPT_REPLY):
            return False, None
        return True, self.router.current()

    async def shell_answers(self, timeout: float) -> bool:
        """Whether the kernel answers a shell request now, i.e. is not running a cell."""
        msg_id, reply = self.router.request("shell", "kernel_info_request")
        try:
            await asyncio.wait_for(asyncio.shield(reply), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if not reply.done():
                self.router.forget(msg_id)

    # -- status and ending -----------------------------------------------------------------

    async def status(self) -> KernelStatus:
        self.check_alive()
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
        if self.death is None:
            self.runner.answer_pending()  # nobody is left to answer: never leave input() waiting
        self._end(f"The connection to kernel {self.name} was closed.")
        for task in (self._watcher, self._rejoin):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.runner.close()
        await self.router.stop(KernelDied(f"{self.death} {self.recovery_hint()}"))
        await self._close_transport()


async def _first(futures: set[asyncio.Future[Any]], timeout: float) -> None:
    """Wait until any of the futures is done, or the timeout."""
    await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

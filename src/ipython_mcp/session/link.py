"""What the runner and the inspector need of one kernel, and nothing more: its router, whether
it lives, is frozen or is being replaced, whether a cell runs, and interrupting it.

The session builds its link first and hands it to its CodeRunner and KernelInspector, so
neither needs the session itself. What depends on how the kernel is reached (its process, a
server's REST API) the session supplies as `KernelControls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..errors import KernelDied, KernelFrozen, KernelUnreachable
from ..look.lost import LostNames
from ..settings import Settings
from ..transport.router import Activity, MessageRouter

log = logging.getLogger(__name__)

INTERRUPT_GRACE = 2.0
"""Seconds an interrupted cell gets to stop before the next, stronger step."""
REPLACEMENT_WAIT = 15.0
"""Seconds code waits for a kernel being replaced (a restart in progress) before it is sent."""
PROMPT_REPLY = 0.25
"""Seconds within which an idle kernel answers a shell request; slower means it was busy."""

UNSEEN_CELL_REPLY = 2.0
"""Seconds within which a kernel with no cell seen running answers a shell request, even on a
loaded machine; slower means a cell runs that started unseen."""

InterruptStep = Callable[[], Awaitable[str | None]]
"""One way to interrupt, strongest last: says what it did, or None when it does not apply."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """How a kernel that is gone can be had again; the server layer words it (its `advice` is a
    key of server/words/advice.py)."""

    advice: Literal["relaunch", "restart_in_its_ide", "another_of_its_server"]
    """`relaunch`: this server launched it, and can again; `restart_in_its_ide`: the program
    that started it (the user's IDE) restarts it; `another_of_its_server`: a Jupyter Server's
    kernel, whose server runs others or starts a new one."""
    server: str = ""
    """The name of the kernel's Jupyter Server, for `another_of_its_server`."""


@dataclass(frozen=True, slots=True)
class InterruptReport:
    """What an interrupt did and whether the kernel is idle now."""

    interrupted: Activity | None
    steps: list[str]
    idle: bool
    frozen: str | None = None
    """Why nothing could be done: the kernel's process is stopped (what the user can do about
    it, the server layer words with the session's pid)."""


class KernelControls(Protocol):
    """What only the session knows, for its kind of kernel."""

    @property
    def pid(self) -> int | None:
        """The kernel's process, when it runs on this machine."""

    def frozen(self) -> str | None:
        """Why the kernel cannot answer anything now (its process is stopped), if so: the fact
        only; resuming it is advised by the `resume_process` advice, with the pid."""

    def being_replaced(self) -> bool:
        """Whether the kernel's process is gone while its successor may be starting."""

    def recovery(self) -> Recovery:
        """How the kernel can be had again once it is gone."""

    def interrupt_steps(self) -> list[InterruptStep]:
        """The ways to interrupt this kernel, strongest last."""


class KernelLink:
    """One kernel as the runner and the inspector see it."""

    def __init__(
        self, name: str, settings: Settings, router: MessageRouter, controls: KernelControls
    ) -> None:
        self.name = name
        self.settings = settings
        self.router = router
        self.controls = controls
        self.kernel_info: dict[str, Any] = {}
        self.death: str | None = None
        self.lost: LostNames | None = None
        """What the kernel held when it died, as last recorded (look.record), if known."""
        self.dead: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.restarted_signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done when a restart was seen (then replaced by a fresh one)."""
        self.settled = asyncio.Event()  # cleared while an interrupt is in progress
        self.settled.set()
        self._interrupt_lock = asyncio.Lock()
        self.rejoined: asyncio.Future[None] | None = None
        """After a restart: done once the new kernel's outputs reach us."""

    # -- alive, frozen, gone ----------------------------------------------------------------

    def check_alive(self) -> None:
        if self.death is not None:
            raise self.died()

    def check_ready(self) -> None:
        """Before a request: the kernel is alive and not frozen."""
        self.check_alive()
        frozen = self.controls.frozen()
        if frozen is not None:
            raise KernelFrozen(f"{frozen} Nothing was sent.", advice="resume_process", pid=self.controls.pid)

    def recovery(self) -> Recovery:
        return self.controls.recovery()

    def died(self, why: str = "") -> KernelDied:
        """The error for a request to the kernel once it is gone: why (its death, else `why`),
        and how to get it back."""
        recovery = self.recovery()
        return KernelDied(self.death or why, advice=recovery.advice, server=recovery.server, lost=self.lost)

    def end(self, death: str) -> None:
        """No more requests: calls waiting on this kernel return at once, saying `death`."""
        if self.death is None:
            self.death = death
        if not self.dead.done():
            self.dead.set_result(None)

    def mark_dead(self, reason: str) -> None:
        self.end(f"The kernel {self.name} died ({reason}).")
        log.warning("%s", self.death)

    # -- a new kernel in place of the old ----------------------------------------------------

    def begin_new_kernel(self) -> None:
        """A restart was seen: replies will name the new kernel's session, and its outputs
        reach us once our subscription reached it (see ready_for_code)."""
        self.router.kernel_session = None
        self.router.iopub_seen.clear()
        if self.rejoined is not None:
            self.rejoined.cancel()
        self.rejoined = asyncio.ensure_future(self._rejoin_iopub())

    def announce_new_kernel(self) -> None:
        """Wake whoever waits on the old kernel."""
        restarted, self.restarted_signal = self.restarted_signal, asyncio.get_running_loop().create_future()
        restarted.set_result(None)

    async def ready_for_code(self) -> None:
        """Before code of ours is sent: a kernel being replaced (its process gone) has been,
        and the new kernel's outputs reach us. A new kernel publishes only to subscribers it
        has heard from: code sent before our subscription reached it would run unseen."""
        if self.controls.being_replaced():
            await _first({self.dead, self.restarted_signal}, REPLACEMENT_WAIT)
        if not self.router.iopub_seen.is_set() and self.rejoined is not None:
            await _first({self.rejoined, self.dead}, REPLACEMENT_WAIT)

    async def _rejoin_iopub(self) -> None:
        """After a restart, prod the new kernel until its outputs reach us."""
        with contextlib.suppress(KernelUnreachable):
            await self.ensure_iopub(time.monotonic() + REPLACEMENT_WAIT, channel="shell")

    async def ensure_iopub(self, deadline: float, channel: str = "control", hint: str = "") -> None:
        """Wait until our iopub subscription delivers, so no early output of ours is lost."""
        wait = 0.05
        while not self.router.iopub_seen.is_set():
            if time.monotonic() >= deadline:
                raise KernelUnreachable(
                    f"The kernel {self.name} answers requests, but nothing arrives from its output "
                    f"channel (iopub{hint}): a firewall or tunnel may be missing it. "
                    "Outputs could not be returned."
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.router.iopub_seen.wait(), wait)
                return
            msg_id, _ = self.router.request(channel, "kernel_info_request")
            self.router.forget(msg_id)
            wait = min(wait * 2, 1.0)

    # -- what runs --------------------------------------------------------------------------

    async def running_cell(self) -> tuple[bool, Activity | None]:
        """Whether a cell runs now, and which one when we saw it start, found without a request
        that could show the kernel as idle to the user's IDE: caught up where the kernel
        allows it, else by whether the shell answers at once."""
        if await self.router.catch_up():
            running = self.router.current()
            return running is not None, running
        # Not caught up, our view may lag either way: the shell tells whether a cell runs now.
        # With no cell seen running, a slow answer is more likely a busy machine than a cell
        # that started unseen (before we connected): it gets longer to come.
        running = self.router.current()
        if await self.shell_answers(PROMPT_REPLY if running is not None else UNSEEN_CELL_REPLY):
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
        frozen = self.controls.frozen()
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
        for step in self.controls.interrupt_steps():
            done = await step()
            if done is None:
                continue
            steps.append(done)
            stopped = await self._stopped(target)
            if stopped:
                break
        return InterruptReport(target, steps, idle=stopped)

    async def interrupt_request(self) -> str:
        """The interrupt step every kernel takes: an interrupt_request on control."""
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

    async def close(self) -> None:
        if self.rejoined is not None:
            self.rejoined.cancel()
            await asyncio.gather(self.rejoined, return_exceptions=True)


async def _first(futures: set[asyncio.Future[Any]], timeout: float) -> None:
    """Wait until any of the futures is done, or the timeout."""
    await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

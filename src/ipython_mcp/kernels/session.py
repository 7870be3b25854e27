"""A connection to one kernel: the handshake, executions, interrupts, status and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import psutil

from ..errors import (
    KernelDied,
    KernelStartError,
    KernelUnreachable,
    KeyMismatch,
)
from ..settings import Settings
from . import processes
from .connection_files import ConnectionFile
from .execution import (
    InterruptReport,
)
from .inspector import KernelInspector
from .jupyter_servers import ServerKernel
from .launcher import LaunchedKernel
from .router import Activity, MessageRouter
from .runner import CodeRunner

log = logging.getLogger(__name__)

LIVENESS_INTERVAL = 0.5
"""Seconds between liveness checks: a dead kernel ends a waiting call within about this."""
INTERRUPT_GRACE = 2.0
"""Seconds an interrupted cell gets to stop before the next, stronger step."""

PROMPT_REPLY = 0.25
"""Seconds within which an idle kernel answers a shell request; slower means it was busy."""
RESTART_GRACE = 10.0
"""Seconds a restart that a client announced gets to bring up the new kernel."""
YOUNG_KERNEL = 5.0
"""Seconds after its start during which a kernel may answer its heartbeat but not yet its shell."""


@dataclass(frozen=True, slots=True)
class KernelStatus:
    alive: bool
    busy: bool
    running: Activity | None
    execution_count: int | None
    pid: int | None
    kernel_info: dict[str, Any]


class KernelSession:
    """The one connection of this server to one kernel. Create it with `KernelSession.open`."""

    def __init__(
        self,
        name: str,
        conn: ConnectionFile,
        settings: Settings,
        launched: LaunchedKernel | None = None,
    ) -> None:
        from jupyter_client.asynchronous import AsyncKernelClient

        self.name = name
        self.conn = conn
        self.settings = settings
        self.launched = launched
        self.client = AsyncKernelClient()
        self.client.load_connection_info(conn.info)
        self.router = MessageRouter(self.client)
        self.kernel_info: dict[str, Any] = {}
        self.notebook: ServerKernel | None = None
        """The notebook whose kernel this is, when a local Jupyter Server said so."""
        self.process: psutil.Process | None = psutil.Process(launched.pid) if launched else None
        self.death: str | None = None
        self.dead: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.restarted_signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Set when another client restarts the kernel (then replaced by a fresh one)."""
        self.restarts = 0
        self.restart_notice: str | None = None
        """Told to the model once, with the next result: the kernel restarted under it."""
        self.settled = asyncio.Event()  # cleared while an interrupt is in progress
        self.settled.set()
        self._interrupt_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self.runner = CodeRunner(self)
        """Runs the assistant's code: executions, their outputs, input(), waiting for them."""
        self.inspector = KernelInspector(self)
        """Looks at the kernel without running a cell: variables, history, help, completions."""

    @classmethod
    async def open(
        cls, name: str, conn: ConnectionFile, settings: Settings, launched: LaunchedKernel | None = None
    ) -> KernelSession:
        """Connect and return only once the kernel answered a request signed with its key."""
        session = cls(name, conn, settings, launched)
        try:
            await session._handshake()
        except BaseException:
            await session.close()
            raise
        return session

    # -- connecting -----------------------------------------------------------------------

    async def _handshake(self) -> None:
        conn, settings = self.conn, self.settings
        if self.launched is None:
            listeners = processes.tcp_listeners()
            self.process = processes.kernel_process(conn, listeners)
            if (
                conn.is_loopback
                and processes.is_listening(conn, listeners) is False
                and processes.process_mentioning(conn.path) is None
            ):
                raise KernelUnreachable(
                    f"No kernel is running for {conn.path.name}: nothing listens on "
                    f"{conn.ip}:{conn.shell_port}. The file is stale (its kernel has exited). "
                    "Call list_kernels to find a live kernel, or start_kernel to start one."
                )
        self.router.start()
        _, shell = self.router.request("shell", "kernel_info_request")
        _, control = self.router.request("control", "kernel_info_request")
        timeout = settings.start_timeout if self.launched else settings.connect_timeout
        started = time.monotonic()
        deadline = started + timeout
        key_check_at = started + settings.key_check_timeout
        while True:
            done, _ = await asyncio.wait({shell, control}, timeout=0.1, return_when="FIRST_COMPLETED")
            if done:
                reply = next(iter(done)).result()
                break
            now = time.monotonic()
            if self.launched is not None and self.launched.exited():
                raise KernelStartError(self.launched.failure())
            if now >= key_check_at and self.launched is None:
                if await self._heartbeat_answers() and (now >= deadline or not self._process_is_young()):
                    raise KeyMismatch(
                        f"The kernel of {conn.path.name} is alive (its heartbeat answers) but ignores "
                        f"requests signed with the key in that file for {now - started:.0f} s: the "
                        "file's key most likely does not match the kernel's (the file was rewritten, "
                        "or belongs to another kernel). Ask the user for the current connection "
                        "file, or call list_kernels."
                    )
                key_check_at = time.monotonic() + 1.0
            if now >= deadline:
                if self.launched is not None:
                    raise KernelStartError(
                        f"The kernel started (pid {self.launched.pid}) but did not answer within "
                        f"{timeout:.0f} s; it was stopped. {self.launched.output()}"
                    )
                raise KernelUnreachable(
                    f"Nothing answered at {conn.ip} (ports of {conn.path.name}) within "
                    f"{timeout:.0f} s. The kernel may be on another machine or behind a firewall; "
                    "check the file, or call list_kernels."
                )
        self.kernel_info = reply["content"]
        await self._ensure_iopub(deadline)
        self.inspector.start()
        if self.process is None:
            self.process = processes.kernel_process(conn, processes.tcp_listeners())
        self.router.on_start = self._on_kernel_start
        self._watcher = asyncio.create_task(self._watch_liveness())

    async def _ensure_iopub(self, deadline: float) -> None:
        """Wait until our iopub subscription delivers, so no early output of ours is lost."""
        wait = 0.05
        while not self.router.iopub_seen.is_set():
            if time.monotonic() >= deadline:
                raise KernelUnreachable(
                    f"The kernel of {self.conn.path.name} answers requests, but nothing arrives from "
                    f"its output channel (iopub, port {self.conn.info['iopub_port']}): a firewall or "
                    "tunnel may be missing that port. Outputs could not be returned."
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.router.iopub_seen.wait(), wait)
                return
            msg_id, _ = self.router.request("control", "kernel_info_request")
            self.router.forget(msg_id)
            wait = min(wait * 2, 1.0)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _process_is_young(self) -> bool:
        """A local kernel that started seconds ago may answer its heartbeat before its shell."""
        return self.process is not None and processes.age(self.process) < YOUNG_KERNEL

    async def _heartbeat_answers(self, timeout: float = 1.0) -> bool:
        return await heartbeat_answers(self.client, timeout)

    # -- liveness -------------------------------------------------------------------------

    async def _watch_liveness(self) -> None:
        misses = 0
        while True:
            await asyncio.sleep(LIVENESS_INTERVAL)
            if self.launched is not None and self.launched.exited():
                reason = f"exited with code {self.launched.process.returncode}"
            elif self.process is not None:
                if processes.alive(self.process) or await self._replaced(self.process):
                    continue
                reason = f"process {self.pid} is gone"
            else:
                misses = 0 if await self._heartbeat_answers() else misses + 1
                if misses < 3:
                    continue
                reason = "its heartbeat stopped answering"
            self._mark_dead(reason)
            return

    async def _replaced(self, gone: psutil.Process) -> bool:
        """Whether a gone kernel process was replaced by a restart: its IDE starts a new one
        on the same ports. A restart a client announced gets RESTART_GRACE to happen; an
        unannounced death, a moment."""
        announced = time.monotonic() - self.router.restart_announced < RESTART_GRACE
        deadline = time.monotonic() + (RESTART_GRACE if announced else LIVENESS_INTERVAL * 2)
        while time.monotonic() < deadline:
            if self.process is not gone:  # the new kernel said it is starting
                return True
            successor = await asyncio.to_thread(
                processes.kernel_process, self.conn, processes.tcp_listeners()
            )
            if successor is not None and successor.pid != gone.pid:
                self._restarted_as(successor)
                return True
            await asyncio.sleep(0.1)
        return False

    def _on_kernel_start(self) -> None:
        """A kernel said it is starting on our connection: another client restarted it."""
        if self.death is None and self.kernel_info:
            process = processes.kernel_process(self.conn, processes.tcp_listeners())
            if process is None or process.pid != self.pid:  # not ours announcing itself late
                self._restarted_as(process)

    def _restarted_as(self, process: psutil.Process | None) -> None:
        """Carry on with the new kernel another client started in place of ours."""
        old, self.process = self.pid, process
        self.restarts += 1
        new = f" (pid {old} is now pid {self.pid})" if old and self.pid else ""
        self.restart_notice = (
            f"The kernel {self.name} was restarted by another client, most likely the user's IDE{new}: "
            "all its variables, imports and state are gone. Rerun what is needed."
        )
        log.warning("%s", self.restart_notice)
        self.inspector.restarted()
        self.runner.restarted()
        restarted, self.restarted_signal = self.restarted_signal, asyncio.get_running_loop().create_future()
        restarted.set_result(None)

    def take_restart_notice(self) -> list[str]:
        notice, self.restart_notice = self.restart_notice, None
        return [notice] if notice else []

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

    def death_note(self) -> str:
        return f"{self.death} {self.recovery_hint()}"

    def recovery_hint(self) -> str:
        if self.launched is not None:
            return "Call restart_kernel to start it again (its variables are lost), or start_kernel."
        return (
            "Ask the user to restart it in their IDE, then call connect_to_kernel; or call "
            "start_kernel for a new kernel."
        )

    # -- interrupting ---------------------------------------------------------------------

    async def interrupt(self, only: Collection[str] | None = None) -> InterruptReport:
        """Stop the running cell: interrupt_request on control, then SIGINT if it is local.

        With `only`, act just if the running cell is one of these requests (ours)."""
        self.check_alive()
        async with self._interrupt_lock:
            self.settled.clear()
            try:
                return await self._interrupt(only)
            finally:
                self.settled.set()

    async def _interrupt(self, only: Collection[str] | None) -> InterruptReport:
        await self.router.catch_up()
        target = self.router.current()
        if only is not None and (target is None or target.msg_id not in only):
            return InterruptReport(target, [], idle=target is None)
        if target is None and await self.shell_answers(PROMPT_REPLY):
            return InterruptReport(None, [], idle=True)  # nothing runs: no signal to send
        steps = []
        _, reply = self.router.request("control", "interrupt_request")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(reply), 1.0)
        steps.append("sent interrupt_request" + ("" if reply.done() else " (no reply)"))
        stopped = await self._stopped(target)
        if not stopped and self.process is not None and processes.send_sigint(self.process):
            steps.append(f"sent SIGINT to pid {self.pid}")
            stopped = await self._stopped(target)
        return InterruptReport(target, steps, idle=stopped)

    async def _stopped(self, target: Activity | None) -> bool:
        """Whether the cell we interrupted finished within the grace period."""
        if target is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(target.ended.wait(), INTERRUPT_GRACE)
            return target.ended.is_set()
        # We never saw it start (it began before we connected): a shell reply means it ended.
        return await self.shell_answers(INTERRUPT_GRACE)

    async def shell_answers(self, timeout: float) -> bool:
        """Whether the kernel answers a shell request now, i.e. is not running a cell."""
        msg_id, reply = self.router.request("shell", "kernel_info_request")
        try:
            await asyncio.wait_for(asyncio.shield(reply), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            if not reply.done():
                self.router.forget(msg_id)

    # -- status and ending -----------------------------------------------------------------

    async def status(self) -> KernelStatus:
        self.check_alive()
        alive, _ = await asyncio.gather(self._heartbeat_answers(), self.router.catch_up())
        running = self.router.current()
        execution_count = self.router.execution_count
        busy = running is not None
        if not busy:
            # Nothing of the kernel's we saw is running, but a cell may have started before we
            # connected, or just now: a shell request that is not answered promptly says so.
            msg_id, reply = self.router.request(
                "shell",
                "history_request",
                {"hist_access_type": "tail", "n": 1, "output": False, "raw": True},
            )
            asked = time.monotonic()
            try:
                msg = await asyncio.wait_for(asyncio.shield(reply), 1.0)
                busy = time.monotonic() - asked > PROMPT_REPLY
                history = msg["content"].get("history") or []
                if history:
                    execution_count = max(execution_count or 0, history[-1][1])
            except asyncio.TimeoutError:
                self.router.forget(msg_id)
                busy = True
            running = self.router.current() if busy else None
        return KernelStatus(alive, busy, running, execution_count, self.pid, self.kernel_info)

    async def shutdown(self) -> list[str]:
        """Ask the kernel to exit, make sure its local process is gone, and report the steps."""
        steps: list[str] = []
        if self.death is None:
            self._end(f"The kernel {self.name} was shut down.")
            _, reply = self.router.request("control", "shutdown_request", {"restart": False})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(reply), 2.0)
            steps.append("sent shutdown_request" + ("" if reply.done() else " (no reply)"))
        if self.process is not None:
            reap = self.launched.process.poll if self.launched else None
            steps.extend(await processes.end_process(self.process, grace=3.0, reap=reap))
        await self.close()
        return steps

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
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.runner.close()
        await self.router.stop(KernelDied(f"{self.death} {self.recovery_hint()}"))
        self.client.stop_channels()
        self.client.context.destroy(linger=0)


async def heartbeat_answers(client: Any, timeout: float = 1.0) -> bool:
    """One ping on the kernel's heartbeat socket; it answers even while the kernel is busy."""
    socket = client.connect_hb()
    try:
        await socket.send(b"ping")
        return bool(await socket.poll(int(timeout * 1000)))
    finally:
        socket.close(linger=0)


async def probe_heartbeat(conn: ConnectionFile, timeout: float = 1.0) -> bool:
    """Whether a kernel answers at a connection file's heartbeat port, without connecting."""
    from jupyter_client.asynchronous import AsyncKernelClient

    client = AsyncKernelClient()
    client.load_connection_info(conn.info)
    try:
        return await heartbeat_answers(client, timeout)
    finally:
        client.context.destroy(linger=0)

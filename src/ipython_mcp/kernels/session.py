"""A connection to one kernel: the handshake, executions, interrupts, status and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import psutil

from ..errors import (
    IPythonMCPError,
    KernelBusy,
    KernelDied,
    KernelStartError,
    KernelUnreachable,
    KeyMismatch,
    NoSuchExecution,
)
from ..settings import Settings
from . import processes
from .connection_files import ConnectionFile
from .execution import (
    Ask,
    Execution,
    ExecutionResult,
    IfBusy,
    InterruptReport,
    OnTimeout,
    Progress,
    input_note,
    queued_note,
    running_note,
    timeout_note,
    waited_note,
)
from .inspector import KernelInspector
from .jupyter_servers import ServerKernel
from .launcher import LaunchedKernel
from .router import Activity, MessageRouter

log = logging.getLogger(__name__)

LIVENESS_INTERVAL = 0.5
"""Seconds between liveness checks: a dead kernel ends a waiting call within about this."""
IDLE_GRACE = 1.0
"""Seconds to wait for the iopub idle status after the reply (the last outputs may trail it)."""
INTERRUPT_GRACE = 2.0
"""Seconds an interrupted cell gets to stop before the next, stronger step."""

PROMPT_REPLY = 0.25
"""Seconds within which an idle kernel answers a shell request; slower means it was busy."""
RESTART_GRACE = 10.0
"""Seconds a restart that a client announced gets to bring up the new kernel."""
PROGRESS_EVERY = 0.5
"""Seconds between two progress notifications of a waiting call."""
EXECUTIONS_KEPT = 20
"""Recent executions whose whole output stays readable."""
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
        self._dead: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._restarted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Set when another client restarts the kernel (then replaced by a fresh one)."""
        self.restarts = 0
        self.restart_notice: str | None = None
        """Told to the model once, with the next result: the kernel restarted under it."""
        self._settled = asyncio.Event()  # cleared while an interrupt is in progress
        self._settled.set()
        self._interrupt_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._in_flight: set[str] = set()  # msg_ids of executions whose call still waits
        self.executions: dict[str, Execution] = {}
        """The recent executions of the assistant, oldest first, for read_output and waiting."""
        self.inspector = KernelInspector(self)
        """Looks at the kernel without running a cell: variables, history, help, completions."""
        self._supervised: set[str] = set()  # msg_ids of executions whose call gave up on them

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
        for ex in self.executions.values():  # their replies will never come
            if ex.finished is not None and not ex.finished.done():
                ex.lost = f"The kernel was restarted while execution {ex.id} ran: it did not finish."
                ex.finished.cancel()
        restarted, self._restarted = self._restarted, asyncio.get_running_loop().create_future()
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
        if not self._dead.done():
            self._dead.set_result(None)

    def check_alive(self) -> None:
        if self.death is not None:
            raise KernelDied(f"{self.death} {self.recovery_hint()}")

    def recovery_hint(self) -> str:
        if self.launched is not None:
            return "Call restart_kernel to start it again (its variables are lost), or start_kernel."
        return (
            "Ask the user to restart it in their IDE, then call connect_to_kernel; or call "
            "start_kernel for a new kernel."
        )

    # -- executing ------------------------------------------------------------------------

    async def execute(
        self,
        code: str,
        *,
        timeout: float,
        on_timeout: OnTimeout = "interrupt",
        if_busy: IfBusy = "wait",
        progress: Progress | None = None,
        ask: Ask | None = None,
    ) -> ExecutionResult:
        """Run code as the assistant; always returns, whatever the kernel does.

        Past the timeout the code is interrupted, or with on_timeout="continue" left running
        in the background for wait_for_execution. With if_busy="fail", a kernel busy with
        another client's cell is not sent the code at all. input() is answered by the user
        through `ask` where the client can ask them, else by the model with send_input. A
        restart of the kernel since the last result is told first."""
        self.check_alive()
        restarted = self.take_restart_notice()
        result = await self._execute(code, timeout, on_timeout, if_busy, progress, ask)
        return dataclasses.replace(result, notes=[*restarted, *result.notes])

    async def _execute(
        self,
        code: str,
        timeout: float,
        on_timeout: OnTimeout,
        if_busy: IfBusy,
        progress: Progress | None,
        ask: Ask | None,
    ) -> ExecutionResult:
        started = time.monotonic()
        await self._settled.wait()
        if if_busy == "fail":
            await self.router.catch_up()  # the IDE may have seen its cell start before we did
        running = self.router.current()
        if running is not None and not running.ours and if_busy == "fail":
            raise KernelBusy(
                f"The kernel is busy running {running.describe()}; the code was not sent "
                "(if_busy='fail'). Call again with if_busy='wait' to run it when the kernel is "
                "free, or interrupt_kernel to stop the cell."
            )
        ex = Execution(code, self.settings.max_output_chars)
        msg_id, reply_future = self.router.request(
            "shell", "execute_request", ex.request_content(), sink=ex.on_message
        )
        finished = ex.finished = asyncio.ensure_future(self._finished(ex, reply_future))
        self._keep(ex)
        self._in_flight.add(msg_id)
        background = False
        try:
            outcome = await self._follow(ex, started + timeout, progress, ask)
            if outcome == "input":  # for the model to answer with send_input
                background = True
                return ex.result(None, status="input", notes=[input_note(ex, timeout)])
            if outcome == "timeout" and on_timeout == "continue":
                background = True
                return ex.result(None, status="running", notes=[running_note(ex, timeout)])
            if outcome == "timeout" and ex.started.is_set():
                report = await self.interrupt(only={msg_id})
                if finished.done():
                    # With no step taken, it ended on its own just as the time ran out.
                    timed_out = (timeout, report) if report.steps else None
                    return ex.result(finished.result(), timed_out=timed_out)
                return ex.result(None, status="timeout", notes=[timeout_note(timeout, report)])
        except asyncio.CancelledError:
            # The caller is gone (the client cancelled, or the server is stopping): stop the code
            # in a task of our own, which close() waits for, so the kernel is not left running it.
            if not finished.done():
                self._supervise(msg_id, ex, limit=0.0)
            raise
        finally:
            self._in_flight.discard(msg_id)
            if not finished.done() and not background:
                finished.cancel()
        notes = waited_note(ex, running)
        if outcome == "done":
            return ex.result(finished.result(), notes=notes)
        if outcome == "died":
            self.router.forget(msg_id)
            return ex.result(None, status="died", notes=[f"{self.death} {self.recovery_hint()}"])
        if outcome == "restarted":
            self.router.forget(msg_id)
            return ex.result(None, status="restarted", notes=self.take_restart_notice())
        # Timed out before it started: the kernel is running somebody else's cell.
        self._supervise(msg_id, ex, limit=timeout)
        return ex.result(None, status="queued", notes=[queued_note(timeout, self.router.current())])

    async def wait_for(
        self,
        execution_id: str | None,
        timeout: float,
        progress: Progress | None = None,
        ask: Ask | None = None,
    ) -> ExecutionResult:
        """What an execution printed since the model last read it, and its end once it came."""
        self.check_alive()
        ex = self.execution(execution_id)
        if ex.finished is not None and not ex.finished.done():
            outcome = await self._follow(ex, time.monotonic() + timeout, progress, ask)
            if outcome == "died":
                return ex.unread(None, status="died", notes=[f"{self.death} {self.recovery_hint()}"])
            if outcome == "input":
                return ex.unread(None, status="input", notes=[input_note(ex, timeout)])
        if ex.input is not None and ex.input_deadline is not None:  # still for the model to answer
            left = max(0.0, ex.input_deadline - time.monotonic())
            return ex.unread(None, status="input", notes=[input_note(ex, left)])
        if ex.lost is not None:
            return ex.unread(None, status="restarted", notes=[ex.lost, *self.take_restart_notice()])
        if ex.finished is None or not ex.finished.done():
            return ex.unread(None, status="running", notes=[running_note(ex, timeout, again=True)])
        if ex.finished.cancelled() or ex.finished.exception() is not None:
            return ex.unread(None, status="died", notes=["Its end was not seen: the connection closed."])
        return ex.unread(ex.finished.result())

    async def send_input(
        self, text: str, execution_id: str | None, timeout: float, progress: Progress | None = None
    ) -> ExecutionResult:
        """Answer the input() an execution waits on, then follow it as wait_for does."""
        self.check_alive()
        waiting = [ex for ex in self.executions.values() if ex.input is not None]
        if execution_id is not None:
            waiting = [ex for ex in waiting if ex.id == execution_id]
        if not waiting:
            raise NoSuchExecution(
                f"No code of the assistant waits for input in kernel {self.name}"
                + (f" as execution {execution_id}" if execution_id else "")
                + ": nothing was sent. An unanswered input() gets an empty answer at its deadline."
            )
        self._answer(waiting[-1], text)
        return await self.wait_for(waiting[-1].id, timeout, progress)

    async def _follow(
        self, ex: Execution, deadline: float, progress: Progress | None, ask: Ask | None
    ) -> str:
        """_wait, answering the code's input() requests on the way: through `ask` (the user)
        when there is one; otherwise "input" is returned, for the caller to answer, and the
        request gets an empty answer if nobody does by the deadline. A password prompt gets
        an empty answer at once: a secret must not go through a form or the model."""
        while True:
            outcome = await self._wait(ex, max(0.0, deadline - time.monotonic()), progress)
            if outcome != "input" or ex.input is None:
                return outcome
            request = ex.input
            if request.password:  # a secret never goes through a form or the model
                ex.notes.append(input_note(ex, 0))
                self._answer(ex, "")
            elif ask is not None:
                try:
                    value = await asyncio.wait_for(ask(request), max(0.0, deadline - time.monotonic()))
                except Exception:  # timed out, or the client failed to ask
                    value = None
                if value is None:
                    ex.notes.append(f"input({request.prompt!r}) was not answered by the user: it got ''.")
                self._answer(ex, value or "")
            else:
                self._guard_input(ex, max(0.0, deadline - time.monotonic()))
                return "input"

    def _answer(self, ex: Execution, value: str) -> None:
        self.router.send("stdin", "input_reply", {"value": value})
        ex.input = None
        ex.input_deadline = None
        ex.asks.clear()

    def _guard_input(self, ex: Execution, limit: float) -> None:
        """Answer the input() empty if the model has not answered it within `limit` s."""
        request = ex.input
        ex.input_deadline = time.monotonic() + limit

        async def guard() -> None:
            await asyncio.sleep(limit)
            if ex.input is request and self.death is None:
                ex.notes.append(f"Nobody answered input({request.prompt!r}) within {limit:.0f} s: it got ''.")
                self._answer(ex, "")

        task = asyncio.create_task(guard())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def execution(self, execution_id: str | None) -> Execution:
        """A recent execution of this session by id; by default the latest one still running."""
        if execution_id is None:
            running = [ex for ex in self.executions.values() if ex.finished and not ex.finished.done()]
            if not running:
                raise NoSuchExecution(
                    "No execution of the assistant is running in the background in kernel "
                    f"{self.name}. Pass the id an execute_code result gave (e.g. 'e3')."
                )
            return running[-1]
        ex = self.executions.get(execution_id)
        if ex is None:
            kept = ", ".join(self.executions) or "none"
            raise NoSuchExecution(
                f"No execution {execution_id!r} in kernel {self.name}: only the last "
                f"{EXECUTIONS_KEPT} are kept (kept: {kept})."
            )
        return ex

    def _keep(self, ex: Execution) -> None:
        """Remember an execution for read_output; forget the oldest finished ones beyond the limit."""
        self.executions[ex.id] = ex
        for old in list(self.executions.values()):
            if len(self.executions) <= EXECUTIONS_KEPT:
                break
            if old.finished is None or old.finished.done():
                old.transcript.close()
                del self.executions[old.id]

    def _supervise(self, msg_id: str, ex: Execution, *, limit: float) -> None:
        """Interrupt code of ours that nobody waits for any more once it has run `limit` s."""

        async def supervise() -> None:
            started = asyncio.ensure_future(ex.started.wait())
            try:
                await asyncio.wait({started, self._dead}, return_when="FIRST_COMPLETED")
            finally:
                started.cancel()
            if self._dead.done():
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ex.idle.wait(), limit)
                return
            with contextlib.suppress(IPythonMCPError):
                await self.interrupt(only={msg_id})

        task = asyncio.create_task(supervise())
        self._background.add(task)
        self._supervised.add(msg_id)

        def done(task: asyncio.Task[None]) -> None:
            self._background.discard(task)
            self._supervised.discard(msg_id)

        task.add_done_callback(done)

    async def _finished(self, ex: Execution, reply_future: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
        reply = await reply_future
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ex.idle.wait(), IDLE_GRACE)
        return reply

    async def _wait(self, ex: Execution, timeout: float, progress: Progress | None) -> str:
        """Wait for an execution to finish, for the kernel to die or restart, or for the
        timeout; tell `progress` what is happening every PROGRESS_EVERY seconds meanwhile."""
        assert ex.finished is not None
        restarted = self._restarted
        deadline = time.monotonic() + timeout
        while True:
            if progress is not None:
                await progress(time.monotonic() - ex.since, self._doing(ex))
            step = (
                min(PROGRESS_EVERY, deadline - time.monotonic()) if progress else deadline - time.monotonic()
            )
            # An input() already put to the model waits for its answer (or its deadline) here.
            asks = (
                asyncio.ensure_future(ex.asks.wait())
                if ex.input_deadline is None
                else asyncio.get_running_loop().create_future()
            )
            try:
                await asyncio.wait(
                    {ex.finished, self._dead, restarted, asks},
                    timeout=max(step, 0),
                    return_when="FIRST_COMPLETED",
                )
            finally:
                asks.cancel()
            if restarted.done() or ex.lost is not None:
                return "restarted"
            if ex.finished.done():
                return "done"
            if self._dead.done():
                return "died"
            if ex.asks.is_set() and ex.input_deadline is None:
                return "input"
            if time.monotonic() >= deadline:
                return "timeout"

    def _doing(self, ex: Execution) -> str:
        if not ex.started.is_set():
            running = self.router.current()
            if running is not None and not running.ours:
                return f"waiting for {running.describe()} to finish"
            return "waiting for the kernel to start it"
        line = ex.log.last_line
        return f"running {time.monotonic() - ex.since:.0f} s" + (f": {line}" if line else "")

    # -- interrupting ---------------------------------------------------------------------

    async def interrupt(self, only: Collection[str] | None = None) -> InterruptReport:
        """Stop the running cell: interrupt_request on control, then SIGINT if it is local.

        With `only`, act just if the running cell is one of these requests (ours)."""
        self.check_alive()
        async with self._interrupt_lock:
            self._settled.clear()
            try:
                return await self._interrupt(only)
            finally:
                self._settled.set()

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
        ours = self._in_flight | self._supervised
        if ours and self.death is None:
            with contextlib.suppress(Exception):
                await self.interrupt(only=ours)
        with contextlib.suppress(Exception):
            await self.inspector.close()
        self._end(f"The connection to kernel {self.name} was closed.")
        for task in (self._watcher, *self._background):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._watcher, *self._background) if t), return_exceptions=True)
        await self.router.stop(KernelDied(f"{self.death} {self.recovery_hint()}"))
        for ex in self.executions.values():
            ex.transcript.close()
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

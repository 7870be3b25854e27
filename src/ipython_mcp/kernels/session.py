"""A connection to one kernel: the handshake, executions, interrupts, status and shutdown."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import psutil

from ..errors import (
    IPythonMCPError,
    KernelBusy,
    KernelDied,
    KernelSideError,
    KernelStartError,
    KernelUnreachable,
    KeyMismatch,
)
from ..settings import Settings
from . import kernel_side, processes, spyder
from .connection_files import ConnectionFile
from .execution import Execution, ExecutionResult, InterruptReport, queued_note, timeout_note
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

IDLE_ANSWER = 1.0
"""Seconds to wait for a shell answer (history, completion) before checking what the kernel runs."""
ANSWER_PATIENCE = 15.0
"""Seconds a shell answer may take while no cell is running (a first completion imports jedi)."""
PROMPT_REPLY = 0.25
"""Seconds within which an idle kernel answers a shell request; slower means it was busy."""
SUBSHELL_REPLY = 2.0
"""Seconds the kernel gets to create or delete a subshell (control answers while busy)."""
HOOKS_EXPRESSION = (
    "[getattr(f, '__module__', '') + '.' + getattr(f, '__qualname__', type(f).__name__) "
    "for f in get_ipython().events.callbacks.get('post_execute', [])]"
)
HARMLESS_HOOKS = {"IPython.core.displaypub.DisplayPublisher._on_post_execute"}
_PLOTTING = re.compile(r"plt\b|pyplot|matplotlib|seaborn|\bsns\.|\.plot\b|\.hist\(|imshow|figure|\bdisplay\(")
HELD = "it holds the interpreter, so even a subshell cannot answer"
FIGURES = (
    "reading variables beside it could take the figures it draws, as matplotlib shows them "
    "after any code runs; history, help and completions still answer"
)
YOUNG_KERNEL = 5.0
"""Seconds after its start during which a kernel may answer its heartbeat but not yet its shell."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A kernel's reply to a look at it, and the cell that was running meanwhile, if any."""

    content: dict[str, Any]
    during: Activity | None = None


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
        self._settled = asyncio.Event()  # cleared while an interrupt is in progress
        self._settled.set()
        self._interrupt_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._in_flight: set[str] = set()  # msg_ids of executions whose call still waits
        self.has_subshells = False
        self.spyder: spyder.SpyderComm | None = None
        """Spyder's variable explorer channel, which answers while a cell runs (spyder-kernels)."""
        self._subshell: str | None = None
        self._subshell_created: asyncio.Future[dict[str, Any]] | None = None
        self._execute_hooks: set[str] | None = None
        """post_execute hooks of the kernel beyond IPython's own, as last seen; None: unknown."""
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
        self.has_subshells = "kernel subshells" in (self.kernel_info.get("supported_features") or [])
        if self.has_subshells:
            self.router.catch_up_request = "list_subshell_request"
            self.router.on_cell = self._on_cell
            self._probe_hooks()
        await self._ensure_iopub(deadline)
        if spyder.is_spyder_kernel(self.kernel_info) and not self.has_subshells:
            self.spyder = spyder.SpyderComm(self.router)
            self.spyder.open()
        if self.process is None:
            self.process = processes.kernel_process(conn, processes.tcp_listeners())
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
    def is_python(self) -> bool:
        return str(self.kernel_info.get("language_info", {}).get("name", "")).lower() == "python"

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
                if processes.alive(self.process):
                    continue
                reason = f"process {self.pid} is gone"
            else:
                misses = 0 if await self._heartbeat_answers() else misses + 1
                if misses < 3:
                    continue
                reason = "its heartbeat stopped answering"
            self._mark_dead(reason)
            return

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

    async def execute(self, code: str, *, timeout: float) -> ExecutionResult:
        """Run code as the assistant; always returns, whatever the kernel does."""
        self.check_alive()
        started = time.monotonic()
        await self._settled.wait()
        ex = Execution(code, self.settings.max_output_chars)
        msg_id, reply_future = self.router.request(
            "shell", "execute_request", ex.request_content(), sink=ex.on_message
        )
        finished = asyncio.ensure_future(self._finished(ex, reply_future))
        self._in_flight.add(msg_id)
        try:
            remaining = max(0.0, timeout - (time.monotonic() - started))
            outcome = await self._wait(finished, remaining)
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
            if not finished.done():
                finished.cancel()
        if outcome == "done":
            return ex.result(finished.result())
        if outcome == "died":
            self.router.forget(msg_id)
            return ex.result(None, status="died", notes=[f"{self.death} {self.recovery_hint()}"])
        # Timed out before it started: the kernel is running somebody else's cell.
        self._supervise(msg_id, ex, limit=timeout)
        return ex.result(None, status="queued", notes=[queued_note(timeout, self.router.current())])

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

    async def _wait(self, finished: asyncio.Future[Any], timeout: float) -> str:
        await asyncio.wait({finished, self._dead}, timeout=timeout, return_when="FIRST_COMPLETED")
        if finished.done():
            return "done"
        return "died" if self._dead.done() else "timeout"

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

    # -- looking at the kernel --------------------------------------------------------------

    async def _ask(self, msg_type: str, content: dict[str, Any], what: str) -> Answer:
        """A shell request that looks at the kernel without running a cell of its own.

        Kernels with subshells (ipykernel 7+) answer it in a subshell of ours while a cell
        runs, where that is safe (see `_safe_beside`). Others answer between cells, so while
        one runs they get a clear no instead of a wait. Some answers are slow by themselves
        (the first completion imports jedi), so waiting goes on while the kernel is shown to
        be responsive, up to ANSWER_PATIENCE."""
        self.check_alive()
        await self.router.catch_up()
        running = self.router.current()
        executes = msg_type == "execute_request"
        subshell = None
        if self.has_subshells and (running is not None or not executes):
            if executes and not self._safe_beside(running):
                raise _busy(running, what, why=FIGURES)
            subshell = await self._side_subshell()
        if running is not None and subshell is None:
            raise _busy(running, what, why=HELD if self.has_subshells else "")
        # A sink marks the request as ours, so it is never recorded as the user's cell.
        msg_id, reply = self.router.request("shell", msg_type, content, sink=_ignore, subshell=subshell)
        deadline = time.monotonic() + ANSWER_PATIENCE
        while True:
            try:
                msg = await asyncio.wait_for(asyncio.shield(reply), IDLE_ANSWER)
                beside = self.router.current()  # what ran meanwhile, not this request itself
                return Answer(
                    msg["content"], running or (beside if beside and beside.msg_id != msg_id else None)
                )
            except asyncio.TimeoutError:
                # A subshell is slow but working while control still answers (the interpreter
                # is not held); the main shell is working while no cell runs.
                responsive = await self.router.catch_up()
                running = self.router.current()
                working = responsive if subshell is not None else running is None
                if working and time.monotonic() < deadline:
                    continue
            self.router.forget(msg_id)
            raise _busy(running, what, why=HELD if subshell is not None and not responsive else "")

    def _safe_beside(self, running: Activity | None) -> bool:
        """Whether code of ours may run in a subshell beside the running cell.

        Every execute request runs IPython's post_execute hooks, where matplotlib's inline
        backend shows and closes the figures drawn so far: beside a cell that is drawing, ours
        would take its figures. So only beside a cell we know, that does not look like it
        plots, in a kernel whose post_execute hooks (as last seen) are IPython's own."""
        if running is None or not running.code or self._execute_hooks != set():
            return False
        return not _PLOTTING.search(running.code)

    def _learn_hooks(self, value: dict[str, Any] | None) -> None:
        """Note the kernel's post_execute hooks, from the `hooks` user expression's value."""
        try:
            names = ast.literal_eval((value or {})["data"]["text/plain"])
            self._execute_hooks = {str(n) for n in names} - HARMLESS_HOOKS
        except (KeyError, TypeError, ValueError, SyntaxError):
            self._execute_hooks = None

    def _on_cell(self, code: str) -> None:
        """A cell that may draw may also install matplotlib's hook: learn the hooks again once
        the main shell is free."""
        if _PLOTTING.search(code) and self._execute_hooks is not None:
            self._execute_hooks = None
            self._probe_hooks()

    def _probe_hooks(self) -> None:
        """Ask for the post_execute hooks in a silent request (no trace) that the kernel runs
        when its main shell is free; the answer arrives whenever that is."""
        content = {"code": "", "silent": True, "store_history": False, "allow_stdin": False,
                   "user_expressions": {"hooks": HOOKS_EXPRESSION}, "stop_on_error": False}  # fmt: skip
        _, reply = self.router.request("shell", "execute_request", content, sink=_ignore)

        def learn(reply: asyncio.Future[dict[str, Any]]) -> None:
            if not reply.cancelled() and reply.exception() is None:
                self._learn_hooks((reply.result()["content"].get("user_expressions") or {}).get("hooks"))

        reply.add_done_callback(learn)

    async def _side_subshell(self) -> str | None:
        """Our subshell in the kernel, created on first use; None where the kernel has none.

        A creation that is slow to answer (a cell holds the interpreter) is not given up:
        the next call waits for the same one, so the kernel never gets a subshell nobody uses."""
        if self._subshell is not None or not self.has_subshells:
            return self._subshell
        if self._subshell_created is None:
            _, self._subshell_created = self.router.request("control", "create_subshell_request")
        created = self._subshell_created
        try:
            msg = await asyncio.wait_for(asyncio.shield(created), SUBSHELL_REPLY)
        except asyncio.TimeoutError:
            return None
        except Exception:  # the session is closing
            return None
        if self._subshell_created is created:
            self._subshell_created = None
            if msg["content"].get("status") == "ok":
                self._subshell = str(msg["content"]["subshell_id"])
            else:
                self.has_subshells = False
        return self._subshell

    async def _delete_subshell(self) -> None:
        if self._subshell is None or self.death is not None:
            return
        _, reply = self.router.request("control", "delete_subshell_request", {"subshell_id": self._subshell})
        self._subshell = None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reply, SUBSHELL_REPLY)

    async def history(self, n: int) -> list[tuple[int, str]]:
        """The last n cells of this kernel session, run by anyone: (execution number, code)."""
        content = await self._content(
            "history_request",
            {"hist_access_type": "tail", "n": n, "output": False, "raw": True},
            "a history request",
        )
        entries = [e for e in content.get("history") or [] if len(e) >= 3]
        if not entries:
            return []
        current = max(e[0] for e in entries)  # the tail also reaches into earlier sessions
        return [(e[1], e[2]) for e in entries if e[0] == current]

    async def last_exception(self) -> str:
        """The traceback of the last exception the user's code raised, as plain text, or ""."""
        if not self.is_python:
            return ""
        found, _ = await self.run_kernel_side("last_error", {}, "a request for the last exception")
        return str(found.get("traceback") or "")

    async def _content(self, msg_type: str, content: dict[str, Any], what: str) -> dict[str, Any]:
        return (await self._ask(msg_type, content, what)).content

    async def run_kernel_side(
        self, module: str, options: dict[str, Any], what: str
    ) -> tuple[Any, Activity | None]:
        """Run a module of kernel_side in a fresh globals dict through a silent user
        expression: no history, no `_`, no execution count, no names left behind.
        Returns its result and the cell that ran meanwhile (then values may be changing)."""
        if not self.is_python:
            language = self.kernel_info.get("language_info", {}).get("name", "another language")
            raise KernelSideError(
                f"Kernel {self.name} runs {language}, and {what} works in Python kernels only. "
                f"Use execute_code with {language}'s own commands instead."
            )
        source = kernel_side.source(module)
        expression = (
            f"(lambda g: (exec({source!r}, g), g['RESULT'])[1])({{'NS': globals(), 'OPTIONS': {options!r}}})"
        )
        answer = await self._ask(
            "execute_request",
            {
                "code": "",
                "silent": True,
                "store_history": False,
                "user_expressions": {"result": expression, "hooks": HOOKS_EXPRESSION},
                "allow_stdin": False,
                "stop_on_error": False,
            },
            what,
        )
        expressions = answer.content.get("user_expressions") or {}
        self._learn_hooks(expressions.get("hooks"))
        value = expressions.get("result") or {}
        if value.get("status") != "ok":
            raise KernelSideError(
                f"Looking at the kernel failed ({value.get('ename', 'no result')}: "
                f"{value.get('evalue', '')}). The kernel may not be a Python kernel."
            )
        return json.loads(ast.literal_eval(value["data"]["text/plain"])), answer.during

    async def look(self, module: str, options: dict[str, Any], what: str) -> tuple[Any, Activity | None]:
        """run_kernel_side; while a cell blocks that in a spyder-kernels kernel, what Spyder's
        variable explorer channel can tell instead (marked `"source": "spyder"`)."""
        try:
            return await self.run_kernel_side(module, options, what)
        except KernelBusy:
            if self.spyder is None or not self.spyder.ready.is_set():
                raise
            running = self.router.current()
            try:
                view = await self.spyder.namespace_view()
            except asyncio.TimeoutError:
                self.check_alive()
                raise _busy(running, what, why=HELD) from None
            return spyder.found_from_view(module, options, view), running

    async def inspect(self, code: str) -> dict[str, Any]:
        """The kernel's own help on an object (signature, docstring): inspect_request."""
        return await self._content(
            "inspect_request", {"code": code, "cursor_pos": len(code), "detail_level": 0}, "help"
        )

    async def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return await self._content(
            "complete_request", {"code": code, "cursor_pos": cursor_pos}, "completions"
        )

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
            await self._delete_subshell()
        if self.spyder is not None:
            self.spyder.close(KernelDied(f"{self.death} {self.recovery_hint()}"))
        self._end(f"The connection to kernel {self.name} was closed.")
        for task in (self._watcher, *self._background):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._watcher, *self._background) if t), return_exceptions=True)
        await self.router.stop(KernelDied(f"{self.death} {self.recovery_hint()}"))
        self.client.stop_channels()
        self.client.context.destroy(linger=0)


def _busy(running: Activity | None, what: str, *, why: str = "") -> KernelBusy:
    doing = running.describe() if running else "something that does not finish"
    return KernelBusy(
        f"The kernel is busy running {doing}{f' ({why})' if why else ''}, so it cannot answer "
        f"{what} now. Try again when it is idle (kernel_status tells), or interrupt_kernel to stop the cell."
    )


def _ignore(msg_type: str, content: dict[str, Any]) -> None:
    """The sink of requests whose iopub messages we do not need."""


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

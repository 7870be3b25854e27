"""The assistant's code in one kernel: executions, their whole outputs, input(), waiting.

Every call returns, whatever the kernel does: past its timeout the code is interrupted or
left running for wait_for_execution, a dead or restarted kernel ends the wait at once, and an
input() nobody answers gets an empty answer, so the kernel is never left blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

from ..discovery import processes
from ..errors import CodeRefused, IPythonMCPError, KernelBusy, NoSuchExecution
from ..rendering.notebook import SESSION_LIMIT, NotebookCell, keep_within
from ..session.link import KernelLink
from .execution import (
    Ask,
    Execution,
    ExecutionResult,
    IfBusy,
    InputRequest,
    OnTimeout,
    Progress,
    input_note,
    queued_note,
    running_note,
    timeout_note,
    waited_note,
)
from .kernel_exit import exit_statement
from .transcript import TranscriptStore

IDLE_GRACE = 1.0
"""Seconds to wait for the iopub idle status after the reply (the last outputs may trail it)."""
PROGRESS_EVERY = 0.5
"""Seconds between two progress notifications of a waiting call."""
BIG_OUTPUT = 8 << 20
"""Bytes of output after which the memory freed while receiving it is handed back to the system."""
EXECUTIONS_KEPT = 20
"""Recent executions whose whole output stays readable."""


class CodeRunner:
    """The executions of the assistant in one kernel."""

    def __init__(self, kernel: KernelLink) -> None:
        self._kernel = kernel
        self._router = kernel.router
        self._tasks: set[asyncio.Task[Any]] = set()
        self.cells: list[NotebookCell] = []
        """Every execution of this session, code and outputs, for save_notebook."""
        self._notebook_chars = self._measured = 0
        self._in_flight: set[str] = set()  # msg_ids of executions whose call still waits
        self._supervised: set[str] = set()  # msg_ids of executions whose call gave up on them
        self.executions: dict[str, Execution] = {}
        """The recent executions of the assistant, oldest first, for read_output and waiting."""
        self.outputs = TranscriptStore(kernel.settings.max_output_disk_mb << 20)
        """Their whole outputs, within the cap on disk use: the oldest are dropped first."""

    def ours(self) -> set[str]:
        """The requests of ours the kernel may still be running, for closing to stop them."""
        return self._in_flight | self._supervised

    def restarted(self) -> None:
        """The kernel was replaced. Code of ours the old kernel had will never end; code that
        reached the new one (sent just before the restart was seen, or after) runs there and
        ends as usual. Which is which, the new kernel tells: see _settle."""
        pending = self._pending()
        for ex in self.executions.values():
            ex.input_answered()  # an input() of the old kernel waits no more
        for ex in pending:
            ex.restart_doubt = True
        if pending:
            self._in_background(self._settle(pending))

    def reconnected(self, gap: float, others: int) -> None:
        """The connection to a server dropped for `gap` s and was reopened. The server keeps
        what the kernel sends meanwhile, and replays it, only while no other client is
        connected. What it did not keep may include the end of code of ours, or the request
        itself, lost as it was sent: a request sent after the reconnection finds out."""
        pending = self._pending()
        if not pending:
            return
        for ex in pending:
            ex.notes.append(
                f"The connection to the kernel's server dropped for at least {gap:.1f} s while this "
                "ran, and was reopened"
                + (
                    ". Another client was connected, so the server kept no output for us: output "
                    "printed meanwhile may be missing."
                    if others
                    else "; the server replayed the output it kept meanwhile."
                )
            )
        self._in_background(self._settle(pending))

    def _pending(self) -> list[Execution]:
        return [ex for ex in self.executions.values() if ex.finished is not None and not ex.finished.done()]

    async def _settle(self, pending: list[Execution]) -> None:
        """The kernel answers a request sent now only after all it received before (a restart's
        new kernel included, replays included): then whatever of ours has not ended never will.
        Code of ours running in the kernel holds the answer back until it ends."""
        msg_id, reply = self._router.request("shell", "kernel_info_request")
        await asyncio.wait({reply, self._kernel.dead}, return_when=asyncio.FIRST_COMPLETED)
        if not reply.done():
            self._router.forget(msg_id)
            return
        for ex in pending:
            replied = ex.reply is not None and ex.reply.done()  # its outputs may still trail
            if ex.finished is None or ex.finished.done() or ex.lost is not None or replied:
                continue
            if ex.restart_doubt:
                self._lose(ex)
            else:
                ex.reply_lost = True
                ex.idle.set()

    def _lose(self, ex: Execution) -> None:
        """The kernel that had this code is gone: its end will never come."""
        assert ex.finished is not None
        ex.lost = (
            f"Execution {ex.id} did not finish: the kernel was restarted while it ran; the output "
            "above is all it printed, and what it did in the kernel is gone with the old kernel."
            if ex.started.is_set()
            else f"Execution {ex.id} did not run: the kernel was restarted before it started it "
            "(any effect it had is gone with the old kernel). Run it again if it is still wanted."
        )
        ex.finished.cancel()
        self._router.forget(ex.msg_id)

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for ex in self.executions.values():
            ex.transcript.close()

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
        through `ask` where the client can ask them, else by the model with send_input. Code
        that would end the kernel's process is refused unsent."""
        self._kernel.check_ready()
        ending = exit_statement(code)
        if ending is not None:
            raise CodeRefused(
                f"Not sent: `{ending[:80]}` would shut down kernel {self._kernel.name}, the user's "
                "session, losing all its state. If the user asked to shut it down, call "
                "shutdown_kernel; to stop the code early, raise an exception instead."
            )
        return await self._execute(code, timeout, on_timeout, if_busy, progress, ask)

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
        await self._kernel.settled.wait()
        await self._kernel.ready_for_code()
        if if_busy == "fail":  # the IDE may have seen its cell start before we did: ask
            busy, running = await self._kernel.running_cell()
            if busy:
                doing = running.describe() if running else "a cell this server did not see start"
                raise KernelBusy(
                    f"The kernel is busy running {doing}; the code was not sent (if_busy='fail').",
                    advice="run_after_own" if running is not None and running.ours else "run_after_busy",
                )
        running = self._router.current()
        ex = Execution(code, self._kernel.settings.max_output_chars, self.outputs.transcript())
        msg_id, reply_future = self._router.request(
            "shell", "execute_request", ex.request_content(), sink=ex.on_message
        )
        ex.msg_id = msg_id
        ex.reply = reply_future
        self._notebook_chars += sum(cell.size() for cell in self.cells[self._measured :])
        self._measured = len(self.cells)  # the cells before this one, now complete, counted once
        if self._notebook_chars > SESSION_LIMIT:
            keep_within(self.cells)
            self._notebook_chars = sum(cell.size() for cell in self.cells)
        self.cells.append(ex.cell)
        # It resolves however the execution ends: reply, kernel death (the router fails it) or
        # restart (_lose cancels it); a caller that stops waiting leaves it be.
        finished = ex.finished = asyncio.ensure_future(self._finished(ex, reply_future))
        finished.add_done_callback(_retrieve)
        finished.add_done_callback(lambda _: ex.finish())  # first to go past the cap; its cell kept
        self._keep(ex)
        self._in_flight.add(msg_id)
        try:
            outcome = await self._follow(ex, started + timeout, progress, ask)
            if outcome == "input":  # for the model to answer with send_input
                if on_timeout == "interrupt":  # the answer must not free it from its timeout
                    # Counted from the input's deadline on: waiting for the answer is not running.
                    # Counted from the input's deadline on: waiting for the answer is not running.
                    answer_by = (ex.input_deadline or time.monotonic()) - time.monotonic()
                    self._supervise(msg_id, ex, limit=max(0.0, answer_by) + timeout)
                return ex.result(None, status="input", notes=[input_note(ex, timeout)])
            if outcome == "timeout" and on_timeout == "continue":
                return ex.result(None, status="running", notes=[running_note(ex, timeout)])
            if outcome == "timeout" and ex.started.is_set():
                report = await self._kernel.interrupt(only={msg_id})
                if ex.lost is not None:  # restarted meanwhile
                    return ex.result(None, status="restarted", notes=[ex.lost])
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
        notes = waited_note(ex, running)
        if outcome == "done" and ex.asked_exit:
            return ex.result(finished.result(), status="died", notes=[*notes, self._exited_note()])
        if outcome == "done":
            return ex.result(finished.result(), notes=notes)
        if outcome == "died":
            self._router.forget(msg_id)
            return ex.result(None, status="died", notes=[self._kernel.death_note()])
        if outcome == "restarted":
            return ex.result(None, status="restarted", notes=[ex.lost or ""])
        # Timed out before it started: the kernel is running somebody else's cell.
        self._supervise(msg_id, ex, limit=timeout)
        return ex.result(None, status="queued", notes=[queued_note(ex, timeout, self._router.current())])

    async def wait_for(
        self,
        execution_id: str | None,
        timeout: float,
        progress: Progress | None = None,
        ask: Ask | None = None,
    ) -> ExecutionResult:
        """What an execution printed since the model last read it, and its end once it came."""
        self._kernel.check_alive()
        ex = self.execution(execution_id)
        if ex.finished is not None and not ex.finished.done():
            outcome = await self._follow(ex, time.monotonic() + timeout, progress, ask)
            if outcome == "died":
                return ex.unread(None, status="died", notes=[self._kernel.death_note()])
            if outcome == "input":
                return ex.unread(None, status="input", notes=[input_note(ex, timeout)])
        if ex.input is not None and ex.input_deadline is not None:  # still for the model to answer
            left = max(0.0, ex.input_deadline - time.monotonic())
            return ex.unread(None, status="input", notes=[input_note(ex, left)])
        if ex.lost is not None:
            return ex.unread(None, status="restarted", notes=[ex.lost])
        if ex.finished is None or not ex.finished.done():
            return ex.unread(None, status="running", notes=[running_note(ex, timeout, again=True)])
        if ex.finished.cancelled() or ex.finished.exception() is not None:
            return ex.unread(None, status="died", notes=["Its end was not seen: the connection closed."])
        if ex.asked_exit:
            return ex.unread(ex.finished.result(), status="died", notes=[self._exited_note()])
        return ex.unread(ex.finished.result())

    def _exited_note(self) -> str:
        return (
            f"The code ended the kernel {self._kernel.name} (it called exit() or quit()): its "
            f"process exits, and all its state is gone. {self._kernel.recovery_hint()}"
        )

    async def send_input(
        self, text: str, execution_id: str | None, timeout: float, progress: Progress | None = None
    ) -> ExecutionResult:
        """Answer the input() an execution waits on, then follow it as wait_for does."""
        self._kernel.check_alive()
        waiting = [ex for ex in self.executions.values() if ex.input is not None]
        if execution_id is not None:
            waiting = [ex for ex in waiting if ex.id == execution_id]
        if not waiting:
            raise NoSuchExecution(
                f"No code of the assistant waits for input in kernel {self._kernel.name}"
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
                value = await self._ask_user(ex, ask, request, deadline)
                if ex.input is not request:  # it stopped waiting meanwhile: interrupted, died
                    continue
                if value is None:
                    ex.notes.append(f"input({request.prompt!r}) was not answered by the user: it got ''.")
                self._answer(ex, value or "")
            else:
                self._guard_input(ex, max(0.0, deadline - time.monotonic()))
                return "input"

    async def _ask_user(self, ex: Execution, ask: Ask, request: InputRequest, deadline: float) -> str | None:
        """The user's answer; None if they gave none by the deadline, or if the code stopped
        waiting (interrupted, kernel dead or restarted) before they did."""
        asking = asyncio.ensure_future(ask(request))
        assert ex.finished is not None
        try:
            await asyncio.wait(
                {asking, ex.finished, self._kernel.dead, self._kernel.restarted_signal},
                timeout=max(0.0, deadline - time.monotonic()),
                return_when="FIRST_COMPLETED",
            )
        finally:
            if not asking.done():
                asking.cancel()
        if asking.cancelled() or asking.exception() is not None:
            return None
        return asking.result()

    def answer_pending(self) -> None:
        """Answer every input() still waiting with '': for when nobody can answer any more."""
        for ex in self.executions.values():
            if ex.input is not None:
                self._answer(ex, "")

    def _answer(self, ex: Execution, value: str) -> None:
        # ipykernel takes an input_reply from any client: one sent when our code no longer waits
        # would answer the user's own input(). So only while it is ours that waits.
        if ex.input is not None and ex.lost is None and not (ex.finished and ex.finished.done()):
            self._router.send("stdin", "input_reply", {"value": value})
        ex.input_answered()

    def _guard_input(self, ex: Execution, limit: float) -> None:
        """Answer the input() empty if nobody has answered it by its deadline (`limit` s from
        now, or later if wait_for_user moves it)."""
        request = ex.input
        ex.input_deadline = time.monotonic() + limit

        async def guard() -> None:
            while ex.input is request and ex.input_deadline is not None:
                left = ex.input_deadline - time.monotonic()
                if left <= 0:
                    if self._kernel.death is None:
                        ex.notes.append(f"Nobody answered input({request.prompt!r}) in time: it got ''.")
                        self._answer(ex, "")
                    return
                await asyncio.sleep(left)

        self._in_background(guard())

    def wait_for_user(self, ex: Execution, seconds: float) -> None:
        """Give the user at least `seconds` to answer the input() put to them out of band."""
        if ex.input is not None and ex.input_deadline is not None:
            ex.input_deadline = max(ex.input_deadline, time.monotonic() + seconds)

    def execution(self, execution_id: str | None) -> Execution:
        """A recent execution of this session by id; by default the latest one still running."""
        if execution_id is None:
            running = [ex for ex in self.executions.values() if ex.finished and not ex.finished.done()]
            if not running:
                raise NoSuchExecution(
                    "No execution of the assistant is running in the background in kernel "
                    f"{self._kernel.name}. Pass the id an execute_code result gave (e.g. 'e3')."
                )
            return running[-1]
        ex = self.executions.get(execution_id)
        if ex is None:
            kept = ", ".join(self.executions) or "none"
            raise NoSuchExecution(
                f"No execution {execution_id!r} in kernel {self._kernel.name}: only the last "
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
            assert ex.finished is not None
            try:  # a restart ends it too: _lose cancels `finished`
                await asyncio.wait({started, self._kernel.dead, ex.finished}, return_when="FIRST_COMPLETED")
            finally:
                started.cancel()
            if self._kernel.dead.done() or ex.lost is not None:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ex.idle.wait(), limit)
                return
            with contextlib.suppress(IPythonMCPError):
                await self._kernel.interrupt(only={msg_id})

        task = asyncio.create_task(supervise())
        self._tasks.add(task)
        self._supervised.add(msg_id)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self._supervised.discard(msg_id)

        task.add_done_callback(done)

    async def _finished(self, ex: Execution, reply_future: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
        """The kernel's reply, once its outputs are in. An interrupt that lands as a cell ends
        can take the reply with it (ipykernel goes idle and sends none): then the idle status
        ends the execution, after a grace period for a reply that is merely late."""
        idle = asyncio.ensure_future(ex.idle.wait())
        try:
            await asyncio.wait({reply_future, idle}, return_when="FIRST_COMPLETED")
        finally:
            idle.cancel()
        if not reply_future.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(reply_future), IDLE_GRACE * 2)
        if not reply_future.done():
            status = "error" if ex.outputs.error is not None else "ok"
            if not ex.reply_lost:
                ex.notes.append(
                    "The kernel finished this code but sent no reply (an interrupt came as it ended)."
                )
            else:
                status = "error" if ex.outputs.error is not None else "unknown"
                ex.notes.append(
                    "Its end was lost with the connection: it finished while we were disconnected."
                    if ex.started.is_set()
                    else "The kernel never said it ran this: the request may have been lost as the "
                    "connection dropped, or it ran while we were disconnected. get_history shows "
                    "whether it ran."
                )
            return {"content": {"status": status, "execution_count": ex.execution_count}}
        reply = reply_future.result()
        ex.on_reply(reply["content"])
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ex.idle.wait(), IDLE_GRACE)
        if not ex.started.is_set() and not ex.idle.is_set():
            ex.notes.append(
                "It ran, but none of its output reached ipython-mcp (the kernel had just restarted, "
                "or its output channel dropped): anything it printed or drew is not shown here."
            )
        if ex.transcript.size > BIG_OUTPUT:
            processes.release_free_memory()
        return reply

    async def _wait(self, ex: Execution, timeout: float, progress: Progress | None) -> str:
        """Wait for an execution to finish, for the kernel to die, for its end to be lost with
        a restart, or for the timeout; tell `progress` what is happening every PROGRESS_EVERY
        seconds meanwhile."""
        assert ex.finished is not None
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + PROGRESS_EVERY  # calls that end quickly report nothing
        while True:
            now = time.monotonic()
            if progress is not None and now >= next_report:
                await progress(now - ex.since, self._doing(ex))
                next_report = now + PROGRESS_EVERY
            step = min(next_report, deadline) - now if progress else deadline - now
            # An input() already put to the model waits for its answer (or its deadline) here.
            asks = ex.asked if ex.input_deadline is None else self._kernel.dead
            await asyncio.wait(
                {ex.finished, self._kernel.dead, asks},
                timeout=max(step, 0),
                return_when="FIRST_COMPLETED",
            )
            if ex.lost is not None:
                return "restarted"
            if ex.finished.done():
                return "done"
            if self._kernel.dead.done():
                return "died"
            if ex.input is not None and ex.input_deadline is None:
                return "input"
            if time.monotonic() >= deadline:
                return "timeout"

    def _doing(self, ex: Execution) -> str:
        if not ex.started.is_set():
            running = self._router.current()
            if running is not None and not running.ours:
                return f"waiting for {running.describe()} to finish"
            return "waiting for the kernel to start it"
        line = ex.outputs.last_line
        return f"running {time.monotonic() - ex.since:.0f} s" + (f": {line}" if line else "")


def _retrieve(future: asyncio.Future[Any]) -> None:
    # An execution nobody waits for any more may end in an error (the kernel died): not a bug.
    if not future.cancelled():
        future.exception()

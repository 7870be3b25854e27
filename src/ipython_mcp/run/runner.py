"""The assistant's code in one kernel: sending it, following it to its end, and what a timeout,
a restart or a dropped connection does to it.

Every call returns, whatever the kernel does: past its timeout the code is interrupted or
left running for a later call to follow, a dead or restarted kernel ends the wait at once, and an
input() nobody answers gets an empty answer, so the kernel is never left blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

from ..errors import CodeRefused, IPythonMCPError, KernelBusy, NoSuchExecution
from ..rendering.notebook import SessionCells
from ..session.link import KernelLink
from ..transport.router import Activity
from . import notes
from .execution import (
    Ask,
    Execution,
    ExecutionResult,
    IfBusy,
    OnTimeout,
    Progress,
)
from .kernel_exit import exit_statement
from .recent import RecentExecutions
from .stdin import InputReplies

PROGRESS_EVERY = 0.5
"""Seconds between two progress notifications of a waiting call."""
WAITED_WORTH_TELLING = 0.5
"""Seconds of waiting in the kernel's queue that are worth telling."""


class CodeRunner:
    """The executions of the assistant in one kernel."""

    def __init__(self, kernel: KernelLink) -> None:
        self._kernel = kernel
        self._router = kernel.router
        self._tasks: set[asyncio.Task[Any]] = set()
        self._input = InputReplies(kernel, self._in_background)
        self.cells = SessionCells()
        """Every execution of this session, code and outputs, for saving as a notebook."""
        self._in_flight: set[str] = set()  # msg_ids of executions whose call still waits
        self._supervised: set[str] = set()  # msg_ids of executions whose call gave up on them
        self.executions = RecentExecutions(kernel.name, kernel.settings.max_output_disk_mb << 20)
        """The recent executions of the assistant, for reading, waiting and answering."""

    def ours(self) -> set[str]:
        """The requests of ours the kernel may still be running, for closing to stop them."""
        return self._in_flight | self._supervised

    def restarted(self) -> None:
        """The kernel was replaced. Code of ours the old kernel had will never end; code that
        reached the new one (sent just before the restart was seen, or after) runs there and
        ends as usual. Which is which, the new kernel tells: see _settle."""
        pending = self.executions.running()
        for ex in self.executions:
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
        pending = self.executions.running()
        if not pending:
            return
        for ex in pending:
            ex.notes.append(notes.Reconnected(gap, others))
        self._in_background(self._settle(pending))

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
        ex.lost = notes.Restarted(ex.id, ex.started.is_set())
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
        self.executions.close()

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
        in the background for a later call to follow. With if_busy="fail", a kernel busy with
        another client's cell is not sent the code at all. input() is answered by the user
        through `ask` where the client can ask them, else by the model. Code
        that would end the kernel's process is refused unsent."""
        self._kernel.check_ready()
        ending = exit_statement(code)
        if ending is not None:
            raise CodeRefused(
                f"Not sent: `{ending[:80]}` would shut down kernel {self._kernel.name}, the user's "
                "session, losing all its state.",
                advice="ending_the_kernel",
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
        ex = Execution(code, self._kernel.settings.max_output_chars, self.executions.outputs.transcript())
        msg_id, reply_future = self._router.request(
            "shell", "execute_request", ex.request_content(), sink=ex.on_message
        )
        ex.msg_id = msg_id
        ex.reply = reply_future
        self.cells.append(ex.cell)
        # It resolves however the execution ends: reply, kernel death (the router fails it) or
        # restart (_lose cancels it); a caller that stops waiting leaves it be.
        finished = ex.finished = asyncio.ensure_future(ex.end(reply_future))
        finished.add_done_callback(_retrieve)
        finished.add_done_callback(lambda _: ex.finish())  # first to go past the cap; its cell kept
        self.executions.keep(ex)
        self._in_flight.add(msg_id)
        try:
            outcome = await self._follow(ex, started + timeout, progress, ask)
            if outcome == "input":  # for the model to answer
                if on_timeout == "interrupt":  # the answer must not free it from its timeout
                    # Counted from the input's deadline on: waiting for the answer is not running.
                    answer_by = (ex.input_deadline or time.monotonic()) - time.monotonic()
                    self._supervise(msg_id, ex, limit=max(0.0, answer_by) + timeout)
                return ex.result(None, status="input", notes=[_waiting(ex, timeout)])
            if outcome == "timeout" and on_timeout == "continue":
                return ex.result(None, status="running", notes=[notes.StillRunning(ex.id, timeout)])
            if outcome == "timeout" and ex.started.is_set():
                report = await self._kernel.interrupt(only={msg_id})
                if ex.lost is not None:  # restarted meanwhile
                    return ex.result(None, status="restarted", notes=[ex.lost])
                if finished.done():
                    # With no step taken, it ended on its own just as the time ran out.
                    timed_out = (timeout, report) if report.steps else None
                    return ex.result(finished.result(), timed_out=timed_out)
                return ex.result(None, status="timeout", notes=[notes.TimedOut(timeout, report)])
        except asyncio.CancelledError:
            # The caller is gone (the client cancelled, or the server is stopping): stop the code
            # in a task of our own, which close() waits for, so the kernel is not left running it.
            if not finished.done():
                self._supervise(msg_id, ex, limit=0.0)
            raise
        finally:
            self._in_flight.discard(msg_id)
        waited = _waited(ex, running)
        if outcome == "done" and ex.asked_exit:
            exited = notes.KernelExited(self._kernel.name)
            return ex.result(finished.result(), status="died", notes=[*waited, exited])
        if outcome == "done":
            return ex.result(finished.result(), notes=waited)
        if outcome == "died":
            self._router.forget(msg_id)
            return ex.result(None, status="died", notes=[self._died()])
        if outcome == "restarted":
            lost = ex.lost or notes.Restarted(ex.id, ex.started.is_set())
            return ex.result(None, status="restarted", notes=[lost])
        # Timed out before it started: the kernel is running somebody else's cell.
        self._supervise(msg_id, ex, limit=timeout)
        queued = notes.Queued(ex.id, timeout, self._router.current())
        return ex.result(None, status="queued", notes=[queued])

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
                return ex.unread(None, status="died", notes=[self._died()])
            if outcome == "input":
                return ex.unread(None, status="input", notes=[_waiting(ex, timeout)])
        if ex.input is not None and ex.input_deadline is not None:  # still for the model to answer
            left = max(0.0, ex.input_deadline - time.monotonic())
            return ex.unread(None, status="input", notes=[_waiting(ex, left)])
        if ex.lost is not None:
            return ex.unread(None, status="restarted", notes=[ex.lost])
        if ex.finished is None or not ex.finished.done():
            return ex.unread(None, status="running", notes=[notes.StillRunning(ex.id, timeout, again=True)])
        if ex.finished.cancelled() or ex.finished.exception() is not None:
            return ex.unread(None, status="died", notes=[notes.NotSeenToEnd()])
        if ex.asked_exit:
            exited = notes.KernelExited(self._kernel.name)
            return ex.unread(ex.finished.result(), status="died", notes=[exited])
        return ex.unread(ex.finished.result())

    def _died(self) -> notes.KernelDied:
        return notes.KernelDied(self._kernel.death or f"The kernel {self._kernel.name} is gone.")

    async def answer_input(
        self, text: str, execution_id: str | None, timeout: float, progress: Progress | None = None
    ) -> ExecutionResult:
        """Answer the input() an execution waits on, then follow it as wait_for does."""
        self._kernel.check_alive()
        waiting = [ex for ex in self.executions if ex.input is not None]
        if execution_id is not None:
            waiting = [ex for ex in waiting if ex.id == execution_id]
        if not waiting:
            raise NoSuchExecution(
                f"No code of the assistant waits for input in kernel {self._kernel.name}"
                + (f" as execution {execution_id}" if execution_id else "")
                + ": nothing was sent. An unanswered input() gets an empty answer at its deadline."
            )
        self._input.answer(waiting[-1], text)
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
                ex.notes.append(_waiting(ex, 0))
                self._input.answer(ex, "")
            elif ask is not None:
                value = await self._input.ask_user(ex, ask, request, deadline)
                if ex.input is not request:  # it stopped waiting meanwhile: interrupted, died
                    continue
                if value is None:
                    ex.notes.append(notes.InputUnanswered(request.prompt, by_user=True))
                self._input.answer(ex, value or "")
            else:
                self._input.guard(ex, max(0.0, deadline - time.monotonic()))
                return "input"

    def answer_pending(self) -> None:
        """Answer every input() still waiting with '': for when nobody can answer any more."""
        for ex in self.executions:
            if ex.input is not None:
                self._input.answer(ex, "")

    def execution(self, execution_id: str | None) -> Execution:
        """A recent execution of this session by id; by default the latest one still running."""
        return self.executions.find(execution_id)

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


def _waiting(ex: Execution, answer_within: float) -> notes.WaitingForInput:
    assert ex.input is not None
    return notes.WaitingForInput(ex.id, ex.input.prompt, ex.input.password, answer_within)


def _waited(ex: Execution, running: Activity | None) -> list[notes.Note]:
    """Told when the code had to wait for another client's cell."""
    if running is None or running.ours or ex.waited < WAITED_WORTH_TELLING:
        return []
    return [notes.RanAfter(running.describe().rsplit(" (", 1)[0], ex.waited)]

"""One execution of the assistant's code: what it sends, what it collects, how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..discovery import processes
from ..rendering import Block, Outputs, ReadMark, excerpt
from ..rendering.notebook import NotebookCell
from ..rendering.records import Changes
from ..session.link import InterruptReport
from .notes import (
    Aborted,
    DisplayUpdated,
    EndLost,
    ErrorWithoutTraceback,
    Finished,
    NoReply,
    NoStdin,
    Note,
    OutputCleared,
    OutputMissing,
    RateLimited,
    Restarted,
    TimedOut,
    WaitingForInput,
)
from .transcript import Transcript

ExecutionStatus = Literal[
    "ok", "error", "aborted", "timeout", "queued", "died", "running", "restarted", "input", "unknown"
]
OnTimeout = Literal["interrupt", "continue"]
IfBusy = Literal["wait", "fail"]
Ask = Callable[["InputRequest"], Awaitable[str | None]]
"""Asks the user (not the model) to answer input(); None if they would not."""
Progress = Callable[[float, str], Awaitable[None]]
"""Told (seconds since the call began, what is happening) while a call waits."""

IDLE_GRACE = 1.0
"""Seconds to wait for the iopub idle status after the reply (the last outputs may trail it)."""
BIG_OUTPUT = 8 << 20
"""Bytes of output after which the memory freed while receiving it is handed back to the system."""
_RUNS_ON = ("running", "input", "queued")
"""The statuses of a result after which the execution goes on."""
_NUMBERS = itertools.count(1)
"""Execution ids are unique within this server process: e1, e2, ..."""
_RATE_LIMITED = re.compile(r"IOPub (data|message) rate exceeded")
"""Jupyter Server's notice, on stderr, when it drops output over its rate limit."""


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What one run of the assistant's code produced so far, and how it stands."""

    blocks: list[Block]
    status: ExecutionStatus
    execution_count: int | None
    notes: list[Note]
    execution_id: str = ""

    @property
    def is_error(self) -> bool:
        """Whether the code failed or did not run. Code still running, waiting for input or
        queued behind another cell has not failed: calling again would run it twice."""
        return self.status not in ("ok", *_RUNS_ON)


@dataclass(frozen=True, slots=True)
class InputRequest:
    """An input() or getpass() the code waits on."""

    prompt: str
    password: bool


class Execution:
    """One execute request of ours: its outputs and whether the kernel started and finished it.

    Its outputs are one model (rendering.outputs) with its lines in `transcript`: every call
    reads it, so each shows the same text for the same output. The first result shows all of it;
    later ones (waiting, answering input) what the model has not read yet (see `unread`)."""

    def __init__(self, code: str, budget: int, transcript: Transcript | None = None) -> None:
        self.id = f"e{next(_NUMBERS)}"
        self.msg_id = ""
        """The id of its execute_request, once sent."""
        self.code = code
        self.budget = budget
        """Characters of output text a result holds at most."""
        self.transcript = transcript if transcript is not None else Transcript()
        """Where its output's lines are kept, within the session's disk cap."""
        self.outputs = Outputs(self.transcript)
        """Its outputs as a notebook shows them: for every result and for its whole output."""
        self.cell = NotebookCell(code, outputs=self.outputs)
        """Its code and outputs as a notebook cell, for saving the session as a notebook."""
        self._read = ReadMark()
        """How far the model has read its output."""
        self._before_read: tuple[ReadMark, Changes, list[Note]] = (ReadMark(), Changes(), [])
        self.started = asyncio.Event()
        self.idle = asyncio.Event()
        self.reply_lost = False
        """Its reply and idle status were lost with a dropped server connection."""
        self._rate_limited = False  # its server said it dropped output past its rate limit
        self.since = time.monotonic()
        self.waited = 0.0
        """Seconds the code waited in the kernel's queue before it started."""
        self.execution_count: int | None = None
        self.input: InputRequest | None = None
        """The input() the code waits on, until it is answered."""
        self.asked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done once the code asks for input (a fresh one after each answer)."""
        self.input_deadline: float | None = None
        """When an input() put to the model gets an empty answer if it has none by then."""
        self.notes: list[Note] = []
        """What happened on the way (input answered for it), told with the next result."""
        self.lost: Restarted | None = None
        """The restart under it that took its end away, if so: that end will never come."""
        self.end_untold = False
        """A result said it runs on (running, queued, waiting for input) and none said it ended."""
        self.asked_exit = False
        """The code asked the kernel to exit (exit(), quit()): it ends after its reply."""
        self.restart_doubt = False
        """The kernel restarted before it ended: it ends if it reached the new kernel."""
        self.reply: asyncio.Future[dict[str, Any]] | None = None
        """The kernel's reply as it arrives (its last outputs may trail it)."""
        self.finished: asyncio.Future[dict[str, Any]] | None = None
        """The kernel's reply, once it came; kept for an execution that runs on in the background."""

    def request_content(self) -> dict[str, Any]:
        # stop_on_error=False: an error of ours must never abort the cells the user queued.
        # allow_stdin=True: input() asks us on the stdin channel; the runner always answers (stdin.py).
        return {
            "code": self.code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": True,
            "stop_on_error": False,
        }

    def on_message(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "status":
            state = content.get("execution_state")
            if state == "busy":
                self._start()
            elif state == "idle":
                self.idle.set()
                self.input = self.input_deadline = None  # finished: it waits for nothing now
        elif msg_type == "input_request":
            self.input = InputRequest(str(content.get("prompt", "")), bool(content.get("password")))
            if not self.asked.done():
                self.asked.set_result(None)
        elif msg_type == "execute_input":
            self._start()
            self.execution_count = self.cell.execution_count = content.get("execution_count")
        else:
            if (
                msg_type == "stream"
                and content.get("name") == "stderr"
                and not self._rate_limited
                and _RATE_LIMITED.search(str(content.get("text", "")))
            ):
                self._rate_limited = True
                self.notes.append(RateLimited())
            self.outputs.add(msg_type, content)

    def on_reply(self, content: dict[str, Any]) -> None:
        """What the reply itself carries: help text (`obj?`, `%pinfo`), which IPython sends to
        a pager rather than as output, and a request to end the kernel."""
        for payload in content.get("payload") or []:
            if not isinstance(payload, dict):
                continue
            if payload.get("source") == "page":
                text = (payload.get("data") or {}).get("text/plain")
                if isinstance(text, str) and text:
                    self.on_message("display_data", {"data": {"text/plain": text}, "metadata": {}})
            elif payload.get("source") == "ask_exit" and not payload.get("keepkernel"):
                self.asked_exit = True

    def finish(self) -> None:
        """It ended: its lines are the first to go past the disk cap, its cell is kept as is."""
        self.outputs.finish()
        self.cell.freeze()

    async def end(self, reply_future: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
        """The kernel's reply, once its outputs are in. An interrupt that lands as a cell ends
        can take the reply with it (ipykernel goes idle and sends none): then the idle status
        ends the execution, after a grace period for a reply that is merely late."""
        idle = asyncio.ensure_future(self.idle.wait())
        try:
            await asyncio.wait({reply_future, idle}, return_when="FIRST_COMPLETED")
        finally:
            idle.cancel()
        if not reply_future.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(reply_future), IDLE_GRACE * 2)
        if not reply_future.done():
            status = "error" if self.outputs.error_name is not None else "ok"
            if not self.reply_lost:
                self.notes.append(NoReply())
            else:
                status = "error" if self.outputs.error_name is not None else "unknown"
                self.notes.append(EndLost(self.started.is_set()))
            return {"content": {"status": status, "execution_count": self.execution_count}}
        reply = reply_future.result()
        self.on_reply(reply["content"])
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.idle.wait(), IDLE_GRACE)
        if not self.started.is_set() and not self.idle.is_set():
            self.notes.append(OutputMissing())
        if self.transcript.size > BIG_OUTPUT:
            processes.release_free_memory()
        return reply

    def give_user_time(self, seconds: float) -> None:
        """Give the user at least `seconds` to answer the input() put to them out of band."""
        if self.input is not None and self.input_deadline is not None:
            self.input_deadline = max(self.input_deadline, time.monotonic() + seconds)

    def input_answered(self) -> None:
        """Its input() waits no more (answered, or gone with the kernel)."""
        self.input = self.input_deadline = None
        if self.asked.done():
            self.asked = asyncio.get_running_loop().create_future()

    def _start(self) -> None:
        if not self.started.is_set():
            self.waited = time.monotonic() - self.since
            self.started.set()

    def result(
        self,
        reply: dict[str, Any] | None,
        *,
        status: ExecutionStatus | None = None,
        notes: list[Note] | None = None,
        timed_out: tuple[float, InterruptReport] | None = None,
    ) -> ExecutionResult:
        """The outputs so far and the outcome: from the kernel's reply, or as the caller says."""
        told = [*self.notes, *(notes or [])]
        self.notes = []
        if reply is not None:
            content = reply["content"]
            status = status or _reply_status(content)
            self.execution_count = content.get("execution_count", self.execution_count)
            if status == "aborted":
                told.append(Aborted())
            if timed_out is not None:
                status = "timeout"
                told.append(TimedOut(*timed_out))
            elif self.outputs.error_name is None and status == "error":
                ename, evalue = content.get("ename", "Error"), content.get("evalue", "")
                told.append(ErrorWithoutTraceback(ename, evalue))
        if self.outputs.error_name == "StdinNotImplementedError":
            told.append(NoStdin())
        assert status is not None
        # The whole output, within the budget; what it leaves out is readable by line.
        blocks = self._show((0, 0), told)
        self.end_untold = status in _RUNS_ON
        return ExecutionResult(blocks, status, self.execution_count, told, self.id)

    def unread(
        self,
        reply: dict[str, Any] | None,
        *,
        status: ExecutionStatus | None = None,
        notes: list[Note] | None = None,
    ) -> ExecutionResult:
        """What the model has not read of the output yet, and how the execution stands: from
        the kernel's reply once it came, else as the caller says.

        Not read yet: the output after what it last read, and any it read that changed since
        (a line a carriage return rewrote, a display updated: shown again from there, as they
        read now). Output it read that clear_output removed is not shown again: the notes say
        it was cleared."""
        start, cleared, updated = self.outputs.unread(self._read)
        changed: list[Note] = [OutputCleared()] if cleared else [DisplayUpdated()] if updated else []
        told = [*self.notes, *(notes or [])]
        self.notes = []
        blocks = self._show(start, told)
        told = [*changed, *told]
        if reply is not None:
            content = reply["content"]
            finished = _reply_status(content)
            status = status or finished
            self.execution_count = content.get("execution_count", self.execution_count)
            told.append(Finished(self.id, finished))
        assert status is not None
        self.end_untold = status in _RUNS_ON
        return ExecutionResult(blocks, status, self.execution_count, told, self.id)

    def _show(self, start: tuple[int, int], told: list[Note]) -> list[Block]:
        """The output from store position `start` on, within the budget; the model has read
        it all then."""
        blocks = excerpt(self.outputs, start, budget=self.budget)
        self._before_read = (self._read, self.outputs.changes, list(told))
        self._read = self.outputs.read_all()
        return blocks

    def rewind(self) -> None:
        """Undo the last result's reading: it was not shown to the model after all."""
        self._read, changes, told = self._before_read
        self.outputs.restore(changes)
        # The question is asked again by whoever reads it next; a password prompt was answered.
        self.notes = [n for n in told if not (isinstance(n, WaitingForInput) and not n.password)]


def _reply_status(content: dict[str, Any]) -> ExecutionStatus:
    status = content.get("status")
    if status == "aborted" or content.get("ename") in ("AbortedDueToError", "ExecutionAborted"):
        return "aborted"
    if status == "unknown":  # its end was lost with a dropped connection
        return "unknown"
    return "ok" if status == "ok" else "error"

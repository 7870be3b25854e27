"""One execution of the assistant's code: what it sends, what it collects, how it ended."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..rendering import Block, Outputs, ReadMark, excerpt
from ..rendering.notebook import NotebookCell
from ..rendering.records import Changes
from ..session.link import InterruptReport
from ..transport.router import Activity
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

_NUMBERS = itertools.count(1)
"""Execution ids are unique within this server process: e1, e2, ..."""
WAITED = 0.5
"""Seconds of waiting in the kernel's queue that are worth telling."""
_RATE_LIMITED = re.compile(r"IOPub (data|message) rate exceeded")
"""Jupyter Server's notice, on stderr, when it drops output over its rate limit."""


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What one execute_code call produced and how it ended."""

    blocks: list[Block]
    status: ExecutionStatus
    execution_count: int | None
    notes: list[str]
    execution_id: str = ""

    @property
    def is_error(self) -> bool:
        """Whether the code failed or did not run. Code still running, waiting for input or
        queued behind another cell has not failed: calling again would run it twice."""
        return self.status not in ("ok", "running", "input", "queued")


@dataclass(frozen=True, slots=True)
class InputRequest:
    """An input() or getpass() the code waits on."""

    prompt: str
    password: bool


class Execution:
    """One execute request of ours: its outputs and whether the kernel started and finished it.

    Its outputs are one model (rendering.outputs) with its lines in `transcript`: every call
    reads it, so each shows the same text for the same output. execute_code shows all of it;
    wait_for_execution and send_input what the model has not read yet (see `unread`)."""

    def __init__(self, code: str, budget: int, transcript: Transcript | None = None) -> None:
        self.id = f"e{next(_NUMBERS)}"
        self.msg_id = ""
        """The id of its execute_request, once sent."""
        self.code = code
        self.budget = budget
        """Characters of output text a result holds at most."""
        self.transcript = transcript if transcript is not None else Transcript()
        """Where its output's lines are kept, within the session's disk cap."""
        self.outputs = Outputs(self.transcript, error_limit=budget)
        """Its outputs as a notebook shows them: for every result, read_output, search_output."""
        self.cell = NotebookCell(code, outputs=self.outputs)
        """Its code and outputs as a notebook cell, for save_notebook."""
        self._read = ReadMark()
        """How far the model has read its output."""
        self._before_read: tuple[ReadMark, Changes, list[str]] = (ReadMark(), Changes(), [])
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
        self.notes: list[str] = []
        """What happened on the way (input answered for it), told with the next result."""
        self.lost: str | None = None
        """Why its end will never come (the kernel restarted under it), if so."""
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
        # allow_stdin=True: input() asks us on the stdin channel; the session always answers.
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
                self.notes.append(
                    "Its Jupyter Server dropped part of this output: it passes output to websocket "
                    "clients up to a rate limit (1 MB/s by default), so the code printed more than "
                    "shown. Write large outputs to a file instead, or ask the user to raise "
                    "ZMQChannelsWebsocketConnection.iopub_data_rate_limit (and iopub_msg_rate_limit)."
                )
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
        notes: list[str] | None = None,
        timed_out: tuple[float, InterruptReport] | None = None,
    ) -> ExecutionResult:
        """The outputs so far and the outcome: from the kernel's reply, or as the caller says."""
        notes = [*self.notes, *(notes or [])]
        self.notes = []
        if reply is not None:
            content = reply["content"]
            status = status or _reply_status(content)
            self.execution_count = content.get("execution_count", self.execution_count)
            if status == "aborted":
                notes.append(
                    "The kernel aborted this code without running it: a cell queued before it "
                    "failed or was interrupted. Run it again if it is still wanted."
                )
            if timed_out is not None:
                status = "timeout"
                notes.append(timeout_note(*timed_out))
            elif self.outputs.error is None and status == "error":
                notes.append(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}")
        if self.outputs.error is not None and self.outputs.error.ename == "StdinNotImplementedError":
            notes.append(
                "input() is not available to the assistant: put the values in the code instead "
                "(or ask the user for them)."
            )
        assert status is not None
        # What the excerpt leaves out is for read_output; wait_for_execution goes on after it.
        blocks = self._show((0, 0), notes)
        return ExecutionResult(blocks, status, self.execution_count, notes, self.id)

    def unread(
        self,
        reply: dict[str, Any] | None,
        *,
        status: ExecutionStatus | None = None,
        notes: list[str] | None = None,
    ) -> ExecutionResult:
        """What the model has not read of the output yet, and how the execution stands: from
        the kernel's reply once it came, else as the caller says.

        Not read yet: the output after what it last read, and any it read that changed since
        (a line a carriage return rewrote, a display updated: shown again from there, as they
        read now). Output it read that clear_output removed is not shown again: the notes say
        it was cleared."""
        start, cleared, updated = self.outputs.unread(self._read)
        changed = []
        if cleared:
            changed.append(
                "The code cleared its output (clear_output) since it was last read: the output "
                "above is all it shows now."
            )
        elif updated:
            changed.append(
                "A display already read was updated since: the output above starts with it, and "
                "shows it and what follows as they are now."
            )
        notes = [*self.notes, *(notes or [])]
        self.notes = []
        blocks = self._show(start, notes)
        notes[:0] = changed
        if reply is not None:
            content = reply["content"]
            finished = _reply_status(content)
            status = status or finished
            self.execution_count = content.get("execution_count", self.execution_count)
            notes.append(f"Execution {self.id} has finished ({finished}).")
        assert status is not None
        return ExecutionResult(blocks, status, self.execution_count, notes, self.id)

    def _show(self, start: tuple[int, int], notes: list[str]) -> list[Block]:
        """The output from store position `start` on, within the budget; the model has read
        it all then."""
        blocks = excerpt(self.outputs, start, budget=self.budget, more=self.more_hint)
        self._before_read = (self._read, self.outputs.changes, notes)
        self._read = self.outputs.read_all()
        return blocks

    def rewind(self) -> None:
        """Undo the last result's reading: it was not shown to the model after all."""
        self._read, changes, notes = self._before_read
        self.outputs.restore(changes)
        self.notes = [n for n in notes if not n.startswith("Waiting for input")]

    def more_hint(self, first_line: int, lines: int, char_offset: int = 0) -> str:
        """The call that returns the part of the output a result leaves out (from character
        `char_offset` of its first line, when the result showed the start of that line)."""
        # Head and tail may each cut a line in two: the call covers both of those lines whole.
        if char_offset and lines <= 1:
            return f"read_output('{self.id}', offset={first_line}, char_offset={char_offset}) returns it"
        at = f", char_offset={char_offset}" if char_offset else ""
        return f"read_output('{self.id}', offset={first_line}{at}, limit={lines + 2}) returns it"


def timeout_note(timeout: float, report: InterruptReport) -> str:
    if report.frozen is not None:
        return f"Timed out after {timeout:g} s, and it cannot be interrupted now. {report.frozen}"
    how = " then ".join(report.steps)
    if report.idle:
        return (
            f"Timed out after {timeout:g} s; the kernel was interrupted ({how}) and is idle. "
            "Output above is partial."
        )
    return (
        f"Timed out after {timeout:g} s; the kernel did not stop after {how}: it may be inside "
        "code that ignores interrupts. It is still busy; call interrupt_kernel again or "
        "restart_kernel."
    )


def input_note(ex: Execution, limit: float) -> str:
    assert ex.input is not None
    if ex.input.password:
        return (
            f"The code asked for a password ({ex.input.prompt!r}): only the user may type it, in "
            "their IDE, so it got an empty answer here. Ask the user to run this part themselves."
        )
    return (
        f"Waiting for input: {ex.input.prompt!r} (execution {ex.id}). Call send_input with the "
        f"answer; if none comes within {limit:.0f} s it gets an empty one, so the kernel is never "
        "left waiting."
    )


def running_note(ex: Execution, timeout: float, *, again: bool = False) -> str:
    what = "It is still running" if again else f"Still running after {timeout:g} s (on_timeout='continue')"
    return (
        f"{what} as execution {ex.id}. wait_for_execution('{ex.id}') returns what it prints next "
        "and its end; interrupt_kernel stops it; read_output and search_output read all its output."
    )


def waited_note(ex: Execution, running: Activity | None) -> list[str]:
    """Said when the code had to wait for another client's cell."""
    if running is None or running.ours or ex.waited < WAITED:
        return []
    return [f"It ran after {running.describe().rsplit(' (', 1)[0]} had finished ({ex.waited:.0f} s)."]


def queued_note(ex: Execution, timeout: float, running: Activity | None) -> str:
    whose = running.describe() if running else "another request"
    return (
        f"Not started after {timeout:g} s: the kernel is busy with {whose}. The code stays "
        f"queued as execution {ex.id} (a kernel cannot drop it): it runs once the kernel is free, "
        f"and is interrupted if it runs longer than {timeout:g} s. Do not send it again: "
        f"wait_for_execution('{ex.id}') returns its output. {leave_it(running)}"
    )


def leave_it(running: Activity | None) -> str:
    """What to do about the running cell: the user's is theirs to stop."""
    if running is not None and running.ours:
        return "It is the assistant's own: wait_for_execution follows it, interrupt_kernel stops it."
    return (
        "That cell is most likely the user's work: let it run, and interrupt it only if the "
        "user asks you to."
    )


def _reply_status(content: dict[str, Any]) -> ExecutionStatus:
    status = content.get("status")
    if status == "aborted" or content.get("ename") in ("AbortedDueToError", "ExecutionAborted"):
        return "aborted"
    if status == "unknown":  # its end was lost with a dropped connection
        return "unknown"
    return "ok" if status == "ok" else "error"

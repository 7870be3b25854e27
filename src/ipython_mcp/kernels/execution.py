"""One execution of the assistant's code: what it sends, what it collects, how it ended."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from ..rendering import Block, OutputLog
from .router import Activity

ExecutionStatus = Literal["ok", "error", "aborted", "timeout", "queued", "died"]


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What one execute_code call produced and how it ended."""

    blocks: list[Block]
    status: ExecutionStatus
    execution_count: int | None
    notes: list[str]

    @property
    def is_error(self) -> bool:
        return self.status != "ok"


@dataclass(frozen=True, slots=True)
class InterruptReport:
    """What an interrupt did and whether the kernel is idle now."""

    interrupted: Activity | None
    steps: list[str]
    idle: bool


class Execution:
    """One execute request of ours: its outputs and whether the kernel started and finished it."""

    def __init__(self, code: str, budget: int) -> None:
        self.code = code
        self.log = OutputLog(text_budget=budget)
        self.started = asyncio.Event()
        self.idle = asyncio.Event()
        self.execution_count: int | None = None

    def request_content(self) -> dict[str, Any]:
        # stop_on_error=False: an error of ours must never abort the cells the user queued.
        # allow_stdin=False: input() raises at once instead of blocking the kernel.
        return {
            "code": self.code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        }

    def on_message(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "status":
            state = content.get("execution_state")
            if state == "busy":
                self.started.set()
            elif state == "idle":
                self.idle.set()
        elif msg_type == "execute_input":
            self.started.set()
            self.execution_count = content.get("execution_count")
        else:
            self.log.add(msg_type, content)

    def result(
        self,
        reply: dict[str, Any] | None,
        *,
        status: ExecutionStatus | None = None,
        notes: list[str] | None = None,
        timed_out: tuple[float, InterruptReport] | None = None,
    ) -> ExecutionResult:
        """The outputs so far and the outcome: from the kernel's reply, or as the caller says."""
        notes = list(notes or [])
        if reply is not None:
            content = reply["content"]
            status = _reply_status(content)
            self.execution_count = content.get("execution_count", self.execution_count)
            if status == "aborted":
                notes.append(
                    "The kernel aborted this code without running it: a cell queued before it "
                    "failed or was interrupted. Run it again if it is still wanted."
                )
            if timed_out is not None:
                status = "timeout"
                notes.append(timeout_note(*timed_out))
            elif self.log.error is None and status == "error":
                notes.append(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}")
        if self.log.error is not None and self.log.error.ename == "StdinNotImplementedError":
            notes.append(
                "input() is not available to the assistant: put the values in the code instead "
                "(or ask the user for them)."
            )
        assert status is not None
        return ExecutionResult(self.log.blocks(), status, self.execution_count, notes)


def timeout_note(timeout: float, report: InterruptReport) -> str:
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


def queued_note(timeout: float, running: Activity | None) -> str:
    whose = running.describe() if running else "another request"
    return (
        f"Timed out after {timeout:g} s before this code started: the kernel is busy with "
        f"{whose}. A kernel cannot drop queued code: it will run when the kernel is free, and "
        f"be interrupted if it runs longer than {timeout:g} s; its output will not be returned. "
        "Call kernel_status to see what is running, or interrupt_kernel to stop it."
    )


def _reply_status(content: dict[str, Any]) -> ExecutionStatus:
    status = content.get("status")
    if status == "aborted" or content.get("ename") in ("AbortedDueToError", "ExecutionAborted"):
        return "aborted"
    return "ok" if status == "ok" else "error"

"""Answering the input() of the assistant's code: from the user, from the model, or empty.

The kernel asks on the stdin channel and waits for one input_reply. ipykernel takes that reply
from any client, so one sent when our code no longer waits would answer the user's own
input(): a reply goes out only while it is ours that waits. An input() left for the model has
a deadline, past which it gets an empty answer, so the kernel is never left waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ..session.link import KernelLink
from .execution import Ask, Execution, InputRequest
from .notes import InputUnanswered


class InputReplies:
    """The input_reply messages of one kernel's executions of ours."""

    def __init__(self, kernel: KernelLink, background: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        self._kernel = kernel
        self._background = background

    async def ask_user(self, ex: Execution, ask: Ask, request: InputRequest, deadline: float) -> str | None:
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

    def answer(self, ex: Execution, value: str) -> None:
        """Answer the input() the execution waits on, if it still waits."""
        if ex.input is not None and ex.lost is None and not (ex.finished and ex.finished.done()):
            self._kernel.router.send("stdin", "input_reply", {"value": value})
        ex.input_answered()

    def guard(self, ex: Execution, limit: float) -> None:
        """Answer the input() empty if nobody has answered it by its deadline (`limit` s from
        now, or later if Execution.give_user_time moves it)."""
        request = ex.input
        assert request is not None
        ex.input_deadline = time.monotonic() + limit

        async def guard() -> None:
            while ex.input is request and ex.input_deadline is not None:
                left = ex.input_deadline - time.monotonic()
                if left <= 0:
                    if self._kernel.death is None:
                        ex.notes.append(InputUnanswered(request.prompt, by_user=False))
                        self.answer(ex, "")
                    return
                await asyncio.sleep(left)

        self._background(guard())

"""Following the cell another client (the user's IDE) runs, to its end, without touching it.

Nothing here interrupts or delays that cell. Every iopub message of the kernel reaches our
router, so the cell's start (busy status, execute_input), its outputs and its end (idle status)
are seen as the user's IDE sees them (ObservedCells keeps them). Beside that, one
kernel_info_request on shell (the probe) is answered only once the kernel is done with what it
was sent before: it tells that a cell runs which started before we listened (no start to see),
and when that cell ends; and it ends the wait should the end of a cell we saw start be lost
with a dropped connection. Its busy and idle statuses come after the cell's, so the user's IDE
never sees the kernel idle early.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..session.link import UNSEEN_CELL_REPLY, KernelLink
from ..transport.router import Activity, MessageRouter
from .observed import ObservedCell, ObservedCells

PROGRESS_EVERY = 0.5
"""Seconds between two progress notifications."""
LOOK_AGAIN = 0.1
"""Seconds between two looks for a cell's start while no cell is seen running."""
END_GRACE = 1.0
"""Seconds the end of a cell gets to reach us on iopub once the kernel answered the probe."""

FollowState = Literal["ended", "running", "idle", "died", "restarted"]
Progress = Callable[[float, str], Awaitable[None]]
"""Told (seconds since the call began, what is happening) while the call waits."""


@dataclass(frozen=True, slots=True)
class Followed:
    """How the cell another client runs stands when the call returns."""

    state: FollowState
    """`ended`: it ended (its output is all in); `running`: it runs on past the timeout;
    `idle`: no cell of another client runs; `died` / `restarted`: the kernel died or was
    replaced while the call waited."""
    cell: ObservedCell | None
    """The cell followed, with what it showed; for `idle`, the user's latest cell that ended.
    None where no message of it reached us (it started before we listened and showed nothing
    since), or none ended while we listened."""
    busy: bool = True
    """A cell of another client was known to run (`died`, `restarted`: under it)."""
    seen_start: bool = True
    """False: it started before we listened; what it showed before that is not known."""
    end_seen: bool = True
    """`ended`: its idle status reached us (else the kernel said it was done, and any output
    it sent last may be missing)."""
    running: float = 0.0
    """Seconds it had run when seen last (for a start not seen: at least that long)."""
    waited: float = 0.0
    """Seconds the call waited."""
    ago: float = 0.0
    """Seconds since the cell ended, once it did."""
    own: Activity | None = None
    """`idle`: the assistant's own cell the kernel runs now, if one does."""


async def follow_other_cell(
    link: KernelLink,
    observed: ObservedCells,
    timeout: float,
    progress: Progress | None = None,
) -> Followed:
    """Wait until the cell another client runs ends, the kernel dies or restarts, or the
    timeout; say at once when no cell of another client runs."""
    link.check_ready()
    return await _Follow(link, observed, timeout, progress).run()


class _Follow:
    """One call's wait: for the cell of another client seen running, if any, else for the
    kernel's answer to the probe (a cell we did not see start runs until then)."""

    def __init__(
        self, link: KernelLink, observed: ObservedCells, timeout: float, progress: Progress | None
    ) -> None:
        self._link = link
        self._router: MessageRouter = link.router
        self._observed = observed
        self._progress = progress
        self._began = time.monotonic()
        self._deadline = self._began + timeout
        self._restarted = link.restarted_signal  # replaced with a fresh one at each restart
        self._activity: Activity | None = None
        self._ended: asyncio.Future[Any] | None = None  # done when the activity ends
        self._pinned: contextlib.AbstractContextManager[None] | None = None
        self._probe: tuple[str, asyncio.Future[dict[str, Any]]] | None = None
        self._sent = 0.0  # when the probe was sent
        self._answer_took: float | None = None  # seconds until the kernel answered it

    async def run(self) -> Followed:
        await self._router.catch_up()
        own = self._router.current()
        if own is not None and own.ours and own.code.strip():
            # The assistant's code runs: a cell of another client could only wait behind it.
            return self._followed("idle", self._observed.last_ended(), busy=False, own=own)
        self._probe = self._router.request("shell", "kernel_info_request")
        self._sent = time.monotonic()
        self._probe[1].add_done_callback(self._on_answer)
        try:
            return await self._wait()
        finally:
            self._unfollow()
            if not self._probe[1].done():
                self._router.forget(self._probe[0])

    async def _wait(self) -> Followed:
        assert self._probe is not None
        next_report = self._began + PROGRESS_EVERY
        while True:
            if self._activity is None and (activity := _others(self._router)) is not None:
                self._follow(activity)
            now = time.monotonic()
            if self._progress is not None and now >= next_report:
                await self._progress(now - self._began, self._doing())
                next_report = now + PROGRESS_EVERY
            until = min(self._deadline, next_report) if self._progress is not None else self._deadline
            if self._activity is None:
                until = min(until, now + LOOK_AGAIN)  # the user's cell may start meanwhile
            waits: set[asyncio.Future[Any]] = {self._link.dead, self._restarted, self._probe[1]}
            if self._ended is not None:
                waits.add(self._ended)
            await asyncio.wait(waits, timeout=max(until - time.monotonic(), 0), return_when="FIRST_COMPLETED")
            if (outcome := await self._outcome()) is not None:
                return outcome
            # Past the timeout, a call that cannot tell yet whether a cell runs unseen waits to know.
            if time.monotonic() >= self._deadline and (self._activity is not None or self._slow()):
                return self._followed("running", self._cell(), seen_start=self._activity is not None)

    async def _outcome(self) -> Followed | None:
        """How the wait ends, once it does; None: it goes on."""
        assert self._probe is not None
        if self._restarted.done() or self._link.dead.done():
            state: FollowState = "restarted" if self._restarted.done() else "died"
            busy = self._activity is not None or self._slow()
            return self._followed(state, self._cell(), busy=busy, seen_start=self._activity is not None)
        activity = self._activity
        if activity is not None and (activity.ended.is_set() or self._probe[1].done()):
            return await self._activity_ended(activity)
        if activity is None and self._probe[1].done():
            return await self._answered()
        return None

    async def _activity_ended(self, activity: Activity) -> Followed | None:
        """The cell we saw start ended, or the kernel answered the probe (sent after it)."""
        cell = self._observed.get(activity.msg_id)
        if not activity.ended.is_set() or (cell is not None and not cell.finished):
            # Its idle status may come after what ended it: our view catches up where it can.
            await self._router.catch_up()
            await self._until(lambda: cell is None or cell.finished or self._restarted.done(), END_GRACE)
            if self._restarted.done():
                return self._followed("restarted", cell)
        if cell is not None and not cell.announced and not cell.log.blocks():
            # A silent request of the IDE (for its variable view, say): not a cell. Look again.
            self._unfollow()
            return None
        return self._followed("ended", cell, end_seen=cell is not None and cell.finished)

    async def _answered(self) -> Followed:
        """The kernel answered the probe with no cell seen running: whatever ran before it is
        done. A cell that started before we listened ends with an idle status of its own,
        which may reach us after the answer."""
        await self._until(lambda: self._unseen_ended() is not None, END_GRACE if self._slow() else 0)
        cell = self._unseen_ended()
        if cell is None:
            return self._followed("idle", self._observed.last_ended(), busy=False)
        return self._followed("ended", cell, seen_start=False)

    def _on_answer(self, _: asyncio.Future[Any]) -> None:
        self._answer_took = time.monotonic() - self._sent

    def _slow(self) -> bool:
        """Whether the kernel was so slow to answer the probe (or is) that a cell we did not see
        start was running."""
        took = self._answer_took if self._answer_took is not None else time.monotonic() - self._sent
        return took >= UNSEEN_CELL_REPLY or self._unseen_ended() is not None

    def _unseen_ended(self) -> ObservedCell | None:
        """The cell that started before we listened and ended since the probe was sent."""
        cell = self._observed.newest_unseen_start()
        if cell is not None and cell.finished and cell.ended is not None and cell.ended >= self._sent:
            return cell
        return None

    def _unseen_running(self) -> ObservedCell | None:
        """The cell that started before we listened and runs, if any message of it reached us."""
        cell = self._observed.newest_unseen_start()
        return cell if cell is not None and not cell.finished else None

    def _follow(self, activity: Activity) -> None:
        """Follow this cell from now on; it keeps its images meanwhile."""
        self._activity = activity
        self._ended = asyncio.ensure_future(activity.ended.wait())
        cell = self._observed.get(activity.msg_id)
        if cell is not None:
            self._pinned = self._observed.following(cell)
            self._pinned.__enter__()

    def _unfollow(self) -> None:
        if self._ended is not None:
            self._ended.cancel()
        if self._pinned is not None:
            self._pinned.__exit__(None, None, None)
        self._activity = self._ended = self._pinned = None

    def _cell(self) -> ObservedCell | None:
        if self._activity is not None:
            return self._observed.get(self._activity.msg_id)
        return self._unseen_running()

    def _followed(
        self,
        state: FollowState,
        cell: ObservedCell | None,
        *,
        busy: bool = True,
        seen_start: bool = True,
        end_seen: bool = True,
        own: Activity | None = None,
    ) -> Followed:
        now = time.monotonic()
        waited = now - self._began
        ended = cell.ended if cell is not None and cell.finished else None
        if cell is not None and cell.started is not None:
            running = (ended if ended is not None else now) - cell.started
        else:
            running = waited
        ago = now - ended if ended is not None else 0.0
        return Followed(state, cell, busy, seen_start, end_seen, running, waited, ago, own)

    def _doing(self) -> str:
        """What the call waits for, for its progress notifications."""
        if self._activity is not None:
            cell = self._observed.get(self._activity.msg_id)
            line = cell.log.last_line if cell is not None else ""
            return self._activity.describe() + (f": {line}" if line else "")
        if not self._slow():
            return "looking for a cell of another client"
        cell = self._unseen_running()
        line = cell.log.last_line if cell is not None else ""
        running = time.monotonic() - self._began
        started = f"a cell that started before ipython-mcp connected (running at least {running:.0f} s)"
        return started + (f": {line}" if line else "")

    async def _until(self, condition: Callable[[], bool], timeout: float) -> None:
        """Until `condition` holds (looked at every 20 ms), the kernel dies, or the timeout."""
        deadline = time.monotonic() + timeout
        while not condition() and not self._link.dead.done() and time.monotonic() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._link.dead), 0.02)


def _others(router: MessageRouter) -> Activity | None:
    """The cell of another client the kernel runs, if we saw it start."""
    return next((a for a in router.running.values() if not a.ours), None)

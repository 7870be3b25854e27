"""The assistant's recent executions in one kernel, kept to be read, followed and answered.

The oldest finished ones are forgotten past EXECUTIONS_KEPT; their whole outputs live in one
store per kernel, within its cap on disk use.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import NoSuchExecution
from .execution import Execution
from .transcript import TranscriptStore

EXECUTIONS_KEPT = 20
"""Recent executions whose whole output stays readable."""


class RecentExecutions:
    """The recent executions of the assistant in kernel `kernel`, oldest first."""

    def __init__(self, kernel: str, disk_cap: int) -> None:
        self._kernel = kernel
        self._by_id: dict[str, Execution] = {}
        self.outputs = TranscriptStore(disk_cap)
        """Their whole outputs, within the cap on disk use: the oldest are dropped first."""

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._by_id

    def __iter__(self) -> Iterator[Execution]:
        return iter(list(self._by_id.values()))

    def keep(self, ex: Execution) -> None:
        """Remember an execution; forget the oldest finished ones beyond the limit."""
        self._by_id[ex.id] = ex
        for old in list(self._by_id.values()):
            if len(self._by_id) <= EXECUTIONS_KEPT:
                break
            if old.finished is None or old.finished.done():
                old.transcript.close()
                del self._by_id[old.id]

    def running(self) -> list[Execution]:
        """Those sent whose end has not come yet."""
        return [ex for ex in self._by_id.values() if ex.finished is not None and not ex.finished.done()]

    def find(self, execution_id: str | None) -> Execution:
        """One by id; by default the latest one still running, else the latest one that ended
        after a result said it runs on (its end not told yet)."""
        if execution_id is None:
            running = self.running() or [ex for ex in self._by_id.values() if ex.end_untold]
            if not running:
                raise NoSuchExecution(
                    f"No execution of the assistant is running in the background in kernel {self._kernel}.",
                    advice="name_the_execution",
                )
            return running[-1]
        ex = self._by_id.get(execution_id)
        if ex is None:
            kept = ", ".join(self._by_id) or "none"
            raise NoSuchExecution(
                f"No execution {execution_id!r} in kernel {self._kernel}: only the last "
                f"{EXECUTIONS_KEPT} are kept (kept: {kept})."
            )
        return ex

    def close(self) -> None:
        for ex in self._by_id.values():
            ex.transcript.close()

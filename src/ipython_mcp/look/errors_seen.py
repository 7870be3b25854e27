"""The latest exception a cell raised (anyone's) in the kernel as it is now: whose cell raised
the exception a post-mortem examines, and, after a restart, what the old kernel's was."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

CELLS_RUNNING = 64
"""Cells seen to start and not to end, remembered at most."""


@dataclass(frozen=True, slots=True)
class SeenError:
    """An exception a cell raised while this server listened."""

    ename: str
    evalue: str
    execution_count: int | None
    """The cell's In [n], where its start was seen."""
    msg_id: str
    """The execute request's id."""
    ours: bool
    """Raised by the assistant's code (a run of this server), not by another client's cell."""


class ErrorsSeen:
    """The latest exception raised by a cell of the kernel (the router's on_execute tells)."""

    def __init__(self) -> None:
        self.latest: SeenError | None = None
        """Of this kernel: a restart forgets it (see `restarted`)."""
        self._counts: OrderedDict[str, int | None] = OrderedDict()

    def on_execute(self, msg_id: str, msg_type: str, content: dict[str, Any], ours: bool) -> None:
        if msg_type == "execute_input":
            self._counts[msg_id] = content.get("execution_count")
            while len(self._counts) > CELLS_RUNNING:  # cells that never ended (a lost connection)
                self._counts.popitem(last=False)
        elif msg_type == "error":
            count = self._counts.get(msg_id)
            self.latest = SeenError(content.get("ename", ""), content.get("evalue", ""), count, msg_id, ours)
        elif msg_type == "status" and content.get("execution_state") == "idle":
            self._counts.pop(msg_id, None)

    def restarted(self) -> None:
        """The kernel is a new one, with no exception yet (its Restart keeps the old one's)."""
        self.latest = None
        self._counts.clear()

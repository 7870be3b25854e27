"""A small, bounded record of the cells other clients (the user's IDE) ran while we listened."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..rendering import Image, OutputLog, image_of

CELLS_KEPT = 20
"""How many of the user's most recent cells are remembered."""
TEXT_PER_CELL = 2_000
"""Characters of output remembered per cell (head and tail)."""
FIGURES_PER_CELL = 5
"""Images kept of the user's latest cell (and of a cell followed to its end); older cells keep
what their images show, in words."""


@dataclass(slots=True)
class ObservedCell:
    """A cell another client ran, with its output as the user saw it (shortened)."""

    msg_id: str
    code: str = ""
    execution_count: int | None = None
    log: OutputLog = field(
        default_factory=lambda: OutputLog(text_budget=TEXT_PER_CELL, max_images=FIGURES_PER_CELL)
    )
    finished: bool = False
    announced: bool = False
    """Its execute_input was seen: a cell the user ran (a silent request of their IDE has none)."""
    started: float | None = None
    """When its busy status was seen (monotonic time); None: it started before we listened."""
    ended: float | None = None
    """When its idle status was seen (monotonic time)."""
    following: int = 0
    """How many calls follow it to its end: it keeps its images meanwhile."""


class ObservedCells:
    """The last few cells of other clients, and the last figure any of them showed."""

    def __init__(self) -> None:
        self._cells: deque[ObservedCell] = deque(maxlen=CELLS_KEPT)
        self._by_id: dict[str, ObservedCell] = {}
        self.latest_image: tuple[ObservedCell, Image] | None = None

    def add(self, parent_id: str, msg_type: str, content: dict[str, Any]) -> None:
        cell = self._by_id.get(parent_id)
        if cell is None:
            if len(self._cells) == self._cells.maxlen:
                self._by_id.pop(self._cells[0].msg_id, None)
            cell = ObservedCell(parent_id)
            self._cells.append(cell)
            self._by_id[parent_id] = cell
            self._limit_images()
        if msg_type == "execute_input":
            cell.code = content.get("code", "")
            cell.execution_count = content.get("execution_count")
            cell.announced = True
            self._limit_images()
        elif msg_type == "status":
            state = content.get("execution_state")
            cell.finished = state == "idle"
            if state == "busy" and cell.started is None:
                cell.started = time.monotonic()
            elif state == "idle":
                cell.ended = time.monotonic()
        else:
            cell.log.add(msg_type, content)
            image = image_of(msg_type, content)
            if image is not None:
                self.latest_image = (cell, image)

    def cells(self) -> list[ObservedCell]:
        """Oldest first."""
        return list(self._cells)

    def get(self, msg_id: str) -> ObservedCell | None:
        """The cell of this execute request, if we saw any message of it."""
        return self._by_id.get(msg_id)

    def last_ended(self) -> ObservedCell | None:
        """The user's latest cell that ended (not counting silent requests)."""
        return next((c for c in reversed(self._cells) if c.announced and c.finished), None)

    def newest_unseen_start(self) -> ObservedCell | None:
        """The latest cell whose start we did not see (it began before we listened), if any
        message of it reached us since."""
        return next((c for c in reversed(self._cells) if c.started is None), None)

    @contextmanager
    def following(self, cell: ObservedCell) -> Iterator[None]:
        """While a call follows the cell to its end, it keeps its images."""
        cell.following += 1
        try:
            yield
        finally:
            cell.following -= 1
            self._limit_images()

    def _limit_images(self) -> None:
        """Images are kept by the newest cell, the user's newest and those followed only."""
        newest = self._cells[-1] if self._cells else None
        users = next((c for c in reversed(self._cells) if c.announced), None)
        for cell in self._cells:
            if cell is not newest and cell is not users and not cell.following:
                cell.log.drop_images()

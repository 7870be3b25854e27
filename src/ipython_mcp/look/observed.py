"""A small, bounded record of the cells other clients (the user's IDE) ran while we listened."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..rendering import Image, OutputLog, image_of

CELLS_KEPT = 20
"""How many of the user's most recent cells are remembered."""
TEXT_PER_CELL = 2_000
"""Characters of output remembered per cell (head and tail)."""


@dataclass(slots=True)
class ObservedCell:
    """A cell another client ran, with its output as the user saw it (shortened)."""

    msg_id: str
    code: str = ""
    execution_count: int | None = None
    log: OutputLog = field(default_factory=lambda: OutputLog(text_budget=TEXT_PER_CELL, max_images=0))
    finished: bool = False


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
        if msg_type == "execute_input":
            cell.code = content.get("code", "")
            cell.execution_count = content.get("execution_count")
        elif msg_type == "status":
            cell.finished = content.get("execution_state") == "idle"
        else:
            cell.log.add(msg_type, content)
            image = image_of(msg_type, content)
            if image is not None:
                self.latest_image = (cell, image)

    def cells(self) -> list[ObservedCell]:
        """Oldest first."""
        return list(self._cells)


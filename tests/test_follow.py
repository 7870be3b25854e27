"""Following the cell the user runs in their IDE: wait_for_execution(execution_id='user') waits
for its end, tells its progress, returns what the user saw, and never touches it."""

from __future__ import annotations

import base64
from typing import Any

from ipython_mcp.look.observed import ObservedCells
from ipython_mcp.rendering import Image, Text

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()


def run_cell(cells: ObservedCells, msg_id: str, number: int, *outputs: tuple[str, dict[str, Any]]) -> None:
    """The messages of one of the user's cells as the router hands them over, up to its end."""
    cells.add(msg_id, "status", {"execution_state": "busy"})
    cells.add(msg_id, "execute_input", {"code": f"cell_{number}()", "execution_count": number})
    for msg_type, content in outputs:
        cells.add(msg_id, msg_type, content)
    cells.add(msg_id, "status", {"execution_state": "idle"})


FIGURE = ("display_data", {"data": {"image/png": PNG, "text/plain": "<Figure>"}, "metadata": {}})


def test_a_glimpsed_cell_tells_its_latest_line_as_a_terminal_shows_it() -> None:
    cells = ObservedCells()
    cells.add("a", "execute_input", {"code": "train()", "execution_count": 1})
    cells.add("a", "stream", {"name": "stdout", "text": "epoch 1\nloss 0.5"})
    [cell] = cells.cells()
    assert cell.log.last_line == "loss 0.5"  # the line still being written
    cells.add("a", "stream", {"name": "stdout", "text": "\rloss 0.4\n\n"})
    assert cell.log.last_line == "loss 0.4"
    cells.add("a", "stream", {"name": "stderr", "text": "warning: slow\n"})
    assert cell.log.last_line == "warning: slow"


def test_figures_are_kept_by_the_users_latest_cell_and_by_a_cell_followed() -> None:
    cells = ObservedCells()
    run_cell(cells, "a", 1, FIGURE)
    [first] = cells.cells()
    assert any(isinstance(block, Image) for block in first.log.blocks())
    with cells.following(first):
        run_cell(cells, "b", 2, FIGURE)
        assert any(isinstance(block, Image) for block in first.log.blocks())  # followed: kept
    # Neither the latest nor followed: what it showed is said in words only.
    assert not any(isinstance(block, Image) for block in first.log.blocks())
    assert Text("[1 more image not shown]") in first.log.blocks()
    assert cells.last_ended() is cells.cells()[-1]
    assert any(isinstance(block, Image) for block in cells.cells()[-1].log.blocks())
    cells.add("silent", "status", {"execution_state": "busy"})  # the IDE's silent request
    cells.add("silent", "status", {"execution_state": "idle"})
    assert cells.last_ended() is cells.cells()[1]  # still the user's last cell, with its figure
    assert any(isinstance(block, Image) for block in cells.last_ended().log.blocks())

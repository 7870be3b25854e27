"""Following the cell the user runs in their IDE: wait_for_execution(execution_id='user') waits
for its end, tells its progress, returns what the user saw, and never touches it."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp
from conftest import Assistant, Gate, IdeKernel, NotebookServer, ide_client, ide_managed_kernel, images, texts

from ipython_mcp.look.observed import ObservedCells
from ipython_mcp.rendering import Image, Text
from ipython_mcp.server import build_server
from ipython_mcp.settings import ServerConfig, Settings

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()


def gated(first: str, gate: Gate, then: str) -> str:
    """A cell that prints `first`, waits for the gate, then runs `then`."""
    return f"print({first!r}, flush=True)\n{gate.code}\n{then}"


class Progress:
    """The progress notifications of one call; opens a gate once one of them says `opens_on`."""

    def __init__(self, gate: Gate | None = None, opens_on: str = "") -> None:
        self.messages: list[str] = []
        self.values: list[float] = []
        self._gate, self._opens_on = gate, opens_on

    async def __call__(self, value: float, total: float | None, message: str | None) -> None:
        self.values.append(value)
        self.messages.append(message or "")
        if self._gate is not None and self._opens_on in (message or ""):
            self._gate.open()


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


async def test_the_users_cell_is_followed_to_its_end_with_progress(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide, gate = own_kernel.ide, gates()
    cell = ide.send(gated("first", gate, "print('second')"))
    await assistant.until_busy("another client's cell In[1]")
    assert "wait_for_execution(execution_id='user') waits for that cell" in await assistant.text(
        "kernel_status"
    )
    progress = Progress(gate, opens_on=": first")  # the latest line the user's cell printed
    result = await assistant.call("wait_for_execution", progress=progress, execution_id="user", timeout=30)
    text = texts(result)
    assert not result.is_error, text
    assert text.startswith("Another client's cell In[1] `print('first', flush=True) ...` ended (ok) after")
    assert "What it showed, as the user saw it:\nfirst\nsecond\n" in text
    assert any(
        m.startswith("another client's cell In[1]") and m.endswith(": first") for m in progress.messages
    )
    assert progress.values == sorted(progress.values)
    reply, printed = await ide.finish(cell)
    assert reply["status"] == "ok" and printed == "first\nsecond\n"


async def test_at_its_timeout_the_users_cell_is_left_running_untouched(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide, gate = own_kernel.ide, gates()
    cell = ide.send(gated("before", gate, "print('after')"))
    await ide.until(lambda m: "before" in m["content"].get("text", ""))
    result = await assistant.call("wait_for_execution", execution_id="user", timeout=1)
    text = texts(result)
    assert not result.is_error, text
    assert "cell In[1] `print('before', flush=True) ...` is still running" in text
    assert "Its output so far, as the user saw it:\nbefore\n" in text
    assert "wait_for_execution(execution_id='user') waits for it again" in text
    gate.open()
    reply, printed = await ide.finish(cell)  # never interrupted: it ran to its end for the user
    assert reply["status"] == "ok" and printed == "before\nafter\n"


async def test_a_users_cell_that_raises_gives_its_error_and_figure(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide, gate = own_kernel.ide, gates()
    figure = (
        "import base64, io\nfrom PIL import Image\nfrom IPython.display import display\n"
        "buffer = io.BytesIO(); Image.new('RGB', (300, 200), 'red').save(buffer, 'PNG')\n"
        "display(Image.open(buffer))\n"
        "def load(path):\n    return 1 / 0\n"
    )
    cell = ide.send(gated("loading", gate, figure + "load('data.csv')"))
    await assistant.until_busy("another client's cell In[1]")
    result = await assistant.call(
        "wait_for_execution", progress=Progress(gate, opens_on="loading"), execution_id="user"
    )
    text = texts(result)
    assert not result.is_error, text  # the user's cell failed, not the call
    assert "ended with an error (ZeroDivisionError)" in text
    assert "ZeroDivisionError: division by zero" in text and "return 1 / 0" in text
    assert "\x1b[" not in text  # a lean traceback, without colour codes
    assert len(images(result)) == 1
    reply, _ = await ide.finish(cell)
    assert reply["status"] == "error"


async def test_with_no_cell_running_it_says_so_at_once_with_the_last_one(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    started = time.monotonic()
    text = await assistant.text("wait_for_execution", execution_id="user", timeout=30)
    assert time.monotonic() - started < 5
    assert text.startswith(f"No cell of another client is running in kernel {own_kernel.name}.")
    assert "None ran while ipython-mcp was connected" in text
    assert "or 'user' to wait for the cell the user runs" in await assistant.error("wait_for_execution")

    await own_kernel.ide.run("print('done')")
    text = await assistant.text("wait_for_execution", execution_id="user", timeout=30)
    assert "The last one, cell In[1] `print('done')`, ended (ok)" in text and text.endswith("\ndone\n")


async def test_a_cell_started_before_the_server_connected_is_waited_for(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    ide, gate = own_kernel.ide, gates()
    cell = ide.send(gated("early", gate, "print('late')"))
    await ide.until(lambda m: "early" in m["content"].get("text", ""))
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    progress = Progress(gate, opens_on="started before ipython-mcp connected")
    result = await assistant.call("wait_for_execution", progress=progress, execution_id="user", timeout=60)
    text = texts(result)
    assert not result.is_error, text
    assert text.startswith("A cell another client started before ipython-mcp connected has ended")
    assert "what it showed before then was not seen" in text
    assert "late\n" in text and "early" not in text
    reply, _ = await ide.finish(cell)
    assert reply["status"] == "ok"


async def test_the_kernel_dying_under_the_users_cell_is_told(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    gate = gates()  # never opened while the kernel lives
    own_kernel.ide.send(gated("working", gate, "pass"))
    await assistant.until_busy("another client's cell In[1]")
    killed: list[bool] = []

    async def kill(value: float, total: float | None, message: str | None) -> None:
        if not killed and message and message.endswith(": working"):
            killed.append(True)
            own_kernel.process.kill()

    result = await assistant.call("wait_for_execution", progress=kill, execution_id="user", timeout=60)
    text = texts(result)
    assert result.is_error and "died" in text and "It was running another client's cell In[1]" in text
    assert "working\n" in text


async def test_a_restart_under_the_users_cell_is_told(
    runtime_dir: Path, assistant: Assistant, gates: Callable[[], Gate]
) -> None:
    async with ide_managed_kernel(runtime_dir / "kernel-followed.json") as manager:
        ide = manager.client()
        ide.start_channels()
        try:
            await ide.wait_for_ready(timeout=60)
            await assistant.text("connect_to_kernel", connection_file="followed")
            ide.execute(gated("training", gates(), "pass"))
            await assistant.until_busy("another client's cell In[1]")
            restarts: list[Any] = []

            async def restart(value: float, total: float | None, message: str | None) -> None:
                if not restarts and message and message.endswith(": training"):
                    restarts.append(asyncio.ensure_future(manager.restart_kernel(now=True)))

            result = await assistant.call("wait_for_execution", progress=restart, execution_id="user", timeout=60)
            await restarts[0]
            text = texts(result)
            assert result.is_error and "was restarted while it ran another client's cell In[1]" in text
            assert "training\n" in text
        finally:
            ide.stop_channels()


async def test_the_users_cell_is_followed_on_a_jupyter_server_kernel(
    notebook_server: NotebookServer, gates: Callable[[], Gate]
) -> None:
    settings = Settings(
        runtime_dir=str(notebook_server.runtime_dir),
        timeout=30.0,
        connect_timeout=20.0,
        servers=(ServerConfig(notebook_server.url, notebook_server.token, "hub"),),
    )
    _, path = await notebook_server.open_notebook("followed.ipynb")
    user = await ide_client(path)
    try:
        async with mcp.Client(build_server(settings)) as client:
            assistant = Assistant(client, notebook_server.runtime_dir)
            await assistant.text("connect_to_kernel", connection_file="followed.ipynb")
            gate = gates()
            cell = user.send(gated("remote", gate, "print('done')"))
            await assistant.until_busy("another client's cell In[")
            result = await assistant.call(
                "wait_for_execution", progress=Progress(gate, opens_on=": remote"), execution_id="user"
            )
            assert not result.is_error and "ended (ok)" in texts(result)
            assert "remote\ndone\n" in texts(result)
            reply, _ = await user.finish(cell)
            assert reply["status"] == "ok"
    finally:
        user.client.stop_channels()


async def test_a_read_only_server_follows_the_users_cell_with_a_tool_of_its_own(
    settings: Settings, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    read_only = dataclasses.replace(settings, read_only=True)
    async with mcp.Client(build_server(read_only)) as client:
        cautious = Assistant(client, Path(settings.runtime_dir))
        await cautious.text("connect_to_kernel", connection_file=str(own_kernel.path))
        gate = gates()
        cell = own_kernel.ide.send(gated("training", gate, "print('trained')"))
        await cautious.until_busy("another client's cell In[1]")
        status = await cautious.text("kernel_status")
        assert "wait_for_users_cell() waits for that cell's end" in status and "wait_for_execution" not in status
        progress = Progress(gate, opens_on="training")
        result = await cautious.call("wait_for_users_cell", progress=progress)
        assert not result.is_error and "ended (ok)" in texts(result), texts(result)
        assert "training\ntrained\n" in texts(result)
        reply, _ = await own_kernel.ide.finish(cell)
        assert reply["status"] == "ok"

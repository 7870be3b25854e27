"""One cell's output read every way the model and the user can: the same text each time.

The cell rewrites a line with carriage returns, redraws with clear_output(wait=True) and
updates a display in place; execute_code, wait_for_execution after on_timeout="continue",
send_input, the elicitation path, read_output and save_notebook must all show what a
notebook shows at its end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp
import pytest
from conftest import Assistant, Gate, IdeKernel

from ipython_mcp.server import build_server
from ipython_mcp.settings import Settings

FRAMES = """\
from IPython.display import clear_output, display
for i in range(26):
    clear_output(wait=True)
    print('epoch', i, flush=True)
for i in range(30):
    print(f'\\rloss {i}', end='', flush=True)
print()
status = display('status: start', display_id=True)
status.update('status: done')
"""
SHOWN = "epoch 25\nloss 29\n'status: done'"
"""What a notebook shows once the cell has ended."""


def output_of(result: mcp.types.CallToolResult) -> str:
    """The text of a result, block by block."""
    return "\n".join(block.text.rstrip("\n") for block in result.content if block.type == "text")


async def test_one_cell_reads_the_same_every_way(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate], tmp_path: Path
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))

    direct = await assistant.call("execute_code", code=FRAMES)
    assert output_of(direct) == SHOWN

    # Run past its timeout, then collected by wait_for_execution.
    gate = gates()
    running = await assistant.call("execute_code", code=gate.code + "\n" + FRAMES, timeout=0.5, on_timeout="continue")
    execution_id = re.search(r"as execution (e\d+)", output_of(running)).group(1)
    gate.open()
    collected = await assistant.call("wait_for_execution", execution_id=execution_id, timeout=60)
    assert output_of(collected) == f"{SHOWN}\nExecution {execution_id} has finished (ok)."

    # The whole output by line, as read_output numbers it.
    lines = await assistant.text("read_output", execution_id=execution_id)
    assert [line.split("  ", 1)[-1] for line in lines.splitlines()[1:] if line.strip()][-3:] == SHOWN.split("\n")

    # Waiting for input, then answered with send_input.
    asking = await assistant.call("execute_code", code="input('go? ')\n" + FRAMES)
    waiting = re.search(r"\(execution (e\d+)\)", output_of(asking)).group(1)
    answered = await assistant.call("send_input", text="yes", execution_id=waiting)
    assert output_of(answered) == f"{SHOWN}\nExecution {waiting} has finished (ok)."

    # The notebook keeps what the notebook frontend shows.
    saved = tmp_path / "frames.ipynb"
    await assistant.text("save_notebook", path=str(saved))
    cells = json.loads(saved.read_text())["cells"]
    for cell in cells:
        shown = []
        for out in cell["outputs"]:
            text = out["text"] if out["output_type"] == "stream" else out["data"]["text/plain"]
            shown.append("".join(text).rstrip("\n"))
        assert "\n".join(shown) == SHOWN, cell["source"]


@pytest.mark.anyio  # here, not by conftest: parametrizing needs it at collection
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_elicitation_path_shows_the_same_text(
    settings: Settings, shared_kernel: IdeKernel, mode: str
) -> None:
    """input() answered by the user through the client, in a result the client answers by
    calling again (protocol 2026-07-28) or in the middle of the call ('legacy')."""
    async def user(context: Any, params: mcp.types.ElicitRequestParams) -> mcp.types.ElicitResult:
        return mcp.types.ElicitResult(action="accept", content={"answer": "yes"})

    async with mcp.Client(build_server(settings), mode=mode, elicitation_callback=user) as client:
        assistant = Assistant(client, Path(settings.runtime_dir))
        await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
        answered = await assistant.call("execute_code", code="input('go? ')\n" + FRAMES)
        # Resumed by a second call, the result is send_input's: it says the execution ended.
        ended = r"\nExecution e\d+ has finished \(ok\)\." if mode == "auto" else ""
        assert re.fullmatch(re.escape(SHOWN) + ended, output_of(answered)), output_of(answered)


async def test_a_result_asked_of_the_user_first_tells_each_change_once(
    settings: Settings, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    """Followed past its first result, a cell clears what the model read, then asks for input:
    the client asks its user, and the resumed call says once that the output was cleared."""

    async def user(context: Any, params: mcp.types.ElicitRequestParams) -> mcp.types.ElicitResult:
        return mcp.types.ElicitResult(action="accept", content={"answer": "yes"})

    gate = gates()
    code = (
        "from IPython.display import clear_output\n"
        f"print('epoch 0', flush=True)\n{gate.code}\n"
        "clear_output()\nprint('epoch 1')\ninput('go? ')\nprint('done')"
    )
    async with mcp.Client(build_server(settings), elicitation_callback=user) as client:
        assistant = Assistant(client, Path(settings.runtime_dir))
        await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
        running = output_of(await assistant.call("execute_code", code=code, timeout=0.5, on_timeout="continue"))
        assert running.startswith("epoch 0\n")
        execution_id = re.search(r"as execution (e\d+)", running).group(1)
        gate.open()
        resumed = output_of(await assistant.call("wait_for_execution", execution_id=execution_id, timeout=60))
        assert resumed.startswith("epoch 1\ndone")
        assert resumed.count("The code cleared its output") == 1, resumed
        assert resumed.endswith(f"Execution {execution_id} has finished (ok).")

"""Kernels other than ipykernel 7: ipykernel 6 (no subshells), spyder-kernels, xeus-python, bash.

They run from a second environment (spyder-kernels pins ipykernel < 7), which
scripts/test.sh builds and names in $IPYTHON_MCP_TEST_KERNELS_PYTHON.
"""

from __future__ import annotations

import ast
import asyncio
import os
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from conftest import Assistant, Gate, IdeKernel, IdeUser, ide_kernel, texts
from test_follow import Progress, gated
from test_lost_names import recorded

from ipython_mcp.session.registry import KernelRegistry

ROOT = Path(__file__).resolve().parents[1]
STATE = "print(repr(_), len(In), sorted(k for k in globals() if not k.startswith('_i')), sep=' | ')"


@pytest.fixture(scope="session")
def other_python() -> str:
    """The Python of the second kernel environment."""
    python = os.environ.get("IPYTHON_MCP_TEST_KERNELS_PYTHON") or str(ROOT / ".venv-kernels/bin/python")
    assert Path(python).is_file(), (
        f"{python} is missing: run the suite with scripts/test.sh, which builds the ipykernel 6 / "
        "spyder-kernels / xeus-python environment."
    )
    return python


KERNELS = {
    "ipykernel6": "ipykernel_launcher",
    "spyder": "spyder_kernels.console",  # as Spyder starts its consoles
    "xeus": "xpython_launcher",  # xeus-python: a Python kernel that is not ipykernel (C++)
    "bash": "bash_kernel",  # another language: a wrapper kernel on ipykernel
}


OtherKernel = Callable[[str], AbstractAsyncContextManager[IdeKernel]]


@pytest.fixture
def other_kernel(runtime_dir: Path, other_python: str) -> OtherKernel:
    """Starts a kernel of the second environment: `async with other_kernel("spyder") as kernel:`."""
    return lambda name: ide_kernel(runtime_dir, [other_python, "-m", KERNELS[name]])


def _state(printed: str) -> tuple[str, int, list[str]]:
    underscore, count, names = printed.split(" | ")
    return underscore, int(count), ast.literal_eval(names)


async def test_ipykernel6_is_looked_at_without_a_trace_and_says_busy_at_once(
    assistant: Assistant, other_kernel: OtherKernel, gates: Callable[[], Gate]
) -> None:
    async with other_kernel("ipykernel6") as kernel:
        ide = kernel.ide
        await ide.run("import time\nrows = [1, 2, 3]\nrows")
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        _, before = await ide.run(STATE)
        assert "rows" in await assistant.text("list_variables")
        assert "len 3" in await assistant.text("inspect_variable", name="rows")
        assert "rows = [1, 2, 3]" in await assistant.text("get_history")
        _, after = await ide.run(STATE)
        underscore, count, names = _state(before)
        assert _state(after) == (underscore, count + 1, names)

        gate = gates()
        cell = ide.send(gate.code)
        await assistant.until_busy()
        for tool, arguments in (("list_variables", {}), ("get_history", {}), ("complete", {"code": "ro"})):
            error = await assistant.error(tool, **arguments)
            assert (
                "busy running another client's cell" in error
                and "`while not __import__('os').path.exists(" in error
            )
            assert "holds the interpreter" not in error
        gate.open()
        await ide.outputs_of(cell)
        assert "rows" in await assistant.text("complete", code="ro")


async def test_spyder_kernel_is_listed_as_spyders(assistant: Assistant, other_kernel: OtherKernel) -> None:
    async with other_kernel("spyder") as kernel:
        listing = await assistant.text("list_kernels")
        line = next(line for line in listing.splitlines() if kernel.name in line)
        assert "live" in line and "Spyder" in line


async def test_spyder_kernel_shows_its_variables_while_the_users_cell_runs(
    assistant: Assistant, other_kernel: OtherKernel, gates: Callable[[], Gate]
) -> None:
    async with other_kernel("spyder") as kernel:
        ide = kernel.ide
        await ide.run("import time\nrows = [3, 1, 2]\nlabel = 'north'\nsettings = {'a': 1}")
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        _, before = await ide.run(STATE)

        gate = gates()
        cell = ide.send(gate.code)
        await assistant.until_busy()
        listing = await assistant.text("list_variables")
        assert "rows" in listing and "len 3" in listing and "north" in listing
        assert "From Spyder's variable explorer, which answers while another client's cell" in listing
        detail = await assistant.text("inspect_variable", name="settings")
        assert detail.startswith("settings: dict, len 1") and "{'a':1}" in detail.replace(" ", "")
        error = await assistant.error("inspect_variable", name="rows[0]")
        assert "only the names Spyder's variable explorer lists" in error
        assert "busy running another client's cell" in await assistant.error("get_history")
        assert "busy running another client's cell" in await assistant.text("kernel_status")
        gate.open()
        await ide.outputs_of(cell)

        # Idle again, the full listing comes back, and nothing of ours stayed behind.
        listing = await assistant.text("list_variables")
        assert "rows" in listing and "Spyder" not in listing
        _, after = await ide.run(STATE)
        underscore, count, names = _state(before)
        assert _state(after) == (underscore, count + 2, names)  # the waiting cell, and this look

        # With no Spyder attached, a request for Spyder's editor fails at once instead of hanging.
        reply, _ = await ide.run(
            "from spyder_kernels.comms.frontendcomm import frontend_request\n"
            "frontend_request(blocking=True, timeout=60).get_current_filename()"
        )
        assert reply["status"] == "error" and "ipython-mcp cannot answer it" in reply["evalue"]


PENDING_FIGURES = (
    "pending = []\n"
    "def show_pending():\n"
    "    while pending:\n"
    "        display(pending.pop())\n"
    "get_ipython().events.register('post_execute', show_pending)"
)
"""The user's setup: what matplotlib's inline backend does (this environment has no matplotlib),
showing what a cell drew after any request that runs code."""


async def _drawing_cell_keeps_its_figure(
    assistant: Assistant, other_kernel: OtherKernel, gate: Gate, name: str
) -> None:
    async with other_kernel(name) as kernel:
        ide = kernel.ide
        await ide.run(PENDING_FIGURES)
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        cell = ide.send(
            f"losses = [0.9, 0.7]\npending.append('a figure')\n{gate.code}\nprint('drawn:', pending)"
        )
        await assistant.until_busy()
        if name == "spyder":  # Spyder's variable explorer answers, and runs no execute hooks
            listing = await assistant.text("list_variables")
            assert "[0.9, 0.7]" in listing and "From Spyder's variable explorer" in listing
        else:
            assert "busy running another client's cell" in await assistant.error("list_variables")
        gate.open()
        messages = await ide.outputs_of(cell)
        printed = [m["content"]["text"] for m in messages if m["msg_type"] == "stream"]
        shown = [m["content"]["data"]["text/plain"] for m in messages if m["msg_type"] == "display_data"]
        assert printed == ["drawn: ['a figure']\n"] and shown == ["'a figure'"]


async def test_ipykernel6_says_busy_beside_a_drawing_cell_which_keeps_its_figure(
    assistant: Assistant, other_kernel: OtherKernel, gates: Callable[[], Gate]
) -> None:
    await _drawing_cell_keeps_its_figure(assistant, other_kernel, gates(), "ipykernel6")


async def test_spyder_lists_variables_beside_a_drawing_cell_which_keeps_its_figure(
    assistant: Assistant, other_kernel: OtherKernel, gates: Callable[[], Gate]
) -> None:
    await _drawing_cell_keeps_its_figure(assistant, other_kernel, gates(), "spyder")


class SpyderConsole:
    """What Spyder's console does on its own `spyder_api` comm: answers the kernel's calls,
    such as the editor's code for `%runcell`."""

    def __init__(self, ide: IdeUser) -> None:
        self.client = ide.client
        self.comm_id = uuid.uuid4().hex
        self.calls: list[str] = []

    async def open(self) -> None:
        content = {"comm_id": self.comm_id, "target_name": "spyder_api", "data": {}}
        self.client.shell_channel.send(self.client.session.msg("comm_open", content))
        await self.serve(until=lambda msg: "_comm_ready" in self.calls)

    async def serve(self, until: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Answer the kernel's calls on this comm until a message satisfies `until`."""
        seen = []
        while True:
            msg = await self.client.get_iopub_msg(timeout=30)
            seen.append(msg)
            content = msg["content"]
            data = content.get("data") or {}
            if msg["msg_type"] == "comm_msg" and content.get("comm_id") == self.comm_id:
                call = data.get("content") or {}
                if data.get("spyder_msg_type") == "remote_call" and call["settings"].get("send_reply"):
                    self.calls.append(call["call_name"])
                    reply = {"is_error": False, "call_id": call["call_id"], "call_name": call["call_name"],
                             "call_return_value": f"{call['call_name']} answered by Spyder"}  # fmt: skip
                    message = {"comm_id": self.comm_id,
                               "data": {"spyder_msg_type": "remote_call_reply", "content": reply}}  # fmt: skip
                    self.client.control_channel.send(self.client.session.msg("comm_msg", message))
            if until(msg):
                return seen


async def test_spyder_keeps_getting_the_kernels_requests_after_the_assistant_looked(
    assistant: Assistant, other_kernel: OtherKernel, gates: Callable[[], Gate]
) -> None:
    async with other_kernel("spyder") as kernel:
        spyder = SpyderConsole(kernel.ide)
        await spyder.open()
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        # A cell that, like %runcell, asks Spyder's editor for something once it has run a while.
        gate = gates()
        cell = kernel.ide.send(
            "from spyder_kernels.comms.frontendcomm import frontend_request\n"
            f"{gate.code}\nprint(frontend_request(blocking=True, timeout=20).get_current_filename())"
        )

        def ended(msg: dict[str, Any]) -> bool:
            return (
                msg["parent_header"].get("msg_id") == cell and msg["content"].get("execution_state") == "idle"
            )

        served = asyncio.ensure_future(spyder.serve(until=ended))
        await assistant.until_busy()
        assert "From Spyder's variable explorer" in await assistant.text("list_variables")
        gate.open()
        messages = await served
        printed = [
            m["content"]["text"]
            for m in messages
            if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == cell
        ]
        assert printed == ["get_current_filename answered by Spyder\n"]


async def test_xeus_python_works_like_ipykernel(assistant: Assistant, other_kernel: OtherKernel) -> None:
    async with other_kernel("xeus") as kernel:
        ide = kernel.ide
        await ide.run("rows = [1, 2, 3]")
        await ide.run("def load():\n    return 1 / 0\nload()")
        connected = await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        assert "xeus-python" in connected

        result = await assistant.call("execute_code", code="print(sum(rows)); rows")
        assert texts(result) == "6\n\n[1, 2, 3]" and not result.is_error
        listing = await assistant.text("list_variables")
        assert "rows" in listing and "len 3" in listing and "Read while" not in listing
        assert "len 3" in await assistant.text("inspect_variable", name="rows")
        assert "rows" in await assistant.text("complete", code="ro")

        history = await assistant.text("get_history")
        assert "rows = [1, 2, 3]" in history and "print(sum(rows)); rows" in history
        # The error from before we connected, without the kernel's own frames.
        error = history.split("Most recent exception:\n", 1)[1]
        assert error.startswith("Traceback (most recent call last):")
        assert "return 1 / 0" in error and error.rstrip().endswith("ZeroDivisionError: division by zero")
        assert "interactiveshell.py" not in error


async def test_a_kernel_of_another_language_says_what_works(
    assistant: Assistant, other_kernel: OtherKernel
) -> None:
    async with other_kernel("bash") as kernel:
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        await kernel.ide.run("x=5; echo loaded $x")
        assert await assistant.text("execute_code", code="echo $((x + 1))") == "6\n"
        for tool, arguments in (("list_variables", {}), ("inspect_variable", {"name": "x"})):
            error = await assistant.error(tool, **arguments)
            assert "runs bash" in error and "Python kernels only" in error and "execute_code" in error
        history = await assistant.text("get_history")
        assert "keeps no history" in history
        assert "x=5; echo loaded $x\nOut (as the user saw it):\nloaded 5" in history
        assert "echo" in await assistant.text("complete", code="ech")


async def test_the_users_last_error_is_examined_in_ipykernel6(assistant: Assistant, other_kernel: OtherKernel) -> None:
    await _examine_last_error(assistant, other_kernel, "ipykernel6")


async def test_the_users_last_error_is_examined_in_spyder(assistant: Assistant, other_kernel: OtherKernel) -> None:
    await _examine_last_error(assistant, other_kernel, "spyder")


async def _examine_last_error(assistant: Assistant, other_kernel: OtherKernel, which: str) -> None:
    """debug_error on the silent path of kernels without subshells: the user's frame, its
    locals, a value there, and no trace."""
    async with other_kernel(which) as kernel:
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        reply, _ = await kernel.ide.run("def scale(values, by):\n    ratio = 1 / by\n    return [v * ratio for v in values]\nscale([1, 2], 0)")
        assert reply["status"] == "error"
        _, before = await kernel.ide.run(STATE)
        stack = await assistant.text("debug_error")
        assert stack.startswith("ZeroDivisionError: division by zero") and "the user's cell" in stack
        assert "in scale  <- raised here, locals below" in stack and "->    2 |     ratio = 1 / by" in stack
        assert "values  list" in stack and "by      int" in stack
        assert await assistant.text("debug_error", expression="len(values) + by") == "2"
        _, after = await kernel.ide.run(STATE)
        underscore, count, names = _state(after)
        assert (underscore, names) == _state(before)[::2] and count == _state(before)[1] + 1


@pytest.mark.anyio  # here, not by conftest: parametrizing needs it at collection
@pytest.mark.parametrize("name", ["ipykernel6", "spyder", "xeus"])
async def test_the_users_cell_is_followed_on_kernels_other_than_ipykernel_7(
    assistant: Assistant, other_kernel: OtherKernel, gates: Callable[[], Gate], name: str
) -> None:
    async with other_kernel(name) as kernel:
        # One cell started before the server connected, then one it sees start.
        early, seen = gates(), gates()
        first = kernel.ide.send(gated("early", early, "print('late')"))
        await kernel.ide.until(lambda m: "early" in m["content"].get("text", ""))
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        progress = Progress(early, opens_on="started before ipython-mcp connected")
        text = texts(await assistant.call("wait_for_execution", progress=progress, execution_id="user"))
        assert text.startswith("A cell another client started before ipython-mcp connected has ended"), text
        assert "late\n" in text
        await kernel.ide.finish(first)

        second = kernel.ide.send(gated("first", seen, "print('second')"))
        await kernel.ide.until(lambda m: "first" in m["content"].get("text", ""))
        progress = Progress(seen, opens_on=": first")
        result = await assistant.call("wait_for_execution", progress=progress, execution_id="user")
        assert not result.is_error and "ended (ok)" in texts(result), texts(result)
        assert "What it showed, as the user saw it:\nfirst\nsecond\n" in texts(result)
        reply, _ = await kernel.ide.finish(second)
        assert reply["status"] == "ok"


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["ipykernel6", "spyder"])
async def test_a_death_names_what_the_kernel_held_on_kernels_other_than_ipykernel_7(
    helper: tuple[Assistant, KernelRegistry], other_kernel: OtherKernel, name: str
) -> None:
    assistant, registry = helper
    async with other_kernel(name) as kernel:
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        reply, _ = await kernel.ide.run("rows = list(range(1000))\ndef clean(v):\n    return v")
        assert not (await assistant.call("execute_code", code="import json\ntotal = sum(rows)")).is_error
        await recorded(registry)
        session = registry.sessions[-1]
        kernel.process.kill()
        await asyncio.wait_for(session.link.dead, 15)
        error = await assistant.error("execute_code", code="1")
        users = reply["execution_count"]
        gone = f"Its 2 variables are gone: rows (list len 1000, In [{users}]), total (int, the assistant's In [{users + 1}])"
        assert gone in error, error
        assert "also its function clean and import json. Rerun those cells" in error, error


async def test_a_look_waits_for_another_look_of_the_server_instead_of_calling_it_a_cell(
    assistant: Assistant, other_kernel: OtherKernel, gates: Callable[[], Gate]
) -> None:
    """Two looks at once (two clients, or a look as a new kernel comes up): the second waits
    for the first, a silent request of the server's, which is no cell to refuse beside."""
    async with other_kernel("ipykernel6") as kernel:
        gate = gates()
        await kernel.ide.run(f"class Slow:\n    def __repr__(self):\n        {gate.code}\n        return 'slow'\nslow = Slow()")
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        first = asyncio.ensure_future(assistant.call("inspect_variable", name="slow"))
        await kernel.ide.until(  # the kernel runs the first look (its repr waits for the gate)
            lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "busy"
            and m["parent_header"].get("msg_type") == "execute_request"
        )
        second = asyncio.ensure_future(assistant.call("list_variables"))
        done, _ = await asyncio.wait({second}, timeout=1)
        assert not done, texts(second.result())  # not refused: it waits for the first look
        gate.open()
        looked = texts(await first)
        assert looked == "slow: __main__.Slow\nhead: slow", looked  # not said to be read beside a cell
        listed = await second
        assert not listed.is_error and "slow" in texts(listed), texts(listed)

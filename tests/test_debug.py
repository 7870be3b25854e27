"""Post-mortem of the kernel's last exception (debug_error), against real kernels: the user's
error in a cell and in a module of their own, frames and locals, a value in a frame, and no
trace left in the user's kernel."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import mcp
from conftest import Assistant, IdeKernel, ide_client, ide_managed_kernel, texts

from ipython_mcp.server import build_server
from ipython_mcp.session.registry import KernelRegistry
from ipython_mcp.settings import Settings

LOADER = """\
def summarize(frame):
    total = 0
    for amount in frame["amount"]:
        total += float(amount)
    return total
"""


async def test_the_users_error_in_their_own_module_is_examined_frame_by_frame(
    assistant: Assistant, own_kernel: IdeKernel, tmp_path: Path
) -> None:
    (tmp_path / "sales_loader.py").write_text(LOADER)
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide = own_kernel.ide
    await ide.run(f"import sys; sys.path.insert(0, {str(tmp_path)!r})\nimport pandas as pd\nfrom sales_loader import summarize")
    reply, _ = await ide.run("df = pd.DataFrame({'amount': ['1.5', 'n/a']})\nsummarize(df)")
    assert reply["status"] == "error"
    count = reply["execution_count"]
    await ide.run("cells_before = len(In)")

    stack = await assistant.text("debug_error")
    assert stack.startswith("ValueError: could not convert string to float: 'n/a'\n")
    assert f"Raised in In [{count}], the user's cell." in stack
    assert f"#0 In [{count}], line 2, in <module>" in stack and "->    2 | summarize(df)" in stack
    assert f"#1 {tmp_path / 'sales_loader.py'}, line 4, in summarize  <- raised here, locals below" in stack
    assert "->    4 |         total += float(amount)" in stack
    assert "3 variables in frame #1 (summarize)" in stack
    assert "amount  str" in stack and "'n/a'" in stack and "total   float" in stack

    assert await assistant.text("debug_error", expression="total + 1") == "2.5"
    detail = await assistant.text("debug_error", expression="frame", frame=1)
    assert detail.startswith("frame: pandas.DataFrame, 2x1")
    cell = await assistant.text("debug_error", frame=0)
    assert "#0 In" in cell and "locals below" in cell and "Frame #0 is the cell itself" in cell
    wrong = await assistant.error("debug_error", frame=7)
    assert "The stack has frames 0 to 1. Pass one of them as frame" in wrong
    missing = await assistant.error("debug_error", expression="nope")
    assert "NameError" in missing and "debug_error(frame=1) lists the variables there" in missing

    # Nothing of ours in the user's history, namespace, `_` or execution count.
    _, seen = await ide.run(
        "print(len(In) - cells_before, [k for k in ('RESULT', 'NS', 'OPTIONS', '_stack') if k in globals()],"
        " globals().get('_') == 2.5)"
    )
    assert seen.strip() == "1 [] False"
    status = await assistant.text("kernel_status")
    assert f"execution count {count + 2}" in status or f"{count + 2} cells" in status or str(count + 2) in status


async def test_the_assistants_own_error_and_a_deep_recursion(assistant: Assistant, own_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    result = await assistant.call(
        "execute_code", code="def countdown(n):\n    return countdown(n - 1)\ncountdown(5)"
    )
    assert result.is_error
    stack = await assistant.text("debug_error")
    assert stack.startswith("RecursionError: maximum recursion depth exceeded")
    assert "the assistant's run e" in stack and "frames not shown]" in stack and "the frame above," in stack
    assert len(stack) < 3_000
    deepest = int(stack.split("<- raised here")[0].rsplit("#", 1)[1].split()[0])
    middle = deepest // 2  # described by its locals alone: the stack shows both ends
    locals_there = await assistant.text("debug_error", frame=middle)
    assert f"1 variables in frame #{middle}," in locals_there and f"  {6 - middle}\n" not in locals_there
    assert locals_there.rstrip().endswith(str(6 - middle))
    assert await assistant.text("debug_error", expression="n", frame=1) == "n: int\nhead: 5"


async def test_a_kernel_with_no_exception_says_so(assistant: Assistant, own_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    said = await assistant.text("debug_error")
    assert said.startswith("No exception to examine in kernel ")


async def test_an_exception_of_the_kernel_before_its_restart_is_named_not_examined(
    helper: tuple[Assistant, KernelRegistry], runtime_dir: Path, tmp_path: Path
) -> None:
    """The user's IDE restarts the kernel: the connection (and its record of runs) carries on
    with the new kernel, whose cells count from 1 again."""
    assistant, registry = helper
    async with ide_managed_kernel(runtime_dir / f"kernel-debug{os.getpid()}.json") as manager:
        user = await ide_client(Path(manager.connection_file))
        try:
            await assistant.text("connect_to_kernel", connection_file=manager.connection_file)
            assert (await assistant.call("execute_code", code="1 / 0")).is_error
            assert "Raised in In [1], the assistant's run e" in await assistant.text("debug_error")
            reply, _ = await user.run("'first'")
            reply, _ = await user.run("prices = {'AAPL': 1}\nprices['MSFT']")
            assert reply["status"] == "error" and reply["execution_count"] == 3

            session = registry.sessions[-1]
            restarted = session.link.restarted_signal
            await manager.restart_kernel()
            await asyncio.wait_for(restarted, 30)
            gone = await assistant.text("debug_error")
            assert gone.startswith("No exception to examine in kernel "), gone
            assert (
                "its last one, KeyError: 'MSFT' (In [3], the user's cell), was raised before the kernel was "
                "restarted by another client, most likely the user's IDE; its stack and variables went with "
                "the old kernel"
            ) in gone, gone

            # The user's new In [1] is theirs, not the assistant's old run In [1]; it runs once the
            # server hears the new kernel (a cell run before that, it could not see raised).
            await session.link.ready_for_code()
            user.client.stop_channels()
            user = await ide_client(Path(manager.connection_file))
            reply, _ = await user.run("prices = {}\nprices['MSFT']")
            assert reply["execution_count"] == 1
            assert "Raised in In [1], the user's cell." in await assistant.text("debug_error")
        finally:
            user.client.stop_channels()

    await assistant.text("start_kernel", cwd=str(tmp_path))
    await assistant.text("restart_kernel")
    said = await assistant.text("debug_error")
    assert "none was raised since it was restarted by restart_kernel" in said, said
    assert "any raised before went with it" in said
    await assistant.text("shutdown_kernel")


async def test_a_read_only_server_inspects_names_in_a_frame_but_evaluates_nothing(
    runtime_dir: Path, own_kernel: IdeKernel
) -> None:
    reply, _ = await own_kernel.ide.run("def f(x):\n    y = x * 2\n    raise KeyError(y)\nf(21)")
    settings = Settings(runtime_dir=str(runtime_dir), read_only=True)
    async with mcp.Client(build_server(settings)) as client:
        await client.call_tool("connect_to_kernel", {"connection_file": str(own_kernel.path)})
        stack = texts(await client.call_tool("debug_error", {}))
        count = reply["execution_count"]
        assert f"Raised in In [{count}] (not seen raised by this server: run before it connected?)." in stack
        assert "y: int" in texts(await client.call_tool("debug_error", {"expression": "y"}))
        refused = await client.call_tool("debug_error", {"expression": "y + 1"})
        assert refused.is_error and "read-only server inspects names" in texts(refused)


async def test_a_syntax_error_a_broken_repr_and_a_failing_import_of_the_users_module(
    assistant: Assistant, own_kernel: IdeKernel, tmp_path: Path
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide = own_kernel.ide
    await ide.run("x = (1,\n")
    said = await assistant.text("debug_error")
    assert said.startswith("SyntaxError") and "It has no stack to examine" in said

    # Looking at a value whose repr raises must not replace the exception being examined.
    await ide.run(
        "class Broken:\n    def __init__(self):\n        self.size = 1 / 0\n"
        "    def __repr__(self):\n        return f'Broken({self.size})'\nBroken()"
    )
    shown = await assistant.text("debug_error", expression="[self]")
    assert "repr() failed: AttributeError" in shown
    assert (await assistant.text("debug_error")).startswith("ZeroDivisionError: division by zero")

    # A module of the user's that fails as it is imported: its globals are that frame's variables.
    (tmp_path / "settings_module.py").write_text("rate = 0.25\nlimit = 10\nper_item = limit / (rate - 0.25)\n")
    await ide.run(f"import sys; sys.path.insert(0, {str(tmp_path)!r})\nimport settings_module")
    stack = await assistant.text("debug_error")
    assert "settings_module.py, line 3, in <module>  <- raised here, locals below" in stack
    assert "rate " in stack and "limit " in stack and "the cell itself" not in stack

"""Promises kept in the field: the user's kernel never shut down by accident, restarts never
mislabel a result, history of this kernel only, status checks that leave the IDE's view alone,
bad input answered clearly, and no secret in any repr."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp
import pytest
from conftest import Assistant, IdeKernel, ide_kernel, ide_managed_kernel, statuses_during, texts, wait_until
from jupyter_client.manager import AsyncKernelManager
from test_other_kernels import OtherKernel, other_kernel, other_python  # noqa: F401

from ipython_mcp.discovery.files import read_connection_file
from ipython_mcp.discovery.servers import JupyterServer
from ipython_mcp.server import build_server
from ipython_mcp.server.http import HttpOptions
from ipython_mcp.session.registry import KernelRegistry
from ipython_mcp.settings import ServerConfig, Settings

ANSI = re.compile(r"\x1b\[")


def gated(gate: Path, then: str = "") -> str:
    """A cell that runs until the test creates `gate`: as long as the test needs, no longer."""
    return f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.005)\n{then}"


# -- never shutting the user's kernel down by accident ------------------------------------


async def test_code_that_would_end_the_kernel_is_refused_unsent(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    before = await assistant.text("execute_code", code="get_ipython().execution_count")
    for code in ("exit()", "quit", "import os\nos._exit(0)", "get_ipython().ask_exit()"):
        refused = await assistant.error("execute_code", code=code)
        assert "Not sent" in refused and "shutdown_kernel" in refused, code
    assert shared_kernel.process.poll() is None
    # nothing ran: the execution count moved by one, for the check itself
    after = await assistant.text("execute_code", code="get_ipython().execution_count")
    assert int(after) == int(before) + 1


async def test_a_kernel_ended_by_the_code_anyway_is_told_by_that_result(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    assert await assistant.text("execute_code", code="def stop():\n    exit()") == "(no output)"
    ended = await assistant.call("execute_code", code="print('stopping'); stop()")
    assert ended.is_error
    assert "stopping" in texts(ended) and f"The code ended the kernel {own_kernel.name}" in texts(ended)
    await wait_until(lambda: own_kernel.process.poll() is not None)


async def test_help_pages_come_back_as_text(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    for code in ("len?", "%pinfo len"):
        text = await assistant.text("execute_code", code=code)
        assert "Return the number of items in a container." in text and not ANSI.search(text), code
    source = await assistant.text("execute_code", code="import textwrap\ntextwrap.dedent??")
    assert "def dedent(text):" in source


# -- restarts at awkward moments ----------------------------------------------------------


@pytest.fixture
async def ide_managed(runtime_dir: Path, settings: Settings) -> AsyncIterator[tuple[AsyncKernelManager, Assistant, KernelRegistry]]:
    """A kernel the IDE starts and restarts through a KernelManager, as Jupyter and Spyder do,
    and the assistant connected to it (with its registry at hand to see what was sent)."""
    async with ide_managed_kernel(runtime_dir / f"kernel-managed{os.getpid()}.json") as manager:
        registry = KernelRegistry(settings)
        async with mcp.Client(build_server(settings, registry)) as client:
            assistant = Assistant(client, runtime_dir)
            await assistant.text("connect_to_kernel", connection_file=manager.connection_file)
            yield manager, assistant, registry


async def test_code_sent_while_the_ide_restarts_runs_in_the_new_kernel_and_says_so(
    ide_managed: tuple[AsyncKernelManager, Assistant, KernelRegistry],
) -> None:
    manager, assistant, registry = ide_managed
    await assistant.text("execute_code", code="state = 'before'")
    await manager.shutdown_kernel(restart=True)  # the old kernel is gone, the new one not up yet
    call = asyncio.ensure_future(assistant.call("execute_code", code="print('ran'); 'state' in globals()"))
    await wait_until(lambda: registry.sessions[0].runner.ours() or registry.sessions[0].being_replaced())
    await manager.start_kernel(**manager._launch_args)
    result = await call
    assert not result.is_error, texts(result)
    assert texts(result).startswith("ran\n\nFalse\n")  # its own output, then the notice
    assert "was restarted by another client" in texts(result)


async def test_code_sent_right_after_the_ide_restarted_returns_its_output(
    ide_managed: tuple[AsyncKernelManager, Assistant, KernelRegistry],
) -> None:
    manager, assistant, _ = ide_managed
    for attempt in range(3):  # the restart is seen in different ways at different moments
        await manager.restart_kernel()
        result = await assistant.call("execute_code", code=f"print('attempt {attempt}')")
        assert not result.is_error, texts(result)
        assert f"attempt {attempt}\n" in texts(result)
        assert "was restarted by another client" in texts(result)
        again = await assistant.call("execute_code", code="1 + 1")
        assert texts(again) == "2"  # told once


async def test_code_the_old_kernel_had_is_said_not_to_have_finished(
    ide_managed: tuple[AsyncKernelManager, Assistant, KernelRegistry], tmp_path: Path
) -> None:
    manager, assistant, _ = ide_managed
    running = asyncio.ensure_future(
        assistant.call("execute_code", code=gated(tmp_path / "never") + "print('unreachable')")
    )
    await assistant.until_busy("the assistant's cell In[")
    await manager.restart_kernel(now=True)
    cut_short = await running
    assert cut_short.is_error
    assert "did not finish: the kernel was restarted while it ran" in texts(cut_short)
    assert "unreachable" not in texts(cut_short)


# -- history of this kernel session only --------------------------------------------------


async def test_history_shows_this_kernels_cells_not_those_of_another_kernel_of_the_user(
    assistant: Assistant, own_kernel: IdeKernel, runtime_dir: Path
) -> None:
    # Every kernel of the suite keeps its history in one database, as every kernel of a user does.
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    await own_kernel.ide.run("mine = 'this kernel'")
    async with ide_kernel(runtime_dir) as other:
        await other.ide.run("theirs = 'another kernel, later'")
        database = Path(os.environ["IPYTHONDIR"]) / "profile_default" / "history.sqlite"

        def written() -> bool:
            with sqlite3.connect(database) as db:
                return bool(db.execute("select 1 from history where source like 'theirs = %'").fetchall())

        await wait_until(written, timeout=20)
        history = await assistant.text("get_history")
    assert "mine = 'this kernel'" in history and "theirs" not in history


# -- status checks that leave the IDE's view of its running cell alone ---------------------


async def test_checks_on_a_kernel_without_subshells_never_show_the_users_cell_as_done(
    assistant: Assistant, other_kernel: OtherKernel, tmp_path: Path  # noqa: F811
) -> None:
    # JupyterLab, VS Code and Spyder show the kernel's state from the status messages they
    # receive: while the user's cell runs, no request of ours may publish one.
    gate = tmp_path / "release"
    async with other_kernel("ipykernel6") as kernel:
        await assistant.text("connect_to_kernel", connection_file=str(kernel.path))
        cell = kernel.ide.send(gated(gate))
        await assistant.until_busy()
        assert "busy running another client's cell" in await assistant.text("kernel_status")
        refused = await assistant.error("execute_code", code="1", if_busy="fail")
        assert "not sent" in refused and "interrupt it only if the user asks you to" in refused
        assert "busy running" in await assistant.error("list_variables")
        assert "busy running" in await assistant.error("get_history")
        gate.touch()
        messages = await kernel.ide.outputs_until_idle(cell)
    assert statuses_during(messages, cell) == []


# -- results that are not failures ----------------------------------------------------------


async def test_running_waiting_and_queued_results_are_not_errors(
    assistant: Assistant, own_kernel: IdeKernel, tmp_path: Path
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    running = await assistant.call("execute_code", code=gated(tmp_path / "a"), timeout=0.5, on_timeout="continue")
    assert not running.is_error and "Still running" in texts(running)
    (tmp_path / "a").touch()
    await assistant.text("wait_for_execution")

    waiting = await assistant.call("execute_code", code="answer = input('Your name? ')", timeout=2)
    assert not waiting.is_error and "Waiting for input" in texts(waiting)
    await assistant.text("send_input", text="Ada")

    cell = own_kernel.ide.send(gated(tmp_path / "b"))
    await assistant.until_busy()
    queued = await assistant.call("execute_code", code="queued_ran = True", timeout=0.5)
    assert not queued.is_error and "Do not send it again" in texts(queued)
    assert "interrupt it only if the user asks you to" in texts(queued)
    (tmp_path / "b").touch()
    await own_kernel.ide.outputs_of(cell)
    _, ran = await own_kernel.ide.run("print(queued_ran)")  # after the queued code, which has ended
    assert "True" in ran
    # Ended before the model came back: waiting with no id still returns it, and its end.
    finished = await assistant.call("wait_for_execution", timeout=30)
    assert not finished.is_error and "has finished (ok)" in texts(finished)
    assert "No execution" in await assistant.error("wait_for_execution")  # told once


# -- save_notebook never replaces the user's own notebook unasked ----------------------------


async def test_save_notebook_replaces_only_its_own_unchanged_notebook(
    assistant: Assistant, shared_kernel: IdeKernel, tmp_path: Path
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    await assistant.text("execute_code", code="print('for the notebook')")
    ours = tmp_path / "assistant.ipynb"
    await assistant.text("save_notebook", path=str(ours))
    assert "Saved" in await assistant.text("save_notebook", path=str(ours), overwrite=True)

    users = tmp_path / "analysis.ipynb"
    users.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    refused = await assistant.error("save_notebook", path=str(users), overwrite=True)
    assert "not a notebook ipython-mcp saved" in refused and "replace_other_file=True" in refused
    assert users.read_text().startswith('{"cells": []')

    edited = ours.read_text().replace("for the notebook", "edited by the user")
    ours.write_text(edited)
    assert "edited since" in await assistant.error("save_notebook", path=str(ours), overwrite=True)
    await assistant.text("save_notebook", path=str(users), overwrite=True, replace_other_file=True)
    assert "for the notebook" in users.read_text()


# -- bad input -------------------------------------------------------------------------------


async def test_connection_files_that_are_not_files_or_not_text_get_clear_messages(
    assistant: Assistant, tmp_path: Path
) -> None:
    binary = tmp_path / "kernel-binary.json"
    binary.write_bytes(bytes(range(256)) * 4)
    huge = tmp_path / "kernel-huge.json"
    huge.write_text('{"padding": "' + "x" * (10 << 20) + '"}')
    ports = tmp_path / "kernel-ports.json"
    ports.write_text('{"shell_port": "one", "iopub_port": 2, "stdin_port": 3, "control_port": 4, '
                     '"hb_port": 5, "ip": "127.0.0.1", "key": "a-key-of-its-own"}')  # fmt: skip
    for spec, message in (
        (binary, "is not valid JSON"),
        (huge, "is not valid JSON"),
        ("/dev/zero", "is not a regular file"),
        (ports, "has invalid shell_port"),
    ):
        error = await asyncio.wait_for(assistant.error("connect_to_kernel", connection_file=str(spec)), 30)
        assert message in error and "internal error" not in error and "Traceback" not in error, error


def test_no_key_or_token_in_any_repr(tmp_path: Path) -> None:
    key, token = "0123456789abcdef-secret-key", "fedcba9876543210-secret-token"
    path = tmp_path / "kernel-repr.json"
    path.write_text(
        f'{{"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5, '
        f'"ip": "127.0.0.1", "key": "{key}"}}'
    )
    holders: list[Any] = [
        read_connection_file(path),
        ServerConfig("http://127.0.0.1:8888/", token, "hub"),
        JupyterServer("http://127.0.0.1:8888/", token=token),
        HttpOptions(token=token),
        Settings(runtime_dir=str(tmp_path), servers=(ServerConfig("http://127.0.0.1:8888/", token),)),
    ]
    for holder in holders:
        assert dataclasses.is_dataclass(holder)
        assert key not in repr(holder) and token not in repr(holder), type(holder).__name__

"""Finding, connecting, starting, interrupting and ending kernels, as the model sees it."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mcp
import psutil
from conftest import IPYKERNEL, Assistant, Gate, IdeKernel, launch_ide_kernel, texts, wait_until
from jupyter_client.connect import write_connection_file

from ipython_mcp.server import build_server
from ipython_mcp.settings import Settings


async def test_connect_by_partial_name(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    text = await assistant.text("connect_to_kernel", connection_file=shared_kernel.name[:6])
    assert text.startswith(f"Connected to kernel {shared_kernel.name} (python 3.")
    assert "ipython 9." in text or "ipython 8." in text
    assert f"pid {shared_kernel.process.pid}" in text


async def test_connect_without_argument_uses_the_environment_variable(
    shared_kernel: IdeKernel, runtime_dir: Path
) -> None:
    settings = Settings.from_env(
        {"IPYTHON_MCP_CONNECTION": str(shared_kernel.path)}, runtime_dir=str(runtime_dir)
    )
    async with mcp.Client(build_server(settings)) as client:
        result = await client.call_tool("connect_to_kernel", {})
        assert not result.is_error
        assert shared_kernel.name in texts(result)


async def test_connect_without_argument_lists_the_candidates_when_several_run(
    assistant: Assistant, shared_kernel: IdeKernel, own_kernel: IdeKernel
) -> None:
    error = await assistant.error("connect_to_kernel")
    assert "kernels are running" in error
    assert shared_kernel.name in error and own_kernel.name in error


async def test_no_kernel_connected_says_what_to_do(assistant: Assistant) -> None:
    error = await assistant.error("execute_code", code="1")
    assert "No kernel is connected" in error and "connect_to_kernel" in error and "start_kernel" in error


async def test_stale_connection_file_is_reported_at_once(assistant: Assistant, runtime_dir: Path) -> None:
    path, process = launch_ide_kernel(runtime_dir, name="stale-one")
    process.kill()
    process.wait()
    started = time.monotonic()
    error = await assistant.error("connect_to_kernel", connection_file="stale-one")
    assert time.monotonic() - started < 2
    assert "stale" in error and "list_kernels" in error
    listing = await assistant.text("list_kernels")
    assert "stale-one: stale" in listing
    path.unlink()


async def test_wrong_key_is_reported_as_a_likely_key_mismatch(
    assistant: Assistant, shared_kernel: IdeKernel, tmp_path: Path
) -> None:
    info = json.loads(shared_kernel.path.read_text())
    info["key"] = "0" * 64
    wrong = tmp_path / "kernel-wrongkey.json"
    wrong.write_text(json.dumps(info))
    started = time.monotonic()
    error = await assistant.error("connect_to_kernel", connection_file=str(wrong))
    assert time.monotonic() - started < 8
    assert "key" in error and "does not match" in error
    assert info["key"] not in error


async def test_missing_and_corrupt_files_get_clear_messages(assistant: Assistant, tmp_path: Path) -> None:
    assert "does not exist" in await assistant.error(
        "connect_to_kernel", connection_file=str(tmp_path / "nope.json")
    )
    corrupt = tmp_path / "kernel-corrupt.json"
    corrupt.write_text('{"shell_port": 1')
    assert "not valid JSON" in await assistant.error("connect_to_kernel", connection_file=str(corrupt))


async def test_list_kernels_marks_live_and_connected(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    listing = await assistant.text("list_kernels")
    line = next(line for line in listing.splitlines() if shared_kernel.name in line)
    assert line.startswith("*") and "live" in line and f"pid {shared_kernel.process.pid}" in line
    assert "connected, default" in line
    assert f"cwd {Path.cwd()}" in line and f"(pid {os.getpid()})" in line  # the test plays the IDE


async def test_status_shows_idle_then_busy_with_the_users_cell(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    reply, _ = await shared_kernel.ide.run("status_check = 1")  # the user has run cells
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    status = await assistant.text("kernel_status")
    assert "alive, idle" in status and f"Execution count: {reply['execution_count']}." in status
    assert f"pid {shared_kernel.process.pid}" in status
    ide, gate = shared_kernel.ide, gates()
    cell = ide.send(f"status_check = 2\n{gate.code}")
    await assistant.until_busy()
    status = await assistant.text("kernel_status")
    assert "busy running another client's cell" in status and "`status_check = 2 ...`" in status
    gate.open()
    await ide.outputs_of(cell)


async def test_interrupting_a_cell_the_ide_started(assistant: Assistant, own_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide = own_kernel.ide
    await ide.run("kept = 'still here'")
    cell = ide.send("while True: pass")
    await assistant.until_busy()
    text = await assistant.text("interrupt_kernel")
    assert "Interrupted another client's cell" in text and "while True" in text and "is idle" in text
    messages = await ide.outputs_of(cell, timeout=10)
    assert any(m["msg_type"] == "error" and m["content"]["ename"] == "KeyboardInterrupt" for m in messages)
    assert await assistant.text("execute_code", code="kept") == "'still here'"


async def test_kernel_dying_mid_call_is_reported_within_seconds(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    started = time.monotonic()
    result = await assistant.call("execute_code", code="import os, time\ndef crash():\n    time.sleep(0.2)\n    os._exit(1)\ncrash()")
    assert time.monotonic() - started < 4
    assert result.is_error
    assert "died" in texts(result)
    started = time.monotonic()
    error = await assistant.error("execute_code", code="1")
    assert time.monotonic() - started < 1
    assert "died" in error and "start_kernel" in error


async def test_disconnect_leaves_the_kernel_running(assistant: Assistant, own_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    await assistant.text("execute_code", code="survivor = 41")
    text = await assistant.text("disconnect_kernel")
    assert "still running" in text
    assert own_kernel.process.poll() is None
    reply, printed = await own_kernel.ide.run("print(survivor + 1)")
    assert printed == "42\n"


async def test_several_kernels_are_addressed_by_name(
    assistant: Assistant, shared_kernel: IdeKernel, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    await assistant.text("execute_code", code="where = 'own'")
    await assistant.text("execute_code", code="where = 'shared'", kernel=shared_kernel.name)
    assert await assistant.text("execute_code", code="where") == "'own'"
    assert await assistant.text("execute_code", code="where", kernel=shared_kernel.name) == "'shared'"
    error = await assistant.error("execute_code", code="1", kernel="nosuchkernel")
    assert "No connected kernel is named 'nosuchkernel'" in error


async def test_restart_of_a_kernel_the_ide_started_explains_why_not(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    error = await assistant.error("restart_kernel")
    assert "started by another program" in error and "Restart" in error
    assert shared_kernel.process.poll() is None


async def test_shutdown_ends_the_ide_kernels_process(assistant: Assistant, own_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    text = await assistant.text("shutdown_kernel")
    assert f"process {own_kernel.process.pid} has exited" in text
    assert own_kernel.process.poll() is not None
    assert own_kernel.path.exists()  # the IDE's file is not ours to remove


async def test_start_restart_and_shut_down_a_kernel_of_our_own(
    assistant: Assistant, runtime_dir: Path, tmp_path: Path
) -> None:
    text = await assistant.text("start_kernel", cwd=str(tmp_path))
    path = Path(
        next(line for line in text.splitlines() if line.startswith("Connection file:")).split(": ", 1)[1]
    )
    assert path.parent == runtime_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = json.loads(path.read_text())["key"]
    assert len(key) >= 32 and key not in text
    assert f"jupyter console --existing {path.name}" in text and "Spyder" in text
    listing = await assistant.text("list_kernels")
    assert f"started by this server; cwd {tmp_path}" in listing
    pid = int(text.split("pid ")[1].split(")")[0])
    assert await assistant.text("execute_code", code="import os; os.getcwd()") == repr(str(tmp_path))

    await assistant.text("execute_code", code="before_restart = 1")
    restarted = await assistant.text("restart_kernel")
    assert "Restarted" in restarted
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    result = await assistant.call("execute_code", code="before_restart")
    assert result.is_error and "NameError" in texts(result)
    assert json.loads(path.read_text())["key"] == key

    new_pid = int(restarted.split("pid ")[1].split(")")[0])
    shut = await assistant.text("shutdown_kernel")
    assert "removed its connection file" in shut
    assert not path.exists()
    await wait_until(
        lambda: not psutil.pid_exists(new_pid) or psutil.Process(new_pid).status() == psutil.STATUS_ZOMBIE
    )


async def test_started_kernel_outlives_the_server(settings: Settings) -> None:
    async with mcp.Client(build_server(settings)) as client:
        result = await client.call_tool("start_kernel", {})
        text = texts(result)
    pid = int(text.split("pid ")[1].split(")")[0])
    path = Path(
        next(line for line in text.splitlines() if line.startswith("Connection file:")).split(": ", 1)[1]
    )
    try:
        assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        async with mcp.Client(build_server(settings)) as client:
            result = await client.call_tool("connect_to_kernel", {"connection_file": str(path)})
            assert not result.is_error
            await client.call_tool("shutdown_kernel", {})
    finally:
        if psutil.pid_exists(pid):
            psutil.Process(pid).kill()
        path.unlink(missing_ok=True)


async def test_python_without_ipykernel_gets_a_clear_error(assistant: Assistant, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    python = tmp_path / "bare" / "bin" / "python"
    error = await assistant.error("start_kernel", python=str(python))
    assert "has no ipykernel" in error and "pip install ipykernel" in error


async def test_missing_interpreter_gets_a_clear_error(assistant: Assistant) -> None:
    error = await assistant.error("start_kernel", python="/no/such/python")
    assert "No Python interpreter" in error


async def test_a_timeout_never_interrupts_the_users_cell(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide, gate = own_kernel.ide, gates()
    user_cell = ide.send(f"{gate.code}\nuser_done = True")
    await assistant.until_busy()
    result = await assistant.call("execute_code", code="after_user = True", timeout=0.5)
    assert not result.is_error  # queued, not failed: sent again, it would run twice
    text = texts(result)
    assert "Not started after 0.5 s" in text and "another client's cell" in text
    assert "runs once the kernel is free" in text and "Do not send it again" in text
    gate.open()
    messages = await ide.outputs_of(user_cell)
    assert not any(m["msg_type"] == "error" for m in messages)
    assert await assistant.text("execute_code", code="user_done and after_user") == "True"


async def test_queued_code_that_runs_away_later_is_still_stopped(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    ide, gate = own_kernel.ide, gates()
    user_cell = ide.send(gate.code)
    await assistant.until_busy()
    result = await assistant.call("execute_code", code="while True: pass", timeout=0.5)
    assert "Not started after 0.5 s" in texts(result)
    gate.open()
    await ide.outputs_of(user_cell)
    runaway = await ide.started("while True: pass")
    messages = await ide.outputs_of(runaway, timeout=10)  # the runaway code was stopped
    assert any(m["msg_type"] == "error" and m["content"]["ename"] == "KeyboardInterrupt" for m in messages)
    assert await assistant.text("execute_code", code="'free'") == "'free'"


async def test_code_that_ignores_interrupts_is_reported_as_still_running(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    result = await assistant.call(
        "execute_code",
        code="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
        timeout=1,
    )
    assert result.is_error
    text = texts(result)
    assert "did not stop after sent interrupt_request then sent SIGINT" in text
    assert "still busy" in text
    assert "still busy" in await assistant.text("interrupt_kernel")


async def test_interrupting_an_idle_kernel_says_nothing_was_running(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    text = await assistant.text("interrupt_kernel")
    assert text == f"Nothing was running in kernel {shared_kernel.name}; it is idle (no interrupt sent)."


async def test_a_kernel_on_ipc_sockets_is_local(
    assistant: Assistant, runtime_dir: Path, tmp_path: Path
) -> None:
    path = runtime_dir / "kernel-ipc.json"
    write_connection_file(
        str(path), transport="ipc", ip=str(tmp_path / "kernel-ipc"), key=secrets.token_hex(16).encode()
    )
    process = subprocess.Popen(
        [*IPYKERNEL, "-f", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        connected = await assistant.text("connect_to_kernel", connection_file=str(path))
        assert "Connected to kernel ipc" in connected
        assert await assistant.text("execute_code", code="'over ipc'") == "'over ipc'"
    finally:
        process.kill()
        process.wait()
        path.unlink(missing_ok=True)

"""Kernels of a configured Jupyter Server (JupyterHub, Enterprise Gateway serve the same API),
reached over the server's websocket: everything works as with a local kernel."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import mcp
import psutil
import pytest
from conftest import Assistant, Gate, NotebookServer, ide_client, images, jupyter_server, texts, wait_until
from mcp.client.stdio import StdioServerParameters, stdio_client
from test_server import SCRIPT

from ipython_mcp.server import build_server
from ipython_mcp.session.registry import KernelRegistry
from ipython_mcp.session.remote import ServerKernelSession
from ipython_mcp.settings import ServerConfig, Settings


@pytest.fixture(scope="module")
def hub(notebook_server: NotebookServer) -> NotebookServer:
    """This module's Jupyter Server, configured as the server named "hub"."""
    return notebook_server


@pytest.fixture(scope="module")
async def notebook(hub: NotebookServer) -> Path:
    """`analysis.ipynb` open on the server; its connection file (the server's runtime dir)."""
    _, path = await hub.open_notebook("analysis.ipynb")
    return path


def hub_settings(server: NotebookServer, token: str | None = None, **kwargs: object) -> Settings:
    return Settings(
        runtime_dir=str(server.runtime_dir),
        timeout=30.0,
        connect_timeout=20.0,
        servers=(ServerConfig(server.url, server.token if token is None else token, "hub"),),
        **kwargs,  # type: ignore[arg-type]
    )


class RemoteAssistant(Assistant):
    registry: KernelRegistry

    def session(self) -> ServerKernelSession:
        session = self.registry.sessions[-1]
        assert isinstance(session, ServerKernelSession)
        return session


@pytest.fixture
async def assistant(hub: NotebookServer) -> AsyncIterator[RemoteAssistant]:
    settings = hub_settings(hub)
    registry = KernelRegistry(settings)
    async with mcp.Client(build_server(settings, registry)) as client:
        helper = RemoteAssistant(client, hub.runtime_dir)
        helper.registry = registry
        yield helper


async def test_a_notebook_kernel_works_over_the_websocket_as_a_local_one(
    assistant: RemoteAssistant, notebook: Path, gates: Callable[[], Gate]
) -> None:
    user = await ide_client(notebook)
    try:
        await user.run("rows = [3, 1, 2]")
        connected = await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
        assert "notebook analysis.ipynb" in connected
        status = await assistant.text("kernel_status")
        assert "on Jupyter Server 'hub'" in status and "over its websocket (v1)" in status
        assert (
            await assistant.text("execute_code", code="print('sorted:'); sorted(rows)")
            == "sorted:\n\n[1, 2, 3]"
        )

        failed = await assistant.call("execute_code", code="def f():\n    return 1 / 0\nf()")
        assert failed.is_error
        assert "ZeroDivisionError: division by zero" in texts(failed) and "\x1b[" not in texts(failed)

        plotted = await assistant.call(
            "execute_code", code="import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.show()"
        )
        [image] = images(plotted)
        assert image.mime_type == "image/png" and len(image.data) > 1000

        # The user's cell, running meanwhile, never shows in the assistant's result.
        gate = gates()
        user_cell = user.send(
            "for i in range(10):\n    print('USER', i, flush=True)\n"
            f"{gate.code}\n"
            "for i in range(10, 20):\n    print('USER', i, flush=True)"
        )
        await user.started(str(gate.path))  # the user's cell runs before the assistant's call is made

        async def waiting(value: float, total: float | None, message: str | None) -> None:
            gate.open()  # the user's cell prints the rest while the call waits for it

        result = await assistant.call(
            "execute_code",
            progress=waiting,
            code="import time\nfor i in range(20):\n    print('ASSISTANT', i, flush=True)",
        )
        mine = texts(result)
        assert not result.is_error and "USER" not in mine and mine.count("ASSISTANT") == 20
        theirs = await user.outputs_of(user_cell)
        assert "ASSISTANT" not in str(theirs)
    finally:
        user.client.stop_channels()


async def test_variables_history_and_input_work_over_the_websocket(
    assistant: RemoteAssistant, notebook: Path
) -> None:
    await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
    await assistant.text("execute_code", code="remote_table = {'a': 1, 'b': 2}")
    assert "remote_table" in await assistant.text("list_variables")
    assert "remote_table = {'a': 1, 'b': 2}" in await assistant.text("get_history", n=5)
    asked = texts(
        await assistant.call("execute_code", code="name = input('Your name? ')\nprint('hello', name)")
    )
    assert "Waiting for input: 'Your name? '" in asked
    answered = await assistant.text("send_input", text="Ada")
    assert "hello Ada" in answered


async def test_the_last_error_is_examined_over_the_websocket(assistant: RemoteAssistant, notebook: Path) -> None:
    await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
    failed = await assistant.call("execute_code", code="def ratio(a, b):\n    return a / b\nratio(3, 0)")
    assert failed.is_error
    stack = await assistant.text("debug_error")
    assert stack.startswith("ZeroDivisionError") and "in ratio  <- raised here, locals below" in stack
    assert "a     int" in stack and await assistant.text("debug_error", expression="a + b") == "3"


async def test_variables_are_read_beside_a_drawing_cell_over_the_websocket(
    assistant: RemoteAssistant, notebook: Path, gates: Callable[[], Gate]
) -> None:
    user = await ide_client(notebook)
    try:
        await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
        gate = gates()
        cell = user.send(
            f"import matplotlib.pyplot as plt\nlosses = [0.9, 0.7]\nplt.plot(losses)\n{gate.code}\n"
            "print('open figures:', plt.get_fignums())"
        )
        await assistant.until_busy()
        assert "[0.9, 0.7]" in await assistant.text("list_variables")  # the server passed our look on
        gate.open()
        messages = await user.outputs_of(cell)
        assert "open figures: [1]\n" in [m["content"].get("text") for m in messages]
        assert [
            m for m in messages if m["msg_type"] == "display_data" and "image/png" in m["content"]["data"]
        ]
    finally:
        user.client.stop_channels()


async def test_output_the_server_drops_over_its_rate_limit_is_said_to_be_missing(
    assistant: RemoteAssistant, notebook: Path
) -> None:
    await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
    flood = await assistant.call("execute_code", code="print('x' * 5_000_000)")
    text = texts(flood)
    assert "IOPub data rate exceeded" in text  # the server's own notice
    assert "Its Jupyter Server dropped part of this output" in text and "iopub_data_rate_limit" in text


async def test_list_kernels_shows_the_servers_kernels_once(
    assistant: RemoteAssistant, hub: NotebookServer, notebook: Path
) -> None:
    text = await assistant.text("list_kernels")
    kernel_id = notebook.stem.removeprefix("kernel-")
    lines = [line for line in text.splitlines() if kernel_id[:8] in line]
    assert len(lines) == 1, text  # not also as a connection file: the server is configured
    assert f"python3; Jupyter Server 'hub' ({hub.url}) notebook analysis.ipynb" in lines[0]
    assert "websocket client" in lines[0]
    connected = await assistant.text("connect_to_kernel", connection_file=kernel_id[:8], server="hub")
    assert "notebook analysis.ipynb" in connected
    error = await assistant.error("connect_to_kernel", connection_file="nothing.ipynb", server="hub")
    assert "Jupyter Server 'hub'" in error and "has no kernel or open notebook matching" in error


async def test_interrupt_and_restart_go_through_the_server(
    assistant: RemoteAssistant, hub: NotebookServer, gates: Callable[[], Gate]
) -> None:
    await assistant.text("start_kernel", server="hub")
    await assistant.text("execute_code", code="kept = 1")
    # Runs until the interrupt at the call's timeout.
    timed_out = await assistant.call("execute_code", code=gates().code, timeout=1)
    assert "asked the server to interrupt it" in texts(timed_out) and "is idle" in texts(timed_out)
    assert await assistant.text("execute_code", code="kept") == "1"

    restarted = await assistant.text("restart_kernel")
    assert "its 1 variable is gone: kept (int, the assistant's In [1])." in restarted
    gone = await assistant.call("execute_code", code="kept")
    assert gone.is_error and "NameError" in texts(gone)
    assert "restarted by" not in texts(gone)  # our own restart is not news
    await assistant.text("shutdown_kernel")


async def test_restarts_by_jupyterlab_or_by_the_server_are_reported(
    assistant: RemoteAssistant, hub: NotebookServer
) -> None:
    started = await assistant.text("start_kernel", server="hub")
    session = assistant.session()
    await assistant.text("execute_code", code="state = 1")

    restarted = session.link.restarted_signal
    async with hub.rest() as rest:  # the user clicks Restart in JupyterLab
        (await rest.post(f"api/kernels/{session.kernel_id}/restart")).raise_for_status()
    await asyncio.wait_for(restarted, 20)
    after = await assistant.call("execute_code", code="state")
    assert "restarted by another client (JupyterLab?)" in texts(after) and "NameError" in texts(after)

    restarted = session.link.restarted_signal
    kernel = next(
        p for p in psutil.process_iter(["cmdline"]) if session.kernel_id in " ".join(p.info["cmdline"] or [])
    )
    os.kill(kernel.pid, signal.SIGKILL)  # it dies: the server restarts it
    await asyncio.wait_for(restarted, 30)
    status = await assistant.text("kernel_status")
    assert "Restarted by another client 2 times" in status
    after = await assistant.text("execute_code", code="print('fresh')")
    assert "after it died" in after and "fresh" in after
    assert "Started kernel" in started
    await assistant.text("shutdown_kernel")


async def test_a_kernel_shut_down_from_jupyterlab_is_reported_at_once(
    assistant: RemoteAssistant, hub: NotebookServer
) -> None:
    await assistant.text("start_kernel", server="hub")
    session = assistant.session()
    async with hub.rest() as rest:  # the user shuts it down (Kernel > Shut Down Kernel)
        (await rest.delete(f"api/kernels/{session.kernel_id}")).raise_for_status()
    await asyncio.wait_for(session.link.dead, 15)
    error = await assistant.error("execute_code", code="1 + 1")
    assert f"no longer exists on Jupyter Server 'hub' ({hub.url}) (shut down from JupyterLab" in error


async def test_code_the_websocket_cannot_carry_fails_alone(
    assistant: RemoteAssistant, hub: NotebookServer
) -> None:
    await assistant.text("start_kernel", server="hub")
    await assistant.call("execute_code", code="broken = '\ud800'")  # a lone surrogate
    assert await assistant.text("execute_code", code="print('still here')") == "still here\n"
    await assistant.text("shutdown_kernel")


async def test_output_printed_while_the_connection_is_down_is_not_lost(
    assistant: RemoteAssistant, hub: NotebookServer, tmp_path: Path
) -> None:
    await assistant.text("start_kernel", server="hub")
    session = assistant.session()
    release = tmp_path / "release"
    code = (
        "import os, time\n"
        "for i in range(4):\n    print('tick', i, flush=True)\n"
        f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.005)\n"
        "for i in range(4, 12):\n    print('tick', i, flush=True)"
    )
    first = texts(await assistant.call("execute_code", code=code, timeout=1, on_timeout="continue"))
    reconnected = asyncio.get_running_loop().create_future()
    inner = session.channels.on_reconnected

    def told(gap: float, others: int) -> None:
        assert inner is not None
        inner(gap, others)
        reconnected.set_result(gap)

    session.channels.on_reconnected = told
    session.channels.drop()  # as a network failure would, while nothing is on its way
    async with hub.rest() as rest:  # the server has seen the connection go: it keeps our output
        while (await rest.get(f"api/kernels/{session.kernel_id}")).json()["connections"]:
            pass
    release.touch()  # the cell prints the rest while we are disconnected
    await asyncio.wait_for(reconnected, 20)
    rest = await assistant.text("wait_for_execution", timeout=20)
    seen = f"{first}\n{rest}".splitlines()
    assert [line for line in seen if line.startswith("tick")] == [f"tick {i}" for i in range(12)]
    assert "has finished (ok)" in rest and "The connection to the kernel's server dropped" in rest
    await assistant.text("shutdown_kernel")


async def test_a_bad_token_or_a_server_that_is_down_is_named_within_seconds(
    hub: NotebookServer, notebook: Path
) -> None:
    async with mcp.Client(build_server(hub_settings(hub, token="wrong"))) as client:
        bad = Assistant(client, hub.runtime_dir)
        started = time.monotonic()
        error = await bad.error("connect_to_kernel", connection_file="analysis.ipynb", server="hub")
        assert f"Jupyter Server 'hub' ({hub.url}) refused the token configured for it" in error
        assert "wrong" not in error
        listing = await bad.text("list_kernels")
        assert "Jupyter Server 'hub'" in listing and "refused the token" in listing
        assert time.monotonic() - started < 10

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wrong_base = Settings(
        runtime_dir=str(hub.runtime_dir),
        servers=(ServerConfig(hub.url.replace("/user/alice", ""), hub.token, "root"),),
    )
    async with mcp.Client(build_server(wrong_base)) as client:
        listing = await Assistant(client, hub.runtime_dir).text("list_kernels")
        assert "Jupyter Server 'root'" in listing and ("HTTP 404" in listing or "login page" in listing)

    down = Settings(
        runtime_dir=str(hub.runtime_dir), servers=(ServerConfig(f"http://127.0.0.1:{port}/", "x", "gone"),)
    )
    async with mcp.Client(build_server(down)) as client:
        started = time.monotonic()
        error = await Assistant(client, hub.runtime_dir).error("start_kernel", server="gone")
        assert f"Jupyter Server 'gone' (http://127.0.0.1:{port}/) did not answer" in error
        assert time.monotonic() - started < 10


async def test_the_installed_script_reaches_the_server_named_in_the_environment(
    hub: NotebookServer, notebook: Path, tmp_path: Path
) -> None:
    """IPYTHON_MCP_JUPYTER_URL and _TOKEN, as in a client's MCP configuration; the token
    appears in no result and in no log line, even at DEBUG level."""
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path),  # nothing local: only the configured server
        "IPYTHON_MCP_JUPYTER_URL": hub.url,
        "IPYTHON_MCP_JUPYTER_TOKEN": hub.token,
    }
    params = StdioServerParameters(command=SCRIPT, args=["--log-level", "DEBUG"], env=env)
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        async with (
            stdio_client(params, errlog=log) as (read, write),
            mcp.ClientSession(read, write) as client,
        ):
            await client.initialize()
            listing = await client.call_tool("list_kernels", {})
            assert "notebook analysis.ipynb" in texts(listing)
            connected = await client.call_tool("connect_to_kernel", {"connection_file": "analysis.ipynb"})
            assert not connected.is_error, texts(connected)
            result = await client.call_tool("execute_code", {"code": "print('via env'); 6 * 7"})
            assert texts(result) == "via env\n\n42"
            for reply in (listing, connected, result):
                assert hub.token not in str(reply)
    logged = log_path.read_text()
    assert "api/kernels" in logged  # DEBUG logging was on
    assert hub.token not in logged


async def test_a_server_restart_ends_the_connection_clearly(tmp_path: Path) -> None:
    """The server stops (its kernels with it) and comes back on the same URL, as after a
    reboot; it then speaks only the older JSON protocol, which works too."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    root = tmp_path / "notebooks"
    root.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with jupyter_server(runtime, root, port=port) as server:
        settings = Settings(
            runtime_dir=str(runtime),
            connect_timeout=20.0,
            reconnect_timeout=60.0,
            servers=(ServerConfig(server.url, server.token, "lab"),),
        )
        async with mcp.Client(build_server(settings)) as client:
            assistant = Assistant(client, runtime)
            await assistant.text("start_kernel", server="lab")
            assert await assistant.text("execute_code", code="1 + 1") == "2"
            server.stop()
            async with jupyter_server(
                runtime,
                root,
                "--ZMQChannelsWebsocketConnection.kernel_ws_protocol=",
                port=port,
                token=server.token,
            ):
                waited = await assistant.call("execute_code", code="1 + 1", timeout=30)
                assert "no longer exists on Jupyter Server 'lab'" in texts(waited)
                assert "the server restarted" in texts(waited)
                assert "start_kernel(server='lab')" in texts(waited)
                await assistant.text("start_kernel", server="lab")
                assert "over its websocket (json)" in await assistant.text("kernel_status")
                assert await assistant.text("execute_code", code="print('back')") == "back\n"
                await assistant.text("shutdown_kernel")


async def test_history_over_the_websocket_is_of_this_kernel_only(
    assistant: RemoteAssistant, hub: NotebookServer, notebook: Path
) -> None:
    # The server's kernels keep their history in one database, as every kernel of a user does.
    await hub.open_notebook("other.ipynb")
    await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
    await assistant.text("execute_code", code="in_analysis = 1")
    other = await assistant.text("connect_to_kernel", connection_file="other.ipynb")
    other_name = other.split("kernel ", 1)[1].split(" ", 1)[0]
    await assistant.text("execute_code", code="in_the_other_notebook = 2", kernel=other_name)
    database = Path(os.environ["IPYTHONDIR"]) / "profile_default" / "history.sqlite"

    def written() -> bool:
        import sqlite3

        with sqlite3.connect(database) as db:
            return bool(db.execute("select 1 from history where source like 'in_the_other%'").fetchall())

    await wait_until(written, timeout=20)
    analysis = await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
    assert "Already connected" in analysis
    history = await assistant.text("get_history")
    assert "in_analysis = 1" in history and "in_the_other_notebook" not in history

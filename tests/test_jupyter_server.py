"""Kernels of notebooks open in a real Jupyter Server (what JupyterLab runs), found by notebook."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import mcp
import pytest
from conftest import Assistant, NotebookServer, ide_client

from ipython_mcp.server import build_server
from ipython_mcp.settings import Settings


@pytest.fixture(scope="module")
async def analysis(notebook_server: NotebookServer) -> Path:
    """`analysis.ipynb` open in the server, and `sub/other.ipynb` beside it."""
    _, path = await notebook_server.open_notebook("analysis.ipynb")
    await notebook_server.open_notebook("sub/other.ipynb")
    return path


@pytest.fixture
async def server_assistant(server_runtime_dir: Path) -> AsyncIterator[Assistant]:
    settings = Settings(runtime_dir=str(server_runtime_dir), timeout=30.0, connect_timeout=20.0)
    async with mcp.Client(build_server(settings)) as client:
        yield Assistant(client, server_runtime_dir)


@pytest.fixture
def stale_token_file(notebook_server: NotebookServer) -> Iterator[None]:
    """A second server file for the same live server, with a token it no longer accepts."""
    path = notebook_server.runtime_dir / "jpserver-1.json"
    path.write_text(json.dumps({"url": notebook_server.url, "pid": notebook_server.pid, "token": "outdated"}))
    yield
    path.unlink()


async def test_list_kernels_names_each_kernels_notebook_and_server(
    server_assistant: Assistant, notebook_server: NotebookServer, analysis: Path
) -> None:
    text = await server_assistant.text("list_kernels")
    line = next(line for line in text.splitlines() if analysis.stem.removeprefix("kernel-")[:8] in line)
    assert "live" in line and "python3" in line
    assert f"Jupyter Server {notebook_server.url} notebook analysis.ipynb" in line
    assert "/user/alice/" in notebook_server.url
    assert "notebook sub/other.ipynb" in text
    # Connected by its kernel's name, it is still known as the notebook's kernel.
    connected = await server_assistant.text("connect_to_kernel", connection_file=analysis.stem[7:15])
    assert "notebook analysis.ipynb" in connected
    # Connected, it keeps its notebook in the listing.
    text = await server_assistant.text("list_kernels")
    assert "notebook analysis.ipynb" in next(line for line in text.splitlines() if line.startswith("*"))
    assert "not reachable" not in text


async def test_connect_by_notebook_shares_the_notebooks_state(
    server_assistant: Assistant, analysis: Path
) -> None:
    user = await ide_client(analysis)
    try:
        await user.run("rows = [3, 1, 2]")
        connected = await server_assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
        assert "notebook analysis.ipynb" in connected
        assert await server_assistant.text("execute_code", code="sorted(rows)") == "[1, 2, 3]"
        # A notebook in a folder is found by its file name too.
        other = await server_assistant.text("connect_to_kernel", connection_file="other.ipynb")
        assert "notebook sub/other.ipynb" in other
        assert "NameError" in await server_assistant.error("execute_code", code="rows")
    finally:
        user.client.stop_channels()


async def test_unknown_and_ambiguous_notebooks_get_clear_errors(
    server_assistant: Assistant, notebook_server: NotebookServer, analysis: Path
) -> None:
    error = await server_assistant.error("connect_to_kernel", connection_file="missing.ipynb")
    assert "No running Jupyter Server here has missing.ipynb open" in error
    assert "analysis.ipynb" in error and "sub/other.ipynb" in error

    second, _ = await notebook_server.open_notebook("deep/other.ipynb")
    try:
        error = await server_assistant.error("connect_to_kernel", connection_file="other.ipynb")
        assert "2 kernels match 'other.ipynb'" in error
        assert "sub/other.ipynb" in error and "deep/other.ipynb" in error
    finally:
        await notebook_server.close_notebook(second)


async def test_a_server_refusing_its_token_is_named_and_the_rest_still_listed(
    server_assistant: Assistant, notebook_server: NotebookServer, analysis: Path, stale_token_file: None
) -> None:
    text = await server_assistant.text("list_kernels")
    assert f"Jupyter Server {notebook_server.url} refused the token in its jpserver file." in text
    assert "notebook analysis.ipynb" in text
    assert "outdated" not in text


async def test_a_server_kernel_whose_file_is_elsewhere_is_reached_over_the_websocket(
    server_assistant: Assistant, notebook_server: NotebookServer, analysis: Path, tmp_path: Path
) -> None:
    session, path = await notebook_server.open_notebook("remote.ipynb")
    (await ide_client(path)).client.stop_channels()  # the kernel answers: it has read its file
    moved = path.rename(tmp_path / path.name)  # as when a server keeps its kernels' files elsewhere
    try:
        text = await server_assistant.text("list_kernels")
        assert "Kernels of Jupyter Servers (connect_to_kernel takes the notebook path or kernel id):" in text
        assert (
            f"- {path.stem[7:15]}: python3; Jupyter Server {notebook_server.url} notebook remote.ipynb"
            in text
        )
        connected = await server_assistant.text("connect_to_kernel", connection_file="remote.ipynb")
        assert "notebook remote.ipynb" in connected
        assert await server_assistant.text("execute_code", code="print('over the websocket')") == (
            "over the websocket\n"
        )
        assert "over its websocket" in await server_assistant.text("kernel_status")
    finally:
        moved.rename(path)
        await notebook_server.close_notebook(session)

"""The `ipython-mcp` command: its subcommands, and MCP over HTTP with a bearer token."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import mcp
import pytest
from conftest import IdeKernel, ide_client
from mcp.client.streamable_http import streamable_http_client

SCRIPT = str(Path(sys.executable).parent / "ipython-mcp")


def clean_env(runtime_dir: Path, **env: str) -> dict[str, str]:
    """The environment, without the tester's own IPYTHON_MCP_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IPYTHON_MCP_")}
    return {**base, "JUPYTER_RUNTIME_DIR": str(runtime_dir), **env}


def run(*args: str, runtime_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=120, env=clean_env(runtime_dir, **env)
    )


@pytest.mark.parametrize("command", [[], ["serve"], ["kernels"], ["start-kernel"], ["doctor"]])
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    done = run(*command, "--help", runtime_dir=tmp_path)
    assert done.returncode == 0 and "usage: ipython-mcp" in done.stdout


async def test_kernels_prints_a_table_of_the_kernels(shared_kernel: IdeKernel, runtime_dir: Path) -> None:
    done = await asyncio.to_thread(run, "kernels", runtime_dir=runtime_dir)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["NAME", "STATE", "PID", "KERNEL", "RUN", "BY", "NOTEBOOK", "/", "CWD"]
    row = next(r for r in rows if r.startswith(shared_kernel.name)).split()
    assert row[1:3] == ["live", str(shared_kernel.process.pid)]


async def test_start_kernel_starts_a_kernel_the_user_can_attach_to(tmp_path: Path) -> None:
    done = run("start-kernel", runtime_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    [path] = tmp_path.glob("kernel-*.json")
    assert f"Spyder: Consoles > Connect to an existing kernel > Browse: {path}" in done.stdout
    assert f"jupyter console --existing {path.name}" in done.stdout
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    user = await ide_client(path)  # it outlived the command
    try:
        _, text = await user.run("print(6 * 7)")
        assert text == "42\n"
    finally:
        user.client.shutdown()
        user.client.stop_channels()


def test_start_kernel_says_what_to_do_at_the_terminal(tmp_path: Path) -> None:
    done = run("start-kernel", "--python", str(tmp_path / "no-python"), runtime_dir=tmp_path)
    assert done.returncode == 1 and not done.stdout
    assert done.stderr.startswith(f"ipython-mcp: No Python interpreter at '{tmp_path / 'no-python'}'. Pass --python")
    missing = run("start-kernel", "--cwd", str(tmp_path / "nowhere"), runtime_dir=tmp_path)
    assert missing.returncode == 1 and "Pass an existing directory as --cwd." in missing.stderr
    for said in (done.stderr, missing.stderr):  # words for the assistant name its tools' arguments
        advice = said.replace(str(tmp_path), "<tmp>")
        assert "start_kernel" not in advice and "python unset" not in advice, advice


def test_doctor_says_what_to_fix(tmp_path: Path) -> None:
    assert run("doctor", runtime_dir=tmp_path).returncode == 0
    exposed = tmp_path / "kernel-exposed.json"
    ports = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
    exposed.write_text(
        json.dumps({**ports, "ip": "127.0.0.1", "key": secrets.token_hex(32), "transport": "tcp"})
    )
    exposed.chmod(0o644)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run("doctor", runtime_dir=tmp_path, IPYTHON_MCP_JUPYTER_URL=f"http://127.0.0.1:{port}/")
    assert done.returncode == 1
    assert (
        f"warn  {exposed} is readable by other users, who could run code in its kernel: chmod 600 {exposed}"
        in done.stdout
    )
    assert f"FAIL  Jupyter Server http://127.0.0.1:{port}/ (configured) did not answer" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@asynccontextmanager
async def http_server(
    runtime_dir: Path, *args: str, **env: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        SCRIPT, "serve", "--transport", "http", "--port", str(port), *args,
        env=clean_env(runtime_dir, **env),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx2.AsyncClient() as probe:
            for _ in range(300):
                try:
                    await probe.get(url)
                    break
                except httpx2.ConnectError:
                    await asyncio.sleep(0.05)
        yield url, server
    finally:
        if server.returncode is None:
            server.terminate()
        await asyncio.wait_for(server.wait(), 30)


async def test_http_requires_the_token_and_a_local_host_header(
    shared_kernel: IdeKernel, runtime_dir: Path
) -> None:
    token = "a-token-of-the-users-choosing"
    async with http_server(runtime_dir, IPYTHON_MCP_HTTP_TOKEN=token) as (url, _):
        async with httpx2.AsyncClient() as raw:
            assert (await raw.post(url, json={})).status_code == 401
            wrong = await raw.post(url, json={}, headers={"Authorization": "Bearer guess"})
            assert wrong.status_code == 401
            rebound = await raw.post(
                url, json={}, headers={"Authorization": f"Bearer {token}", "Host": "evil.example"}
            )
            assert rebound.status_code == 421  # DNS rebinding: a page of another site reaching localhost
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as authed,
            streamable_http_client(url, http_client=authed) as (read, write),
            mcp.ClientSession(read, write) as session,
        ):
            await session.initialize()
            connected = await session.call_tool(
                "connect_to_kernel", {"connection_file": str(shared_kernel.path)}
            )
            assert not connected.is_error
            result = await session.call_tool("execute_code", {"code": "print('over http')"})
            assert [c.text for c in result.content] == ["over http\n"]


async def test_http_without_a_token_prints_a_new_one(tmp_path: Path) -> None:
    async with http_server(tmp_path) as (url, server):
        assert server.stderr is not None
        banner = (await server.stderr.readline() + await server.stderr.readline()).decode()
        token = banner.rsplit(": ", 1)[1].strip()
        assert url in banner and len(token) >= 32
        async with httpx2.AsyncClient() as raw:
            assert (
                await raw.post(url, json={}, headers={"Authorization": f"Bearer {token}"})
            ).status_code != 401


def test_http_refuses_a_network_address_unless_asked(tmp_path: Path) -> None:
    done = run("serve", "--transport", "http", "--host", "0.0.0.0", runtime_dir=tmp_path)
    assert done.returncode != 0
    assert (
        "--host 0.0.0.0 is not a loopback address" in done.stderr and "--allow-remote-clients" in done.stderr
    )


async def test_http_on_a_network_address_when_asked_is_usable(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    args = ("--host", "0.0.0.0", "--allow-remote-clients")
    async with http_server(tmp_path, *args, IPYTHON_MCP_HTTP_TOKEN=token) as (url, server):
        assert server.stderr is not None
        assert "plain HTTP" in (await server.stderr.readline()).decode()  # the warning comes first
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as authed,
            streamable_http_client(url, http_client=authed) as (read, write),
            mcp.ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert "list_kernels" in {t.name for t in (await session.list_tools()).tools}
        async with httpx2.AsyncClient() as raw:
            assert (await raw.post(url, json={})).status_code == 401  # still the token

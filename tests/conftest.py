"""Real kernels, started from connection files the way an IDE does, and a second client playing the IDE user."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import queue
import secrets
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import mcp
import pytest
from hub_gateway import SECRETS_GLOB
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.manager import AsyncKernelManager

from ipython_mcp.server import build_server
from ipython_mcp.session.registry import KernelRegistry
from ipython_mcp.settings import Settings


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


SUITE_LOG: list[str] = []
"""Every log line of the suite's own process since the last check: no key or token may be in it."""
LOGGED = {
    "ipython_mcp": logging.DEBUG,
    "websockets": logging.DEBUG,
    "httpx2": logging.DEBUG,
    "mcp": logging.INFO,
}


_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


class _Recorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a record that cannot format itself is no leak
            SUITE_LOG.append(_FORMAT.format(record))  # the message, and any traceback with it


def pytest_configure(config: pytest.Config) -> None:
    # Kernels of the suite keep their history in a database of the suite's own: not in the
    # tester's, and not shared with another run of the suite at the same time (SQLite breaks).
    os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="ipython-mcp-tests-ipythondir-")
    recorder = _Recorder()
    for name, level in LOGGED.items():
        logging.getLogger(name).addHandler(recorder)
        logging.getLogger(name).setLevel(level)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After each test, before its kernels and servers are torn down (their files still there):
    no kernel key and no server token in anything logged meanwhile."""
    yield
    logged, SUITE_LOG[:] = "\n".join(SUITE_LOG), []
    base = item.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    for pattern, field in (("kernel-*.json", "key"), ("jpserver-*.json", "token"), (SECRETS_GLOB, "tokens")):
        for path in base.rglob(pattern):
            try:
                secret = json.loads(path.read_text()).get(field)
            except (OSError, ValueError, AttributeError):
                continue
            for value in secret if isinstance(secret, list) else [secret]:
                assert not value or value not in logged, f"the {field} of {path.name} was logged"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if asyncio.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.anyio)


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Jupyter runtime dir of the suite's own, so no kernel of the machine is touched."""
    path = tmp_path_factory.mktemp("runtime")
    old = os.environ.get("JUPYTER_RUNTIME_DIR")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("JUPYTER_RUNTIME_DIR", None)
    else:
        os.environ["JUPYTER_RUNTIME_DIR"] = old


@dataclass
class IdeKernel:
    """A kernel launched the way Spyder or jupyter console launch one, and its IDE client."""

    path: Path
    process: subprocess.Popen[bytes]
    ide: IdeUser

    @property
    def name(self) -> str:
        return self.path.stem.removeprefix("kernel-")


@dataclass
class IdeUser:
    """The person at the IDE: runs cells through a client of their own, and sees every message
    the kernel publishes (the assistant's too)."""

    client: AsyncKernelClient
    backlog: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """iopub messages read by `until` and not yet taken by `outputs_until_idle`."""

    def send(self, code: str) -> str:
        return self.client.execute(code, stop_on_error=True)

    async def _next(self, timeout: float) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        return await self.client.get_iopub_msg(timeout=timeout)

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        """The first iopub message that satisfies `predicate`, once the IDE has received it. It
        and the messages before it stay for `outputs_of`."""
        for msg in self.backlog:
            if predicate(msg):
                return msg
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                msg = await self.client.get_iopub_msg(timeout=max(deadline - loop.time(), 0.001))
            except queue.Empty:
                raise AssertionError(f"the IDE received no such message within {timeout} s") from None
            self.backlog.append(msg)
            if predicate(msg):
                return msg

    async def started(self, fragment: str, timeout: float = 30) -> str:
        """The msg_id of the cell, anyone's, whose code holds `fragment`, once the kernel
        announced it (its execute_input reached the IDE)."""
        msg = await self.until(
            lambda m: m["msg_type"] == "execute_input" and fragment in m["content"]["code"], timeout
        )
        return msg["parent_header"]["msg_id"]

    async def outputs_of(self, msg_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        """The iopub messages of one of the user's cells, up to its idle status."""
        messages = await self.outputs_until_idle(msg_id, timeout)
        return [m for m in messages if (m["parent_header"] or {}).get("msg_id") == msg_id]

    async def outputs_until_idle(self, msg_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Every iopub message the IDE receives (from any request) up to a cell's idle status."""
        messages = []
        while True:
            msg = await self._next(timeout)
            messages.append(msg)
            if (
                (msg["parent_header"] or {}).get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                return messages

    async def finish(self, msg_id: str, timeout: float = 30) -> tuple[dict[str, Any], str]:
        """Wait for a cell sent with `send`; its reply content and everything it printed."""
        messages = await self.outputs_of(msg_id, timeout)
        reply = await self.client.get_shell_msg(timeout=timeout)
        while (reply["parent_header"] or {}).get("msg_id") != msg_id:
            reply = await self.client.get_shell_msg(timeout=timeout)
        text = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
        return reply["content"], text

    async def run(self, code: str, timeout: float = 30) -> tuple[dict[str, Any], str]:
        """Run a cell as the user; returns its reply content and everything it printed."""
        return await self.finish(self.send(code), timeout)


IPYKERNEL = [sys.executable, "-m", "ipykernel_launcher"]


def launch_ide_kernel(
    runtime_dir: Path, *, name: str | None = None, command: list[str] = IPYKERNEL, ip: str = "127.0.0.1"
) -> tuple[Path, subprocess.Popen[bytes]]:
    """Start a kernel as an IDE does: write a connection file, run `command -f FILE`."""
    path = runtime_dir / f"kernel-{name or secrets.token_hex(4)}.json"
    write_connection_file(str(path), ip=ip, key=secrets.token_hex(16).encode())
    process = subprocess.Popen(
        [*command, "-f", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
    )
    return path, process


async def ide_client(
    path: Path, process: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> IdeUser:
    """A client of a connection file without a kernel manager, as an IDE attaching to a kernel
    has one; returned once the kernel answers it.

    It has no heartbeat channel: jupyter_client's `wait_for_ready` takes a heartbeat a starting
    kernel misses on a busy machine for its death. Readiness is asked of the kernel itself
    instead, until a deadline: a kernel_info_request on shell, until the status of one reaches
    iopub (so the subscription is live and nothing of the next cell is missed). A kernel whose
    `process` exits meanwhile is reported at once."""
    client = AsyncKernelClient()
    client.load_connection_file(str(path))
    client.start_channels(hb=False)
    try:
        await _until_ready(client, path, process, timeout)
    except BaseException:
        client.stop_channels()
        raise
    return IdeUser(client)


async def _until_ready(
    client: AsyncKernelClient, path: Path, process: subprocess.Popen[bytes] | None, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    asked: set[str] = set()
    while not await _status_of(client, asked, min(loop.time() + 1, deadline)):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the kernel of {path.name} exited ({process.returncode}) before answering")
        if loop.time() >= deadline:
            raise RuntimeError(f"the kernel of {path.name} answered no kernel_info_request in {timeout} s")
        asked.add(client.kernel_info())
    # The kernel answers requests in order: once one more is answered on both channels, every
    # earlier request's reply and status are behind us, and nothing of this wait comes later.
    last = client.kernel_info()
    if not await _status_of(client, {last}, deadline):
        raise RuntimeError(f"the kernel of {path.name} stopped answering while it started")
    while True:
        try:
            reply = await client.get_shell_msg(timeout=max(deadline - loop.time(), 0.001))
        except queue.Empty:
            raise RuntimeError(
                f"the kernel of {path.name} sent no kernel_info_reply in {timeout} s"
            ) from None
        if (reply["parent_header"] or {}).get("msg_id") == last:
            return


async def _status_of(client: AsyncKernelClient, requests: set[str], until: float) -> bool:
    """Whether iopub brings the idle status of one of `requests` before the loop time `until`
    (other messages are dropped)."""
    loop = asyncio.get_running_loop()
    while requests:
        try:
            msg = await client.get_iopub_msg(timeout=max(until - loop.time(), 0.001))
        except queue.Empty:
            return False
        if (
            (msg["parent_header"] or {}).get("msg_id") in requests
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            return True
    return False


async def _ide_kernel(
    runtime_dir: Path, name: str | None = None, command: list[str] = IPYKERNEL
) -> IdeKernel:
    path, process = launch_ide_kernel(runtime_dir, name=name, command=command)
    try:
        return IdeKernel(path, process, await ide_client(path, process))
    except BaseException:
        process.kill()
        process.wait()
        path.unlink(missing_ok=True)
        raise


@asynccontextmanager
async def ide_kernel(runtime_dir: Path, command: list[str] = IPYKERNEL) -> AsyncIterator[IdeKernel]:
    kernel = await _ide_kernel(runtime_dir, command=command)
    try:
        yield kernel
    finally:
        _stop(kernel)


def _stop(kernel: IdeKernel) -> None:
    kernel.ide.client.stop_channels()
    if kernel.process.poll() is None:
        kernel.process.kill()
    kernel.process.wait()
    kernel.path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
async def shared_kernel(runtime_dir: Path) -> AsyncIterator[IdeKernel]:
    """One long-lived kernel for the tests that leave it as they found it."""
    kernel = await _ide_kernel(runtime_dir)
    yield kernel
    _stop(kernel)


@pytest.fixture
async def own_kernel(runtime_dir: Path) -> AsyncIterator[IdeKernel]:
    """A kernel for one test that may kill, stop or wreck it."""
    kernel = await _ide_kernel(runtime_dir)
    yield kernel
    _stop(kernel)


@dataclass
class Gate:
    """A file a cell waits for: the cell runs exactly until the test opens the gate, so no
    sleep in the kernel races the server."""

    path: Path

    @property
    def code(self) -> str:
        """A statement that waits for the gate (polling every 5 ms); it defines no name."""
        return f"while not __import__('os').path.exists({str(self.path)!r}): __import__('time').sleep(0.005)"

    def open(self) -> None:
        self.path.touch()


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Callable[[], Gate]]:
    """Makes gates for the test's cells; all are opened when it ends, whatever happened, so no
    kernel is left waiting."""
    made: list[Gate] = []

    def new() -> Gate:
        made.append(Gate(tmp_path / f"gate-{len(made)}"))
        return made[-1]

    yield new
    for gate in made:
        gate.open()


@pytest.fixture(scope="session")
def settings(runtime_dir: Path) -> Settings:
    return Settings(runtime_dir=str(runtime_dir), timeout=30.0, connect_timeout=10.0)


@pytest.fixture
async def assistant(settings: Settings) -> AsyncIterator[Assistant]:
    """The model's side: the real MCP client SDK talking to the server in-process."""
    async with mcp.Client(build_server(settings)) as client:
        yield Assistant(client, Path(settings.runtime_dir))
        watchdog = asyncio.ensure_future(_dump_tasks_after(20))
    watchdog.cancel()


@asynccontextmanager
async def ide_managed_kernel(path: Path) -> AsyncIterator[AsyncKernelManager]:
    """A kernel the IDE starts (and may restart) through a KernelManager, as Jupyter and Spyder
    do, on the connection file `path`; shut down at the end."""
    manager = AsyncKernelManager(connection_file=str(path))
    await manager.start_kernel(env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    try:
        yield manager
    finally:
        await manager.shutdown_kernel(now=True)


@pytest.fixture
async def helper(settings: Settings) -> AsyncIterator[tuple[Assistant, KernelRegistry]]:
    """The assistant, with the server's registry at hand to follow its sessions."""
    registry = KernelRegistry(settings)
    async with mcp.Client(build_server(settings, registry)) as client:
        yield Assistant(client, Path(settings.runtime_dir)), registry


async def _dump_tasks_after(seconds: float) -> None:
    """If closing the server takes this long, show where every task waits (then keep waiting)."""
    await asyncio.sleep(seconds)
    print(f"\n--- closing the server took over {seconds} s; asyncio tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)


@dataclass
class Assistant:
    client: mcp.Client
    runtime_dir: Path

    async def call(self, tool: str, progress: Any = None, **arguments: Any) -> mcp.types.CallToolResult:
        result = await self.client.call_tool(tool, arguments, progress_callback=progress)
        assert_no_secret(str(result), self.runtime_dir)
        return result

    async def text(self, tool: str, **arguments: Any) -> str:
        """Call a tool that must succeed; its text."""
        result = await self.call(tool, **arguments)
        assert not result.is_error, texts(result)
        return texts(result)

    async def until_busy(self, cell: str = "another client's cell In[", timeout: float = 30) -> None:
        """Return once kernel_status says the kernel is busy running `cell` (by default one of
        the IDE user's, with its number: the server saw it start). Busy with a request of the
        server's own, such as its probe of the kernel's hooks, does not count."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while f"busy running {cell}" not in await self.text("kernel_status"):
            if loop.time() > deadline:
                raise AssertionError(f"the kernel was not seen busy running {cell} within {timeout} s")
            await asyncio.sleep(0.01)

    async def error(self, tool: str, **arguments: Any) -> str:
        """Call a tool that must fail; the error the model reads."""
        result = await self.call(tool, **arguments)
        assert result.is_error, texts(result)
        return texts(result)


EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@dataclass
class NotebookServer:
    """A real Jupyter Server with a base URL prefix, as JupyterHub serves each user."""

    url: str
    token: str
    pid: int
    runtime_dir: Path
    root: Path
    process: subprocess.Popen[bytes]

    def rest(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=30
        )

    async def open_notebook(self, path: str) -> tuple[str, Path]:
        """Open a notebook as JupyterLab does (a session starts its kernel): (session id, connection file)."""
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(EMPTY_NOTEBOOK))
        async with self.rest() as rest:
            reply = await rest.post(
                "api/sessions",
                json={"path": path, "name": target.name, "type": "notebook", "kernel": {"name": "python3"}},
            )
        reply.raise_for_status()
        session = reply.json()
        return session["id"], self.runtime_dir / f"kernel-{session['kernel']['id']}.json"

    async def close_notebook(self, session_id: str) -> None:
        async with self.rest() as rest:
            (await rest.delete(f"api/sessions/{session_id}")).raise_for_status()

    def stop(self) -> None:
        """Stop the server the way Ctrl+C does: it shuts its kernels down first."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@asynccontextmanager
async def jupyter_server(
    runtime_dir: Path, root: Path, *args: str, port: int = 0, token: str | None = None
) -> AsyncIterator[NotebookServer]:
    """`jupyter server` on 127.0.0.1 with a token and the base URL /user/alice/."""
    token = token or secrets.token_hex(24)
    log_path = root.parent / f"jupyter-server-{root.name}-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--allow-root",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                "--ServerApp.base_url=/user/alice/",
                f"--ServerApp.root_dir={root}",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "JUPYTER_RUNTIME_DIR": str(runtime_dir),
                "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            },
        )
    info_file = runtime_dir / f"jpserver-{process.pid}.json"
    await wait_until(lambda: info_file.exists() or process.poll() is not None, timeout=60)
    assert process.poll() is None, log_path.read_text()
    await wait_until(lambda: bool(info_file.read_text().strip()), timeout=10)
    info = json.loads(info_file.read_text())
    server = NotebookServer(info["url"], token, process.pid, runtime_dir, root, process)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime dir of a test module's own Jupyter Server."""
    return tmp_path_factory.mktemp("server-runtime")


@pytest.fixture(scope="module")
async def notebook_server(
    server_runtime_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[NotebookServer]:
    async with jupyter_server(server_runtime_dir, tmp_path_factory.mktemp("notebooks")) as server:
        yield server


def assert_no_secret(text: str, runtime_dir: Path) -> None:
    """No kernel key and no Jupyter Server token from the runtime dir appears in what the model reads."""
    for pattern, field in (("kernel-*.json", "key"), ("jpserver-*.json", "token")):
        for path in runtime_dir.glob(pattern):
            try:
                secret = json.loads(path.read_text()).get(field)
            except (OSError, ValueError, AttributeError):  # unreadable, or not a JSON object
                continue
            assert not secret or secret not in text, f"the {field} of {path.name} leaked into a result"


def statuses_during(messages: list[dict[str, Any]], cell: str) -> list[tuple[str | None, str]]:
    """The status messages of other requests an IDE received while its cell ran, as
    (parent request type, state): what an IDE would take for the kernel's state meanwhile."""
    started = next(i for i, m in enumerate(messages) if m["parent_header"].get("msg_id") == cell)
    return [
        (m["parent_header"].get("msg_type"), m["content"]["execution_state"])
        for m in messages[started:]
        if m["msg_type"] == "status" and m["parent_header"].get("msg_id") != cell
    ]


def texts(result: mcp.types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def images(result: mcp.types.CallToolResult) -> list[Any]:
    return [c for c in result.content if c.type == "image"]


async def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll a cheap condition (a process state) until it holds; used where no event exists."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)

"""A real JupyterHub 6 and real Enterprise Gateways 3.3 on 127.0.0.1: their kernels work as any
other, and what they refuse is told with its real cause (tests/hub_gateway.py starts them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import mcp
import pytest
from conftest import Assistant, images, texts, wait_until
from hub_gateway import (
    CHP,
    GATEWAY,
    Gateway,
    Hub,
    assert_secrets_absent,
    enterprise_gateway,
    jupyterhub,
)

from ipython_mcp.discovery.server_api import ServerAPI
from ipython_mcp.discovery.servers import JupyterServer
from ipython_mcp.errors import JupyterServerError
from ipython_mcp.server import build_server
from ipython_mcp.session.registry import KernelRegistry
from ipython_mcp.session.remote import ServerKernelSession
from ipython_mcp.settings import ServerConfig, Settings
from ipython_mcp.transport.websocket import WebsocketChannels

NO_NPM = "scripts/test.sh installs configurable-http-proxy, JupyterHub's proxy, where npm is available"


@pytest.fixture(scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    if CHP is None:
        pytest.skip(NO_NPM)
    async with jupyterhub(tmp_path_factory.mktemp("hub")) as running:
        yield running


def _gateway_installed() -> None:
    assert GATEWAY is not None, "run the suite with scripts/test.sh, which builds .venv-gateway"


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """Enterprise Gateway as it comes: kernel listing off, user root refused."""
    _gateway_installed()
    async with enterprise_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """Enterprise Gateway set up to list its kernels and to start them as root."""
    _gateway_installed()
    async with enterprise_gateway(
        tmp_path_factory.mktemp("cluster"),
        "--EnterpriseGatewayApp.list_kernels=True",
        env={"EG_UNAUTHORIZED_USERS": "nobody"},
    ) as running:
        yield running


class ServersAssistant(Assistant):
    """The model, with the servers configured; no token of theirs may reach it."""

    registry: KernelRegistry
    secrets_base: Path

    async def call(self, tool: str, progress: object = None, **arguments: object) -> mcp.types.CallToolResult:
        result = await super().call(tool, progress, **arguments)
        assert_secrets_absent(result, self.secrets_base)
        return result

    def session(self) -> ServerKernelSession:
        session = self.registry.sessions[-1]
        assert isinstance(session, ServerKernelSession)
        return session


@pytest.fixture(scope="module")
def empty_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-local-kernels")


def settings_for(runtime_dir: Path, *servers: ServerConfig) -> Settings:
    return Settings(runtime_dir=str(runtime_dir), timeout=30.0, connect_timeout=20.0, servers=servers)


@asynccontextmanager
async def assistant_for(
    base: Path, runtime_dir: Path, *servers: ServerConfig
) -> AsyncIterator[ServersAssistant]:
    settings = settings_for(runtime_dir, *servers)
    registry = KernelRegistry(settings)
    async with mcp.Client(build_server(settings, registry)) as client:
        helper = ServersAssistant(client, runtime_dir)
        helper.registry, helper.secrets_base = registry, base
        yield helper


def on_hub(hub: Hub, token: str | None = None) -> ServerConfig:
    return ServerConfig(hub.user_url, hub.user_token if token is None else token, "hub")


def on_gateway(gateway: Gateway, name: str, token: str | None = None) -> ServerConfig:
    return ServerConfig(gateway.url, gateway.token if token is None else token, name)


@pytest.fixture
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's temp dir, where the Hubs and Gateways keep the names of their tokens."""
    return tmp_path_factory.getbasetemp()


# -- kernels work ---------------------------------------------------------------------------------


async def work_in_a_started_kernel(assistant: ServersAssistant, server: str, gate: Path) -> None:
    """What the model does in a kernel it started: run code, plot, look at variables, stop
    runaway code (by timeout and by interrupt_kernel), restart and shut down."""
    started = await assistant.text("start_kernel", server=server)
    assert "Started kernel" in started and f"'{server}'" in started
    assert await assistant.text("execute_code", code="print('hello'); 6 * 7") == "hello\n\n42"

    plotted = await assistant.call(
        "execute_code", code="import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.show()"
    )
    [image] = images(plotted)
    assert image.mime_type == "image/png" and len(image.data) > 1000

    await assistant.text("execute_code", code="table = {'a': 1, 'b': 2}")
    assert "table" in await assistant.text("list_variables")
    assert "'a': 1" in await assistant.text("inspect_variable", name="table")

    # A cell that waits for a file nobody creates: only an interrupt ends it.
    never = gate / "never"
    wait = f"import os, time\nwhile not os.path.exists({str(never)!r}):\n    time.sleep(0.005)"
    timed_out = texts(await assistant.call("execute_code", code=wait, timeout=1))
    assert "Timed out after 1 s" in timed_out and "asked the server to interrupt it" in timed_out
    assert "is idle" in timed_out

    running = gate / "running"
    await assistant.call(
        "execute_code",
        code=f"open({str(running)!r}, 'w').close()\n{wait}",
        timeout=0.1,
        on_timeout="continue",
    )
    await wait_until(running.exists, timeout=30)
    interrupted = await assistant.text("interrupt_kernel")
    assert "Interrupted" in interrupted and "(asked the server to interrupt it)" in interrupted
    assert "The kernel is idle" in interrupted
    assert await assistant.text("execute_code", code="table['b']") == "2"

    session = assistant.session()
    restarted = await assistant.text("restart_kernel")
    assert "gone: table (dict len 2, the assistant's In [" in restarted
    gone = await assistant.call("execute_code", code="table")
    assert gone.is_error and "NameError" in texts(gone)

    shut = await assistant.text("shutdown_kernel")
    assert f"asked Jupyter Server '{server}'" in shut and "to shut it down" in shut
    async with ServerAPI(session.server) as api:
        assert await api.kernel(session.kernel_id) is None


async def test_a_kernel_started_on_the_hub_works_as_a_local_one(
    hub: Hub, base: Path, empty_runtime_dir: Path, tmp_path: Path
) -> None:
    async with assistant_for(base, empty_runtime_dir, on_hub(hub)) as assistant:
        await work_in_a_started_kernel(assistant, "hub", tmp_path)


async def test_a_kernel_started_on_a_gateway_works_as_a_local_one(
    cluster: Gateway, base: Path, empty_runtime_dir: Path, tmp_path: Path
) -> None:
    async with assistant_for(base, empty_runtime_dir, on_gateway(cluster, "cluster")) as assistant:
        await work_in_a_started_kernel(assistant, "cluster", tmp_path)


async def test_a_notebook_open_on_the_hub_is_connected_by_its_name(
    hub: Hub, base: Path, empty_runtime_dir: Path
) -> None:
    kernel_id = await hub.open_notebook("analysis.ipynb")
    async with assistant_for(base, empty_runtime_dir, on_hub(hub)) as assistant:
        listing = await assistant.text("list_kernels")
        assert (
            f"{kernel_id[:8]}: python3; Jupyter Server 'hub' ({hub.user_url}) notebook analysis.ipynb"
            in listing
        )
        connected = await assistant.text("connect_to_kernel", connection_file="analysis.ipynb")
        assert "notebook analysis.ipynb" in connected
        assert "over its websocket (v1)" in await assistant.text("kernel_status")
        assert await assistant.text("execute_code", code="import sys; sys.version_info[0]") == "3"
        await assistant.text("disconnect_kernel")


async def test_a_gateway_that_lists_its_kernels_names_their_notebooks(
    cluster: Gateway, base: Path, empty_runtime_dir: Path
) -> None:
    """Enterprise Gateway (jupyter_server 1) has /api/sessions, naming the notebook `notebook.path`."""
    async with cluster.rest() as rest:
        reply = await rest.post(
            "api/sessions",
            json={
                "path": "report.ipynb",
                "name": "report.ipynb",
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
    assert reply.status_code == 201, reply.text
    kernel_id = reply.json()["kernel"]["id"]
    async with assistant_for(base, empty_runtime_dir, on_gateway(cluster, "cluster")) as assistant:
        listing = await assistant.text("list_kernels")
        assert (
            f"{kernel_id[:8]}: python3; Jupyter Server 'cluster' ({cluster.url}) notebook report.ipynb"
            in listing
        )
        connected = await assistant.text("connect_to_kernel", connection_file="report.ipynb")
        assert "notebook report.ipynb" in connected
        assert await assistant.text("execute_code", code="1 + 1") == "2"
        await assistant.text("disconnect_kernel")
    async with cluster.rest() as rest:
        (await rest.delete(f"api/sessions/{reply.json()['id']}")).raise_for_status()


# -- what the servers refuse ------------------------------------------------------------------------


async def test_a_gateway_that_lists_no_kernels_says_so_and_reaches_them_by_id(
    gateway: Gateway, base: Path, empty_runtime_dir: Path
) -> None:
    kernel_id = await gateway.start_kernel()  # by another client of the gateway
    async with assistant_for(base, empty_runtime_dir, on_gateway(gateway, "gateway")) as assistant:
        listing = await assistant.text("list_kernels")
        assert f"Jupyter Server 'gateway' ({gateway.url}) does not list its kernels" in listing
        assert "--EnterpriseGatewayApp.list_kernels=True" in listing and "full kernel id" in listing
        assert "token" not in listing

        unnamed = await assistant.error("connect_to_kernel", server="gateway")
        assert "does not list its kernels" in unnamed and "refused the token" not in unnamed

        partial = await assistant.error("connect_to_kernel", connection_file=kernel_id[:8], server="gateway")
        assert f"has no kernel with the id '{kernel_id[:8]}'" in partial and "full id" in partial

        connected = await assistant.text("connect_to_kernel", connection_file=kernel_id, server="gateway")
        assert kernel_id[:8] in connected
        assert await assistant.text("execute_code", code="2 + 3") == "5"
        await assistant.text("disconnect_kernel")

        # Without server=, a full kernel id is asked of the gateways that list nothing.
        again = await assistant.text("connect_to_kernel", connection_file=kernel_id)
        assert kernel_id[:8] in again and "on Jupyter Server 'gateway'" in await assistant.text(
            "kernel_status"
        )
        await assistant.text("disconnect_kernel")
    async with gateway.rest() as rest:
        (await rest.delete(f"api/kernels/{kernel_id}")).raise_for_status()


async def test_a_gateway_refusing_the_user_root_is_told_and_kernel_username_is_honoured(
    gateway: Gateway, base: Path, empty_runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KERNEL_USERNAME", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "root")  # the user this MCP server runs as
    async with assistant_for(base, empty_runtime_dir, on_gateway(gateway, "gateway")) as assistant:
        refused = await assistant.error("start_kernel", server="gateway")
        assert "Jupyter Server 'gateway'" in refused and "refused to start a kernel as user 'root'" in refused
        assert "--EnterpriseGatewayApp.unauthorized_users (root is, by default)" in refused
        assert "set KERNEL_USERNAME in this MCP server's environment" in refused
        assert "token" not in refused

        monkeypatch.setenv("KERNEL_USERNAME", "ada")
        await assistant.text("start_kernel", server="gateway")
        assert (
            await assistant.text("execute_code", code="import os; os.environ['KERNEL_USERNAME']") == "'ada'"
        )
        await assistant.text("shutdown_kernel")


async def test_wrong_tokens_are_named_with_where_each_server_issues_them(
    hub: Hub, gateway: Gateway, base: Path, empty_runtime_dir: Path
) -> None:
    servers = (on_hub(hub, token="wrong-token"), on_gateway(gateway, "gateway", token="wrong-token"))
    async with assistant_for(base, empty_runtime_dir, *servers) as assistant:
        listing = await assistant.text("list_kernels")
        assert (
            f"Jupyter Server 'hub' ({hub.user_url}) refused the token configured for it: a new one comes "
            f"from the Hub's Token page, {hub.url}hub/token" in listing
        )
        assert (
            f"Jupyter Server 'gateway' ({gateway.url}) refused the token configured for it: it must be "
            "the token the gateway was started with (its --EnterpriseGatewayApp.auth_token" in listing
        )

        on_the_hub = await assistant.error("start_kernel", server="hub")
        assert "refused the token configured for it" in on_the_hub and "(HTTP 403)" in on_the_hub
        assert f"Token page, {hub.url}hub/token" in on_the_hub and "jupyter server list" not in on_the_hub

        on_the_gateway = await assistant.error("start_kernel", server="gateway")
        assert "refused the token configured for it" in on_the_gateway and "(HTTP 401)" in on_the_gateway
        assert "--EnterpriseGatewayApp.auth_token" in on_the_gateway
        for text in (listing, on_the_hub, on_the_gateway):
            assert "wrong-token" not in text


async def test_the_hubs_own_url_is_told_apart_from_a_users_server(
    hub: Hub, base: Path, empty_runtime_dir: Path
) -> None:
    for url in (hub.url, f"{hub.url}hub/"):
        server = ServerConfig(url, hub.user_token, "hub")
        async with assistant_for(base, empty_runtime_dir, server) as assistant:
            listing = await assistant.text("list_kernels")
            assert f"Jupyter Server 'hub' ({url}) is JupyterHub itself" in listing
            assert f"is JupyterHub itself; a user's server is at {hub.url}user/<name>/" in listing
            error = await assistant.error("start_kernel", server="hub")
            assert "is JupyterHub itself, not a user's server" in error and "token" not in error


async def refused_websocket(url: str, name: str, kernel_id: str) -> str:
    """The error of opening a kernel's websocket with a wrong token."""
    server = JupyterServer(url=url, token="wrong-token", name=name, configured=True)
    async with ServerAPI(server) as api:
        channels = WebsocketChannels(server, kernel_id, api, reconnect_for=1)
        with pytest.raises(JupyterServerError) as refused:
            await channels.open(10)
    return str(refused.value)


async def test_a_refused_websocket_is_explained_by_the_rest_api(hub: Hub, gateway: Gateway) -> None:
    """A Hub refuses the handshake with an HTML page (never read: such pages can hold tokens)."""
    on_the_hub = await refused_websocket(hub.user_url, "hub", await hub.open_notebook("websocket.ipynb"))
    assert "refused the token configured for it" in on_the_hub and "(HTTP 403)" in on_the_hub
    assert "Token page" in on_the_hub
    on_the_gateway = await refused_websocket(gateway.url, "gateway", await gateway.start_kernel())
    assert "refused the token configured for it" in on_the_gateway and "(HTTP 401)" in on_the_gateway
    assert "--EnterpriseGatewayApp.auth_token" in on_the_gateway


async def test_the_users_server_stopped_from_the_hub_is_told_with_where_to_start_it(
    hub: Hub, base: Path, empty_runtime_dir: Path
) -> None:
    spawn = f"{hub.url}hub/spawn/{hub.user}"
    async with assistant_for(base, empty_runtime_dir, on_hub(hub)) as assistant:
        await assistant.text("start_kernel", server="hub")
        await assistant.text("execute_code", code="kept = 1")
        session = assistant.session()
        try:
            await hub.stop_server()  # the user clicks Stop My Server (or the Hub culls it)
            await asyncio.wait_for(session.link.dead, 30)
            lost = await assistant.error("execute_code", code="kept")
            stopped = f"Jupyter Server 'hub' ({hub.user_url}) is a JupyterHub user server that is not running"
            assert stopped in lost and f"It can be started again at {spawn}." in lost
            assert "login page" not in lost and "token" not in lost

            listing = await assistant.text("list_kernels")
            assert stopped in listing and spawn in listing

            # The Hub answers a POST for a stopped server with a 403 page, not with its redirect.
            start = await assistant.error("start_kernel", server="hub")
            assert stopped in start and spawn in start
            assert "token" not in start
        finally:
            await hub.start_server()
        await assistant.text("start_kernel", server="hub")
        assert await assistant.text("execute_code", code="'back'") == "'back'"
        await assistant.text("shutdown_kernel")

"""A real JupyterHub and real Enterprise Gateways on 127.0.0.1, for the tests that reach them.

JupyterHub 6 (in the suite's .venv) runs with DummyAuthenticator, SimpleLocalProcessSpawner and
configurable-http-proxy (from npm, which scripts/test.sh installs in .node); its user `ada` has an
API token made through the Hub's REST API, as the Token page makes one, and a running server whose
kernels are ipykernel 7. Enterprise Gateway 3.3 pins jupyter_server 1 and jupyter_client 6, so it
lives in its own .venv-gateway; its kernels run this suite's Python (ipykernel 7) through a
kernelspec of the test's own. Everything lives under the suite's temp dirs and is stopped, with
every process it started, when the test module ends, passed or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psutil

ROOT = Path(__file__).resolve().parents[1]
SECRETS_GLOB = "test-secrets-*.json"
"""Files in the suite's temp dir naming the tokens of its Hubs and Gateways (`tokens`): the
suite checks that none appears in a log line or a result."""
EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
USER = "ada"


def _tool(variable: str, default: Path) -> str | None:
    path = os.environ.get(variable) or str(default)
    return path if Path(path).is_file() else None


CHP = _tool("IPYTHON_MCP_TEST_CHP", ROOT / ".node/node_modules/.bin/configurable-http-proxy")
"""configurable-http-proxy, which JupyterHub runs as its proxy (installed from npm)."""
GATEWAY = _tool("IPYTHON_MCP_TEST_GATEWAY", ROOT / ".venv-gateway/bin/jupyter-enterprisegateway")
"""Enterprise Gateway's command, in its own virtualenv."""
JUPYTERHUB = _tool("IPYTHON_MCP_TEST_JUPYTERHUB", Path(sys.executable).parent / "jupyterhub")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _record_secrets(where: Path, *tokens: str) -> None:
    (where / f"test-secrets-{secrets.token_hex(4)}.json").write_text(json.dumps({"tokens": list(tokens)}))


async def _wait_for(
    url: str, process: subprocess.Popen[bytes], log: Path, token: str = "", timeout: float = 60
) -> None:
    """Poll `url` until it answers 200; fail with the log as soon as the process has exited."""
    headers = {"Authorization": f"token {token}"} if token else {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx2.AsyncClient(timeout=2, trust_env=False) as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{log.name}: exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            with contextlib.suppress(httpx2.HTTPError):
                if (await http.get(url, headers=headers)).status_code == 200:
                    return
            if loop.time() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.05)


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    """Ask the Hub until `check` holds: it has no event to wait on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop a server the way Ctrl+C does (it stops what it started), then anything of its left."""
    with contextlib.suppress(psutil.Error):
        descendants = psutil.Process(process.pid).children(recursive=True)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()


# -- JupyterHub ---------------------------------------------------------------------------------


@dataclass
class Hub:
    """A running JupyterHub, its admin service's token and the user `ada` with a token of hers."""

    url: str
    """The Hub's public URL (its proxy), `http://127.0.0.1:PORT/`."""
    admin_token: str = field(repr=False)
    user_token: str = field(repr=False)
    process: subprocess.Popen[bytes]
    home: Path
    """Where ada's server runs (her home: notebooks, runtime dir, history)."""
    user: str = USER

    @property
    def user_url(self) -> str:
        return f"{self.url}user/{self.user}/"

    def admin(self) -> httpx2.AsyncClient:
        """The Hub's REST API, as its administrator."""
        return httpx2.AsyncClient(
            base_url=f"{self.url}hub/api/",
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=60,
            trust_env=False,
        )

    def as_user(self) -> httpx2.AsyncClient:
        """ada's server's REST API, with her token (what JupyterLab does in her browser)."""
        return httpx2.AsyncClient(
            base_url=self.user_url,
            headers={"Authorization": f"token {self.user_token}"},
            timeout=60,
            trust_env=False,
        )

    async def start_server(self) -> None:
        """Start ada's server (the Hub's Start My Server) and return once it answers."""
        async with self.admin() as admin:
            reply = await admin.post(f"users/{self.user}/server")
            assert reply.status_code in (201, 202, 400), reply.text  # 400: already running
            await _until(lambda: self._ready(admin), "ada's server to start")

    async def stop_server(self) -> None:
        """Stop ada's server (the Hub's Stop My Server, or its idle culler): her kernels end with it."""
        async with self.admin() as admin:
            reply = await admin.delete(f"users/{self.user}/server")
            assert reply.status_code in (202, 204), reply.text
            await _until(lambda: self._stopped(admin), "ada's server to stop")

    async def _ready(self, admin: httpx2.AsyncClient) -> bool:
        server = (await admin.get(f"users/{self.user}")).json()["servers"].get("")
        return bool(server and server["ready"])

    async def _stopped(self, admin: httpx2.AsyncClient) -> bool:
        return "" not in (await admin.get(f"users/{self.user}")).json()["servers"]

    async def open_notebook(self, path: str) -> str:
        """Open a notebook in ada's JupyterLab (its kernel starts with it); the kernel id."""
        async with self.as_user() as user:
            saved = await user.put(
                f"api/contents/{path}", json={"type": "notebook", "content": EMPTY_NOTEBOOK}
            )
            assert saved.status_code in (200, 201), saved.text
            session = await user.post(
                "api/sessions",
                json={"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}},
            )
            assert session.status_code == 201, session.text
            return session.json()["kernel"]["id"]


HUB_CONFIG = """\
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = "sqlite:///{base}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{base}/cookie_secret"
c.JupyterHub.pid_file = "{base}/jupyterhub.pid"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.pid_file = "{base}/proxy.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{base}/home/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.environment = {{"PYDEVD_DISABLE_FILE_VALIDATION": "1"}}
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
# The administrator's token is given here, so the Hub would stretch it as a password on every
# request: it is random, and the tests want answers in milliseconds.
c.JupyterHub.trust_user_provided_tokens = True
c.JupyterHub.services = [{{"name": "admin", "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = [
    {{"name": "admin-service", "scopes": ["admin:users", "admin:servers", "tokens"], "services": ["admin"]}}
]
"""


@asynccontextmanager
async def jupyterhub(base: Path) -> AsyncIterator[Hub]:
    """A Hub on free ports of 127.0.0.1 with ada's server running and a token of hers."""
    assert CHP is not None and JUPYTERHUB is not None
    admin_token = secrets.token_hex(24)
    proxy_token = secrets.token_hex(24)
    _record_secrets(base, admin_token, proxy_token)
    for attempt in range(3):  # a free port may be taken by another program before the Hub binds it
        port = free_port()
        config = base / "jupyterhub_config.py"
        config.write_text(
            HUB_CONFIG.format(
                port=port,
                hub_port=free_port(),
                proxy_port=free_port(),
                base=base,
                chp=CHP,
                singleuser=str(Path(sys.executable).parent / "jupyterhub-singleuser"),
                admin_token=admin_token,
            )
        )
        log = base / f"jupyterhub-{attempt}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [JUPYTERHUB, "-f", str(config)],
                cwd=base,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "CONFIGPROXY_AUTH_TOKEN": proxy_token,
                    # The proxy runs on the Node.js installed beside it.
                    "PATH": f"{Path(CHP).parent}{os.pathsep}{os.environ['PATH']}",
                },
            )
        url = f"http://127.0.0.1:{port}/"
        try:
            await _wait_for(f"{url}hub/api", process, log)
            break
        except RuntimeError:
            _stop(process)
            if attempt == 2:
                raise
    try:
        hub = Hub(url, admin_token, "", process, base / "home" / USER)
        async with hub.admin() as admin:
            created = await admin.post(f"users/{USER}")
            assert created.status_code == 201, created.text
            token = await admin.post(f"users/{USER}/tokens", json={"note": "ipython-mcp tests"})
            assert token.status_code == 201, token.text
        hub.user_token = token.json()["token"]
        _record_secrets(base, hub.user_token)
        await hub.start_server()
        yield hub
    finally:
        _stop(process)


# -- Enterprise Gateway -------------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    token: str = field(repr=False)
    process: subprocess.Popen[bytes]

    def rest(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=60, trust_env=False
        )

    async def start_kernel(self, user: str = USER) -> str:
        """Start a kernel as another client of the gateway does (JupyterLab with a gateway): its id."""
        async with self.rest() as rest:
            reply = await rest.post("api/kernels", json={"name": "python3", "env": {"KERNEL_USERNAME": user}})
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]


@asynccontextmanager
async def enterprise_gateway(
    base: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Gateway]:
    """`jupyter enterprisegateway` on a free port of 127.0.0.1 with a token; `args` and `env`
    configure it beyond its defaults (kernel listing off, user root refused)."""
    assert GATEWAY is not None
    token = secrets.token_hex(24)
    _record_secrets(base, token)
    spec = base / "share/kernels/python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        )
    )
    (base / "runtime").mkdir(exist_ok=True)
    environment = {
        **os.environ,
        "EG_AUTH_TOKEN": token,
        "JUPYTER_PATH": str(base / "share"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        **(env or {}),
    }
    for attempt in range(3):
        port = free_port()
        log = base / f"gateway-{attempt}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [GATEWAY, "--ip=127.0.0.1", f"--port={port}", "--port_retries=0", *args],
                cwd=base,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        url = f"http://127.0.0.1:{port}/"
        try:
            await _wait_for(f"{url}api", process, log, token)
            break
        except RuntimeError:
            _stop(process)
            if attempt == 2:
                raise
    try:
        yield Gateway(url, token, process)
    finally:
        _stop(process)


def recorded_secrets(base: Path) -> list[str]:
    """Every token that the Hubs and Gateways under `base` were given or gave."""
    found: list[str] = []
    for path in base.rglob(SECRETS_GLOB):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            found.extend(json.loads(path.read_text()).get("tokens") or [])
    return found


def assert_secrets_absent(text: Any, base: Path) -> None:
    shown = str(text)
    for token in recorded_secrets(base):
        assert token not in shown, "a Hub or Gateway token leaked"

"""Jupyter Servers (JupyterLab, JupyterHub, Enterprise Gateway): their kernels, notebooks and REST API.

Servers come from the user's configuration and from the runtime dir, where a running local
server writes `jpserver-<pid>.json` (URL and token) and its kernels' connection files
`kernel-<kernel id>.json`; `/api/sessions` maps kernel ids to notebook paths. A token
authenticates our requests and goes nowhere else.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from ..errors import JupyterServerError
from ..settings import ServerConfig

log = logging.getLogger(__name__)

SERVER_GLOB = "jpserver-*.json"
ANSWER_TIMEOUT = 3.0
"""Seconds a server gets to list its kernels before the listing goes on without it."""
REQUEST_TIMEOUT = 10.0
"""Seconds a server gets to answer a request about one kernel (start, interrupt, shut down)."""
RESTART_TIMEOUT = 60.0
"""Seconds a server gets to restart a kernel: it answers once the new kernel does."""


@dataclass(frozen=True, slots=True)
class JupyterServer:
    url: str
    """Base URL, prefix included (`http://host:8888/user/alice/`), ending in a slash."""
    pid: int | None = None
    root_dir: str = ""
    token: str = field(default="", repr=False)
    name: str = ""
    """How the model names it: the name it was configured under, else host:port/prefix."""
    configured: bool = False
    """Configured by the user (environment, flag, servers file): its kernels are reached over
    its websocket. A local server only found in the runtime dir is reached over ZMQ."""

    @property
    def title(self) -> str:
        """`Jupyter Server http://host:8888/`, with its configured name when it has one."""
        if self.name == _short(self.url):
            return f"Jupyter Server {self.url}"
        return f"Jupyter Server {self.name!r} ({self.url})"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:] if self.url.startswith("http") else self.url

    @property
    def is_loopback(self) -> bool:
        host = urlsplit(self.url).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")


def configured_servers(configs: Iterable[ServerConfig]) -> list[JupyterServer]:
    servers = []
    for config in configs:
        url = config.url.strip()
        url = url if url.endswith("/") else url + "/"
        servers.append(
            JupyterServer(url=url, token=config.token, name=config.name or _short(url), configured=True)
        )
    return servers


def url_key(url: str) -> tuple[str, int | None, str]:
    """What makes two URLs the same server: localhost and 127.0.0.1 alike, default ports filled in."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in ("localhost", "::1") or host.startswith("127."):
        host = "loopback"
    return host, parts.port or (443 if parts.scheme == "https" else 80), parts.path.rstrip("/")


def _short(url: str) -> str:
    """`127.0.0.1:8888/user/alice` for `http://127.0.0.1:8888/user/alice/`."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}".rstrip("/")


@dataclass(frozen=True, slots=True)
class ServerKernel:
    """A kernel as its Jupyter Server describes it."""

    kernel_id: str
    kernel_name: str
    execution_state: str
    connections: int
    server: JupyterServer
    path: str | None = None
    """The notebook (or console, file) the kernel belongs to, relative to the server's root."""

    def describe(self) -> str:
        """`Jupyter Server http://127.0.0.1:8888/ notebook analysis.ipynb, idle, 2 websocket clients`"""
        what = f"notebook {self.path}" if self.path else "no notebook"
        plural = "" if self.connections == 1 else "s"
        return (
            f"{self.server.title} {what}, {self.execution_state}, {self.connections} websocket client{plural}"
        )


@dataclass(frozen=True, slots=True)
class ServerReport:
    server: JupyterServer
    kernels: list[ServerKernel]
    problem: str | None = None


def find_servers(runtime_dir: Path | str, configured: Iterable[JupyterServer] = ()) -> list[JupyterServer]:
    """The configured servers, then those whose `jpserver-*.json` is in the runtime dir and whose
    process still runs (a server both configured and found is the configured one)."""
    servers = list(configured)
    known = {url_key(server.url) for server in servers}
    for path in sorted(Path(runtime_dir).glob(SERVER_GLOB)):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            url = str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        pid = info.get("pid")
        if isinstance(pid, int) and not psutil.pid_exists(pid):
            continue  # the server crashed and left its file behind
        url = url if url.endswith("/") else url + "/"
        if url_key(url) in known:
            continue
        servers.append(
            JupyterServer(
                url=url,
                pid=pid if isinstance(pid, int) else None,
                root_dir=str(info.get("root_dir") or info.get("notebook_dir") or ""),
                token=str(info.get("token") or ""),
                name=_short(url),
            )
        )
    return servers


async def list_server_kernels(servers: list[JupyterServer]) -> list[ServerReport]:
    """Every server's kernels with their notebooks, asked of all servers in parallel."""
    return list(await asyncio.gather(*(_report(server) for server in servers)))


async def _report(server: JupyterServer) -> ServerReport:
    async with ServerAPI(server, timeout=ANSWER_TIMEOUT) as api:
        try:
            kernels, sessions = await asyncio.gather(api.get("api/kernels"), api.sessions())
        except JupyterServerError as exc:
            return ServerReport(server, [], exc.problem)
        except Exception as exc:  # one odd server must not break the listing
            log.warning("listing the kernels of %s failed: %r", server.title, exc)
            return ServerReport(server, [], f"could not be asked ({type(exc).__name__})")
    try:
        paths = {s["kernel"]["id"]: s.get("path") for s in sessions if s.get("kernel")}
        found = [
            ServerKernel(
                kernel_id=k["id"],
                kernel_name=str(k.get("name", "")),
                execution_state=str(k.get("execution_state", "unknown")),
                connections=int(k.get("connections") or 0),
                server=server,
                path=paths.get(k["id"]),
            )
            for k in kernels
        ]
    except Exception as exc:  # any shape of answer: one odd server must not break the listing
        log.warning("unexpected answer from %s: %s", server.title, type(exc).__name__)
        return ServerReport(server, [], "answered in an unexpected format")
    return ServerReport(server, found)


class ServerAPI:
    """The REST calls we make to one server; failures become `JupyterServerError`s naming it.

    The token goes in the Authorization header of these requests and nowhere else."""

    def __init__(self, server: JupyterServer, timeout: float = REQUEST_TIMEOUT) -> None:
        import httpx2

        self.server = server
        self.headers = {"Authorization": f"token {server.token}"} if server.token else {}
        self._http = httpx2.AsyncClient(
            base_url=server.url, headers=self.headers, timeout=timeout, trust_env=not server.is_loopback
        )

    async def __aenter__(self) -> ServerAPI:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> Any:
        return self._json(await self._call("GET", path))

    async def sessions(self) -> Any:
        """Which notebook each kernel belongs to; none where a gateway keeps no sessions."""
        reply = await self._call("GET", "api/sessions", missing_ok=True)
        return [] if reply is None else self._json(reply)

    async def kernel(self, kernel_id: str) -> dict[str, Any] | None:
        """The server's model of a kernel (state, connections), None when it has no such kernel."""
        reply = await self._call("GET", f"api/kernels/{kernel_id}", missing_ok=True)
        return None if reply is None else self._json(reply)

    async def start_kernel(self, kernel_name: str | None) -> dict[str, Any]:
        # Enterprise Gateway starts the kernel as KERNEL_USERNAME; Jupyter Server ignores it.
        body: dict[str, Any] = {"env": {"KERNEL_USERNAME": getpass.getuser()}}
        if kernel_name:
            body["name"] = kernel_name
        return self._json(await self._call("POST", "api/kernels", json=body, what="kernel spec"))

    async def interrupt(self, kernel_id: str) -> None:
        await self._call("POST", f"api/kernels/{kernel_id}/interrupt")

    async def restart(self, kernel_id: str) -> None:
        await self._call("POST", f"api/kernels/{kernel_id}/restart", timeout=RESTART_TIMEOUT)

    async def shutdown(self, kernel_id: str) -> bool:
        """Shut the kernel down; False when the server no longer had it."""
        return await self._call("DELETE", f"api/kernels/{kernel_id}", missing_ok=True) is not None

    async def _call(
        self, method: str, path: str, *, missing_ok: bool = False, what: str = "kernel", **kwargs: Any
    ) -> Any:
        import httpx2

        try:
            reply = await self._http.request(method, path, **kwargs)
        except httpx2.HTTPError as exc:
            raise JupyterServerError(
                f"{self.server.title} did not answer ({type(exc).__name__}). Check that it is "
                "running and reachable, or call list_kernels.",
                problem=f"did not answer ({type(exc).__name__})",
            ) from None
        if reply.status_code == 404 and missing_ok:
            return None
        if reply.status_code >= 300:
            raise self.refusal(reply.status_code, what, _reason(reply))
        return reply

    def _json(self, reply: Any) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise JupyterServerError(
                f"{self.server.title} answered {reply.request.url.path} with something that is not "
                "JSON: is this the base URL of a Jupyter Server (with JupyterHub, /user/<name>/)?",
                final=True,
                problem="answered with something that is not JSON (is the URL its base URL?)",
            ) from None

    def refusal(self, status: int, what: str, reason: str = "") -> JupyterServerError:
        """The error for an HTTP refusal of the server, saying what to do about it."""
        title = self.server.title
        if status in (401, 403):
            where = (
                "the token configured for it (IPYTHON_MCP_JUPYTER_TOKEN, or its servers file entry)"
                if self.server.configured
                else "the token in its jpserver file"
            )
            return JupyterServerError(
                f"{title} refused {where} (HTTP {status}). The user should set its current token "
                "(`jupyter server list` shows it) and restart this MCP server.",
                final=True,
                problem=f"refused {where}",
            )
        detail = f": {reason}" if reason else ""
        if status == 404:
            return JupyterServerError(
                f"{title} has no such {what} (HTTP 404{detail}). Call list_kernels to see its kernels.",
                final=True,
                problem="answered HTTP 404",
            )
        if status < 400:
            return JupyterServerError(
                f"{title} redirected a request (HTTP {status}), as a login page does: check its URL "
                "(JupyterHub serves each user under /user/<name>/) and token.",
                final=True,
                problem=f"redirected to a login page (HTTP {status}): check its URL and token",
            )
        return JupyterServerError(
            f"{title} answered HTTP {status}{detail}.", final=status < 500, problem=f"answered HTTP {status}"
        )


def _reason(reply: Any) -> str:
    try:
        return str(reply.json().get("message") or "")[:300]
    except Exception:
        return ""


def notebook_matches(kernels: list[ServerKernel], spec: str) -> list[ServerKernel]:
    """Kernels whose notebook is `spec`: its path, or its last part(s) (`analysis.ipynb`)."""
    spec = spec.strip().strip("/")
    exact = [k for k in kernels if k.path and k.path.strip("/") == spec]
    if exact:
        return exact
    return [k for k in kernels if k.path and k.path.strip("/").endswith("/" + spec)]

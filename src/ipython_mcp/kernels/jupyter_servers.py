"""Local Jupyter Servers (JupyterLab, Notebook) and which notebook each of their kernels serves.

A running server writes `jpserver-<pid>.json` (URL and token) into the runtime dir, and its
kernels' connection files `kernel-<kernel id>.json` beside it; `/api/sessions` maps kernel ids
to notebook paths. The token authenticates our requests and goes nowhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

SERVER_GLOB = "jpserver-*.json"
ANSWER_TIMEOUT = 2.0
"""Seconds a local server gets to list its kernels before the listing goes on without it."""


@dataclass(frozen=True, slots=True)
class JupyterServer:
    url: str
    pid: int | None
    root_dir: str
    token: str = field(repr=False)


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
            f"Jupyter Server {self.server.url} {what}, {self.execution_state}, "
            f"{self.connections} websocket client{plural}"
        )


@dataclass(frozen=True, slots=True)
class ServerReport:
    server: JupyterServer
    kernels: list[ServerKernel]
    problem: str | None = None


def find_servers(runtime_dir: Path | str) -> list[JupyterServer]:
    """The servers whose `jpserver-*.json` is in the runtime dir and whose process still runs."""
    servers = []
    for path in sorted(Path(runtime_dir).glob(SERVER_GLOB)):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            url = str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        pid = info.get("pid")
        if isinstance(pid, int) and not psutil.pid_exists(pid):
            continue  # the server crashed and left its file behind
        servers.append(
            JupyterServer(
                url=url if url.endswith("/") else url + "/",
                pid=pid if isinstance(pid, int) else None,
                root_dir=str(info.get("root_dir") or info.get("notebook_dir") or ""),
                token=str(info.get("token") or ""),
            )
        )
    return servers


async def list_server_kernels(servers: list[JupyterServer]) -> list[ServerReport]:
    """Every server's kernels with their notebooks, asked of all servers in parallel."""
    if not servers:
        return []
    import httpx2

    async with httpx2.AsyncClient(timeout=ANSWER_TIMEOUT, trust_env=False) as http:
        return list(await asyncio.gather(*(_report(http, server) for server in servers)))


async def _report(http: Any, server: JupyterServer) -> ServerReport:
    import httpx2

    headers = {"Authorization": f"token {server.token}"} if server.token else {}
    try:
        kernels_reply, sessions_reply = await asyncio.gather(
            http.get(server.url + "api/kernels", headers=headers),
            http.get(server.url + "api/sessions", headers=headers),
        )
    except httpx2.HTTPError as exc:
        return ServerReport(server, [], f"did not answer ({type(exc).__name__})")
    for reply in (kernels_reply, sessions_reply):
        if reply.status_code in (401, 403):
            return ServerReport(server, [], "refused the token in its jpserver file")
        if reply.status_code != 200:
            return ServerReport(server, [], f"answered HTTP {reply.status_code}")
    try:
        kernels, sessions = kernels_reply.json(), sessions_reply.json()
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
        log.warning("unexpected answer from Jupyter Server %s: %s", server.url, type(exc).__name__)
        return ServerReport(server, [], "answered in an unexpected format")
    return ServerReport(server, found)


def notebook_matches(kernels: list[ServerKernel], spec: str) -> list[ServerKernel]:
    """Kernels whose notebook is `spec`: its path, or its last part(s) (`analysis.ipynb`)."""
    spec = spec.strip().strip("/")
    exact = [k for k in kernels if k.path and k.path.strip("/") == spec]
    if exact:
        return exact
    return [k for k in kernels if k.path and k.path.strip("/").endswith("/" + spec)]

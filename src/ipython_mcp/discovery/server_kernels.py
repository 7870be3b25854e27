"""The kernels of Jupyter Servers: each server's, with their notebooks; one by its full id; those
of a notebook.

A local server also writes its kernels' connection files, `kernel-<kernel id>.json`, in the
runtime dir; `/api/sessions` maps kernel ids to notebook paths.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import JupyterServerError
from .server_api import ANSWER_TIMEOUT, ServerAPI
from .servers import JupyterServer

log = logging.getLogger(__name__)

KERNEL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


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
    """What one server said of its kernels, or the problem that kept it from saying."""

    server: JupyterServer
    kernels: list[ServerKernel]
    problem: str | None = None
    """The short form of its error, for a listing: `refused the token in its jpserver file`."""
    listed: bool = True
    """False where the server refuses to list its kernels (an Enterprise Gateway by default);
    it still answers for a kernel by its id."""
    error: JupyterServerError | None = None
    """The error whose short form `problem` is, with its advice, where the server refused."""


async def list_server_kernels(servers: list[JupyterServer]) -> list[ServerReport]:
    """Every server's kernels with their notebooks, asked of all servers in parallel."""
    return list(await asyncio.gather(*(_report(server) for server in servers)))


async def _report(server: JupyterServer) -> ServerReport:
    async with ServerAPI(server, timeout=ANSWER_TIMEOUT) as api:
        try:
            answers = await asyncio.gather(api.get("api/kernels"), api.sessions(), return_exceptions=True)
            for answer in answers:  # both asked at once, and both done before the client closes
                if isinstance(answer, BaseException):
                    raise answer
            kernels, sessions = answers
        except JupyterServerError as exc:
            return ServerReport(server, [], exc.problem, listed=not exc.unlisted, error=exc)
        except Exception as exc:  # one odd server must not break the listing
            log.warning("listing the kernels of %s failed: %r", server.title, exc)
            return ServerReport(server, [], f"could not be asked ({type(exc).__name__})")
    try:
        # Jupyter Server names the notebook `path`; Enterprise Gateway (jupyter_server 1) `notebook.path`.
        paths = {
            s["kernel"]["id"]: s.get("path") or (s.get("notebook") or {}).get("path")
            for s in sessions
            if s.get("kernel")
        }
        found = [_server_kernel(k, server, paths.get(k["id"])) for k in kernels]
    except Exception as exc:  # any shape of answer: one odd server must not break the listing
        log.warning("unexpected answer from %s: %s", server.title, type(exc).__name__)
        return ServerReport(server, [], "answered in an unexpected format")
    return ServerReport(server, found)


def _server_kernel(model: dict[str, Any], server: JupyterServer, path: str | None = None) -> ServerKernel:
    return ServerKernel(
        kernel_id=model["id"],
        kernel_name=str(model.get("name", "")),
        execution_state=str(model.get("execution_state", "unknown")),
        connections=int(model.get("connections") or 0),
        server=server,
        path=path,
    )


async def kernels_by_id(servers: Iterable[JupyterServer], spec: str) -> list[ServerKernel]:
    """The kernel whose full id `spec` is, asked of each server (`api/kernels/<id>`): how kernels
    of a server that lists none (an Enterprise Gateway by default) are found."""
    spec = spec.strip()
    if not KERNEL_ID.fullmatch(spec):
        return []

    async def ask(server: JupyterServer) -> ServerKernel | None:
        async with ServerAPI(server, timeout=ANSWER_TIMEOUT) as api:
            model = await api.kernel(spec)
        return None if model is None else _server_kernel(model, server)

    found = await asyncio.gather(*(ask(server) for server in servers), return_exceptions=True)
    for answer in found:
        if isinstance(answer, JupyterServerError) and answer.final:
            raise answer  # the server refuses even that: its error says what to do
    return [k for k in found if isinstance(k, ServerKernel)]


def notebook_matches(kernels: list[ServerKernel], spec: str) -> list[ServerKernel]:
    """Kernels whose notebook is `spec`: its path, or its last part(s) (`analysis.ipynb`)."""
    spec = spec.strip().strip("/")
    exact = [k for k in kernels if k.path and k.path.strip("/") == spec]
    if exact:
        return exact
    return [k for k in kernels if k.path and k.path.strip("/").endswith("/" + spec)]

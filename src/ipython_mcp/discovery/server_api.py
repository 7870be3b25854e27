"""A Jupyter Server's REST API: the calls we make to one server about its kernels.

Listing kernels and sessions, asking for one kernel, starting, interrupting, restarting and
shutting kernels down. A failure becomes a JupyterServerError naming the server, with why it
refused (server_refusals.py). The token goes in the Authorization header of these requests and
nowhere else.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from ..errors import JupyterServerError
from .server_refusals import explain
from .servers import JupyterServer

ANSWER_TIMEOUT = 3.0
"""Seconds a server gets to list its kernels before the listing goes on without it."""
REQUEST_TIMEOUT = 10.0
"""Seconds a server gets to answer a request about one kernel (start, interrupt, shut down)."""
RESTART_TIMEOUT = 60.0
"""Seconds a server gets to restart a kernel: it answers once the new kernel does."""


class ServerAPI:
    """The REST calls we make to one server; failures become `JupyterServerError`s naming it."""

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
        """Which notebook each kernel belongs to; none where a server has no sessions API (404).
        Enterprise Gateway has one, refused like its kernel listing unless that is enabled."""
        reply = await self._call("GET", "api/sessions", missing_ok=True)
        return [] if reply is None else self._json(reply)

    async def kernel(self, kernel_id: str) -> dict[str, Any] | None:
        """The server's model of a kernel (state, connections), None when it has no such kernel."""
        reply = await self._call("GET", f"api/kernels/{kernel_id}", missing_ok=True)
        return None if reply is None else self._json(reply)

    async def start_kernel(self, kernel_name: str | None) -> dict[str, Any]:
        # Enterprise Gateway starts the kernel as KERNEL_USERNAME (its clients pass on the one in
        # their environment, as we do); Jupyter Server ignores it.
        user = os.environ.get("KERNEL_USERNAME") or getpass.getuser()
        body: dict[str, Any] = {"env": {"KERNEL_USERNAME": user}}
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
            if reply.status_code == 404 and missing_ok:
                return None
            if reply.status_code >= 300:
                raise await explain(self._http, self.server, reply, what)
        except httpx2.HTTPError as exc:
            raise JupyterServerError(
                f"{self.server.title} did not answer ({type(exc).__name__}).",
                problem=f"did not answer ({type(exc).__name__})",
                advice="check_server",
            ) from None
        return reply

    def _json(self, reply: Any) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise JupyterServerError(
                f"{self.server.title} answered {reply.request.url.path} with something that is not JSON.",
                final=True,
                problem="answered with something that is not JSON (the URL may not be the server's base URL)",
                advice="check_base_url",
            ) from None

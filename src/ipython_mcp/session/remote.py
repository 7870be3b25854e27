"""A kernel of a Jupyter Server (JupyterHub, Enterprise Gateway), reached over its websocket.

Interrupts, restarts and shutdowns go through the server's REST API, which works wherever the
kernel runs (another machine, a Kubernetes pod). The server tells its websocket clients when it
restarted a kernel that died (`restarting`) and when it could not (`dead`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from ..discovery.server_api import ServerAPI
from ..discovery.servers import JupyterServer
from ..errors import JupyterServerError, KernelUnreachable
from ..settings import Settings
from ..transport.websocket import WebsocketChannels, gone_from
from .base import KernelSession, Restart
from .link import InterruptStep, Recovery

log = logging.getLogger(__name__)

LIVENESS_POLL = 5.0
"""Seconds between asking the server whether the kernel still exists."""
SHUTDOWN_CHECKS = 20
"""Times (every 0.5 s) the server is asked after the kernel said it shuts down."""
SAME_RESTART = 10.0
"""Seconds within which a restart's new kernel says `starting` after the restart was announced
(or after our own restart returned)."""


class ServerKernelSession(KernelSession):
    """A kernel that a Jupyter Server runs, by its kernel id."""

    def __init__(
        self, name: str, server: JupyterServer, kernel_id: str, settings: Settings, *, started: bool = False
    ) -> None:
        self.server = server
        self.kernel_id = kernel_id
        self.started = started
        """Started by this MCP server just now: it gets the time a kernel takes to start."""
        self.api = ServerAPI(server)
        self.channels = WebsocketChannels(server, kernel_id, self.api, settings.reconnect_timeout)
        super().__init__(name, settings, self.channels)
        self._own_restart_until = self._starting_expected_until = 0.0
        self._check_soon = asyncio.Event()
        """Set when the kernel says it shuts down: ask the server at once whether it is gone."""
        self._reconnected = asyncio.Event()
        self.channels.on_lost = self._on_lost
        self.channels.on_reconnected = self._on_reconnected

    @classmethod
    async def open(
        cls, name: str, server: JupyterServer, kernel_id: str, settings: Settings, *, started: bool = False
    ) -> ServerKernelSession:
        session = await cls._opened(cls(name, server, kernel_id, settings, started=started))
        assert isinstance(session, ServerKernelSession)
        return session

    @property
    def identity(self) -> tuple[str, ...]:
        return ("server", self.server.url, self.kernel_id)

    @property
    def location(self) -> str:
        return (
            f"Kernel {self.kernel_id} on {self.server.title}, over its websocket ({self.channels.protocol})."
        )

    @property
    def restartable(self) -> bool:
        return True

    def recovery(self) -> Recovery:
        return Recovery("another_of_its_server", server=self.server.name)

    # -- connecting -----------------------------------------------------------------------

    async def _connect(self) -> float:
        # A kernel just started may take long to come up (on a gateway: a pod being scheduled).
        timeout = self.settings.start_timeout if self.started else self.settings.connect_timeout
        deadline = time.monotonic() + timeout
        await self.channels.open(timeout)
        self.router.start()
        _, shell = self.router.request("shell", "kernel_info_request")
        _, control = self.router.request("control", "kernel_info_request")
        done, _ = await asyncio.wait(
            {shell, control}, timeout=max(deadline - time.monotonic(), 0.1), return_when="FIRST_COMPLETED"
        )
        if not done:
            raise KernelUnreachable(
                f"Kernel {self.kernel_id} on {self.server.title} accepted the connection but did not "
                f"answer within {timeout:.0f} s. It may still be starting, or be stuck.",
                advice="server_kernel_silent",
            )
        self.link.kernel_info = next(iter(done)).result()["content"]
        return deadline

    async def _alive(self) -> bool:
        return self.channels.connected.is_set()

    async def _watch_liveness(self) -> None:
        # The websocket's pings find a dead connection. A kernel shut down on the server (from
        # JupyterLab, or culled) is learnt from the server: it leaves our websocket open and
        # drops what we send.
        while self.death is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._check_soon.wait(), LIVENESS_POLL)
            soon = self._check_soon.is_set()
            self._check_soon.clear()
            for _ in range(SHUTDOWN_CHECKS if soon else 1):
                if await self._gone_from_server():
                    return
                if soon:
                    await asyncio.sleep(0.5)

    async def _gone_from_server(self) -> bool:
        try:
            model = await self.api.kernel(self.kernel_id)
        except JupyterServerError:
            return False  # not reachable: the websocket's reconnection speaks for it
        if model is None:
            self._lose_names()
            self._end(f"The kernel {self.name} {gone_from(self.server.title)}.")
        elif model.get("execution_state") == "dead":
            self._mark_dead(f"{self.server.title} reports it dead")
        return self.death is not None

    # -- what the server tells us -----------------------------------------------------------

    def _on_lifecycle(self, state: str) -> None:
        """Another client's restart (its request, or the new kernel's `starting` when heard),
        the server's `restarting` after the kernel died, or its `dead` when it could not."""
        if self.death is not None or not self.kernel_info:
            return
        if state == "shutdown requested":
            self._check_soon.set()
            return
        if state == "dead":
            self._mark_dead(f"{self.server.title} could not restart it")
            return
        now = time.monotonic()
        if state in ("starting", "new kernel") and now < self._starting_expected_until:
            self._starting_expected_until = 0.0  # the new kernel of a restart already told
            return
        if now < self._own_restart_until:
            return
        self._starting_expected_until = now + SAME_RESTART  # one restart may announce itself twice
        if state == "restarting":
            self._restarted(Restart(self.name, "its_server", server=self.server.title))
            self.channels.drop()  # the server rewires its side to the new kernel only for new connections
        else:
            self._restarted(Restart(self.name, "another_client_of_its_server"))

    def _on_lost(self, reason: str) -> None:
        self._end(f"The connection to kernel {self.name} was lost: {reason}.")
        log.warning("%s", self.death)

    def _on_reconnected(self, gap: float, others: int) -> None:
        log.warning("reconnected to kernel %s after %.1f s", self.kernel_id, gap)
        self._reconnected.set()
        self._reconnected.clear()
        self.runner.reconnected(gap, others)

    # -- REST: interrupt, restart, shut down -------------------------------------------------

    def interrupt_steps(self) -> list[InterruptStep]:
        return [self._rest_interrupt, self.link.interrupt_request]

    async def _rest_interrupt(self) -> str | None:
        try:
            await self.api.interrupt(self.kernel_id)
        except JupyterServerError as exc:
            log.warning("interrupt through the server failed: %s", exc)
            return None
        return "asked the server to interrupt it"

    async def restart(self) -> None:
        """Restart through the server; returns once the new kernel answers."""
        self.check_alive()
        self._own_restart_until = math.inf  # what the kernel announces meanwhile is ours
        try:
            await self.api.restart(self.kernel_id)
        finally:
            self._own_restart_until = 0.0
            self._starting_expected_until = time.monotonic() + SAME_RESTART
        self._new_kernel()
        # The server rewires its side of a websocket to the new kernel (whose ports may have
        # changed, as on a gateway) only for a new connection.
        self.channels.drop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._reconnected.wait(), self.settings.connect_timeout)
        await self.router.catch_up(2.0)

    async def shutdown(self) -> list[str]:
        """Ask the server to shut the kernel down (also when our connection to it was lost)."""
        self._end(f"The kernel {self.name} was shut down.")
        try:
            gone = await self.api.shutdown(self.kernel_id)
            step = f"asked {self.server.title} to shut it down" + ("" if gone else " (it was already gone)")
        except JupyterServerError as exc:
            step = f"could not ask {self.server.title} to shut it down: it {exc.problem}"
        await self.close()
        return [step]

    async def _close_transport(self) -> None:
        await self.api.close()

"""A kernel reached through its connection file, over ZMQ: the user's IDE kernel or one we launched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import psutil

from ..discovery import processes
from ..discovery.files import ConnectionFile
from ..discovery.launcher import LaunchedKernel
from ..errors import KernelFrozen, KernelStartError, KernelUnreachable, KeyMismatch, RemoteKernelRefused
from ..settings import Settings
from ..transport.zmq import ZmqChannels
from .base import KernelSession, Restart
from .link import InterruptStep, Recovery

log = logging.getLogger(__name__)

LIVENESS_INTERVAL = 0.5
"""Seconds between liveness checks: a dead kernel ends a waiting call within about this."""
RESTART_GRACE = 10.0
"""Seconds a restart that a client announced gets to bring up the new kernel."""
YOUNG_KERNEL = 5.0
"""Seconds after its start during which a kernel may answer its heartbeat but not yet its shell."""


class LocalKernelSession(KernelSession):
    """A kernel of a connection file; liveness from its process, else its heartbeat."""

    def __init__(
        self,
        name: str,
        conn: ConnectionFile,
        settings: Settings,
        launched: LaunchedKernel | None = None,
    ) -> None:
        from jupyter_client.asynchronous import AsyncKernelClient

        self.conn = conn
        self.launched = launched
        self.client = AsyncKernelClient()
        self.client.load_connection_info(conn.info)
        super().__init__(name, settings, ZmqChannels(self.client))
        self.process: psutil.Process | None = psutil.Process(launched.pid) if launched else None
        self._restarted_to: int | None = None  # the pid of the kernel the last restart counted brought

    @classmethod
    async def open(
        cls, name: str, conn: ConnectionFile, settings: Settings, launched: LaunchedKernel | None = None
    ) -> LocalKernelSession:
        """Connect and return only once the kernel answered a request signed with its key."""
        session = await cls._opened(cls(name, conn, settings, launched))
        assert isinstance(session, LocalKernelSession)
        return session

    @property
    def identity(self) -> tuple[str, ...]:
        return ("file", str(self.conn.path))

    @property
    def location(self) -> str:
        return f"Connection file: {self.conn.path}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def restartable(self) -> bool:
        return self.launched is not None

    def frozen(self) -> str | None:
        if self.process is None or not processes.stopped(self.process):
            return None
        return (
            f"The kernel's process (pid {self.pid}) is stopped (SIGSTOP, or Ctrl+Z in its terminal): "
            "it answers nothing until resumed."
        )

    def being_replaced(self) -> bool:
        # Cheap enough for every execution: one read of the process's status.
        return self.process is not None and processes.gone(self.process)

    def recovery(self) -> Recovery:
        return Recovery("relaunch" if self.launched is not None else "restart_in_its_ide")

    def _iopub_hint(self) -> str:
        return f", port {self.conn.info['iopub_port']}"

    # -- connecting -----------------------------------------------------------------------

    async def _connect(self) -> float:
        conn, settings = self.conn, self.settings
        if not conn.is_loopback and not settings.allow_remote_kernels:
            raise RemoteKernelRefused(
                f"The kernel of {conn.path.name} listens on {conn.ip}, not on this machine's loopback: "
                "its traffic (your code, outputs and the signing key's messages) crosses the network "
                "unencrypted, and anyone there could reach its ports. Refused.",
                advice="tunnel_or_allow_remote",
            )
        if self.launched is None:
            listeners = processes.tcp_listeners()
            self.process = processes.kernel_process(conn, listeners)
            frozen = self.frozen()
            if frozen is not None:
                raise KernelFrozen(frozen, advice="resume_process", pid=self.pid)
            if (
                conn.is_loopback
                and processes.is_listening(conn, listeners) is False
                and processes.process_mentioning(conn.path) is None
            ):
                raise KernelUnreachable(
                    f"No kernel is running for {conn.path.name}: nothing listens on "
                    f"{conn.ip}:{conn.shell_port}. The file is stale (its kernel has exited).",
                    advice="stale_file",
                )
        self.router.start()
        _, shell = self.router.request("shell", "kernel_info_request")
        _, control = self.router.request("control", "kernel_info_request")
        timeout = settings.start_timeout if self.launched else settings.connect_timeout
        started = time.monotonic()
        deadline = started + timeout
        key_check_at = started + settings.key_check_timeout
        while True:
            done, _ = await asyncio.wait({shell, control}, timeout=0.1, return_when="FIRST_COMPLETED")
            if done:
                reply = next(iter(done)).result()
                break
            now = time.monotonic()
            if self.launched is not None and self.launched.exited():
                raise self.launched.failure()
            if now >= key_check_at and self.launched is None:
                if await self._heartbeat_answers() and (now >= deadline or not self._process_is_young()):
                    raise KeyMismatch(
                        f"The kernel of {conn.path.name} is alive (its heartbeat answers) but ignores "
                        f"requests signed with the key in that file for {now - started:.0f} s: the "
                        "file's key most likely does not match the kernel's (the file was rewritten, "
                        "or belongs to another kernel).",
                        advice="key_mismatch",
                    )
                key_check_at = time.monotonic() + 1.0
            if now >= deadline:
                if self.launched is not None:
                    raise KernelStartError(
                        f"The kernel started (pid {self.launched.pid}) but did not answer within "
                        f"{timeout:.0f} s; it was stopped. {self.launched.output()}"
                    )
                raise KernelUnreachable(
                    f"Nothing answered at {conn.ip} (ports of {conn.path.name}) within "
                    f"{timeout:.0f} s. The kernel may be on another machine or behind a firewall.",
                    advice="check_the_file",
                )
        self.link.kernel_info = reply["content"]
        if self.process is None:
            self.process = processes.kernel_process(conn, processes.tcp_listeners())
        return deadline

    def _process_is_young(self) -> bool:
        """A local kernel that started seconds ago may answer its heartbeat before its shell."""
        return self.process is not None and processes.age(self.process) < YOUNG_KERNEL

    async def _heartbeat_answers(self, timeout: float = 1.0) -> bool:
        return await heartbeat_answers(self.client, timeout)

    async def _alive(self) -> bool:
        return await self._heartbeat_answers()

    # -- liveness -------------------------------------------------------------------------

    async def _watch_liveness(self) -> None:
        misses = 0
        while True:
            await asyncio.sleep(LIVENESS_INTERVAL)
            if self.launched is not None and self.launched.exited():
                reason = f"exited with code {self.launched.process.returncode}"
            elif self.process is not None:
                if processes.alive(self.process) or await self._replaced(self.process):
                    continue
                reason = f"process {self.pid} is gone"
            else:
                misses = 0 if await self._heartbeat_answers() else misses + 1
                if misses < 3:
                    continue
                reason = "its heartbeat stopped answering"
            self._mark_dead(reason)
            return

    async def _replaced(self, gone: psutil.Process) -> bool:
        """Whether a gone kernel process was replaced by a restart: its IDE starts a new one
        on the same ports. A restart a client announced gets RESTART_GRACE to happen; an
        unannounced death, a moment."""
        announced = time.monotonic() - self.router.restart_announced < RESTART_GRACE
        deadline = time.monotonic() + (RESTART_GRACE if announced else LIVENESS_INTERVAL * 2)
        while time.monotonic() < deadline:
            if self.process is not gone:  # the new kernel said it is starting
                return True
            successor = await asyncio.to_thread(
                processes.kernel_process, self.conn, processes.tcp_listeners()
            )
            if self.process is not gone:  # told meanwhile, by the new kernel's `starting`
                return True
            if successor is not None and successor.pid != gone.pid:
                self._restarted_as(successor)
                return True
            await asyncio.sleep(0.1)
        return False

    def _on_lifecycle(self, state: str) -> None:
        if self.death is not None or not self.kernel_info or state not in ("starting", "new kernel"):
            return
        process = processes.kernel_process(self.conn, processes.tcp_listeners())
        if process is not None and process.pid == self._restarted_to:
            return  # a restart told already (by its `starting` status, or its process found)
        # A reply from a new kernel session is proof; `starting` may be ours announcing itself late.
        if state == "new kernel" or process is None or process.pid != self.pid:
            self._restarted_as(process)

    def _restarted_as(self, process: psutil.Process | None) -> None:
        old, self.process = self.pid, process
        self._restarted_to = self.pid
        pids = (old, self.pid) if old and self.pid else (None, None)
        self._restarted(Restart(self.name, "another_client", old_pid=pids[0], new_pid=pids[1]))

    # -- interrupting and ending -------------------------------------------------------------

    def interrupt_steps(self) -> list[InterruptStep]:
        return [self.link.interrupt_request, self._sigint]

    async def _sigint(self) -> str | None:
        """SIGINT to the kernel process, when it is on this machine."""
        if self.process is not None and processes.send_sigint(self.process):
            return f"sent SIGINT to pid {self.pid}"
        return None

    async def shutdown(self) -> list[str]:
        """Ask the kernel to exit, make sure its local process is gone, and report the steps."""
        steps: list[str] = []
        if self.death is None:
            self._end(f"The kernel {self.name} was shut down.")
            _, reply = self.router.request("control", "shutdown_request", {"restart": False})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(reply), 2.0)
            steps.append("sent shutdown_request" + ("" if reply.done() else " (no reply)"))
        if self.process is not None:
            reap = self.launched.process.poll if self.launched else None
            steps.extend(await processes.end_process(self.process, grace=3.0, reap=reap))
        await self.close()
        return steps

    async def _close_transport(self) -> None:
        self.client.stop_channels()
        self.client.context.destroy(linger=0)


async def heartbeat_answers(client: Any, timeout: float = 1.0) -> bool:
    """One ping on the kernel's heartbeat socket; it answers even while the kernel is busy."""
    socket = client.connect_hb()
    try:
        await socket.send(b"ping")
        return bool(await socket.poll(int(timeout * 1000)))
    finally:
        socket.close(linger=0)


async def probe_heartbeat(conn: ConnectionFile, timeout: float = 1.0) -> bool:
    """Whether a kernel answers at a connection file's heartbeat port, without connecting."""
    from jupyter_client.asynchronous import AsyncKernelClient

    client = AsyncKernelClient()
    client.load_connection_info(conn.info)
    try:
        return await heartbeat_answers(client, timeout)
    finally:
        client.context.destroy(linger=0)

"""A kernel's ZMQ sockets, through a jupyter_client AsyncKernelClient: one reader task each."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from .channels import CHANNELS, Deliver

log = logging.getLogger(__name__)

RECV_REARM = 0.25
"""Seconds after which a waiting ZMQ receive is re-armed; bounds the delay of a missed wake-up."""


class ZmqChannels:
    """The four ZMQ sockets of a jupyter_client AsyncKernelClient, one reader task each."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.session = client.session
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, deliver: Deliver) -> None:
        for name in CHANNELS:
            channel = getattr(self.client, f"{name}_channel")
            self._tasks.append(asyncio.create_task(self._read(name, channel, deliver)))

    def send(self, channel: str, msg: dict[str, Any]) -> None:
        getattr(self.client, f"{channel}_channel").send(msg)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _read(self, name: str, channel: Any, deliver: Deliver) -> None:
        # ZMQ signals readiness by edges that a send on the same socket can swallow: a pending
        # receive then sleeps with a message waiting (seen here for poll + recv, and rarely for
        # recv alone). Re-arming the receive every so often re-checks the socket.
        # Not asyncio.wait_for: cancelled, it waits for the pyzmq future to finish cancelling,
        # which sometimes never happens, and closing the session hung.
        session = self.session
        while True:
            received = channel.socket.recv_multipart()
            try:
                await asyncio.wait({received}, timeout=RECV_REARM)
            finally:
                if not received.done():
                    received.cancel()  # a cancelled receive takes no message from the socket
            if received.cancelled():
                continue
            raw = received.result()
            try:
                _, parts = session.feed_identities(raw)
                msg = deserialize(session, parts)
            except Exception as exc:  # a malformed or wrongly signed message must not stop routing
                log.warning("dropped an unreadable message on %s: %s", name, type(exc).__name__)
                continue
            deliver(name, msg)


def deserialize(session: Any, parts: list[bytes]) -> dict[str, Any]:
    """As `Session.deserialize`, with the same signature and replay checks, but leaving the
    headers' dates as the strings they are: nothing here reads them, and parsing them was the
    largest single cost of receiving a message."""
    from jupyter_client.adapter import adapt

    if len(parts) < 5:
        raise TypeError("malformed message, must have at least 5 parts")
    if session.auth is not None:
        signature = parts[0]
        if not signature:
            raise ValueError("Unsigned Message")
        if signature in session.digest_history:
            raise ValueError("Duplicate Signature")
        session._add_digest(signature)
        if not hmac.compare_digest(signature, session.sign(parts[1:5])):
            raise ValueError("Invalid Signature")
    header = session.unpack(parts[1])
    return adapt(
        {
            "header": header,
            "msg_id": header["msg_id"],
            "msg_type": header["msg_type"],
            "parent_header": session.unpack(parts[2]),
            "metadata": session.unpack(parts[3]),
            "content": session.unpack(parts[4]),
            "buffers": [memoryview(part) for part in parts[5:]],
        }
    )

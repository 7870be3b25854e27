"""How messages travel to and from one kernel: the `Channels` a `MessageRouter` reads and writes.

A kernel of a connection file is reached on its ZMQ sockets (`zmq.ZmqChannels`); a kernel of a
Jupyter Server through the server's websocket (`websocket.WebsocketChannels`). Both deliver whole
messages, `(channel name, message dict)`, and build outgoing ones with a jupyter_client `Session`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

CHANNELS = ("shell", "control", "iopub", "stdin")

Deliver = Callable[[str, dict[str, Any]], None]
"""Takes every message received: (channel name, message)."""


class Channels(Protocol):
    session: Any
    """The jupyter_client Session that builds (and, for ZMQ, signs) our messages."""

    def start(self, deliver: Deliver) -> None: ...

    def send(self, channel: str, msg: dict[str, Any]) -> None: ...

    async def stop(self) -> None: ...

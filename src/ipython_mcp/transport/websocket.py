"""A Jupyter Server kernel's channels over its websocket, `/api/kernels/<id>/channels`.

Jupyter Server, JupyterHub and Enterprise Gateway all serve it. We speak the binary
`v1.kernel.websocket.jupyter.org` subprotocol, or JSON text when a server does not offer it.

Latency: the server's small writes meet our delayed ACKs (Nagle's algorithm on its side), which
costs ~40 ms a message; asyncio sets TCP_NODELAY on our side, and TCP_QUICKACK, re-armed after
every receive because Linux clears it, makes us acknowledge at once.

A dropped connection is reopened with backoff under the same session id: a server that stayed up
replays what it kept for us meanwhile (only when no other client was connected to the kernel).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from ..discovery.server_api import ServerAPI
from ..discovery.server_refusals import refusal
from ..discovery.servers import JupyterServer
from ..errors import JupyterServerError
from .channels import Deliver

log = logging.getLogger(__name__)

SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
MAX_MESSAGE = 1 << 30
"""Bytes of the largest message accepted: kernels send outputs of hundreds of MB as one message."""
BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
"""Seconds between attempts to reopen a dropped connection; the last repeats."""
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class _WithoutCredentials(logging.Filter):
    """The websockets library logs the handshake's headers at DEBUG, the token among them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "authorization" not in record.getMessage().lower()


_wire_log = logging.getLogger(__name__ + ".wire")
_wire_log.addFilter(_WithoutCredentials())


def encode_v1(channel: str, msg: dict[str, Any]) -> bytes:
    """A message in the v1 subprotocol: offsets, the channel name, then the JSON parts."""
    parts = [
        _pack(msg["header"]),
        _pack(msg["parent_header"]),
        _pack(msg["metadata"]),
        _pack(msg["content"]),
        *msg.get("buffers", ()),
    ]
    name = channel.encode()
    offsets = [8 * (len(parts) + 3)]
    offsets.append(offsets[-1] + len(name))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = b"".join(n.to_bytes(8, "little") for n in (len(offsets), *offsets))
    return b"".join((head, name, *parts))


def decode_v1(data: bytes) -> tuple[str, dict[str, Any]]:
    count = int.from_bytes(data[:8], "little")
    offsets = [int.from_bytes(data[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    channel = data[offsets[0] : offsets[1]].decode()
    parts = [data[start:end] for start, end in itertools.pairwise(offsets[1:])]
    header, parent, metadata, content = (json.loads(p) if p else {} for p in parts[:4])
    return channel, _message(header, parent, metadata, content, parts[4:])


def encode_json(channel: str, msg: dict[str, Any]) -> str:
    return _dumps(
        {**{k: msg[k] for k in ("header", "parent_header", "metadata", "content")}, "channel": channel}
    )


def decode_json(data: str | bytes) -> tuple[str, dict[str, Any]]:
    if isinstance(data, bytes):  # a binary frame of this protocol: JSON, then buffers we never use
        count = int.from_bytes(data[:4], "big")
        offsets = [int.from_bytes(data[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(count)]
        data = data[offsets[0] : offsets[1] if count > 1 else None]
    raw = json.loads(data)
    return raw.get("channel") or "shell", _message(
        raw.get("header") or {},
        raw.get("parent_header"),
        raw.get("metadata") or {},
        raw.get("content") or {},
        [],
    )


def _message(header: Any, parent: Any, metadata: Any, content: Any, buffers: list[Any]) -> dict[str, Any]:
    return {
        "header": header,
        "parent_header": parent or {},
        "metadata": metadata,
        "content": content,
        "buffers": buffers,
        "msg_id": header.get("msg_id"),
        "msg_type": header.get("msg_type"),
    }


def _pack(value: Any) -> bytes:
    return _dumps(value).encode()


def _dumps(value: Any) -> str:
    from jupyter_client.jsonutil import json_default

    # ASCII escapes keep lone surrogates (which JSON-RPC input can carry) encodable.
    return json.dumps(value, default=json_default)


class WebsocketChannels:
    """The four channels of one server kernel, multiplexed on one websocket."""

    def __init__(self, server: JupyterServer, kernel_id: str, api: ServerAPI, reconnect_for: float) -> None:
        from jupyter_client.session import Session

        self.server = server
        self.kernel_id = kernel_id
        self._api = api
        self._reconnect_for = reconnect_for
        # The server signs what it passes on to the kernel; a key of our own only spares us
        # Session's warning about unsigned messages.
        self.session = Session(key=secrets.token_bytes(16), username="ipython-mcp")
        """Builds our messages. Its id names our connection to the server, which keeps what
        arrives for it across a reconnect."""
        self.url = f"{server.ws_url}api/kernels/{kernel_id}/channels?session_id={self.session.session}"
        self.protocol = ""
        self.connected = asyncio.Event()
        self.on_reconnected: Callable[[float, int], None] | None = None
        """Told (seconds disconnected, other clients then connected) after a reconnect."""
        self.on_lost: Callable[[str], None] | None = None
        """Told why, when the connection cannot be reopened."""
        self._ws: Any = None
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def open(self, timeout: float) -> None:
        """The first connection; a clear error naming the server when it fails."""
        self._ws = await self._connect(timeout)
        self.connected.set()

    def start(self, deliver: Deliver) -> None:
        self._tasks = [
            asyncio.create_task(self._read(deliver)),
            asyncio.create_task(self._write()),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)

    def send(self, channel: str, msg: dict[str, Any]) -> None:
        """Queue a message; one that cannot be encoded fails here, in its caller."""
        self._outbox.put_nowait((channel, msg, self.protocol, self._encode(channel, msg)))

    def _encode(self, channel: str, msg: dict[str, Any]) -> bytes | str:
        return encode_v1(channel, msg) if self.protocol == "v1" else encode_json(channel, msg)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closing:
            return
        error = task.exception()
        log.error("the websocket %s of kernel %s stopped: %r", task.get_coro(), self.kernel_id, error)
        if self.on_lost is not None:
            self.on_lost(f"ipython-mcp's connection to it failed ({type(error).__name__})")

    async def stop(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 2.0)
        self.connected.clear()

    def drop(self) -> None:
        """Abort the connection as a network failure would (the reader then reconnects)."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def _connect(self, timeout: float) -> Any:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        try:
            ws = await connect(
                self.url,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                additional_headers=self._api.headers,
                compression=None,
                max_size=MAX_MESSAGE,
                open_timeout=timeout,
                proxy=None if self.server.is_loopback else True,
                user_agent_header="ipython-mcp",
                logger=_wire_log,
            )
        except InvalidStatus as exc:
            raise await self._refused(exc.response.status_code) from None
        except (TimeoutError, OSError, WebSocketException) as exc:
            raise JupyterServerError(
                f"{self.server.title} could not be reached ({_why(exc)}).", advice="check_server_url"
            ) from None
        self.protocol = "v1" if ws.subprotocol == SUBPROTOCOL else "json"
        _quickack(ws)
        return ws

    async def _refused(self, status: int) -> JupyterServerError:
        """Why the server refused the websocket, asked of its REST API, which answers in JSON
        (the handshake's answer may be an HTML page, which is never read: it can hold tokens)."""
        what = f"kernel {self.kernel_id}"
        try:
            model = await self._api.kernel(self.kernel_id)
        except JupyterServerError as exc:
            return exc
        if model is None:
            return refusal(self.server, 404, what)
        return JupyterServerError(
            f"{self.server.title} refused the websocket of {what} (HTTP {status}), though its REST API "
            "answers for it: a proxy in between may not pass websockets on.",
            final=status < 500,
            problem=f"refused the kernel's websocket (HTTP {status})",
            advice="check_the_proxy",
        )

    async def _read(self, deliver: Deliver) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            ws = self._ws
            decode = decode_v1 if self.protocol == "v1" else decode_json
            try:
                async for data in ws:
                    _quickack(ws)
                    try:
                        channel, msg = decode(data)
                    except Exception as exc:  # one malformed message must not stop routing
                        log.warning("dropped an unreadable websocket message: %s", type(exc).__name__)
                        continue
                    deliver(channel, msg)
            except ConnectionClosed:
                pass
            if self._closing:
                return
            self.connected.clear()
            dropped = time.monotonic()
            log.warning(
                "lost the websocket of kernel %s on %s; reconnecting", self.kernel_id, self.server.title
            )
            reason, others = await self._reconnect()
            if reason is not None:
                if self.on_lost is not None:
                    self.on_lost(reason)
                return
            self.connected.set()
            if self.on_reconnected is not None:
                self.on_reconnected(time.monotonic() - dropped, others)

    async def _reconnect(self) -> tuple[str | None, int]:
        """Reopen the connection: (why it cannot be, None once open; other clients then)."""
        give_up = time.monotonic() + self._reconnect_for
        attempt = 0
        while time.monotonic() < give_up:
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1
            try:
                model = await self._api.kernel(self.kernel_id)
                if model is None:
                    return f"it {gone_from(self.server.title)}", 0
                if model.get("execution_state") == "dead":
                    return f"{self.server.title} reports it dead", 0
                self._ws = await self._connect(10.0)
            except JupyterServerError as exc:
                if exc.final:
                    return str(exc).rstrip("."), 0
                continue  # not reachable yet: a restarting server, a network blip
            return None, int(model.get("connections") or 0)
        return f"{self.server.title} did not answer for {self._reconnect_for:.0f} s", 0

    async def _write(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            channel, msg, protocol, data = await self._outbox.get()
            while True:
                await self.connected.wait()
                ws = self._ws
                if protocol != self.protocol:  # the server reopened with another protocol
                    protocol, data = self.protocol, self._encode(channel, msg)
                try:
                    await ws.send(data)
                    break
                except ConnectionClosed:
                    if self._ws is ws:
                        self.connected.clear()  # the reader reconnects; send again then


def gone_from(title: str) -> str:
    return (
        f"no longer exists on {title} (shut down from JupyterLab, culled as idle, or the server "
        "restarted): its state is gone"
    )


def _quickack(ws: Any) -> None:
    if _QUICKACK is None:
        return
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__

"""The single reader of one kernel's channels: routes every message to whoever asked for it.

Two readers of a ZMQ channel race and lose messages, so each kernel gets exactly one reader
per channel (zmq.py; a server's websocket carries all four, websocket.py). Replies are matched
to requests by `parent_header.msg_id`; iopub traffic goes to the sink of the request that
caused it. Everything else is another client's (the IDE user's) traffic: it only updates what
we know the kernel is doing, and never reaches a result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .channels import Channels

log = logging.getLogger(__name__)

FORGOTTEN_KEPT = 256
"""Requests given up on whose messages are still known for ours."""

Sink = Callable[[str, dict[str, Any]], None]
"""Takes the iopub messages of one request: (msg_type, content)."""
Sink3 = Callable[[str, str, dict[str, Any]], None]
"""Takes the iopub messages of other clients' cells: (parent msg_id, msg_type, content)."""
Sink4 = Callable[[str, str, dict[str, Any], bool], None]
"""Takes the iopub messages of anyone's cells: (parent msg_id, msg_type, content, ours)."""


@dataclass(slots=True)
class Activity:
    """An execute request the kernel is running, ours or another client's."""

    msg_id: str
    ours: bool
    since: float = field(default_factory=time.monotonic)
    code: str = ""
    execution_count: int | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def describe(self) -> str:
        """`another client's cell In[7] `train(model)` (running 42 s)`"""
        if self.ours and not self.code.strip():  # a silent request: the server looking at the kernel
            return f"a silent request of the assistant's (running {time.monotonic() - self.since:.0f} s)"
        who = "the assistant's" if self.ours else "another client's"
        number = f"In[{self.execution_count}] " if self.execution_count else ""
        preview = f"`{_preview(self.code)}` " if self.code.strip() else ""
        return f"{who} cell {number}{preview}(running {time.monotonic() - self.since:.0f} s)"


def _preview(code: str, width: int = 60) -> str:
    """The line that tells most about a cell: the first that is not an import or a comment."""
    lines = [line.strip() for line in code.strip().splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(("import ", "from ", "#"))]
    line = (telling or lines)[0]
    more = len(line) > width or len(lines) > 1
    return line[:width] + (" ..." if more else "")


class MessageRouter:
    """Routes the messages of one kernel's channels while the session is open."""

    def __init__(self, channels: Channels) -> None:
        self._channels = channels
        self._handlers = {
            "shell": self._on_reply,
            "control": self._on_reply,
            "iopub": self._on_iopub,
            "stdin": self._on_stdin,
        }
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._sinks: dict[str, Sink] = {}
        self.comms: dict[str, Callable[[dict[str, Any]], None]] = {}
        """Handlers of our comms' messages, by comm_id (whatever request caused them)."""
        self.running: dict[str, Activity] = {}
        """Execute requests between their busy and idle status (ours: up to their reply), oldest first."""
        self._answered: set[str] = set()
        """Requests of ours answered before their busy status came in: not running any more."""
        self._quiet: set[str] = set()
        self._forgotten: OrderedDict[str, bool] = OrderedDict()
        """Requests of ours given up on (msg_id -> quiet), which the kernel may still run: one
        queued for a kernel that restarts reaches the new one. Their messages stay ours, and a
        quiet one stays quiet. The latest FORGOTTEN_KEPT."""
        """Requests of ours that run too briefly to be shown running (see `request`)."""
        self.iopub_seen = asyncio.Event()
        self.execution_count: int | None = None
        self.catch_up_request: str | None = None
        """The control request catch_up sends, where one may be sent while another client's
        cell runs. Every control request makes the kernel publish busy then idle, and frontends
        show the kernel's state from those: JupyterLab ignores the statuses of a few request
        types (jupyter_server's `untracked_message_types`, kernel_info_request among them),
        VS Code none. So kernels without subshells get none: a status check must never show
        the user's running cell as done."""
        self.on_lifecycle: Callable[[str], None] | None = None
        """Told `restart requested` or `shutdown requested` when a client asks the kernel to
        (its shutdown_reply says which), and `starting` when a kernel starts: after a restart,
        it is a new kernel. Our subscription may join the new kernel too late to hear that, but
        the first reply of a new kernel says `new kernel`. A Jupyter Server also says
        `restarting` when it restarts a kernel that died, and `dead` when it can't."""
        self.kernel_session: str | None = None
        """The session id in the headers of the kernel's replies: a new one is a new kernel
        (a restart), seen with its first reply, before anything waiting on that reply."""
        self.restart_announced = 0.0
        """When a client last asked the kernel to restart (monotonic time; 0: never)."""
        self.on_cell: Callable[[str], None] | None = None
        """Told the code of every cell the kernel starts, anyone's."""
        self.on_other_cell: Sink3 | None = None
        """Told (parent msg_id, msg_type, content) of every message of other clients' cells
        (the user's IDE): for the history of their cells, never part of a result."""
        self.on_execute: Sink4 | None = None
        """Told (parent msg_id, msg_type, content, ours) of every iopub message of every
        execute request on the main shell, anyone's, but quiet ones: when cells start, fail
        and end."""

    def start(self) -> None:
        self._channels.start(self._deliver)

    async def stop(self, reason: BaseException) -> None:
        """Stop reading; requests still waiting for a reply fail with `reason`."""
        await self._channels.stop()
        for future in self._replies.values():
            if not future.done():
                future.set_exception(reason)
                future.add_done_callback(_mark_retrieved)
        self._replies.clear()
        self._sinks.clear()

    def request(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any] | None = None,
        *,
        sink: Sink | None = None,
        subshell: str | None = None,
        quiet: bool = False,
    ) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        """Send a request; its reply resolves the future, its iopub messages go to `sink`.

        With `subshell` a shell request goes to that subshell of the kernel (ipykernel 7+),
        which answers while the main shell runs a cell. A `quiet` execute request, which runs
        a few milliseconds, is never shown running (`current`): the code and looks of the
        assistant sent meanwhile just queue behind it, and a cell that started unseen before
        it is not taken for it."""
        msg = self._channels.session.msg(msg_type, content or {})
        if subshell is not None:
            msg["header"]["subshell_id"] = subshell
        msg_id = msg["header"]["msg_id"]
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[msg_id] = future
        if sink is not None:
            self._sinks[msg_id] = sink
        if quiet:
            self._quiet.add(msg_id)
        self._channels.send(channel, msg)
        return msg_id, future

    def send(self, channel: str, msg_type: str, content: dict[str, Any]) -> None:
        """Send a message that gets no reply (comm messages)."""
        self._channels.send(channel, self._channels.session.msg(msg_type, content))

    def forget(self, msg_id: str) -> None:
        """Stop routing a request's messages (its caller gave up on it)."""
        if msg_id in self._sinks or msg_id in self._quiet:
            self._forgotten[msg_id] = msg_id in self._quiet
            while len(self._forgotten) > FORGOTTEN_KEPT:
                self._forgotten.popitem(last=False)
        self._sinks.pop(msg_id, None)
        self._answered.discard(msg_id)
        self._quiet.discard(msg_id)
        future = self._replies.pop(msg_id, None)
        if future is not None and not future.done():
            future.cancel()

    async def catch_up(self, timeout: float = 0.5) -> bool:
        """Wait until iopub has delivered all the kernel published before now; False when
        that cannot be known (no catch_up_request) or not in time.

        Other clients see the kernel's messages before we may; a control request's idle status
        comes after everything published earlier, so once it arrives our view is current."""
        if self.catch_up_request is None:
            return False
        seen = asyncio.Event()

        def sink(msg_type: str, content: dict[str, Any]) -> None:
            if msg_type == "status" and content.get("execution_state") == "idle":
                seen.set()

        msg_id, _ = self.request("control", self.catch_up_request, sink=sink)
        try:
            await asyncio.wait_for(seen.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.forget(msg_id)

    def current(self) -> Activity | None:
        """The execution the kernel runs now, if we saw it start."""
        return next(iter(self.running.values()), None)

    def _deliver(self, channel: str, msg: dict[str, Any]) -> None:
        handler = self._handlers.get(channel)
        if handler is None:
            return
        try:
            handler(msg)
        except Exception:
            log.exception("failed to route a %s message", channel)

    def _on_reply(self, msg: dict[str, Any]) -> None:
        kernel_session = (msg.get("header") or {}).get("session")
        if kernel_session and kernel_session != self.kernel_session:
            known, self.kernel_session = self.kernel_session, kernel_session
            if known is not None and self.on_lifecycle is not None:
                self.on_lifecycle("new kernel")
        parent_id = (msg["parent_header"] or {}).get("msg_id")
        future = self._replies.pop(parent_id, None)
        if future is not None and not future.done():
            future.set_result(msg)
        # Answered, a request of ours no longer runs. Its idle status may still be on its way
        # after that of a later control request (kernels publish from several threads), so
        # catch_up would not wait for it, and the next look would find the kernel busy with it.
        if parent_id in self.running:
            self.running.pop(parent_id).ended.set()
        elif parent_id in self._sinks and msg["header"]["msg_type"] == "execute_reply":
            self._answered.add(parent_id)

    def _on_stdin(self, msg: dict[str, Any]) -> None:
        """input() in our code: the kernel asks on the stdin channel of the client that sent it."""
        sink = self._sinks.get((msg["parent_header"] or {}).get("msg_id", ""))
        if sink is not None:
            sink(msg["header"]["msg_type"], msg["content"])
        else:  # not ours to answer, and nobody else can: never leave the kernel waiting
            self.send("stdin", "input_reply", {"value": ""})

    def _on_iopub(self, msg: dict[str, Any]) -> None:
        self.iopub_seen.set()
        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        parent = msg["parent_header"] or {}  # xeus sends null for messages no request caused
        parent_id = parent.get("msg_id")
        if msg_type == "status" and not parent.get("subshell_id"):
            # Subshells run beside the main shell: their requests never make the kernel busy.
            self._track_status(content.get("execution_state"), parent_id, parent.get("msg_type"))
            state = content.get("execution_state")
            if state in ("starting", "restarting", "dead") and self.on_lifecycle is not None:
                self.on_lifecycle(state)
        elif msg_type == "shutdown_reply":
            if content.get("restart"):
                self.restart_announced = time.monotonic()
            if self.on_lifecycle is not None:
                self.on_lifecycle("restart requested" if content.get("restart") else "shutdown requested")
        elif msg_type == "execute_input":
            self.execution_count = content.get("execution_count", self.execution_count)
            if self.on_cell is not None:
                self.on_cell(content.get("code", ""))
            activity = self.running.get(parent_id)
            if activity is not None:
                activity.code = content.get("code", "")
                activity.execution_count = content.get("execution_count")
        cell = parent.get("msg_type") == "execute_request" and not parent.get("subshell_id")
        if cell and parent_id and not self._is_quiet(parent_id) and self.on_execute is not None:
            self.on_execute(parent_id, msg_type, content, self._ours(parent_id))
        comm = self.comms.get(content.get("comm_id", "")) if msg_type.startswith("comm_") else None
        if comm is not None:
            comm(msg)
            return
        sink = self._sinks.get(parent_id)
        if sink is not None:
            sink(msg_type, content)
            if msg_type == "status" and content.get("execution_state") == "idle":
                self._sinks.pop(parent_id, None)
                self._answered.discard(parent_id)
                self._quiet.discard(parent_id)
        elif self._other_clients_cell(parent) and self.on_other_cell is not None:
            self.on_other_cell(parent_id, msg_type, content)

    def _other_clients_cell(self, parent: dict[str, Any]) -> bool:
        """An execute request not ours (a request of ours given up on is still ours)."""
        parent_id = parent.get("msg_id")
        executes = parent.get("msg_type") == "execute_request"
        return executes and bool(parent_id) and parent_id not in self._forgotten

    def _ours(self, msg_id: str) -> bool:
        return msg_id in self._sinks or msg_id in self._forgotten

    def _is_quiet(self, msg_id: str) -> bool:
        return msg_id in self._quiet or self._forgotten.get(msg_id, False)

    def _track_status(self, state: str | None, parent_id: str | None, parent_type: str | None) -> None:
        if state == "busy" and parent_type == "execute_request" and parent_id:
            if parent_id not in self._answered and not self._is_quiet(parent_id):
                self.running[parent_id] = Activity(parent_id, ours=self._ours(parent_id))
        elif state == "idle" and parent_id in self.running:
            self.running.pop(parent_id).ended.set()
        elif state in ("starting", "restarting"):
            for activity in self.running.values():
                activity.ended.set()
            self.running.clear()


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    # Nobody may be waiting for the failed request any more; don't log it as lost.
    future.exception()

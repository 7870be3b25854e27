"""Spyder's variable explorer channel: the `spyder_api` comm of spyder-kernels.

spyder-kernels answers calls on this comm from its control thread, so the namespace can be
read while the user's cell runs (ipykernel 6 has no subshells). Calls and replies are JSON.
The only call that returns pickled data (`get_value` with `encoded=True`) is never made, and
binary buffers are never decoded: data from the kernel is never unpickled.

The comm can only be opened through the shell channel, that is between cells, so a session
opens it as soon as it connects and keeps it until it closes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from ..errors import KernelSideError
from ..transport.router import MessageRouter

log = logging.getLogger(__name__)

TARGET = "spyder_api"
CALL_TIMEOUT = 2.0
"""Seconds a call gets; the control thread answers within milliseconds unless the running
code holds the interpreter."""

# What Spyder's variable explorer shows by default. Set only where no Spyder configured the
# kernel: the settings are the kernel's, shared with any Spyder attached later.
VIEW_SETTINGS = {
    "check_all": False,
    "exclude_private": True,
    "exclude_uppercase": False,
    "exclude_capitalized": False,
    "exclude_unsupported": False,
    "excluded_names": [],
    "minmax": False,
    "show_callable_attributes": True,
    "show_special_attributes": False,
    "exclude_callables_and_modules": True,
    "filter_on": True,
}


def is_spyder_kernel(kernel_info: dict[str, Any]) -> bool:
    return "spyder_kernels_info" in kernel_info


class SpyderComm:
    """Our own `spyder_api` comm in one spyder-kernels kernel.

    The kernel sends its own requests to the frontend (Spyder's editor: the code of a cell
    for `%runcell`, the current file, the debugger) to the comm that sent it the last
    message, and waits for the answer without a timeout. Each message of ours is followed at
    once by one on the IDE's comm (as last known), so that role goes back to it as soon as the
    kernel has handled ours; should a request reach us anyway, it gets an error at once rather
    than leaving the user's cell waiting forever."""

    def __init__(self, router: MessageRouter) -> None:
        self._router = router
        self.comm_id = uuid.uuid4().hex
        self.ready = asyncio.Event()
        self._calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ide_comm: str | None = None
        """The IDE's comm that the kernel's requests go back to, as last learnt."""

    def open(self) -> None:
        """Ask for the comm; it is ready once the kernel's `_comm_ready` call is answered."""
        self._router.comms[self.comm_id] = self._on_message
        self._router.send("shell", "comm_open", {"comm_id": self.comm_id, "target_name": TARGET, "data": {}})

    def close(self, reason: BaseException) -> None:
        """Close the comm; calls still waiting fail with `reason`."""
        self._router.comms.pop(self.comm_id, None)
        self._router.send("shell", "comm_close", {"comm_id": self.comm_id, "data": {}})
        for future in self._calls.values():
            if not future.done():
                future.set_exception(reason)
        for task in self._tasks:
            task.cancel()

    async def call(self, name: str, *args: Any) -> Any:
        """A remote call answered by the kernel's control thread."""
        call_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        settings = {"blocking": True, "send_reply": True, "timeout": None, "display_error": False}
        self._send("remote_call", {"call_name": name, "call_id": call_id, "settings": settings,
                                   "call_args": list(args), "call_kwargs": {},
                                   "buffered_args": [], "buffered_kwargs": []})  # fmt: skip
        self._give_back()
        try:
            reply = await asyncio.wait_for(future, CALL_TIMEOUT)
        finally:
            self._calls.pop(call_id, None)
            await self._hand_back()
        if reply.get("is_error"):
            error = reply.get("call_return_value") or {}
            raise KernelSideError(f"Spyder's kernel could not answer {name}: {error.get('etype', 'error')}.")
        return reply.get("call_return_value")

    async def namespace_view(self) -> dict[str, dict[str, Any]]:
        """What Spyder's variable explorer shows: name -> type, size and a short view."""
        view = await self.call("get_namespace_view")
        if view is None:  # no Spyder configured this kernel's variable explorer yet
            await self.call("set_configuration", {"namespace_view_settings": VIEW_SETTINGS})
            view = await self.call("get_namespace_view")
        return view or {}

    async def _hand_back(self) -> None:
        """Make the IDE's comm again the one the kernel sends its requests to: any message on
        a comm makes it that one, and one of a type the kernel does not know does nothing else."""
        msg_id, reply = self._router.request("control", "comm_info_request", {"target_name": TARGET})
        try:
            msg = await asyncio.wait_for(asyncio.shield(reply), CALL_TIMEOUT)
        except Exception:  # timed out, or the session closed
            self._router.forget(msg_id)
            return
        ides = [comm_id for comm_id in msg["content"].get("comms") or {} if comm_id != self.comm_id]
        # With several Spyder consoles attached, the newest is the likeliest.
        self._ide_comm = ides[-1] if ides else None
        self._give_back()

    def _give_back(self) -> None:
        """A message on the IDE's comm as last known, queued behind ours on the control channel:
        the kernel makes that comm the caller again right after handling ours, not a round trip
        later (a request of the user's cell meanwhile would reach us and fail)."""
        if self._ide_comm is not None:
            data = {"spyder_msg_type": "ipython_mcp_hand_back", "content": {}}
            self._router.send("control", "comm_msg", {"comm_id": self._ide_comm, "data": data})

    def _send(self, spyder_msg_type: str, content: dict[str, Any]) -> None:
        data = {"spyder_msg_type": spyder_msg_type, "content": content}
        self._router.send("control", "comm_msg", {"comm_id": self.comm_id, "data": data})

    def _reply(self, call: dict[str, Any], value: Any = None, error: str | None = None) -> None:
        name, call_id = call.get("call_name"), call.get("call_id")
        if error is not None:  # in the form of spyder-kernels' CommsErrorWrapper
            value = {"call_name": name, "call_id": call_id, "etype": "RuntimeError", "args": [error],
                     "error_name": None, "tb": []}  # fmt: skip
        self._send("remote_call_reply", {"is_error": error is not None, "call_id": call_id,
                                         "call_name": name, "call_return_value": value})  # fmt: skip

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg["header"]["msg_type"] == "comm_close":
            self._router.comms.pop(self.comm_id, None)
            self.ready.clear()
            return
        data = msg["content"].get("data") or {}
        body = data.get("content") or {}
        kind = data.get("spyder_msg_type")
        if kind == "remote_call" and body.get("call_name") == "_comm_ready":
            self._reply(body)
            self._give_back()
            self.ready.set()
            self._in_background(self._hand_back())
        elif kind == "remote_call" and (body.get("settings") or {}).get("blocking"):
            self._reply(body, error=f"{body.get('call_name')} is for Spyder; ipython-mcp cannot answer it.")
            self._give_back()
            self._in_background(self._hand_back())
        elif kind == "remote_call_reply":
            future = self._calls.get(body.get("call_id", ""))
            if future is not None and not future.done():
                future.set_result(body)

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def rows_from_view(view: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Spyder's namespace view as the rows of a variable listing (memory sizes are unknown)."""
    rows = []
    for name, entry in view.items():
        size = entry.get("size")
        if isinstance(size, list):
            shape = "x".join(str(n) for n in size)
        elif isinstance(size, int) and entry.get("python_type") not in ("int", "float", "bool", "complex"):
            shape = f"len {size}"
        else:
            shape = None
        kind = str(entry.get("type", "?"))
        dtype = kind.removeprefix("Array of ") if kind.startswith("Array of ") else None
        rows.append(
            {
                "name": name,
                "type": str(entry.get("python_type") or kind),
                "shape": shape,
                "dtype": dtype,
                "size": None,
                "preview": " ".join(str(entry.get("view", "")).split())[:80],
            }
        )
    return rows


def found_from_view(module: str, options: dict[str, Any], view: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Spyder's view in the shape of a kernel_side result, for a look taken while a cell runs."""
    rows = rows_from_view(view)
    if module == "namespace":
        return {"rows": rows, "source": "spyder"}
    expression = options["expression"]
    row = next((r for r in rows if r["name"] == expression), None)
    if row is None:
        return {
            "error": "while a cell runs, only the names Spyder's variable explorer lists can be "
            "looked at, and this is not one of them"
        }
    return {
        "expression": expression,
        "type": row["type"],
        "shape": row["shape"],
        "head": row["preview"],
        "source": "spyder",
    }

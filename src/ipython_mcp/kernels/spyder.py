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
from typing import Any

from ..errors import KernelSideError
from .router import MessageRouter

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
    """Our own `spyder_api` comm in one spyder-kernels kernel."""

    def __init__(self, router: MessageRouter) -> None:
        self._router = router
        self.comm_id = uuid.uuid4().hex
        self.ready = asyncio.Event()
        self._calls: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def open(self) -> None:
        """Ask for the comm; it is ready once the kernel's `_comm_ready` call is answered."""
        self._router.comms[self.comm_id] = self._on_message
        self._router.send("shell", "comm_open", {"comm_id": self.comm_id, "target_name": TARGET, "data": {}})

    def close(self) -> None:
        self._router.comms.pop(self.comm_id, None)
        self._router.send("shell", "comm_close", {"comm_id": self.comm_id, "data": {}})
        for future in self._calls.values():
            future.cancel()

    async def call(self, name: str, *args: Any) -> Any:
        """A remote call answered by the kernel's control thread."""
        call_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        settings = {"blocking": True, "send_reply": True, "timeout": None, "display_error": False}
        self._send("remote_call", {"call_name": name, "call_id": call_id, "settings": settings,
                                   "call_args": list(args), "call_kwargs": {},
                                   "buffered_args": [], "buffered_kwargs": []})  # fmt: skip
        try:
            reply = await asyncio.wait_for(future, CALL_TIMEOUT)
        finally:
            self._calls.pop(call_id, None)
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

    def _send(self, spyder_msg_type: str, content: dict[str, Any]) -> None:
        data = {"spyder_msg_type": spyder_msg_type, "content": content}
        self._router.send("control", "comm_msg", {"comm_id": self.comm_id, "data": data})

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg["header"]["msg_type"] == "comm_close":
            self._router.comms.pop(self.comm_id, None)
            self.ready.clear()
            return
        data = msg["content"].get("data") or {}
        body = data.get("content") or {}
        kind = data.get("spyder_msg_type")
        if kind == "remote_call" and body.get("call_name") == "_comm_ready":
            self._send(
                "remote_call_reply",
                {"is_error": False, "call_id": body.get("call_id"), "call_name": "_comm_ready",
                 "call_return_value": None},
            )  # fmt: skip
            self.ready.set()
        elif kind == "remote_call_reply":
            future = self._calls.get(body.get("call_id", ""))
            if future is not None and not future.done():
                future.set_result(body)


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

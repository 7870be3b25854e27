"""Which client a request comes from, and so which view of the kernels its tools use.

Over stdio there is one client. Over HTTP, a client of the protocols before 2026-07-28 has an
MCP session (its Mcp-Session-Id header), and gets a view of its own; requests of the
sessionless protocol cannot be told apart and share a view that keeps no default kernel.
"""

from __future__ import annotations

from collections import OrderedDict

from mcp.server.mcpserver import Context

from ..session.clients import ClientView
from ..session.registry import KernelRegistry

VIEWS_KEPT = 256
"""MCP sessions whose views are remembered; the least recently active is forgotten first (the
protocol does not say when a session ends; a forgotten one only loses its default kernel)."""


class ClientViews:
    """The view of the kernels each client has; `shared` when the server has several clients
    (over HTTP)."""

    def __init__(self, registry: KernelRegistry, *, shared: bool) -> None:
        self._registry = registry
        self._shared = shared
        self._sole_client = ClientView(registry)
        self._sessionless = ClientView(registry, named_only=True)
        self._by_session: OrderedDict[str, ClientView] = OrderedDict()

    def of(self, ctx: Context) -> ClientView:
        if not self._shared:
            return self._sole_client
        session_id = (ctx.headers or {}).get("mcp-session-id")
        if not session_id:
            return self._sessionless
        view = self._by_session.pop(session_id, None) or ClientView(self._registry)
        self._by_session[session_id] = view
        while len(self._by_session) > VIEWS_KEPT:
            self._by_session.popitem(last=False)
        return view

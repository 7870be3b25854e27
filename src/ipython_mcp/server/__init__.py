"""The MCP layer: the server (app.py) and its tools over the kernel sessions."""

from .app import build_server

__all__ = ["build_server"]

"""The MCP layer: tools over the kernel sessions."""

from .tools import build_server

__all__ = ["build_server"]

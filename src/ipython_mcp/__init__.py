"""ipython-mcp: an MCP server that works inside the user's live IPython/Jupyter kernel."""

__version__ = "0.2.0.dev0"

__all__ = ["__version__"]

"""Code that runs inside the user's kernel, sent as source; it must leave no trace there.

Each module defines its work in functions over the names it is given and stores a JSON string
in RESULT. It runs in a fresh globals dict (never the user's), imports only the standard
library, and must work on every Python a kernel may run (3.8 and later)."""

from __future__ import annotations

from importlib.resources import files

_BUILDS_ON = {"namespace": ("sizes",), "names": ("sizes",), "last_error": ("stack",)}
"""The modules whose functions a module uses, sent ahead of it in the same source."""


def source(name: str) -> str:
    """The module's source, after those it builds on."""
    parts = (*_BUILDS_ON.get(name, ()), name)
    return "\n".join(files(__package__).joinpath(f"{part}.py").read_text(encoding="utf-8") for part in parts)

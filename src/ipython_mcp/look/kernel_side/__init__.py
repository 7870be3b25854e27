"""Code that runs inside the user's kernel, sent as source; it must leave no trace there.

Each module defines its work in functions over the names it is given and stores a JSON string
in RESULT. It runs in a fresh globals dict (never the user's), imports only the standard
library, and must work on every Python a kernel may run (3.8 and later)."""

from __future__ import annotations

from importlib.resources import files


def source(name: str) -> str:
    return files(__package__).joinpath(f"{name}.py").read_text(encoding="utf-8")

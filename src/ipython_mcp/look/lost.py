"""What a kernel took with it when it was restarted or died: its names as last recorded, each
with the cell that last bound it, most important first (record.py keeps them; the server layer
words them)."""

from __future__ import annotations

from dataclasses import dataclass

from .assignments import Kind

SCALARS = {"int", "float", "bool", "complex", "NoneType"}
"""Types a name of which is cheap to make again: listed last."""
BUILTINS = {"str", "bytes", "list", "tuple", "dict", "set", "frozenset", "range"}
"""Python's own containers: listed after objects."""


@dataclass(frozen=True, slots=True)
class Origin:
    """The latest cell seen to bind a name."""

    execution_count: int | None
    """Its In [n], where known."""
    by_assistant: bool
    kind: Kind
    detail: str = ""
    """What an import imported (`numpy`)."""
    seq: int = 0
    """When it ended, in the order cells ended (0: read from the kernel's history)."""
    sure: bool = True
    """The cell ran to its end; one that raised may have stopped before binding the name."""


@dataclass(frozen=True, slots=True)
class LostName:
    name: str
    type: str | None
    """Its type as last recorded (`pandas.DataFrame`); None when known from code only."""
    shape: str | None = None
    size: int | None = None
    """Bytes, as the record measured them (shallow for containers)."""
    kind: Kind = "value"
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class LostNames:
    """The names a kernel held, as last recorded between cells, with those that cells bound since."""

    variables: tuple[LostName, ...]
    """Most important first: objects of packages (frames, arrays, models), then the user's own
    objects and the names bound since the last record (type unknown), then Python's containers,
    then plain numbers; larger first within each. At most the record's limit."""
    variable_count: int
    """How many variables it held, listed or not."""
    functions: tuple[LostName, ...]
    """Functions and classes the user defined."""
    imports: tuple[LostName, ...]


def rank(names: list[LostName]) -> list[LostName]:
    """Most important first (see LostNames.variables)."""

    def key(lost: LostName) -> tuple[int, int]:
        kind = lost.type
        if kind is None:  # known from code only: bound by the latest cells
            group = 1
        elif "." in kind:
            group = 0
        else:
            group = 3 if kind in SCALARS else 2 if kind in BUILTINS else 1
        return group, -(lost.size or 0)

    return sorted(names, key=key)

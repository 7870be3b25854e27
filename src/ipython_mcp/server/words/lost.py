"""What the model reads about what a restart or death took with the kernel: its names as last
recorded, the most important first, each with the cell that last bound it."""

from __future__ import annotations

from ...look.lost import LostName, LostNames

LISTED_CHARS = 320
"""Characters of the variables listed at most; the rest are counted."""
LISTED = 8
"""Variables listed at most."""
NAMES_LISTED = 6
"""Functions, and imports, listed by name at most."""
SIZE_WORTH_SAYING = 1 << 20
"""Bytes from which a variable's size is said."""


def gone_phrase(lost: LostNames | None, unknown: str) -> str:
    """`its 14 variables are gone: df (pandas.DataFrame 10000x8, In [3]), model
    (sklearn.LinearRegression, the assistant's In [7]) and 12 more; also its functions clean
    and imports np, pd. Rerun those cells to rebuild what is needed.`; without a record, `unknown`."""
    if lost is None:
        return unknown
    count, listed = lost.variable_count, _listed(lost.variables)
    if count == 0:
        held = "it held no variables"
    else:
        held = f"its {_count(count, 'variable')} {'is' if count == 1 else 'are'} gone"
        if listed:
            more = count - len(listed)
            held += ": " + ", ".join(_item(name) for name in listed)
            held += f" and {more} more" if more > 0 else ""
    kinds = ((lost.functions, "function", "functions"), (lost.imports, "import", "imports"))
    also = [f"{_plural(len(names), one, many)} {_names(names)}" for names, one, many in kinds if names]
    if also and count:
        held += "; also its " + " and ".join(also)
    elif also:
        held += "; its " + " and ".join(also) + " are gone"
    if count == 0 and not also:
        return f"{held}; its state from before is gone."
    cells = any(n.origin is not None for n in (*listed, *lost.functions, *lost.imports))
    rerun = "Rerun those cells to rebuild what is needed." if cells else "Rerun what is needed."
    return f"{held}. {rerun}"


def death_text(death: str, lost: LostNames | None) -> str:
    """A kernel's death (`The kernel k1 died (...).`), then what it took with it, if known."""
    gone = gone_phrase(lost, "")
    return f"{death} {gone[:1].upper()}{gone[1:]}" if gone else death


def _listed(variables: tuple[LostName, ...]) -> list[LostName]:
    listed, size = [], 0
    for name in variables[:LISTED]:
        size += len(_item(name)) + 2
        if listed and size > LISTED_CHARS:
            break
        listed.append(name)
    return listed


def _item(lost: LostName) -> str:
    """`df (pandas.DataFrame 10000x8, 76 MB, In [3])`"""
    what = " ".join(part for part in (lost.type, lost.shape) if part)
    parts = [what] if what else []
    if lost.size is not None and lost.size >= SIZE_WORTH_SAYING:
        parts.append(_size(lost.size))
    cell = _cell(lost)
    if cell:
        parts.append(cell)
    return f"{lost.name} ({', '.join(parts)})" if parts else lost.name


def _cell(lost: LostName) -> str:
    origin = lost.origin
    if origin is None or origin.execution_count is None:
        return "the assistant's code" if origin is not None and origin.by_assistant else ""
    number = f"In [{origin.execution_count}]"
    return f"the assistant's {number}" if origin.by_assistant else number


def _names(names: tuple[LostName, ...]) -> str:
    shown = [n.name for n in names[-NAMES_LISTED:]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _plural(n: int, singular: str, plural: str) -> str:
    return singular if n == 1 else plural


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} TB"

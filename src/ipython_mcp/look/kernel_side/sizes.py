# Runs inside the user's kernel (see __init__.py), ahead of the modules that build on it: a
# value's memory without computing anything (no deep sizes, no len() of a lazy frame).
import sys


def _size(value):
    try:
        nbytes = getattr(value, "nbytes", None)
        if isinstance(nbytes, int):
            return nbytes
        memory_usage = getattr(value, "memory_usage", None)
        if callable(memory_usage) and hasattr(value, "columns"):
            return int(memory_usage(index=True, deep=False).sum())
        if callable(memory_usage) and hasattr(value, "dtype"):
            return int(memory_usage(index=True, deep=False))
        return sys.getsizeof(value)
    except Exception:
        return None

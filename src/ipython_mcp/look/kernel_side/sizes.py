# Runs inside the user's kernel (see __init__.py), ahead of the modules that build on it: what
# a value is, without computing anything: its type's name, its memory (no deep sizes, no len()
# of a lazy frame).
import sys


def _type_name(kind):
    # `pandas.DataFrame`; Python's own types and the user's (`int`, `Model`) by their name alone.
    module, name = str(kind.__module__), str(kind.__name__)
    return name if module in ("builtins", "__main__") else module.split(".")[0] + "." + name


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

# Runs inside the user's kernel (see __init__.py): NS is the user's namespace, OPTIONS a dict.
# The record of the namespace kept between cells (look/record.py): each name's type, shape and
# size, the LIMIT largest. Nothing that may compute (len() of a lazy frame runs its query) and
# no previews: a few milliseconds for thousands of names, run after the user's cells.
# Builds on sizes.py (_size).
import json
import sys
import types

_SKIPPED = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_SCALARS = {int, float, bool, complex, type(None)}
_PLAIN = _SCALARS | {str, bytes, list, tuple, dict, set, frozenset, range}
_DEFINED = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _row(name, value, kind, size):
    module = kind.__module__
    type_name = kind.__name__
    if module not in ("builtins", "__main__"):
        type_name = module.split(".")[0] + "." + type_name
    shape = None
    try:
        if kind in _PLAIN:
            if kind not in _SCALARS:
                shape = "len %d" % len(value)
        else:
            found = getattr(value, "shape", None)
            if isinstance(found, tuple) and len(found) < 8:
                shape = "x".join(str(n) for n in found)
    except Exception:
        shape = None
    return [name, type_name, shape, size, 1 if isinstance(value, _DEFINED) else 0]


def _names(ns, limit):
    # Plain values first, without a call: most of a namespace, and this runs after every cell.
    getsizeof, plain, skipped = sys.getsizeof, _PLAIN, _SKIPPED
    sized, hidden, defined = [], 0, 0
    for name, value in list(ns.items()):
        if name[:1] == "_" or name in skipped:
            hidden += 1
            continue
        kind = type(value)
        if kind in plain:
            sized.append((getsizeof(value), name, value, kind))
            continue
        if isinstance(value, types.ModuleType):
            hidden += 1
            continue
        defined += isinstance(value, _DEFINED)
        sized.append((_size(value), name, value, kind))  # noqa: F821 - from sizes.py
    sized.sort(key=lambda item: item[0] or 0, reverse=True)
    rows = [_row(name, value, kind, size) for size, name, value, kind in sized[:limit]]
    return {"rows": rows, "total": len(sized), "defined": defined, "hidden": hidden}


RESULT = json.dumps(_names(NS, OPTIONS.get("limit", 500)))  # noqa: F821 - given by the caller

# Runs inside the user's kernel (see __init__.py): NS is the user's namespace, OPTIONS a dict.
# The record of the namespace kept between cells (look/record.py): each name's type, shape and
# size, the LIMIT that matter most. Nothing that may compute (len() or .shape of a lazy frame
# runs its query: shapes are read of the array and frame libraries only) and no previews: a few
# milliseconds for thousands of names, run after the user's cells; sizes that need a call stop
# after SIZING_BUDGET. Builds on sizes.py (_size, _type_name).
import json
import operator
import sys
import time
import types

_SKIPPED = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_SCALARS = {int, float, bool, complex, type(None)}
_PLAIN = _SCALARS | {str, bytes, list, tuple, dict, set, frozenset, range}
_DEFINED = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
_first = operator.itemgetter(0)
_SHAPED = {"numpy", "pandas", "polars", "torch", "xarray", "scipy", "jax", "jaxlib", "cupy", "tensorflow",
           "pyarrow", "sparse", "h5py", "zarr"}  # fmt: skip
_SIZING_BUDGET = 0.003  # seconds: a namespace of thousands of small frames is sized in part
_TYPE_CHARS = 80


def _row(name, value, kind, size):
    type_name = _type_name(kind)  # noqa: F821 - from sizes.py
    shape = None
    try:
        if kind in _PLAIN:
            if kind not in _SCALARS:
                shape = "len %d" % len(value)
        elif type_name.split(".")[0] in _SHAPED:
            found = getattr(value, "shape", None)
            if isinstance(found, tuple) and len(found) < 8 and all(type(n) is int for n in found):
                shape = "x".join(str(n) for n in found)
    except Exception:
        shape = None
    return [name, type_name[:_TYPE_CHARS], shape, size, 1 if isinstance(value, _DEFINED) else 0]


def _imported(name, value):
    # A function or object a package defines, under its own name (`from numpy import *`): an
    # import, which the cells' code tells, not a variable.
    try:
        module = sys.modules.get(getattr(value, "__module__", None))
        # vars(), not getattr(): a module's __getattr__ may import on demand.
        return module is not None and module.__name__ != "__main__" and vars(module).get(name) is value
    except Exception:
        return False


def _names(ns, limit):
    # Kept, when there are more than `limit`: objects of packages (frames, arrays, models), then
    # the user's own, then Python's containers, then numbers, larger first within each: the
    # order the words list them in (lost.rank), so a model is never crowded out by big lists.
    # Plain values first, without a call: most of a namespace, and this runs after every cell.
    getsizeof, plain, scalars, skipped = sys.getsizeof, _PLAIN, _SCALARS, _SKIPPED
    packages, own, containers, numbers = groups = ([], [], [], [])
    hidden, defined = 0, 0
    clock = time.perf_counter
    sizing_ends = clock() + _SIZING_BUDGET
    for name, value in list(ns.items()):
        try:
            if name[:1] == "_" or name in skipped:
                hidden += 1
                continue
            kind = type(value)
            if kind in plain:
                size = getsizeof(value)
                (numbers if kind in scalars else containers).append((-size, name, size, value, kind))
                continue
            if isinstance(value, types.ModuleType) or (callable(value) and _imported(name, value)):
                hidden += 1
                continue
            is_defined = isinstance(value, _DEFINED)
            size = _size(value) if clock() < sizing_ends else None  # noqa: F821 - from sizes.py
            group = own if str(kind.__module__) in ("builtins", "__main__") else packages
            group.append((-(size or 0), name, size, value, kind))
            defined += is_defined
        except Exception:  # an object that fails even to be asked its type (unconfigured settings)
            hidden += 1
    rows = []
    for group in groups:
        group.sort(key=_first)
        for _, name, size, value, kind in group:
            if len(rows) >= limit:
                break
            try:
                rows.append(_row(name, value, kind, size))
            except Exception:
                rows.append([str(name), "object", None, size, 0])
    return {"rows": rows, "total": sum(map(len, groups)), "defined": defined, "hidden": hidden}


RESULT = json.dumps(_names(NS, OPTIONS.get("limit", 500)))  # noqa: F821 - given by the caller

# Runs inside the user's kernel (see __init__.py): NS is the user's namespace, OPTIONS a dict.
# A compact row per variable, at a cost that does not grow with the data: no full reprs.
# Builds on sizes.py (_size, _type_name).
import itertools
import json
import reprlib
import types

_HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 4


def _hidden(name, value, options):
    if name in _HIDDEN or (name.startswith("_") and not options.get("include_private")):
        return True
    if name in ("_", "__", "___", "_oh", "_ih", "_dh") or (name.startswith("__") and name.endswith("__")):
        return True
    if name.startswith("_i") or (name.startswith("_") and name[1:].isdigit()):  # In/Out caches
        return True
    if isinstance(value, types.ModuleType):
        return True
    if isinstance(value, type) or callable(value):
        return not options.get("include_callables")
    return False


def _preview(value):
    try:
        if hasattr(value, "columns") and hasattr(value, "shape"):
            columns = [str(c) for c in list(value.columns[:6])]
            more = ", ..." if len(value.columns) > 6 else ""
            return "columns: " + ", ".join(columns) + more
        if hasattr(value, "iloc"):
            return _items(list(value.iloc[:4]), len(value) > 4, "[", "]")
        if hasattr(value, "flat") and hasattr(value, "size"):
            return _items(list(itertools.islice(value.flat, 4)), value.size > 4, "[", "]")
        if isinstance(value, dict) and len(value) > 4:  # reprlib would sort every key
            pairs = itertools.islice(value.items(), 4)
            return "{" + ", ".join(_SHORT.repr(k) + ": " + _SHORT.repr(v) for k, v in pairs) + ", ...}"
        if isinstance(value, (set, frozenset)) and len(value) > 4:
            return _items(list(itertools.islice(value, 4)), True, "{", "}")
        return _SHORT.repr(value)
    except Exception as exc:
        return "<preview failed: %s>" % type(exc).__name__


def _items(items, more, opening, closing):
    shown = ", ".join(_SHORT.repr(x.item() if hasattr(x, "item") else x) for x in items)
    return opening + shown + (", ..." if more else "") + closing


def _row(name, value):
    type_name = _type_name(type(value))  # noqa: F821 - from sizes.py
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        shape = "x".join(str(n) for n in shape)
    elif hasattr(value, "__len__") and not isinstance(value, type):
        try:
            shape = "len %d" % len(value)
        except Exception:
            shape = None
    else:
        shape = None
    dtype = getattr(value, "dtype", None)
    if dtype is None and hasattr(value, "dtypes") and hasattr(value, "columns"):
        try:
            dtype = ", ".join(sorted({str(d) for d in value.dtypes}))[:40]
        except Exception:
            dtype = None
    return {
        "name": name,
        "type": type_name,
        "shape": shape,
        "dtype": None if dtype is None else str(dtype),
        "size": _size(value),  # noqa: F821 - from sizes.py
        "preview": _preview(value).replace("\n", " ")[:80],
    }


def _rows(ns, options):
    rows, hidden = [], 0
    for name, value in list(ns.items()):
        if _hidden(name, value, options):
            hidden += 1
            continue
        rows.append(_row(name, value))
    return {"rows": rows, "hidden": hidden}


RESULT = json.dumps(_rows(NS, OPTIONS))  # noqa: F821 - given by the caller

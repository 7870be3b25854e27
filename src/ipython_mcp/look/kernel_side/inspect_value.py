# Runs inside the user's kernel (see __init__.py): NS is the user's namespace, OPTIONS holds
# "expression". Detail that fits the value's type, at a bounded cost: huge data is sampled.
import inspect
import itertools
import json
import reprlib

SAMPLE = 1_000_000  # array elements for statistics
ROWS = 100_000  # table rows for the numeric summary
NAN_COUNT_LIMIT = 50_000_000  # array elements whose NaNs are all counted
_SHORT = reprlib.Repr()
_SHORT.maxstring = 200
_SHORT.maxother = 200
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 10


def _frame(value, out):
    out["shape"] = "x".join(str(n) for n in value.shape)
    rows = len(value)
    sampled = value
    if rows > ROWS:  # a strided slice: a random sample would shuffle every row first
        step = -(-rows // ROWS)
        sampled = value.iloc[::step]
        out["note"] = "summary of one row in every %d (%d of %d rows)" % (step, len(sampled), rows)
    if hasattr(value, "columns"):
        dtypes = value.dtypes
        out["dtypes"] = ", ".join("%s: %s" % (c, dtypes[c]) for c in list(value.columns[:30]))
        if len(value.columns) > 30:
            out["dtypes"] += ", ... (%d columns)" % len(value.columns)
        out["memory"] = int(value.memory_usage(index=True, deep=False).sum())
    else:
        out["dtypes"] = str(value.dtype)
        out["memory"] = int(value.memory_usage(index=True, deep=False))
    out["head"] = value.head(5).to_string(max_cols=12, max_colwidth=40)
    try:
        out["summary"] = sampled.describe().to_string(max_cols=12)
    except Exception as exc:
        out["summary"] = "(no summary: %s)" % type(exc).__name__


def _array(value, out):
    import numpy

    out["shape"] = "x".join(str(n) for n in value.shape)
    out["dtypes"] = str(value.dtype)
    out["memory"] = int(value.nbytes)
    flat = value.reshape(-1) if value.flags.c_contiguous else value.flat
    sample = value
    if value.size > SAMPLE:
        step = value.size // SAMPLE
        sample = (
            numpy.asarray(flat[::step][:SAMPLE])
            if value.flags.c_contiguous
            else numpy.asarray(list(itertools.islice(value.flat, 0, None, step))[:SAMPLE])
        )
        out["note"] = "statistics of one element in every %d (%d of %d)" % (step, sample.size, value.size)
    if value.size and numpy.issubdtype(value.dtype, numpy.number):
        values = sample.astype("float64", copy=False)
        # Missing values hide in the part a sample skips: count them all when that is cheap.
        whole = value.size <= NAN_COUNT_LIMIT
        nans = int(numpy.isnan(value if whole else values).sum()) if value.dtype.kind in "fc" else 0
        out["summary"] = "min %s, max %s, mean %s, NaN %d%s" % (
            numpy.nanmin(values),
            numpy.nanmax(values),
            numpy.nanmean(values),
            nans,
            "" if whole else " in the sample",
        )
    out["head"] = numpy.array2string(value[:5] if value.ndim else value, threshold=50, edgeitems=3)


def _describe(value, out):
    if hasattr(value, "shape") and hasattr(value, "head") and hasattr(value, "describe"):
        _frame(value, out)
    elif type(value).__module__ == "numpy" and hasattr(value, "nbytes"):
        _array(value, out)
    elif isinstance(value, (str, bytes)):
        out["shape"] = "len %d" % len(value)
        out["head"] = _SHORT.repr(value[:2000]) if len(value) > 2000 else repr(value)
    elif isinstance(value, dict):
        out["shape"] = "len %d" % len(value)
        items = itertools.islice(value.items(), 20)
        out["head"] = "\n".join("%s: %s" % (_SHORT.repr(k), _SHORT.repr(v)) for k, v in items)
    elif isinstance(value, (list, tuple, set, frozenset)):
        out["shape"] = "len %d" % len(value)
        out["head"] = "\n".join(_SHORT.repr(v) for v in itertools.islice(value, 20))
    elif inspect.isroutine(value) or inspect.isclass(value) or inspect.ismodule(value):
        out["callable"] = True
    else:
        out["head"] = _SHORT.repr(value)
        if " object at 0x" in out["head"]:  # the repr says nothing: its attributes say more
            out["attributes"] = ", ".join(n for n in dir(value) if not n.startswith("_"))[:1500]


def _inspect(ns, expression):
    out = {"expression": expression}
    try:
        value = eval(expression, ns)
    except Exception as exc:
        out["error"] = "%s: %s" % (type(exc).__name__, exc)
        return out
    kind = type(value)
    out["type"] = kind.__name__ if kind.__module__ == "builtins" else kind.__module__ + "." + kind.__name__
    try:
        _describe(value, out)
    except Exception as exc:
        out["note"] = "detail failed: %s: %s" % (type(exc).__name__, exc)
    return out


RESULT = json.dumps(_inspect(NS, OPTIONS["expression"]), default=str)  # noqa: F821 - given by the caller

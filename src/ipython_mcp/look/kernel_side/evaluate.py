# Runs inside the user's kernel (see __init__.py): an expression evaluated in NS (after
# stack.py, a frame's namespace), its value formatted as IPython shows a cell's result.
import json
import sys

_LIMIT = 2_000_000  # characters of one representation sent back
_LAST = ("last_type", "last_value", "last_traceback", "last_exc")


def _evaluate(ns, expression):
    try:
        value = eval(compile(expression, "<expression>", "eval"), ns)
    except Exception as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc)}
    # A repr that raises makes IPython show its traceback, which would replace the exception
    # being examined: the kernel's record of the last one is put back.
    kept = {name: getattr(sys, name) for name in _LAST if hasattr(sys, name)}
    try:
        import IPython

        data, _ = IPython.get_ipython().display_formatter.format(value)
    except Exception:
        data = {}
    finally:
        for name in _LAST:
            if name in kept:
                setattr(sys, name, kept[name])
            elif hasattr(sys, name):
                delattr(sys, name)
    if not data:
        try:
            data = {"text/plain": repr(value)}
        except Exception as exc:
            data = {"text/plain": "<repr() failed: %s: %s>" % (type(exc).__name__, exc)}
    return {"data": {mime: shown for mime, shown in data.items() if len(str(shown)) <= _LIMIT}}


RESULT = json.dumps(_evaluate(NS, OPTIONS["expression"]), default=str)  # noqa: F821 - given by the caller

# Runs inside the user's kernel (see __init__.py): an expression evaluated in NS (after
# stack.py, a frame's namespace), its value formatted as IPython shows a cell's result.
import json

_LIMIT = 2_000_000  # characters of one representation sent back


def _evaluate(ns, expression):
    try:
        value = eval(compile(expression, "<expression>", "eval"), ns)
    except Exception as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc)}
    try:
        import IPython

        data, _ = IPython.get_ipython().display_formatter.format(value)
    except Exception:
        data = {"text/plain": repr(value)}
    return {"data": {mime: shown for mime, shown in data.items() if len(str(shown)) <= _LIMIT}}


RESULT = json.dumps(_evaluate(NS, OPTIONS["expression"]), default=str)  # noqa: F821 - given by the caller

# Runs inside the user's kernel (see __init__.py), after stack.py: the last exception and its
# stack, frame by frame, with the source around each line; library frames without source.
import linecache

_AROUND = 2  # source lines shown before and after a frame's line
_OUTER, _INNER = 10, 40  # frames described at each end of a deeper stack (a recursion)


def _where(filename):
    """("In [12]", 12) for a cell, (the path, None) for a file."""
    try:
        import IPython

        shell = IPython.get_ipython()
        number = shell.compile._filename_map.get(filename) if shell is not None else None
    except Exception:
        number = None
    if number is not None:
        return "In [%s]" % number, number
    return filename, None


def _frame(index, frame, line):
    filename = frame.f_code.co_filename
    where, cell = _where(filename)
    package = _library(filename)  # noqa: F821 - from stack.py
    described = {
        "index": index,
        "where": where,
        "cell": cell,
        "line": line,
        "function": frame.f_code.co_name,
        "package": package,
        "variables": len(frame.f_locals) if frame.f_code.co_name != "<module>" else None,
    }
    if package is None:
        lines = linecache.getlines(filename, frame.f_globals)
        numbers = range(max(1, line - _AROUND), min(len(lines), line + _AROUND) + 1)
        described["source"] = [[n, lines[n - 1].rstrip("\n")] for n in numbers]
    else:
        text = linecache.getline(filename, line, frame.f_globals).strip()
        described["source"] = [[line, text]] if text else []
    return described


def _post_mortem():
    error = _last_error()  # noqa: F821 - from stack.py
    if error is None:
        return {"error": None}
    stack = _stack(error)  # noqa: F821
    try:
        evalue = str(error)[:2000]
    except Exception as exc:  # a broken __str__ must not raise here: it would replace the error
        evalue = "<str() failed: %s>" % type(exc).__name__
    return {
        "error": {"ename": type(error).__name__, "evalue": evalue},
        "exception": id(error),
        "frames": [
            _frame(i, frame, line)
            for i, (frame, line) in enumerate(stack)
            if i < _OUTER or i >= len(stack) - _INNER
        ],
        "depth": len(stack),
        "user_frame": _chosen(stack, "user") if stack else None,  # noqa: F821
    }


RESULT = json.dumps(_post_mortem(), default=str)  # noqa: F821 - json from stack.py

# Runs inside the user's kernel (see __init__.py), after stack.py: the last exception the user's
# code raised, as plain text, without the frames of the kernel's own machinery that ran the cell.
import traceback


def _text():
    error = _last_error()  # noqa: F821 - from stack.py
    if error is None:
        return ""
    # format_exception keeps the chain ("The above exception was the direct cause ...").
    return "".join(traceback.format_exception(type(error), error, _code_traceback(error)))  # noqa: F821


RESULT = json.dumps({"traceback": _text()})  # noqa: F821 - json from stack.py

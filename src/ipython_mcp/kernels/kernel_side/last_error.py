# Runs inside the user's kernel (see __init__.py): the last exception the user's code raised,
# as plain text, without the frames of the kernel's own machinery that ran the cell.
import json
import sys
import traceback

_MACHINERY = ("IPython/core/", "IPython\\core\\", "ipykernel/", "ipykernel\\")


def _last_error():
    error = getattr(sys, "last_value", None)
    if error is None:
        return ""
    frames = traceback.extract_tb(error.__traceback__)
    while frames and any(part in frames[0].filename for part in _MACHINERY):
        frames = frames[1:]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines)


RESULT = json.dumps({"traceback": _last_error()})

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
    tb = error.__traceback__
    while tb is not None and any(part in tb.tb_frame.f_code.co_filename for part in _MACHINERY):
        tb = tb.tb_next
    # format_exception keeps the chain ("The above exception was the direct cause ...").
    return "".join(traceback.format_exception(type(error), error, tb))


RESULT = json.dumps({"traceback": _last_error()})

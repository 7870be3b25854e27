# Runs inside the user's kernel (see __init__.py), before another module: the stack of the last
# exception the kernel's code raised (the user's or the assistant's), without the frames of the
# kernel's own machinery that ran the cell. With OPTIONS["frame"], NS becomes that frame's
# namespace for the module after this one (its locals alone with OPTIONS["locals_only"]), or
# RESULT says why there is none (also when OPTIONS["exception"], the id of the exception a
# caller saw, is no longer the last one).
import json
import os
import sys
import sysconfig

_MACHINERY = ("IPython/core/", "IPython\\core\\", "ipykernel/", "ipykernel\\")
_PACKAGES = ("site-packages", "dist-packages")
_PATHS = sysconfig.get_paths()
_STDLIB = tuple(os.path.normcase(p) for p in {_PATHS.get("stdlib"), _PATHS.get("platstdlib")} if p)


def _last_error():
    return getattr(sys, "last_value", None)


def _code_traceback(error):
    """The error's traceback from the first frame of the code run: the kernel's machinery left out."""
    tb = error.__traceback__
    while tb is not None and any(part in tb.tb_frame.f_code.co_filename for part in _MACHINERY):
        tb = tb.tb_next
    return tb


def _stack(error):
    """(frame, line number) from the outermost frame of the code run to the one that raised."""
    stack = []
    tb = _code_traceback(error)
    while tb is not None:
        stack.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return stack


def _library(filename):
    """The package a library frame runs in (site-packages, the standard library); None for
    the user's code: cells and their own files."""
    if filename.startswith("<frozen") or filename.endswith((".pyx", ".pxd", ".pxi")):
        return filename.strip("<>").split()[-1].split(".")[0] if filename.startswith("<") else "compiled"
    path = os.path.normcase(filename)
    parts = path.replace("\\", "/").split("/")
    for marker in _PACKAGES:
        if marker in parts:
            rest = parts[parts.index(marker) + 1 :]
            return rest[0].split(".")[0] if rest else marker
    for stdlib in _STDLIB:
        if path.startswith(stdlib + os.sep):
            return "the standard library"
    return None


def _chosen(stack, frame):
    """The frame numbered `frame`; "user": the deepest of the user's own code."""
    if frame == "user":
        users = [i for i, (f, _) in enumerate(stack) if _library(f.f_code.co_filename) is None]
        return users[-1] if users else len(stack) - 1
    return frame


if "frame" in OPTIONS:  # noqa: F821 - given by the caller
    _error = _last_error()
    if _error is None or OPTIONS.get("exception", id(_error)) != id(_error):  # noqa: F821
        RESULT = json.dumps({"frame_error": "the last exception changed"})
    else:
        _frames = _stack(_error)
        _number = _chosen(_frames, OPTIONS["frame"])  # noqa: F821
        if not isinstance(_number, int) or not 0 <= _number < len(_frames):
            RESULT = json.dumps({"frame_error": "no frame %s" % (_number,), "frames": len(_frames)})
        else:
            _at = _frames[_number][0]
            if OPTIONS.get("locals_only"):  # noqa: F821
                NS = _at.f_locals
            else:
                NS = dict(_at.f_globals)
                NS.update(_at.f_locals)

"""The exception an execution raised, cleaned for reading, and its lean form for a result.

A kernel sends a traceback as a list of parts: a header, one part per frame (`Cell In[3],
line 2, in f` or `File /path/module.py:12, in g`), the exception, and for chained exceptions
the text between them. The lean form keeps what the model needs to fix the user's code: the
frames of the user's cells and files, the frame that raised, each run of library frames as one
line naming its packages, and a recursion's repeats once with their count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ansi import strip_ansi

_SEPARATOR = re.compile(r"-{20,}")
_FRAME = re.compile(r"(?:Cell In ?\[\d*\]|Input In ?\[\d*\]|File )")
_FRAME_FILE = re.compile(r'File "([^"\n]+)"|File (.+?)(?::\d+)?(?:, in |\n|$)')
_PACKAGE_DIR = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")
_STDLIB = re.compile(r"[/\\]lib[/\\]python\d[\d.]*[/\\]")
LEAN_GAIN = 200
"""Characters the lean form must save to be shown in place of the whole traceback."""
REPEAT_BLOCK = 3
"""The longest cycle of frames a recursion is looked for in (f -> g -> h -> f ...)."""


@dataclass(frozen=True, slots=True)
class KernelError:
    """The exception an execution raised, cleaned for reading."""

    ename: str
    evalue: str
    traceback: str


def clean_traceback(frames: list[str], ename: str, evalue: str) -> str:
    """The traceback without ANSI escapes or IPython's separator lines, ending in the exception."""
    return _joined([strip_ansi(str(frame)) for frame in frames], ename, evalue)


def lean_traceback(frames: list[str], ename: str, evalue: str) -> str:
    """The traceback in short: the user's frames and the one that raised, library frames and
    recursion repeats folded into a line each, ending in the exception."""
    parts = [strip_ansi(str(frame)) for frame in frames]
    raised = max((i for i, part in enumerate(parts) if _FRAME.match(part)), default=-1)
    kept: list[str] = []
    packages: list[str] = []  # of the library frames in a row not shown yet
    folded = 0
    for i, part in enumerate(parts):
        package = _library(part) if i != raised else None
        if package is not None:
            folded += 1
            if package not in packages:
                packages.append(package)
            continue
        if folded:
            kept.append(_folded(folded, packages))
            packages, folded = [], 0
        kept.append(part)
    if folded:
        kept.append(_folded(folded, packages))
    return _joined(_without_repeats(kept), ename, evalue)


def short_traceback(frames: list[str], ename: str, evalue: str, whole: str) -> str | None:
    """The lean traceback, when it is shorter than the `whole` (clean) one by LEAN_GAIN."""
    lean = lean_traceback(frames, ename, evalue)
    return lean if len(lean) < len(whole) - LEAN_GAIN else None


def _joined(parts: list[str], ename: str, evalue: str) -> str:
    lines = "\n".join(parts).split("\n")
    text = "\n".join(line for line in lines if not _SEPARATOR.fullmatch(line.strip())).strip("\n")
    exception = strip_ansi(f"{ename}: {evalue}" if evalue else ename)
    if not text:
        return exception
    if not text.rstrip().rpartition("\n")[2].startswith(ename):
        text += "\n" + exception
    return text


def _library(part: str) -> str | None:
    """The package of a library frame; None for any other part (a frame of the user's code)."""
    if not part.startswith("File "):
        return None
    found = _FRAME_FILE.match(part)
    path = (found.group(1) or found.group(2)) if found else ""
    package = _PACKAGE_DIR.search(path)
    if package:
        return package.group(1).removesuffix(".py")
    if _STDLIB.search(path):
        return "the standard library"
    if path.endswith((".pyx", ".pxi", ".pxd")):  # a compiled module's source: pandas/_libs/index.pyx
        return re.split(r"[/\\]", path)[0]
    return None


def _folded(count: int, packages: list[str]) -> str:
    frames = "1 frame" if count == 1 else f"{count:,} frames"
    return f"[... {frames} in {', '.join(packages)} ...]\n"


def _without_repeats(parts: list[str]) -> list[str]:
    """A frame, or a cycle of a few frames, repeated three times or more: once, then a count."""
    out: list[str] = []
    i = 0
    while i < len(parts):
        size, times = _repeat_at(parts, i)
        if times < 3:
            out.append(parts[i])
            i += 1
            continue
        out.extend(parts[i : i + size])
        what = "frame above" if size == 1 else f"{size} frames above"
        out.append(f"[... the {what} repeated {times - 1:,} more times ...]\n")
        i += size * times
    return out


def _repeat_at(parts: list[str], i: int) -> tuple[int, int]:
    """The shortest cycle of frames that repeats from part `i` on, and how many times in a row."""
    for size in range(1, REPEAT_BLOCK + 1):
        block = [part.strip() for part in parts[i : i + size]]
        if len(block) < size or not all(_FRAME.match(part) for part in block):
            break
        times = 1
        while [part.strip() for part in parts[i + times * size : i + (times + 1) * size]] == block:
            times += 1
        if times >= 3:
            return size, times
    return 1, 1

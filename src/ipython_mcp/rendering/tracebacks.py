"""The exception an execution raised, cleaned for reading."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ansi import strip_ansi

_SEPARATOR = re.compile(r"-{20,}")


@dataclass(frozen=True, slots=True)
class KernelError:
    """The exception an execution raised, cleaned for reading."""

    ename: str
    evalue: str
    traceback: str


def clean_traceback(frames: list[str], ename: str, evalue: str) -> str:
    """The traceback without ANSI escapes or IPython's separator lines, ending in the exception."""
    lines = strip_ansi("\n".join(str(frame) for frame in frames)).split("\n")
    text = "\n".join(line for line in lines if not _SEPARATOR.fullmatch(line.strip())).strip("\n")
    exception = strip_ansi(f"{ename}: {evalue}" if evalue else ename)
    if not text:
        return exception
    if not text.rstrip().rpartition("\n")[2].startswith(ename):
        text += "\n" + exception
    return text

"""Turning the output messages of a kernel into what the model reads and a notebook keeps."""

from __future__ import annotations

from .ansi import strip_ansi
from .blocks import Block, FigureLeftOut, Image, Omitted, Shortened, Text
from .excerpt import excerpt
from .log import OutputLog
from .mime import image_of
from .outputs import Outputs
from .records import ReadMark
from .tracebacks import KernelError

__all__ = [
    "Block",
    "FigureLeftOut",
    "Image",
    "KernelError",
    "Omitted",
    "OutputLog",
    "Outputs",
    "ReadMark",
    "Shortened",
    "Text",
    "excerpt",
    "image_of",
    "strip_ansi",
]

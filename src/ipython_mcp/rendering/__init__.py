"""Turning the output messages of a kernel into the content blocks the model reads."""

from __future__ import annotations

from .ansi import strip_ansi
from .blocks import Block, Image, Text
from .outputs import KernelError, OutputLog

__all__ = ["Block", "Image", "KernelError", "OutputLog", "Text", "strip_ansi"]

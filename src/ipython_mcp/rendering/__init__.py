"""Turning the output messages of a kernel into the content blocks the model reads."""

from __future__ import annotations

from .ansi import strip_ansi
from .blocks import Block, Image, Text
from .mime import image_of
from .outputs import KernelError, OutputLog, transcript_text

__all__ = ["Block", "Image", "KernelError", "OutputLog", "Text", "image_of", "strip_ansi", "transcript_text"]

"""The content blocks a rendered execution is made of, free of any MCP type."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Text:
    """Text for the model to read."""

    text: str


@dataclass(frozen=True, slots=True)
class Image:
    """An image, base64-encoded as the kernel sent it (or as drawn here)."""

    data: str
    mime_type: str
    alt: str = field(default="", kw_only=True)
    """What it shows, in one line (a chart's title, marks and fields): its line in the output's
    text, said beside the image, and in its place where the image is left out."""


@dataclass(frozen=True, slots=True)
class Omitted:
    """Output a result leaves out between its head and its tail: how much, and where it begins
    in the whole output by line, for the call that returns it (budget.omitted_text words it)."""

    chars: int
    lines: int
    first_line: int
    char_offset: int = 0
    """Where in `first_line` it begins, when it lies within that one line."""


@dataclass(frozen=True, slots=True)
class Shortened:
    """A traceback shown in short (library frames and repeats folded, budget.shortened_text
    words it): how much was left out, and the lines of the whole output that hold it whole."""

    chars: int
    first_line: int
    lines: int


Block = Text | Image | Omitted | Shortened

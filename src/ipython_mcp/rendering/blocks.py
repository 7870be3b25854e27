"""The content blocks a rendered execution is made of, free of any MCP type."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Text:
    """Text for the model to read."""

    text: str


@dataclass(frozen=True, slots=True)
class Image:
    """An image, base64-encoded: as the kernel sent it (or as drawn here), or fitted (figures.py)."""

    data: str
    mime_type: str
    figure: int | None = None
    """Its number among the images of a run, from 1; None outside a run."""
    width: int = 0
    height: int = 0
    """Its pixels, once fitted (0 before)."""
    drawn: tuple[int, int] | None = None
    """Its pixels as drawn, when fitting scaled it down."""
    alt: str = field(default="", kw_only=True)
    """What it shows, in one line (a chart's title, marks and fields): its line in the output's
    text, said beside the image, and in its place where the image is left out."""


@dataclass(frozen=True, slots=True)
class ToDraw(Image):
    """An image drawn only when a result shows it: an SVG or a chart, whose drawing may take
    seconds, which the server's event loop must not wait for. Its `data` is empty; `draw()`
    gives the Image (or a Text saying why it could not be drawn), drawn once however often it
    is asked for. figures.fit_figures draws it, in the thread that fits figures."""

    drawing: Deferred = field(kw_only=True, compare=False, repr=False)

    def draw(self) -> Block:
        return self.drawing.result()


class Deferred:
    """A drawing made once, on first request, in whichever thread asks first (others wait)."""

    __slots__ = ("_draw", "_lock", "_result")

    def __init__(self, draw: Callable[[], Block]) -> None:
        self._draw: Callable[[], Block] | None = draw
        self._lock = threading.Lock()
        self._result: Block | None = None

    def result(self) -> Block:
        with self._lock:
            if self._draw is not None:
                self._result, self._draw = self._draw(), None  # what it drew from is let go
            assert self._result is not None
            return self._result


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


@dataclass(frozen=True, slots=True)
class FigureLeftOut:
    """A figure a result leaves out: together with those before it, over its image budget."""

    figure: int | None
    width: int
    height: int
    """Its pixels as drawn."""
    chars: int
    """Its base64 characters once fitted to the result's long edge (as drawn, if not tried)."""
    unusable: str = ""
    """Why it was not fitted at all: "unreadable", or "too large" to decode; "" if over budget."""


Block = Text | Image | Omitted | Shortened | FigureLeftOut

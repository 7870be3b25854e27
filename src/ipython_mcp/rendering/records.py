"""What the output model records beside the text: each output, the display updates, how far a
reader got; and the protocol of the line stores the text goes to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .blocks import Block, Image
from .lines import Piece


class Lines(Protocol):
    """Where the text of the outputs goes: lines.MemoryLines, run.transcript.Transcript."""

    @property
    def lines(self) -> int: ...
    @property
    def ended_lines(self) -> int: ...
    @property
    def chars(self) -> int: ...
    @property
    def ended_chars(self) -> int: ...
    @property
    def kept(self) -> tuple[int, int]: ...
    @property
    def kept_chars(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def last_line(self) -> str: ...
    def add(self, text: str, *, printed: bool = True) -> None: ...
    def end_line(self) -> bool: ...
    def release(self, line: int) -> None: ...
    def line_length(self, number: int) -> int | None: ...
    def pieces(self, line: int, char: int, end: int, *, max_chars: int) -> Iterator[Piece]: ...
    def finish(self) -> None: ...
    def close(self) -> None: ...


@dataclass(eq=False, slots=True)
class Output:
    """One output as a notebook shows it; its text is the store's lines from `start` on."""

    kind: str  # "stdout", "stderr", "display" or "error"
    start: int
    """The store line it begins on (every output begins a line)."""
    chars_before: int
    """Characters of the store before it."""
    seq: int
    """When it came: an update with a later one replaces what it shows."""
    end: int | None = None
    """The store line after its last, once the next output began."""
    end_chars: int | None = None
    display_id: str | None = None
    broken: bool = False
    """A newline was added after its text, which did not end with one (shown, never printed)."""
    marked: bool = False
    """A stderr output whose first line, STDERR, is written."""
    shows_image: bool = False
    image: Image | None = None
    """The image it shows, while kept in memory."""
    described: bool = False
    """Its line says what its image shows (the image's alt), so it outlives the image."""
    bundle: tuple[dict[str, Any], dict[str, Any]] | None = None
    """Its data and metadata as the kernel sent them, for a notebook."""
    result: bool = False
    """An execute_result (with `count`), not a display_data."""
    count: int | None = None
    error: tuple[str, str, list[str]] | None = None
    """An error's ename, evalue and traceback as the kernel sent them."""
    lean: str | None = None
    """An error's traceback in short, when that is much shorter than the whole in its lines."""


@dataclass(frozen=True, slots=True)
class Update:
    """What the outputs with one display id show since update_display_data."""

    seq: int
    block: Block | None
    text: str
    """As its lines hold it: ending with a newline, unless empty."""
    broken: bool
    bundle: tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ReadMark:
    """How far a reader got: the end of the store when it read, and the clears it had seen."""

    line: int = 0
    chars: int = 0
    clears: int = 0
    shown: bool = False
    """It saw some output (that a clear_output may have removed since)."""


@dataclass(frozen=True, slots=True)
class Changes:
    """Where the output changed since it was last read: the store position written first, the
    first output whose display was updated."""

    written: tuple[int, int] | None = None
    updated: Output | None = None

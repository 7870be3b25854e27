"""A run's output by line as a notebook shows it now: the whole output, to read and search.

The store's lines are append-only. A display updated since it was written shows the update
instead: its lines are read from the update, kept in memory, and the lines after it are
numbered on from there (a `Span`). Output removed by clear_output keeps its line numbers,
before the first line shown, so that a number read before a clear never names other output
after it; a reader is told those lines were cleared, as it is told of lines dropped past the
disk cap. A View is built again whenever the outputs change other than by more text.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from .blocks import Image
from .lines import Piece, dropped_text, lines_text
from .records import Lines, Output, Update


@dataclass(frozen=True, slots=True)
class Span:
    """An updated display: store lines `start` to `end` show `lines` instead, from line `view`."""

    output: Output
    update: Update
    start: int
    end: int
    end_chars: int
    view: int
    lines: list[str]
    delta_chars: int
    """Characters it shows, less those of the store lines it replaces."""


class View:
    """The lines of the outputs shown now, numbered as the whole output and the notices number them."""

    def __init__(
        self,
        store: Lines,
        outputs: list[Output],
        by_id: dict[str, deque[Output]],
        updates: dict[str, Update],
        cleared_lines: int,
        clear_store: int,
    ) -> None:
        self.store = store
        self.outputs = outputs
        """The outputs shown, in order."""
        self.cleared = cleared_lines
        """Lines 0 to cleared - 1 were cleared with clear_output."""
        self._base = cleared_lines - clear_store  # view line - store line, before spans
        replaced = []
        for display_id, update in updates.items():
            for out in by_id.get(display_id, ()):
                if out.seq < update.seq:
                    replaced.append((out, update))
        replaced.sort(key=lambda pair: pair[0].seq)
        self.spans: list[Span] = []
        self._span_of: dict[Output, Span] = {}
        self._cum: list[int] = []  # lines added by the spans up to each one
        delta = 0
        for out, update in replaced:
            end = out.end if out.end is not None else store.lines
            end_chars = out.end_chars if out.end_chars is not None else store.chars
            lines = update.text[:-1].split("\n") if update.text else []
            size = len(update.text) - (end_chars - out.chars_before)
            span = Span(out, update, out.start, end, end_chars, out.start + self._base + delta, lines, size)
            delta += len(lines) - (end - out.start)
            self.spans.append(span)
            self._span_of[out] = span
            self._cum.append(delta)
        self._starts = [span.start for span in self.spans]
        self._views = [span.view for span in self.spans]
        self._chars_after = [0] * (len(self.spans) + 1)  # characters the spans from each one on add
        for i in range(len(self.spans) - 1, -1, -1):
            self._chars_after[i] = self._chars_after[i + 1] + self.spans[i].delta_chars

    # -- numbering -------------------------------------------------------------------------

    def view_line(self, line: int) -> int:
        """The line a store line is shown as (for one an update replaces, the update's first)."""
        i = bisect.bisect_right(self._starts, line) - 1
        if i >= 0 and line < self.spans[i].end:
            return self.spans[i].view
        return line + self._base + (self._cum[i] if i >= 0 else 0)

    def line_at(self, line: int) -> int:
        """The first line shown from store line `line` on (an update of a display that begins
        there included, even one whose display had no lines)."""
        i = bisect.bisect_left(self._starts, line)
        if i < len(self.spans) and self._starts[i] == line:
            return self.spans[i].view
        return self.view_line(line)

    def _locate(self, line: int) -> tuple[Span | None, int]:
        """The span showing a line, and the line's index in it; or None and its store line."""
        i = bisect.bisect_right(self._views, line) - 1
        while i >= 0 and not self.spans[i].lines and self._views[i] == line:
            i -= 1  # an update without lines shows nothing: look at the one before
        if i >= 0 and line < self._views[i] + len(self.spans[i].lines):
            return self.spans[i], line - self._views[i]
        j = bisect.bisect_right(self._views, line) - 1
        return None, line - self._base - (self._cum[j] if j >= 0 else 0)

    def store_line(self, line: int) -> int:
        """The store line reading from `line` on begins with (after an update showing it)."""
        span, at = self._locate(line)
        return span.end if span is not None else at

    def output_line(self, out: Output) -> int:
        """The line an output begins on."""
        span = self._span_of.get(out)
        return span.view if span is not None else self.view_line(out.start)

    def output_index(self, line: int) -> int:
        """The index in `outputs` of the output a line belongs to (-1: none)."""
        return bisect.bisect_right(self.outputs, line, key=self.output_line) - 1

    def span_of(self, out: Output) -> Span | None:
        return self._span_of.get(out)

    @property
    def lines(self) -> int:
        """How many lines there are, the one still being written included."""
        return self.view_line(self.store.lines)

    @property
    def ended_lines(self) -> int:
        return self.view_line(self.store.ended_lines)

    @property
    def kept(self) -> tuple[int, int]:
        """The first line, and character of it, neither cleared nor dropped past the disk cap."""
        line, char = self.store.kept
        i = bisect.bisect_right(self._starts, line) - 1
        if i >= 0 and (line, char) > (self._starts[i], 0) and line < self.spans[i].end:
            kept = (self.spans[i].view + len(self.spans[i].lines), 0)  # a display cut: all of it gone
        else:
            kept = (self.line_at(line), char)
        return max(kept, (self.cleared, 0))

    def kept_store(self) -> tuple[int, int]:
        """Where in the store the output kept begins: (line, characters before it)."""
        line, char = self.store.kept
        i = bisect.bisect_right(self._starts, line) - 1
        if i >= 0 and (line, char) > (self._starts[i], 0) and line < self.spans[i].end:
            return self.spans[i].end, self.spans[i].end_chars
        return line, self.store.kept_chars

    def dropped(self, line: int, char: int = 0) -> str:
        """What of the output from `line` (character `char`) on is gone, as a sentence without
        its end: "lines 0-99 were cleared by the code (clear_output)"; "" if nothing is."""
        said = []
        if line < self.cleared:
            were = "was" if line == self.cleared - 1 else "were"
            said.append(f"{lines_text(line, self.cleared - 1)} {were} cleared by the code (clear_output)")
            line, char = self.cleared, 0
        dropped = dropped_text(line, char, self.kept, getattr(self.store, "cap_text", ""))
        return "; ".join([*said, dropped] if dropped else said)

    def chars_from(self, line: int, chars: int) -> int:
        """Characters shown from store line `line` (with `chars` characters before it) on."""
        return self.store.chars - chars + self._chars_after[bisect.bisect_left(self._starts, line)]

    # -- reading ---------------------------------------------------------------------------

    def pieces(self, line: int, char: int, end: int, *, max_chars: int) -> Iterator[Piece]:
        """Line `line` from character `char`, then the lines after it up to `end`, each cut to
        `max_chars`; what is gone is skipped."""
        line, char = max((line, char), self.kept)
        end = min(end, self.lines)
        while line < end:
            span, at = self._locate(line)
            if span is not None:
                for index in range(at, min(len(span.lines), at + end - line)):
                    text = span.lines[index]
                    start = char if index == at else 0
                    yield Piece(span.view + index, start, text[start : start + max_chars], len(text))
                line, char = min(end, span.view + len(span.lines)), 0
                continue
            i = bisect.bisect_right(self._starts, at)
            stop = min(end, self.spans[i].view if i < len(self.spans) else end)
            shift = line - at
            for piece in self.store.pieces(at, char, at + stop - line, max_chars=max_chars):
                yield Piece(piece.number + shift, piece.start, piece.text, piece.length)
            line, char = stop, 0

    def piece(self, line: int, char: int, max_chars: int) -> Piece | None:
        return next(self.pieces(line, char, line + 1, max_chars=max_chars), None)

    def line_length(self, line: int) -> int | None:
        """Characters in a line, when known without reading it."""
        span, at = self._locate(line)
        return len(span.lines[at]) if span is not None else self.store.line_length(at)

    def image(self, out: Output) -> tuple[bool, Image | None]:
        """Whether an output shows an image, and the image if it is still kept."""
        span = self._span_of.get(out)
        if span is not None:
            block = span.update.block
            return isinstance(block, Image), block if isinstance(block, Image) else None
        return out.shows_image, out.image

    def broken(self, out: Output) -> bool:
        """Whether its last line's newline was added (shown only between outputs)."""
        span = self._span_of.get(out)
        return span.update.broken if span is not None else out.broken

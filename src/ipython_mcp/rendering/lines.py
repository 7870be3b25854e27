"""Text kept by line, carriage returns applied as a terminal shows them; here, in memory.

`LineWriter` owns the line still being written: a carriage return rewrites it, a newline ends
it, and past LONGEST_LINE characters its beginning is written out (the line goes on, but a
carriage return then rewrites only the part still held). What is written out goes to
`_write`: a list of strings in `MemoryLines`, segment files in `run.transcript.Transcript`.
Lines are numbered from 0 by the newlines before them, and keep their numbers when the lines
before them are released.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

LONGEST_LINE = 1 << 20
"""Characters of an unfinished line held in memory (where a carriage return can still rewrite
it) before they are written out; the line goes on."""
LAST_LINE = 200
"""Characters of the latest printed line kept for progress messages."""
_BREAKS = re.compile(r"(\r\n|\r|\n)")
_CARRIAGE_RETURNS = re.compile(r"\r+")


@dataclass(frozen=True, slots=True)
class Piece:
    """A line of output, or a piece of it: `text` starts at character `start` of line `number`."""

    number: int
    start: int
    text: str
    length: int
    """Characters in the whole line (so far, for the line still being written)."""

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end >= self.length


class LineWriter:
    """Lines written as text arrives; subclasses keep what is written out (`_write`).

    `_write(text)` appends `text` (the rest of the line being written, and the lines after it
    if it has newlines) and counts it in `_complete` (lines ended) and `_on_disk` (characters
    of the line being written that it holds)."""

    longest_line = LONGEST_LINE

    def __init__(self) -> None:
        self._lock = threading.RLock()
        """Held while lines change; a reader in another thread takes it too."""
        self._complete = 0  # lines ended by a newline
        self._on_disk = 0  # characters of the line being written that were written out
        self._line: list[str] = []  # the rest of it, held in memory
        self._line_size = 0
        self._restart_line = False  # a carriage return came last: the next text rewrites the line
        self._ended_chars = 0  # characters of the ended lines, their newlines included
        self._last_line = ""
        self._printed = True
        self.drops = 0
        """How many times lines were dropped or released: the kept lines changed."""

    @property
    def lines(self) -> int:
        """How many lines there are, the one still being written included."""
        return self._complete + (1 if self._line or self._on_disk else 0)

    @property
    def ended_lines(self) -> int:
        """How many lines are ended by a newline (the last one may still change if not)."""
        return self._complete

    @property
    def chars(self) -> int:
        """Characters written so far (newlines included), those released included."""
        return self._ended_chars + self._on_disk + self._line_size

    @property
    def ended_chars(self) -> int:
        """Characters of the ended lines, newlines included."""
        return self._ended_chars

    @property
    def last_line(self) -> str:
        """The latest non-empty line of printed text, at most 200 characters; "" if none."""
        return last_line_of("".join(self._line)) or self._last_line

    def add(self, text: str, *, printed: bool = True) -> None:
        """Write text: carriage returns rewrite the line being written. `printed` says whether
        it is text the code printed, for `last_line`."""
        if not text:
            return
        with self._lock:  # a reader sees all of it, or none
            self._printed = printed
            if "\r" in text:
                self._add_pieces(text)
                return
            if self._restart_line and not text.startswith("\n"):  # a "\r\n" split in two is a newline
                self._line, self._line_size = [], 0
            self._restart_line = False
            end = text.rfind("\n") + 1
            if end:  # whole lines go out together
                self._emit("".join(self._line) + text[:end])
                self._line, self._line_size = [], 0
                text = text[end:]
            if text:
                self._line.append(text)
                self._line_size += len(text)
                if self._line_size > self.longest_line:
                    self._emit("".join(self._line))
                    self._line, self._line_size = [], 0

    def _add_pieces(self, text: str) -> None:
        """Text with carriage returns: each rewrites the part of its line still in memory."""
        ended: list[str] = []
        for piece in _BREAKS.split(text):
            if piece in ("\n", "\r\n"):
                ended.append("".join(self._line))
                self._line, self._line_size = [], 0
                self._restart_line = False
            elif piece == "\r":
                self._restart_line = True
            elif piece:
                if self._restart_line:
                    self._line, self._line_size = [], 0
                    self._restart_line = False
                self._line.append(piece)
                self._line_size += len(piece)
                if self._line_size > self.longest_line:
                    if ended:
                        self._emit("\n".join(ended) + "\n")
                        ended = []
                    self._emit("".join(self._line))
                    self._line, self._line_size = [], 0
        if ended:
            self._emit("\n".join(ended) + "\n")

    def end_line(self) -> bool:
        """End the line being written, if there is one: whether a newline was written."""
        with self._lock:
            self._restart_line = False
            if not (self._line or self._on_disk):
                return False
            self._printed = True
            self._emit("".join(self._line) + "\n")
            self._line, self._line_size = [], 0
            return True

    def _emit(self, text: str) -> None:
        complete, on_disk = self._complete, self._on_disk
        self._write(text)
        if self._complete != complete:
            self._ended_chars += on_disk + text.rfind("\n") + 1
        if self._printed:
            self._last_line = last_line_of(text) or self._last_line

    def _write(self, text: str) -> None:
        raise NotImplementedError


class MemoryLines(LineWriter):
    """Every line in memory: the lines of a notebook cell built on its own, and of tests.

    The same reading interface as `run.transcript.Transcript`, which keeps them in files."""

    cap_text = ""

    def __init__(self) -> None:
        super().__init__()
        self._ended: list[str] = []  # lines from self._first on
        self._partial: list[str] = []  # the written part of the line being written
        self._first = 0
        self._released_chars = 0

    @property
    def size(self) -> int:
        return self.chars

    @property
    def kept(self) -> tuple[int, int]:
        """The first line, and character of it, not released."""
        return (self._first, 0)

    @property
    def kept_chars(self) -> int:
        """Characters before `kept`."""
        return self._released_chars

    def _write(self, text: str) -> None:
        parts = text.split("\n")
        if len(parts) > 1:
            self._ended.append("".join(self._partial) + parts[0])
            self._ended.extend(parts[1:-1])
            self._partial = []
            self._complete += len(parts) - 1
            self._on_disk = len(parts[-1])
        else:
            self._on_disk += len(text)
        if parts[-1]:
            self._partial.append(parts[-1])

    def release(self, line: int) -> None:
        """Forget the lines before `line` (ended ones only); the others keep their numbers."""
        with self._lock:
            line = min(line, self._complete)
            if line <= self._first:
                return
            gone = self._ended[: line - self._first]
            self._released_chars += sum(map(len, gone)) + len(gone)
            del self._ended[: line - self._first]
            self._first = line
            self.drops += 1

    def _text(self, number: int) -> str:
        if number < self._complete:
            return self._ended[number - self._first]
        return "".join(self._partial) + "".join(self._line)

    def line_length(self, number: int) -> int | None:
        if self._first <= number < self.lines:
            return len(self._text(number))
        return None

    def pieces(self, line: int, char: int, end: int, *, max_chars: int) -> Iterator[Piece]:
        """Line `line` from character `char`, then the lines after it up to `end`, each cut to
        `max_chars`; what was released is skipped."""
        if line < self._first:
            line, char = self._first, 0
        for number in range(line, min(end, self.lines)):
            text = self._text(number)
            start = char if number == line else 0
            yield Piece(number, start, text[start : start + max_chars], len(text))

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def dropped_text(line: int, char: int, kept: tuple[int, int], cap_text: str) -> str:
    """What from `line` (character `char`) on is gone when `kept` is the first position kept:
    "lines 0-99 were dropped to keep disk use under the cap of 1 MB"; "" if nothing."""
    if (line, char) >= kept:
        return ""
    kept_line, kept_char = kept
    if line == kept_line:
        gone = f"characters {char:,}-{kept_char - 1:,} of line {line:,} were"
    elif kept_char:
        gone = f"{lines_text(line, kept_line - 1)} and characters 0-{kept_char - 1:,} of line {kept_line:,}"
        gone += " were"
    else:
        gone = lines_text(line, kept_line - 1) + (" was" if line == kept_line - 1 else " were")
    return f"{gone} dropped to keep disk use under the cap of {cap_text}"


def lines_text(first: int, last: int) -> str:
    """`line 7` or `lines 0-99`."""
    return f"line {first:,}" if first == last else f"lines {first:,}-{last:,}"


def last_line_of(text: str) -> str:
    """The last line of `text` with anything on it, stripped and cut to 200 characters."""
    text = text.rstrip()
    start = text.rfind("\n") + 1
    return text[start : start + LAST_LINE].strip()


def apply_carriage_returns(text: str) -> tuple[str, bool, bool]:
    """`text` with each line cut to what follows its last bare carriage return.

    Also says whether its first line was cut so (it then replaces the unfinished line before
    it), and whether it ends in a carriage return (the next text then replaces its last line).
    """
    first_newline = text.find("\n")
    replaces_first = False
    kept: list[str] = []
    pos = 0
    while (cr := text.find("\r", pos)) >= 0:
        after = _CARRIAGE_RETURNS.match(text, cr).end()
        if after == len(text):
            kept.append(text[pos:cr])
            return "".join(kept), replaces_first, True
        if text[after] == "\n":  # \r\n is a newline
            kept.append(text[pos:cr])
        else:
            line_start = text.rfind("\n", pos, cr) + 1
            kept.append(text[pos:line_start])
            replaces_first = replaces_first or first_newline < 0 or cr < first_newline
        pos = after
    kept.append(text[pos:])
    return "".join(kept), replaces_first, False



"""The whole output of one execution, by line, for read_output and search_output.

A result shows the head and tail of long output; the transcript keeps all of it. It stays in
memory up to MEMORY_BYTES and spills to a temporary file beyond that, deleted when the
transcript is closed. Carriage returns are applied as a terminal shows them, so a progress bar
is one line, not ten thousand.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Iterator

import regex

MEMORY_BYTES = 1 << 20
INDEX_EVERY = 1024
"""Lines between remembered file offsets: reading line N seeks, then skips fewer than this."""
LONGEST_LINE = 1 << 20
"""Characters after which a line without a newline is ended anyway."""
_BREAKS = re.compile(r"(\r\n|\r|\n)")


class Transcript:
    def __init__(self) -> None:
        # Open as long as the transcript is kept; close() deletes it.
        self._file = tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES, mode="w+b")  # noqa: SIM115
        self._offsets = [0]  # file offset of line 0, INDEX_EVERY, 2 * INDEX_EVERY, ...
        self._size = 0
        self._complete = 0  # lines ended by a newline, in the file
        self._line: list[str] = []  # the line still being written
        self._line_size = 0
        self._restart_line = False  # a carriage return came last: the next text rewrites the line

    @property
    def lines(self) -> int:
        """How many lines there are, the one still being written included."""
        return self._complete + (1 if self._line else 0)

    @property
    def size(self) -> int:
        """Bytes of the lines ended so far."""
        return self._size

    @property
    def ended_lines(self) -> int:
        """How many lines are ended by a newline (the last one may still change if not)."""
        return self._complete

    def add(self, text: str) -> None:
        for piece in _BREAKS.split(text):
            if piece in ("\n", "\r\n"):
                self._end_line()
            elif piece == "\r":
                self._restart_line = True
            elif piece:
                if self._restart_line:
                    self._line, self._line_size = [], 0
                    self._restart_line = False
                self._line.append(piece)
                self._line_size += len(piece)
                if self._line_size > LONGEST_LINE:
                    self._end_line()

    def read(self, offset: int, limit: int) -> list[str]:
        """Lines offset to offset + limit (0-based), without their newlines."""
        found = []
        for number, line in self._lines_from(offset):
            if number >= offset + limit:
                break
            found.append(line)
        return found

    def excerpt(self, offset: int, budget: int, more: Callable[[int, int], str]) -> str:
        """Lines from `offset` to the end within about `budget` characters: all of them, or
        their head and tail around a notice that says, through `more(first, count)`, how to get
        the lines left out."""
        total = self.lines
        head: list[str] = []
        size = 0
        for _, line in self._lines_from(offset):
            if size + len(line) + 1 > budget // 2:
                break
            head.append(line)
            size += len(line) + 1
        if offset + len(head) >= total:
            return "\n".join(head)
        tail: list[str] = []
        count = 64
        while True:  # the last lines that fit in the other half
            start = max(offset + len(head), total - count)
            tail = self.read(start, total - start)
            if sum(len(line) + 1 for line in tail) > budget // 2 or start == offset + len(head):
                break
            count *= 4
        while tail and sum(len(line) + 1 for line in tail) > budget // 2:
            tail.pop(0)
        first, left_out = offset + len(head), total - len(tail) - offset - len(head)
        if not left_out:
            return "\n".join(head + tail)
        notice = f"[... {left_out:,} lines left out; {more(first, left_out)} ...]"
        return "\n".join([*head, notice, *tail])

    def search(
        self, pattern: regex.Pattern[str], limit: int, seconds: float
    ) -> tuple[list[tuple[int, str]], int]:
        """The first `limit` matching lines as (number, line), and how many lines match in all.

        A pattern that backtracks without end must not stall the server: past `seconds` in all,
        TimeoutError."""
        hits, count = [], 0
        deadline = time.monotonic() + seconds
        for number, line in self._lines_from(0):
            if pattern.search(line, timeout=max(deadline - time.monotonic(), 0.001)):
                count += 1
                if len(hits) < limit:
                    hits.append((number, line))
        return hits, count

    def close(self) -> None:
        self._file.close()

    def _end_line(self) -> None:
        data = ("".join(self._line) + "\n").encode("utf-8", "replace")
        self._file.seek(0, 2)
        self._file.write(data)
        self._size += len(data)
        self._complete += 1
        if self._complete % INDEX_EVERY == 0:
            self._offsets.append(self._size)
        self._line, self._line_size = [], 0
        self._restart_line = False

    def _lines_from(self, offset: int) -> Iterator[tuple[int, str]]:
        offset = max(0, offset)
        block = min(offset // INDEX_EVERY, len(self._offsets) - 1)
        number = block * INDEX_EVERY
        position = self._offsets[block]
        while number < self._complete:
            self._file.seek(position)  # the file may have been written between two lines
            raw = self._file.readline()
            position += len(raw)
            if number >= offset:
                yield number, raw.decode("utf-8", "replace").rstrip("\n")
            number += 1
        if self._line and number >= offset:
            yield number, "".join(self._line)

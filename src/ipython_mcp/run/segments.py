"""The segment files a whole output is kept in, and reading bytes of them back as text.

A segment is a temporary file holding a stretch of one output's lines; the first of an output
stays in memory up to MEMORY_BYTES. A line start is indexed every INDEX_BYTES, so that reading
line N seeks, then skips at most that much. Everything here is called with the owning
transcript's lock held, or takes it for each block it reads.
"""

from __future__ import annotations

import codecs
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

MEMORY_BYTES = 1 << 20
"""Bytes of a transcript's first segment kept in memory before it goes to a temporary file."""
INDEX_BYTES = 64 << 10
"""A line start is indexed every INDEX_BYTES: reading line N seeks, then skips at most that
much (and the rest of a line longer than it)."""
BLOCK = 1 << 20
"""Bytes read at once."""
DECODER = codecs.getincrementaldecoder("utf-8")


class Segment:
    """One file of a transcript; it starts at character `first[1]` of line `first[0]`."""

    __slots__ = (
        "ascii",
        "chars",
        "dropped",
        "end",
        "file",
        "first",
        "mark_chars",
        "mark_lines",
        "mark_pos",
        "size",
    )

    def __init__(self, line: int, char: int, *, in_memory: bool) -> None:
        if in_memory:
            self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES, mode="w+b")  # noqa: SIM115
        else:
            self.file = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115
        self.first = self.end = (line, char)
        self.size = 0
        self.chars = 0
        self.ascii = True  # one byte per character: positions are computed, not decoded
        self.dropped = False
        # Indexed line starts: (line, byte, character of the line at that byte).
        self.mark_lines, self.mark_pos, self.mark_chars = [line], [0], [char]

    def append(self, data: bytes, chars: int) -> int:
        """Write `data` (`chars` characters) at the end; returns where it starts."""
        position = self.size
        self.file.seek(position)
        self.file.write(data)
        self.size += len(data)
        self.chars += chars
        self.ascii = self.ascii and len(data) == chars
        return position

    def index(self, data: bytes, position: int, line: int) -> None:
        """Index a line start every INDEX_BYTES in `data`, written at `position`; `line` is
        the line being written at its first byte."""
        at = self.mark_pos[-1] + INDEX_BYTES - position
        counted = 0
        while at < len(data):
            newline = data.find(b"\n", max(at, 0))
            if newline < 0:
                return
            line += data.count(b"\n", counted, newline + 1)
            counted = newline + 1
            self.mark_lines.append(line)
            self.mark_pos.append(position + counted)
            self.mark_chars.append(0)
            at = counted + INDEX_BYTES

    def close(self) -> None:
        self.dropped = True
        self.file.close()

    def line_start(self, position: int, lines: int) -> int | None:
        """The byte after the `lines`-th newline from `position`, if in the segment."""
        while position < self.size:
            self.file.seek(position)
            raw = self.file.read(min(BLOCK, self.size - position))
            count = raw.count(b"\n")
            if count >= lines:  # the first prefix of `raw` with that many newlines
                low, high = 0, len(raw) - 1
                while low < high:
                    middle = (low + high) // 2
                    if raw.count(b"\n", 0, middle + 1) >= lines:
                        high = middle
                    else:
                        low = middle + 1
                return position + low + 1
            lines -= count
            position += len(raw)
        return None

    def skip_chars(self, position: int, chars: int) -> int:
        """The byte `chars` characters after `position` (at most the segment's end)."""
        if self.ascii:
            return min(position + chars, self.size)
        while chars > 0 and position < self.size:
            self.file.seek(position)
            # Read from a character's start each time: a block may end inside the next one.
            text = DECODER("replace").decode(self.file.read(min(BLOCK, self.size - position)))
            if not text:
                break
            if len(text) >= chars:
                return position + len(text[:chars].encode())
            chars -= len(text)
            position += len(text.encode())
        return min(position, self.size)


def texts(
    lock: threading.RLock, segments: list[Segment], position: int, sizes: list[int] | None = None
) -> Iterator[tuple[Segment, str]]:
    """Decoded text from byte `position` of the first of `segments` to the end of the last
    (or to `sizes`), a block at a time, each read under `lock`. A segment dropped meanwhile is
    left: the reader sees the next one start further on than it got."""
    sizes = sizes or [segment.size for segment in segments]
    for segment, size in zip(segments, sizes, strict=True):
        decoder = DECODER("replace")
        while position < size:
            with lock:
                if segment.dropped:
                    break
                segment.file.seek(position)
                raw = segment.file.read(min(BLOCK, size - position))
            if not raw:
                break
            position += len(raw)
            text = decoder.decode(raw, final=position >= size)
            if text:
                yield segment, text
        position = 0

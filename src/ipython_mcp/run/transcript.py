"""The lines of each execution's output in segment files, within a cap on what a session keeps.

A Transcript is the file-backed store of one execution's output model (rendering.outputs):
its lines go to segments (see segments.py), deleted when the transcript is closed. The
transcripts of one kernel session share a TranscriptStore and its cap: past it, whole segments
are dropped, oldest first: those of finished executions, then the beginning of running ones.
Lines keep their numbers when the lines before them are dropped; readers say what is gone.

Lines may be any length: a line longer than LONGEST_LINE is written out in parts, and read
back in pieces. Written and read on the event loop's thread; a search thread (search.py) reads
too, holding the transcript's lock for each file access.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator

from ..rendering.lines import LONGEST_LINE, LineWriter, Piece, dropped_text
from .segments import MEMORY_BYTES, Segment, texts

__all__ = ["LONGEST_LINE", "MEMORY_BYTES", "Piece", "Transcript", "TranscriptStore"]

DEFAULT_CAP = 256 << 20
"""Bytes all the transcripts of one kernel session keep together, by default."""
SEGMENTS_PER_CAP = 16
"""A segment is this fraction of the cap (within MIN_SEGMENT and MAX_SEGMENT): what is dropped at once."""
MIN_SEGMENT = 64 << 10
MAX_SEGMENT = 16 << 20
LONG_LINE = 1 << 16
"""Characters from which a line's length is remembered, so that reading a piece of it does not
read all of it."""


class TranscriptStore:
    """The transcripts of one kernel session, kept within `cap` bytes together.

    Written and read on the event loop's thread; a search thread only reads transcripts."""

    def __init__(self, cap: int = DEFAULT_CAP, *, segment_bytes: int | None = None) -> None:
        self.cap = cap
        self.segment_bytes = segment_bytes or min(max(cap // SEGMENTS_PER_CAP, MIN_SEGMENT), MAX_SEGMENT)
        self.size = 0
        """Bytes kept, in memory and in files."""
        self._transcripts: list[Transcript] = []  # oldest first

    def transcript(self) -> Transcript:
        return Transcript(self)

    @property
    def cap_text(self) -> str:
        """`256 MB`, or in kB for a cap that is no whole number of megabytes."""
        return f"{self.cap >> 20} MB" if self.cap % (1 << 20) == 0 else f"{self.cap / 1024:g} kB"

    def _reserve(self, size: int) -> None:
        """Drop the oldest segments until `size` more bytes fit: finished executions' first,
        then the beginnings of running ones (never the segment a running one writes to)."""
        if self.size + size <= self.cap:
            return
        for transcript in sorted(self._transcripts, key=lambda t: not t.finished):
            while self.size + size > self.cap and transcript._drop_oldest(keep_last=not transcript.finished):
                pass
            if self.size + size <= self.cap:
                return


class Transcript(LineWriter):
    """The lines of one execution's output, in segments kept within its store's cap."""

    def __init__(self, store: TranscriptStore | None = None) -> None:
        super().__init__()
        self._store = store if store is not None else TranscriptStore()
        self._store._transcripts.append(self)
        self._segments: list[Segment] = []
        self._firsts: list[tuple[int, int]] = []  # the segments' first (line, character)
        self._kept = (0, 0)  # the first (line, character) not dropped
        self._kept_chars = 0
        self._size = 0
        self._long: dict[int, int] = {}  # lengths of the lines of LONG_LINE characters or more
        self._opened = 0
        self.finished = False
        """Its execution ended: its segments are the first to go past the cap."""

    @property
    def size(self) -> int:
        """Bytes of output written so far, dropped ones included."""
        return self._size

    @property
    def kept(self) -> tuple[int, int]:
        """The first line, and character of it, not dropped: (0, 0) until the cap is reached."""
        return self._kept

    @property
    def kept_chars(self) -> int:
        """Characters before `kept`."""
        return self._kept_chars

    @property
    def cap_text(self) -> str:
        return self._store.cap_text

    def dropped(self, line: int, char: int = 0) -> str:
        """What of the output from `line` (character `char`) on was dropped past the cap, as a
        sentence without its end: "lines 0-99 were dropped to keep ..."; "" if nothing was."""
        return dropped_text(line, char, self._kept, self._store.cap_text)

    def line_length(self, number: int) -> int | None:
        """Characters in a line, when known without reading it (a long line, the last one)."""
        if number == self._complete:
            return self._on_disk + self._line_size
        return self._long.get(number)

    def finish(self) -> None:
        self.finished = True

    def close(self) -> None:
        with self._lock:
            for segment in self._segments:
                segment.close()
                self._store.size -= segment.size
            self._segments, self._firsts = [], []
        with contextlib.suppress(ValueError):
            self._store._transcripts.remove(self)

    def release(self, line: int) -> None:
        """Drop the segments that end before `line` (their output was cleared)."""
        while self._segments and self._segments[0].end <= (line, 0):
            self._drop_oldest(keep_last=False)
        if not self._segments:
            self._opened = 0  # the next segment starts in memory again

    # -- writing ---------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        """Append `text` to the segments: more of the line being written, and the lines after
        it if it has newlines. Called with the lock held."""
        store = self._store
        step = store.segment_bytes
        start = 0
        while start < len(text):
            # A chunk ends a line where it can, so that a segment starts with a line.
            end = len(text) if len(text) - start <= step else text.rfind("\n", start, start + step) + 1
            chunk = text[start : end or start + step]
            start += len(chunk)
            data = chunk.encode("utf-8", "replace")  # a lone surrogate becomes one "?"
            store._reserve(len(data))
            segment = self._segments[-1] if self._segments else None
            if segment is None or segment.size >= step:
                segment = self._open_segment()
            line = self._complete
            position = segment.append(data, len(chunk))
            newlines = chunk.count("\n")
            if newlines:
                self._remember_long_lines(chunk)
                self._complete += newlines
                self._on_disk = len(chunk) - chunk.rfind("\n") - 1
            else:
                self._on_disk += len(chunk)
            segment.index(data, position, line)
            segment.end = (self._complete, self._on_disk)
            self._size += len(data)
            store.size += len(data)

    def _remember_long_lines(self, chunk: str) -> None:
        """The lengths of the long lines that `chunk` ends (before _complete counts them)."""
        first, last = chunk.find("\n"), chunk.rfind("\n")
        if self._on_disk + first >= LONG_LINE:
            self._long[self._complete] = self._on_disk + first
        if last - first > LONG_LINE:
            lines = chunk[first + 1 : last].split("\n")
            if max(map(len, lines)) >= LONG_LINE:
                for number, text in enumerate(lines, self._complete + 1):
                    if len(text) >= LONG_LINE:
                        self._long[number] = len(text)

    def _open_segment(self) -> Segment:
        segment = Segment(self._complete, self._on_disk, in_memory=self._opened == 0)
        self._opened += 1
        self._segments.append(segment)
        self._firsts.append(segment.first)
        return segment

    def _drop_oldest(self, *, keep_last: bool) -> bool:
        with self._lock:
            if not self._segments or (keep_last and len(self._segments) == 1):
                return False
            segment = self._segments.pop(0)
            self._firsts.pop(0)
            segment.close()
            self._kept = segment.end
            self._kept_chars += segment.chars
            self.drops += 1
            while self._long and next(iter(self._long)) < self._kept[0]:
                del self._long[next(iter(self._long))]
        self._store.size -= segment.size
        return True

    # -- reading ---------------------------------------------------------------------------

    def read(self, offset: int, limit: int) -> list[str]:
        """Lines offset to offset + limit (0-based), without their newlines, whole."""
        return [piece.text for piece in self.pieces(offset, 0, offset + limit, max_chars=1 << 62)]

    def pieces(self, line: int, char: int, end: int, *, max_chars: int) -> Iterator[Piece]:
        """Line `line` from character `char`, then the lines after it up to `end`, each cut to
        `max_chars`; what was dropped is skipped."""
        line, char = max((line, char), self._kept)
        end = min(end, self.lines)
        if char and line < end:  # from a character of a line: not past its end
            length = self._length(line)
            if char > length:
                yield Piece(line, char, "", length)
                line, char = line + 1, 0
        while line < end:
            found = self._find(line, char)
            if found is None:  # the line being written, all of it still in memory
                if line == self._complete:
                    yield self._memory_piece(line, char, "", max_chars)
                return
            index, position = found
            parts: list[str] = []
            have = counted = 0  # characters taken (at most max_chars) and seen, from `char`
            jumped = False
            for _, text in texts(self._lock, self._segments[index:], position):
                at = 0
                while at < len(text):
                    newline = text.find("\n", at)
                    stop = len(text) if newline < 0 else newline
                    if have < max_chars:
                        parts.append(text[at : min(stop, at + max_chars - have)])
                        have += len(parts[-1])
                    counted += stop - at
                    if newline < 0:
                        break
                    yield Piece(line, char, "".join(parts), char + counted)
                    line, char, parts, have, counted = line + 1, 0, [], 0, 0
                    if line >= end:
                        return
                    at = newline + 1
                known = self.line_length(line)
                if have >= max_chars and known is not None:  # skip the rest of a long line
                    yield Piece(line, char, "".join(parts), known)
                    if line >= self._complete:
                        return
                    line, char, jumped = line + 1, 0, True
                    break
            if jumped:
                continue
            if line == self._complete:  # the on-disk part ended; the line goes on in memory
                yield self._memory_piece(line, char, "".join(parts), max_chars)
            return

    def piece(self, line: int, char: int, max_chars: int) -> Piece | None:
        """Characters `char` to `char + max_chars` of a line, if kept."""
        return next(self.pieces(line, char, line + 1, max_chars=max_chars), None)

    def _length(self, line: int) -> int:
        """Characters in a line: remembered for a long one, else counted."""
        known = self.line_length(line)
        if known is not None:
            return known
        counted = self._kept[1] if line == self._kept[0] else 0
        found = self._find(line, counted)
        if found is None:
            return counted
        for _, text in texts(self._lock, self._segments[found[0] :], found[1]):
            newline = text.find("\n")
            if newline >= 0:
                return counted + newline
            counted += len(text)
        return counted

    def _memory_piece(self, line: int, char: int, text: str, max_chars: int) -> Piece:
        """The line being written, from character `char`: `text` came from its part on disk."""
        memory = "".join(self._line)
        skip = max(0, char - self._on_disk)
        if len(text) < max_chars:
            text += memory[skip : skip + max_chars - len(text)]
        return Piece(line, char, text, self._on_disk + len(memory))

    def _find(self, line: int, char: int) -> tuple[int, int] | None:
        """The segment and byte where character `char` of line `line` is, if it is on disk."""
        with self._lock:
            index = bisect.bisect_right(self._firsts, (line, char)) - 1
            if index < 0:
                return None
            segment = self._segments[index]
            mark = bisect.bisect_right(segment.mark_lines, line) - 1
            position, at = segment.mark_pos[mark], segment.mark_chars[mark]
            if segment.mark_lines[mark] < line:
                start = segment.line_start(position, line - segment.mark_lines[mark])
                if start is None:
                    return None
                position, at = start, 0
            position = segment.skip_chars(position, char - at)
            if position >= segment.size and index == len(self._segments) - 1 and line == self._complete:
                return None  # the rest of the line is in memory
            return index, position


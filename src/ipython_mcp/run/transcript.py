"""The whole output of each execution, by line, within a cap on what a kernel session keeps.

A result shows the head and tail of long output; the transcript keeps all of it, for
read_output, search_output and wait_for_execution. It is a sequence of segments: the first
stays in memory up to MEMORY_BYTES, the rest are temporary files, deleted when the transcript
is closed. The transcripts of one kernel session share a TranscriptStore and its cap: past it,
whole segments are dropped, oldest first: those of finished executions, then the beginning of
running ones. Lines are numbered by the newlines before them, as the rendering counts them, and
keep their numbers when the lines before them are dropped; readers say what is gone.

Carriage returns are applied as a terminal shows them, so a progress bar is one line, not ten
thousand. Lines may be any length: a line longer than LONGEST_LINE is written out in parts,
and read back in pieces.

search_output scans in a thread while the execution may still write: every file access holds
the transcript's lock, one block at a time, and the scan goes through blocks, not lines.
"""

from __future__ import annotations

import asyncio
import bisect
import codecs
import contextlib
import re
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import IO

import regex

MEMORY_BYTES = 1 << 20
"""Bytes of a transcript's first segment kept in memory before it goes to a temporary file."""
DEFAULT_CAP = 256 << 20
"""Bytes all the transcripts of one kernel session keep together, by default."""
SEGMENTS_PER_CAP = 16
"""A segment is this fraction of the cap (within MIN_SEGMENT and MAX_SEGMENT): what is dropped at once."""
MIN_SEGMENT = 64 << 10
MAX_SEGMENT = 16 << 20
LONGEST_LINE = 1 << 20
"""Characters of an unfinished line held in memory (where a carriage return can still rewrite
it) before they are written out; the line goes on."""
LONG_LINE = 1 << 16
"""Characters from which a line's length is remembered, so that reading a piece of it does not
read all of it."""
INDEX_BYTES = 64 << 10
"""A line start is indexed every INDEX_BYTES: reading line N seeks, then skips at most that
much (and the rest of a line longer than it)."""
BLOCK = 1 << 20
"""Bytes read at once."""
PART = 1 << 16
"""Characters of lines searched at once, at most (but for one line longer than that)."""
WINDOW = 1 << 20
OVERLAP = 1 << 14
"""A line longer than WINDOW characters is searched in windows that overlap by OVERLAP."""
SNIPPET = 400
"""Characters of a matching line kept around the match."""
_BREAKS = re.compile(r"(\r\n|\r|\n)")
_DECODER = codecs.getincrementaldecoder("utf-8")
_NOT_LINE_BY_LINE = regex.compile(r"\\[AZzGK]|\(\?(?!:|P?<[^\W\d]\w*>|P=|[imsx]+[:)])")
"""What makes a pattern match differently in a block of lines than in each line alone:
anchors to the start or end of the text, lookarounds, inline flags other than i, m, s, x."""


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


@dataclass(frozen=True, slots=True)
class Match:
    """A matching line: `text` is the part of it around the match, from its character `start`."""

    number: int
    at: int
    """Character of the line where the match starts."""
    start: int
    text: str
    length: int


@dataclass(frozen=True, slots=True)
class Search:
    """What a search found, and how much of the output it went through."""

    matches: list[Match]
    """The first `limit` matching lines."""
    count: int
    """Matching lines among those searched."""
    first: int
    """The first line searched (after any lines dropped before the search began)."""
    end: int
    """The line after the last one searched whole: where a search stopped by time goes on."""
    lines: int
    """Lines in the output when the search began."""
    stopped: bool
    """The time ran out before the end."""
    slow_line: int | None
    """A line on which the pattern alone took a large part of the time."""
    lost: list[tuple[int, int]]
    """Lines (first, last) dropped while the search went through them: not searched."""


class _Segment:
    """One file of a transcript; it starts at character `first[1]` of line `first[0]`."""

    __slots__ = ("ascii", "dropped", "end", "file", "first", "mark_chars", "mark_lines", "mark_pos", "size")

    def __init__(self, file: IO[bytes], line: int, char: int) -> None:
        self.file = file
        self.first = self.end = (line, char)
        self.size = 0
        self.ascii = True  # one byte per character: positions are computed, not decoded
        self.dropped = False
        # Indexed line starts: (line, byte, character of the line at that byte).
        self.mark_lines, self.mark_pos, self.mark_chars = [line], [0], [char]


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


class Transcript:
    """The whole output of one execution, by line, in segments kept within its store's cap."""

    def __init__(self, store: TranscriptStore | None = None) -> None:
        self._store = store if store is not None else TranscriptStore()
        self._store._transcripts.append(self)
        self._lock = threading.RLock()
        """Held for each file access and change of the segments; a search thread takes it too."""
        self._segments: list[_Segment] = []
        self._firsts: list[tuple[int, int]] = []  # the segments' first (line, character)
        self._kept = (0, 0)  # the first (line, character) not dropped
        self._size = 0
        self._complete = 0  # lines ended by a newline
        self._on_disk = 0  # characters of the line being written that are in the segments
        self._line: list[str] = []  # the rest of it, held in memory
        self._line_size = 0
        self._restart_line = False  # a carriage return came last: the next text rewrites the line
        self._long: dict[int, int] = {}  # lengths of the lines of LONG_LINE characters or more
        self._opened = 0
        self.finished = False
        """Its execution ended: its segments are the first to go past the cap."""

    @property
    def lines(self) -> int:
        """How many lines there are, the one still being written included."""
        return self._complete + (1 if self._line or self._on_disk else 0)

    @property
    def size(self) -> int:
        """Bytes of output written so far, dropped ones included."""
        return self._size

    @property
    def ended_lines(self) -> int:
        """How many lines are ended by a newline (the last one may still change if not)."""
        return self._complete

    @property
    def kept(self) -> tuple[int, int]:
        """The first line, and character of it, not dropped: (0, 0) until the cap is reached."""
        return self._kept

    def dropped(self, line: int, char: int = 0) -> str:
        """What of the output from `line` (character `char`) on was dropped past the cap, as a
        sentence without its end: "lines 0-99 were dropped to keep ..."; "" if nothing was."""
        if (line, char) >= self._kept:
            return ""
        kept_line, kept_char = self._kept
        if line == kept_line:
            gone = f"characters {char:,}-{kept_char - 1:,} of line {line:,} were"
        else:
            gone = f"line {line:,}" if line == kept_line - 1 else f"lines {line:,}-{kept_line - 1:,}"
            if kept_char:
                gone += f" and characters 0-{kept_char - 1:,} of line {kept_line:,} were"
            else:
                gone += " was" if line == kept_line - 1 else " were"
        return f"{gone} dropped to keep disk use under the cap of {self._store.cap_text}"

    def line_length(self, number: int) -> int | None:
        """Characters in a line, when known without reading it (a long line, the last one)."""
        if number == self._complete:
            return self._on_disk + self._line_size
        return self._long.get(number)

    def finish(self) -> None:
        self.finished = True

    # -- writing ---------------------------------------------------------------------------

    def add(self, text: str) -> None:
        if not text:
            return
        with self._lock:  # a reader sees all of it, or none
            if "\r" in text:
                self._add_pieces(text)
                return
            if self._restart_line and not text.startswith("\n"):  # a "\r\n" split in two is a newline
                self._line, self._line_size = [], 0
            self._restart_line = False
            end = text.rfind("\n") + 1
            if end:  # whole lines go out together
                self._write("".join(self._line) + text[:end])
                self._line, self._line_size = [], 0
                text = text[end:]
            if text:
                self._line.append(text)
                self._line_size += len(text)
                if self._line_size > LONGEST_LINE:
                    self._write("".join(self._line))
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
                if self._line_size > LONGEST_LINE:
                    if ended:
                        self._write("\n".join(ended) + "\n")
                        ended = []
                    self._write("".join(self._line))
                    self._line, self._line_size = [], 0
        if ended:
            self._write("\n".join(ended) + "\n")

    def close(self) -> None:
        with self._lock:
            for segment in self._segments:
                segment.dropped = True
                segment.file.close()
                self._store.size -= segment.size
            self._segments, self._firsts = [], []
        with contextlib.suppress(ValueError):
            self._store._transcripts.remove(self)

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
            line, position = self._complete, segment.size
            segment.file.seek(position)
            segment.file.write(data)
            segment.size += len(data)
            segment.ascii = segment.ascii and len(data) == len(chunk)
            newlines = chunk.count("\n")
            if newlines:
                self._remember_long_lines(chunk)
                self._complete += newlines
                self._on_disk = len(chunk) - chunk.rfind("\n") - 1
            else:
                self._on_disk += len(chunk)
            self._index(segment, data, position, line)
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

    @staticmethod
    def _index(segment: _Segment, data: bytes, position: int, line: int) -> None:
        """Index a line start every INDEX_BYTES in `data`, written at `position`; `line` is
        the line being written at its first byte."""
        at = segment.mark_pos[-1] + INDEX_BYTES - position
        counted = 0
        while at < len(data):
            newline = data.find(b"\n", max(at, 0))
            if newline < 0:
                return
            line += data.count(b"\n", counted, newline + 1)
            counted = newline + 1
            segment.mark_lines.append(line)
            segment.mark_pos.append(position + counted)
            segment.mark_chars.append(0)
            at = counted + INDEX_BYTES

    def _open_segment(self) -> _Segment:
        if self._opened == 0:
            file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES, mode="w+b")  # noqa: SIM115
        else:
            file = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115
        self._opened += 1
        segment = _Segment(file, self._complete, self._on_disk)
        self._segments.append(segment)
        self._firsts.append(segment.first)
        return segment

    def _drop_oldest(self, *, keep_last: bool) -> bool:
        with self._lock:
            if not self._segments or (keep_last and len(self._segments) == 1):
                return False
            segment = self._segments.pop(0)
            self._firsts.pop(0)
            segment.dropped = True
            segment.file.close()
            self._kept = segment.end
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
            for _, text in self._texts(self._segments[index:], position):
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

    def excerpt(self, offset: int, budget: int, more: Callable[..., str]) -> str:
        """The output from line `offset` to the end within about `budget` characters: all of
        it, or its head and tail around a notice that says, through `more(first, count)` (or
        `more(first, count, char)` when line `first` is shown up to character `char`), how to
        get what was left out. Lines dropped past the cap are said to be gone, first."""
        total = self.lines
        half = budget // 2
        gone = self.dropped(offset)
        shown = [f"[{gone}; the rest is below]"] if gone else []
        line, char = max((offset, 0), self._kept)
        # The head: the first lines that fit in half the budget, or the start of a long one.
        head: list[str] = []
        size = 0
        first, first_char = line, 0  # from where the output is not shown whole
        for piece in self.pieces(line, char, total, max_chars=half + 1):
            if piece.end < piece.length or size + len(piece.text) + 1 > half:
                if not head:
                    head.append(piece.text[:half])
                    first, first_char = piece.number, piece.start + len(head[0])
                break
            head.append(piece.text)
            size += len(piece.text) + 1
            first = piece.number + 1
        if first >= total:
            return "\n".join(shown + head)
        # The tail: the last lines that fit in the other half, or the end of a long one.
        count = 64
        while True:
            begin = max(first, total - count)
            pieces = list(self.pieces(begin, 0, total, max_chars=half + 1))
            if sum(len(p.text) + 1 for p in pieces) > half or begin == first:
                break
            count *= 4
        tail: list[str] = []
        size = 0
        tail_first, tail_char = total, 0
        for piece in reversed(pieces):
            cut = piece.end < piece.length or (piece.number == first and first_char > 0)
            if cut or size + len(piece.text) + 1 > half:
                break
            tail.insert(0, piece.text)
            size += len(piece.text) + 1
            tail_first = piece.number
        if not tail:
            last = total - 1
            length = self.line_length(last) or (pieces[-1].length if pieces else 0)
            start = max(length - half, first_char if last == first else 0)
            end_piece = self.piece(last, start, half)
            if end_piece is not None:
                tail, tail_first, tail_char = [end_piece.text], last, end_piece.start
        if tail_first == first and first_char:  # head and tail are two ends of one line
            if tail_char <= first_char:
                head[-1] += tail[0][first_char - tail_char :]
                return "\n".join(shown + head + tail[1:])
            hint = more(first, 1, first_char)
            notice = f"[... {tail_char - first_char:,} characters of line {first:,} left out; {hint} ...]"
            return "\n".join([*shown, *head, notice, *tail])
        left_out = tail_first - first
        if not left_out and not first_char:
            return "\n".join(shown + head + tail)
        hint = more(first, left_out, first_char) if first_char else more(first, left_out)
        notice = f"[... {left_out:,} lines left out; {hint} ...]"
        return "\n".join([*shown, *head, notice, *tail])

    def search(self, pattern: regex.Pattern[str], limit: int, seconds: float, offset: int = 0) -> Search:
        """The lines from `offset` on that match, the first `limit` of them shown, searched
        for at most `seconds`: past them it stops, and says how far it got. A pattern that
        took that long on its first line alone backtracks without end: TimeoutError."""
        return _Scan(self, pattern, limit, seconds).run(offset)

    def _length(self, line: int) -> int:
        """Characters in a line: remembered for a long one, else counted."""
        known = self.line_length(line)
        if known is not None:
            return known
        counted = self._kept[1] if line == self._kept[0] else 0
        found = self._find(line, counted)
        if found is None:
            return counted
        for _, text in self._texts(self._segments[found[0] :], found[1]):
            newline = text.find("\n")
            if newline >= 0:
                return counted + newline
            counted += len(text)
        return counted

    def piece(self, line: int, char: int, max_chars: int) -> Piece | None:
        """Characters `char` to `char + max_chars` of a line, if kept."""
        return next(self.pieces(line, char, line + 1, max_chars=max_chars), None)

    def _memory_piece(self, line: int, char: int, text: str, max_chars: int) -> Piece:
        """The line being written, from character `char`: `text` came from its part on disk."""
        memory = "".join(self._line)
        skip = max(0, char - self._on_disk)
        if len(text) < max_chars:
            text += memory[skip : skip + max_chars - len(text)]
        return Piece(line, char, text, self._on_disk + len(memory))

    def _texts(
        self, segments: list[_Segment], position: int, sizes: list[int] | None = None
    ) -> Iterator[tuple[_Segment, str]]:
        """Decoded text from byte `position` of the first of `segments` to the end of the
        last (or to `sizes`), a block at a time, each read under the lock. A segment dropped
        meanwhile is left: the reader sees the next one start further on than it got."""
        sizes = sizes or [segment.size for segment in segments]
        for segment, size in zip(segments, sizes, strict=True):
            decoder = _DECODER("replace")
            while position < size:
                with self._lock:
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
                start = self._line_start(segment, position, line - segment.mark_lines[mark])
                if start is None:
                    return None
                position, at = start, 0
            if segment.ascii:
                position = min(position + char - at, segment.size)
            else:
                position = self._skip_chars(segment, position, char - at)
            if position >= segment.size and index == len(self._segments) - 1 and line == self._complete:
                return None  # the rest of the line is in memory
            return index, position

    @staticmethod
    def _line_start(segment: _Segment, position: int, lines: int) -> int | None:
        """The byte after the `lines`-th newline from `position`, if in the segment."""
        while position < segment.size:
            segment.file.seek(position)
            raw = segment.file.read(min(BLOCK, segment.size - position))
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

    @staticmethod
    def _skip_chars(segment: _Segment, position: int, chars: int) -> int:
        """The byte `chars` characters after `position` (at most the segment's end)."""
        while chars > 0 and position < segment.size:
            segment.file.seek(position)
            # Read from a character's start each time: a block may end inside the next one.
            text = _DECODER("replace").decode(segment.file.read(min(BLOCK, segment.size - position)))
            if not text:
                break
            if len(text) >= chars:
                return position + len(text[:chars].encode())
            chars -= len(text)
            position += len(text.encode())
        return min(position, segment.size)


def _in_many_lines(pattern: regex.Pattern[str]) -> regex.Pattern[str] | None:
    """The pattern to search many lines at once with, that finds a match in the same lines
    as the pattern in each line alone, and goes on to the end of the line (so a line that
    matches is found once); None if there is none."""
    if _NOT_LINE_BY_LINE.search(pattern.pattern) or pattern.flags & (regex.REVERSE | regex.VERBOSE):
        return None
    try:
        return regex.compile(f"(?:{pattern.pattern})[^\\n]*", pattern.flags | regex.MULTILINE)
    except regex.error:
        return None


class _Stop(Exception):
    """The search ran out of time, or its caller stopped waiting."""


class _Scan:
    """One search through a transcript, in whatever thread runs it; `line` says how far it got."""

    def __init__(
        self, transcript: Transcript, pattern: regex.Pattern[str], limit: int, seconds: float
    ) -> None:
        self._transcript = transcript
        self._pattern = pattern
        self._limit = limit
        self._seconds = seconds
        self._deadline = 0.0
        self._blocks = _in_many_lines(pattern)
        self._matches: list[Match] = []
        self._count = 0
        self._slow_line: int | None = None
        self._lost: list[tuple[int, int]] = []
        self._number = self._char = 0  # where the text being searched starts
        self.line = 0
        """The line being searched: those before it are done."""
        self.first = 0
        self.lines = 0
        self.cancelled = False
        """Set by a caller that stopped waiting: the scan stops at its next line."""

    def run(self, offset: int) -> Search:
        self._deadline = time.monotonic() + self._seconds
        transcript = self._transcript
        with transcript._lock:  # what is there now, whatever is written meanwhile
            self.lines = transcript.lines
            complete, memory = transcript._complete, "".join(transcript._line)
            on_disk = (complete, transcript._on_disk)  # where what is on disk ends
            self._number, self._char = max((offset, 0), transcript._kept)
            found = transcript._find(self._number, self._char) if self._number < self.lines else None
            segments = transcript._segments[found[0] :] if found else []
            sizes = [segment.size for segment in segments]
        self.first = self.line = self._number
        stopped = False
        try:
            rest, matched = self._scan(segments, found[1] if found else 0, sizes, on_disk)
            if self._number == complete < self.lines:  # the line being written
                self._region(rest + memory, skip_first=matched, last=True)
            self.line = self.lines
        except _Stop:
            stopped = True
        if stopped and self._slow_line == self.first and not self._count:
            raise TimeoutError(f"the pattern took over {self._seconds:g} s on line {self.first}")
        matches = [
            m
            if m.length >= 0
            else Match(m.number, m.at, m.start, m.text, transcript.line_length(m.number) or 0)
            for m in self._matches
        ]
        return Search(
            matches, self._count, self.first, self.line, self.lines, stopped, self._slow_line, self._lost
        )

    def _scan(
        self, segments: list[_Segment], position: int, sizes: list[int], end: tuple[int, int]
    ) -> tuple[str, bool]:
        """Search the lines on disk; returns the unfinished line they end with, and whether
        it matched already."""
        buffer = ""  # the start of the line not searched yet, from character self._char
        matched = False  # that line matched already (a long line, searched in windows)
        current: _Segment | None = None
        for segment, text in self._transcript._texts(segments, position, sizes):
            if segment is not current:
                expected = (self._number, self._char + len(buffer))
                if segment is not segments[0] and segment.first != expected:  # dropped meanwhile
                    self._skip_to(segment.first)
                    buffer, matched = "", False
                current = segment
            text = buffer + text if buffer else text
            newline = text.rfind("\n")
            if newline >= 0:
                self._region(text[:newline], skip_first=matched)
                buffer, matched = text[newline + 1 :], False
            else:
                buffer = text
            if len(buffer) > WINDOW:  # a long line: search what came of it so far
                if not matched:
                    matched = self._window(buffer)
                self._char += len(buffer) - OVERLAP
                buffer = buffer[-OVERLAP:]
        if segments and (self._number, self._char + len(buffer)) < end:  # its end was dropped
            self._skip_to(end)
            buffer, matched = "", False
        return buffer, matched

    def _skip_to(self, position: tuple[int, int]) -> None:
        """Go on from a later (line, character): what is between was dropped meanwhile."""
        line, char = position
        self._lost.append((self._number, line if char else line - 1))
        self._number, self._char = line, char

    def _region(self, region: str, *, skip_first: bool = False, last: bool = False) -> None:
        """Search whole lines: `region` is them without their last newline; its first line
        starts at character self._char, and was matched already if `skip_first`."""
        number, char, start = self._number, self._char, 0
        while True:  # in parts of about PART characters, so that a slow one is found quickly
            cut = region.find("\n", start + PART) if len(region) - start > PART else -1
            part = region[start:] if cut < 0 else region[start:cut]
            self._part(part, number, char, skip_first)
            if cut < 0:
                break
            number, char, skip_first, start = number + part.count("\n") + 1, 0, False, cut + 1
        if not last:
            self._number, self._char = number + part.count("\n") + 1, 0
            self.line = self._number

    def _part(self, text: str, number: int, char: int, skip_first: bool) -> None:
        """Search lines: `text` is them without their last newline; the first is line `number`
        from its character `char`."""
        if self._blocks is not None:
            rest = self._in_blocks(text, number, char, skip_first)
            if rest is None:
                return
            if rest:
                number += text.count("\n", 0, rest)
                text, char, skip_first = text[rest:], 0, False
        for index, line in enumerate(text.split("\n")):
            if index == 0 and skip_first:
                continue
            self.line = number + index
            first = index == 0
            self._check(line, self.line, 1 if first and char else 0, char if first else 0)

    def _in_blocks(self, text: str, number: int, char: int, skip_first: bool) -> int | None:
        """Find the matching lines with one search over many. A match within one line is one
        for that line alone too (the pattern has no lookaround and no anchor but ^ and $); a
        line a match runs past, or the first line when it starts mid-line, is checked alone.
        Returns None when done, or where the rest is to be searched line by line, because the
        search over many lines took too long."""
        assert self._blocks is not None
        position = counted = 0  # the start of the first line not decided yet
        first_line = number
        while position <= len(text):
            remaining = self._deadline - time.monotonic()
            if remaining <= 0 or self.cancelled:
                raise _Stop
            resume = None
            try:
                matches = self._blocks.finditer(
                    text, position, timeout=min(remaining, self._seconds / 6), concurrent=True
                )
                for found in matches:
                    at, end = found.span()
                    if at < position:  # in a line already found
                        if end > position:  # and on into the next: search that one again
                            resume = position
                            break
                        continue
                    start = text.rfind("\n", 0, at) + 1
                    number += text.count("\n", counted, start)
                    counted = start
                    first = number == first_line
                    if text.find("\n", at, end) >= 0 or (first and char):  # check the line alone
                        end = text.find("\n", at)
                        end = len(text) if end < 0 else end
                        position = end + 1
                        self.line = number
                        if not (first and skip_first):
                            line = text[start:end]
                            self._check(line, number, 1 if first and char else 0, char if first else 0)
                        resume = position  # the next match may have started before this one ended
                        break
                    position = end + 1  # the match goes on to the end of its line
                    if first and skip_first:
                        continue
                    self._count += 1
                    if len(self._matches) < self._limit:
                        line = text[start:end]
                        self._keep(number, at - start, line, char if first else 0, len(line) + char * first)
                self.line = number
            except TimeoutError:
                return position
            if resume is None:
                return None
        return None

    def _check(self, line: str, number: int, position: int, char: int) -> bool:
        """Whether a line (from its character `char`) matches; counted and kept if so."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or self.cancelled:
            raise _Stop
        began = time.monotonic()
        try:
            found = self._pattern.search(
                line, position, timeout=remaining, concurrent=True if len(line) > 10_000 else None
            )
        except TimeoutError:
            if time.monotonic() - began >= self._seconds / 3:
                self._slow_line = number
            raise _Stop from None
        if found is not None:
            self._count += 1
            if len(self._matches) < self._limit:
                self._keep(number, found.start(), line, char, char + len(line))
        return found is not None

    def _window(self, text: str) -> bool:
        """Search a long line's text so far; a match that reaches its end may go on, so it
        waits for the next window, which overlaps."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or self.cancelled:
            raise _Stop
        self.line = self._number
        try:
            found = self._pattern.search(text, 1 if self._char else 0, timeout=remaining, concurrent=True)
        except TimeoutError:
            raise _Stop from None
        if found is None or found.end() >= len(text):
            return False
        self._count += 1
        if len(self._matches) < self._limit:
            self._keep(self._number, found.start(), text, self._char, -1)
        return True

    def _keep(self, number: int, at: int, text: str, char: int, length: int) -> None:
        """Keep a match to show: `text` is its line from character `char`, `at` the match in it."""
        start = max(0, at - SNIPPET // 4)
        self._matches.append(Match(number, char + at, char + start, text[start : start + SNIPPET], length))


PROGRESS_EVERY = 0.5
"""Seconds between two progress reports of a search."""


async def search_in_thread(
    transcript: Transcript,
    pattern: regex.Pattern[str],
    *,
    limit: int,
    seconds: float,
    offset: int = 0,
    progress: Callable[[float, str], Awaitable[None]] | None = None,
) -> Search:
    """Transcript.search in a thread, so the event loop serves other calls meanwhile; tells
    `progress` (seconds, how far) as it goes. A caller that stops waiting stops the search."""
    scan = _Scan(transcript, pattern, limit, seconds)
    began = time.monotonic()
    work = asyncio.ensure_future(asyncio.to_thread(scan.run, offset))
    try:
        while True:
            done, _ = await asyncio.wait({work}, timeout=PROGRESS_EVERY)
            if done:
                return work.result()
            if progress is not None:
                await progress(
                    time.monotonic() - began,
                    f"searched {scan.line - scan.first:,} of {scan.lines - scan.first:,} lines",
                )
    finally:
        scan.cancelled = True

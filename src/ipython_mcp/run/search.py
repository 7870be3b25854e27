"""Searching an execution's whole output for a pattern, in a thread, within a time limit.

A search reads the output as shown (rendering.view): the store's lines, except those cleared
and those of displays updated since they were written (their updates are searched instead,
in memory), numbered as the whole output is read by line. The scan of the store runs in a
thread while the execution may still write: every file access holds the transcript's lock,
one block at a time, and it goes through blocks, not lines, searching many lines with one
regular expression call where that finds the same lines as a search of each line.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import regex

from .segments import Segment, texts
from .transcript import Transcript

if TYPE_CHECKING:
    from ..rendering.outputs import Outputs

PART = 1 << 16
"""Characters of lines searched at once, at most (but for one line longer than that)."""
WINDOW = 1 << 20
OVERLAP = 1 << 14
"""A line longer than WINDOW characters is searched in windows that overlap by OVERLAP."""
SNIPPET = 400
"""Characters of a matching line kept around the match."""
PROGRESS_EVERY = 0.5
"""Seconds between two progress reports of a search."""
_NOT_LINE_BY_LINE = regex.compile(r"\\[AZzGK]|\(\?(?!:|P?<[^\W\d]\w*>|P=|[imsx]+[:)])")
"""What makes a pattern match differently in a block of lines than in each line alone:
anchors to the start or end of the text, lookarounds, inline flags other than i, m, s, x."""


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
        self, transcript: Transcript,
        pattern: regex.Pattern[str],
        limit: int,
        seconds: float,
        skip: list[tuple[int, int]] | None = None,
    ) -> None:
        self._transcript = transcript
        self._pattern = pattern
        self._limit = limit
        self._seconds = seconds
        self._deadline = 0.0
        self._blocks = _in_many_lines(pattern)
        self._skip = skip or []  # store lines [start, end) not to count: updated displays
        self._skip_starts = [start for start, _ in self._skip]
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
        self, segments: list[Segment], position: int, sizes: list[int], end: tuple[int, int]
    ) -> tuple[str, bool]:
        """Search the lines on disk; returns the unfinished line they end with, and whether
        it matched already."""
        buffer = ""  # the start of the line not searched yet, from character self._char
        matched = False  # that line matched already (a long line, searched in windows)
        current: Segment | None = None
        for segment, text in texts(self._transcript._lock, segments, position, sizes):
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
                    if (first and skip_first) or self._skipped(number):
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
        if found is not None and not self._skipped(number):
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
        if self._skipped(self._number):
            return True
        self._count += 1
        if len(self._matches) < self._limit:
            self._keep(self._number, found.start(), text, self._char, -1)
        return True

    def _skipped(self, number: int) -> bool:
        i = bisect.bisect_right(self._skip_starts, number) - 1
        return i >= 0 and number < self._skip[i][1]

    def _keep(self, number: int, at: int, text: str, char: int, length: int) -> None:
        """Keep a match to show: `text` is its line from character `char`, `at` the match in it."""
        start = max(0, at - SNIPPET // 4)
        self._matches.append(Match(number, char + at, char + start, text[start : start + SNIPPET], length))


def scan(
    transcript: Transcript,
    pattern: regex.Pattern[str],
    limit: int,
    seconds: float,
    offset: int = 0,
    skip: list[tuple[int, int]] | None = None,
) -> Search:
    """The store's lines from `offset` on that match, the first `limit` of them kept, searched
    for at most `seconds`: past them it stops, and says how far it got. A pattern that took
    that long on its first line alone backtracks without end: TimeoutError."""
    return _Scan(transcript, pattern, limit, seconds, skip).run(offset)


async def search_in_thread(
    outputs: Outputs,
    pattern: regex.Pattern[str],
    *,
    limit: int,
    seconds: float,
    offset: int = 0,
    progress: Callable[[float, str], Awaitable[None]] | None = None,
) -> Search:
    """The lines of the output as shown, from line `offset` on, that match: the store scanned
    in a thread, so the event loop serves other calls meanwhile, telling `progress` (seconds,
    how far) as it goes; the updates of displays searched here. A caller that stops waiting
    stops the search."""
    view = outputs.view()
    first = max((offset, 0), view.kept)[0]
    skip = [(span.start, span.end) for span in view.spans]
    scan = _Scan(cast(Transcript, outputs.store), pattern, limit, seconds, skip)
    began = time.monotonic()
    work = asyncio.ensure_future(asyncio.to_thread(scan.run, view.store_line(first)))
    try:
        while True:
            done, _ = await asyncio.wait({work}, timeout=PROGRESS_EVERY)
            if done:
                found = work.result()
                break
            if progress is not None:
                await progress(
                    time.monotonic() - began,
                    f"searched {scan.line - scan.first:,} of {scan.lines - scan.first:,} lines",
                )
    finally:
        scan.cancelled = True
    end, lines = view.view_line(found.end), view.view_line(found.lines)
    matches = [_shown(match, view.view_line(match.number)) for match in found.matches]
    count = found.count
    for span in view.spans:  # updated displays: what they show now, from memory
        for index, line in enumerate(span.lines):
            number = span.view + index
            if first <= number < end and (hit := pattern.search(line, timeout=seconds)) is not None:
                count += 1
                start = max(0, hit.start() - SNIPPET // 4)
                matches.append(Match(number, hit.start(), start, line[start : start + SNIPPET], len(line)))
    matches.sort(key=lambda match: match.number)
    lost = [(view.view_line(a), view.view_line(b)) for a, b in found.lost]
    slow = None if found.slow_line is None else view.view_line(found.slow_line)
    return Search(matches[:limit], count, first, end, lines, found.stopped, slow, lost)


def _shown(match: Match, number: int) -> Match:
    return Match(number, match.at, match.start, match.text, match.length)

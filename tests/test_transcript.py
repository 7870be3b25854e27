"""The whole output of an execution, by line: carriage returns, paging, long lines, the disk
cap, search, and the excerpts a result shows of it. Real temporary files; small caps through
the store's arguments."""

from __future__ import annotations

import os
import re
import tempfile
import threading

import pytest
import regex

from ipython_mcp.rendering import Omitted, Outputs, Text, excerpt
from ipython_mcp.rendering.budget import More, omitted_text
from ipython_mcp.run.search import scan
from ipython_mcp.run.transcript import (
    LONGEST_LINE,
    MEMORY_BYTES,
    Piece,
    Transcript,
    TranscriptStore,
)


def temporary_bytes() -> int:
    """Bytes in the temporary files this process holds open (deleted ones included)."""
    total = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(tempfile.gettempdir()):
                total += os.stat(f"/proc/self/fd/{fd}").st_size
        except OSError:
            continue
    return total


def row(n: int) -> str:
    return f"row {n:06d} " + "y" * 40


def excerpt_of(transcript: Transcript, offset: int, budget: int, more: More) -> str:
    """The text a result shows of the output from line `offset` on, its blocks joined."""
    chars = sum(len(line) + 1 for line in transcript.read(0, offset))
    blocks = excerpt(Outputs(transcript), (offset, chars), budget=budget)
    blocks = [Text(omitted_text(b, more)) if isinstance(b, Omitted) else b for b in blocks]
    return "\n".join(block.text for block in blocks)  # type: ignore[union-attr]


def test_carriage_returns_leave_the_line_a_terminal_would_show() -> None:
    transcript = Transcript()
    for piece in ("loading  10%\r", "loading  50%\r", "loading 100%", "\n", "done\r\n", "a\rb", "\nlast"):
        transcript.add(piece)
    assert transcript.read(0, 10) == ["loading 100%", "done", "b", "last"]
    assert transcript.lines == 4 and transcript.ended_lines == 3
    transcript.add("\r")
    transcript.add("\nafter a \\r\\n split in two")  # still a newline, the line kept
    assert transcript.read(3, 2) == ["last", "after a \\r\\n split in two"]


def test_pages_and_searches_beyond_memory_and_across_segments_exactly() -> None:
    transcript = TranscriptStore(1 << 30, segment_bytes=50_000).transcript()
    for n in range(0, 6_000, 100):  # as a kernel sends it: many lines a message
        transcript.add("".join(f"row {m:04d} " + "y" * 500 + "\n" for m in range(n, n + 100)))
    assert MEMORY_BYTES < 6_000 * 500  # so most lines are read back from temporary files
    assert transcript.read(4_097, 3) == [f"row {n:04d} " + "y" * 500 for n in (4097, 4098, 4099)]
    assert transcript.read(5_999, 10)[0].startswith("row 5999 ") and transcript.read(6_000, 10) == []
    found = scan(transcript, regex.compile(r"^row (0123|4567) "), 1, seconds=5)
    assert (found.count, found.first, found.end, found.stopped) == (2, 0, 6_000, False)
    assert [(m.number, m.at) for m in found.matches] == [(123, 0)]
    transcript.close()


@pytest.mark.parametrize(
    "pattern",
    [
        r"^row 00012",
        r"7 y",
        r"y$",
        r"\s",
        r"y\nrow",
        r"(?=row 0001)row",
        r"^$",
        r"x*",
        r"\brow\b",
        r"(?i)ROW 0000[0-4]",
    ],
)
def test_a_search_finds_exactly_the_lines_a_search_of_each_line_finds(pattern: str) -> None:
    lines = [row(n) if n % 7 else "" for n in range(3_000)]
    transcript = TranscriptStore(1 << 30, segment_bytes=20_000).transcript()
    transcript.add("\n".join(lines) + "\nthe last line")
    lines.append("the last line")
    compiled = regex.compile(pattern)
    expected = [n for n, line in enumerate(lines) if compiled.search(line)]
    found = scan(transcript, compiled, 10_000, seconds=30)
    assert found.count == len(expected) and [m.number for m in found.matches] == expected


def test_a_long_line_is_read_in_pieces_and_keeps_the_numbers_of_the_lines_after_it() -> None:
    transcript = TranscriptStore(1 << 30, segment_bytes=200_000).transcript()
    transcript.add("first\n")
    for _ in range(30):  # a line of 3,000,000 characters, longer than a segment and than memory
        transcript.add("é" * 99_999 + "x")
    transcript.add("\nafter\n")
    assert transcript.lines == 3 and transcript.read(2, 1) == ["after"]
    assert transcript.line_length(1) == 3_000_000
    piece = transcript.piece(1, 2_999_990, 100)
    assert piece is not None and piece.text == "é" * 9 + "x" and piece.length == 3_000_000
    middle = transcript.piece(1, 1_299_950, 200)
    assert middle is not None and middle.text == "é" * 49 + "x" + "é" * 150
    pieces = list(transcript.pieces(0, 0, 3, max_chars=1_000))
    assert [(p.number, len(p.text), p.length) for p in pieces] == [
        (0, 5, 5),
        (1, 1_000, 3_000_000),
        (2, 5, 5),
    ]
    assert transcript.piece(0, 3, 100) == Piece(0, 3, "st", 5)
    assert transcript.piece(0, 50, 100) == Piece(0, 50, "", 5)  # past its end, not into the next line
    found = scan(transcript, regex.compile(r"éx"), 10, seconds=5)
    assert found.count == 1 and found.matches[0].number == 1 and found.matches[0].at == 99_998


def test_the_cap_drops_finished_outputs_first_then_the_start_of_the_running_one() -> None:
    before = temporary_bytes()
    store = TranscriptStore(400_000, segment_bytes=40_000)
    finished, running = store.transcript(), store.transcript()
    finished.add("".join(row(n) + "\n" for n in range(5_000)))  # 250 kB
    finished.finish()
    for n in range(0, 6_000, 500):  # 300 kB more: over the cap
        running.add("".join(row(m) + "\n" for m in range(n, n + 500)))
    assert store.size <= 400_000 and temporary_bytes() - before <= 400_000
    assert finished.kept[0] > 0 and running.kept == (0, 0)  # the finished output went first
    assert finished.dropped(0).startswith("lines 0-") and running.dropped(0) == ""

    for n in range(6_000, 20_000, 500):  # 700 kB more: the start of the running one goes too
        running.add("".join(row(m) + "\n" for m in range(n, n + 500)))
    assert store.size <= 400_000 and temporary_bytes() - before <= 400_000
    assert finished.lines == 5_000 and finished.read(0, 5_000) == []  # none of it is left
    first, _ = running.kept
    assert 0 < first < 20_000 - 5_000
    assert running.dropped(0) == (
        f"lines 0-{first - 1:,} were dropped to keep disk use under the cap of 390.625 kB"
    )
    # Every line left keeps its number.
    assert running.read(first, 2) == [row(first), row(first + 1)]
    assert running.read(19_999, 1) == [row(19_999)]
    found = scan(running, regex.compile(r"^row 01(4321|9999) "), 10, seconds=5)
    assert found.first == first and [m.number for m in found.matches] == [14_321, 19_999]
    finished.close()
    running.close()
    assert store.size == 0 and temporary_bytes() - before <= 0


def test_an_endless_line_keeps_its_end_within_the_cap() -> None:
    store = TranscriptStore(200_000, segment_bytes=20_000)
    transcript = store.transcript()
    for n in range(3_000):  # print('x' * 999, end='') without end: one line of 3 MB
        transcript.add("x" * 999 + str(n % 10))
    assert transcript.lines == 1 and store.size <= 200_000
    line, char = transcript.kept
    assert line == 0 and char > 3_000_000 - LONGEST_LINE - 200_000  # the rest is in memory or on disk
    assert transcript.dropped(0) == (
        f"characters 0-{char - 1:,} of line 0 were dropped to keep disk use under the cap of 195.312 kB"
    )
    assert transcript.piece(0, 2_999_990, 100).text == "x" * 9 + "9"  # type: ignore[union-attr]
    text = excerpt_of(transcript, 0, 400, lambda first, count, char=0: f"offset={first}, char_offset={char}")
    assert text.startswith(f"[characters 0-{char - 1:,} of line 0 were dropped") and text.endswith("x9")


def test_an_excerpt_keeps_head_and_tail_and_says_how_to_read_the_rest() -> None:
    transcript = Transcript()
    for n in range(1_000):
        transcript.add(f"{n}\n")
    text = excerpt_of(
        transcript, 10, 400, lambda first, count: f"read_output('e1', offset={first}, limit={count})"
    )
    lines = text.splitlines()
    assert lines[0] == "10" and lines[-1] == "999" and len(text) <= 500
    notice = next(line for line in lines if line.startswith("[..."))
    first, count = map(int, re.search(r"offset=(\d+), limit=(\d+)", notice).groups())
    assert str(first - 1) in lines and str(first + count) in lines  # exactly the lines in between
    # Lines ended by a newline are shown with it, as execute_code shows them.
    assert excerpt_of(transcript, 995, 400, lambda *_: "") == "995\n996\n997\n998\n999\n"


def test_an_excerpt_of_one_long_line_shows_both_ends_and_where_the_middle_is() -> None:
    transcript = Transcript()
    transcript.add("a" * 5_000 + "b" * 5_000)
    text = excerpt_of(transcript, 0, 400, lambda first, count, char=0: f"offset={first}, char_offset={char}")
    head, notice, tail = text.split("\n")
    # The tail leaves room to mark a stderr output again, as execute_code's does.
    assert head == "a" * 200 and tail == "b" * 191
    assert notice == "[... 9,609 characters omitted; offset=0, char_offset=200 ...]"


def test_an_excerpt_says_when_lines_not_shown_yet_were_dropped() -> None:
    store = TranscriptStore(100_000, segment_bytes=10_000)
    transcript = store.transcript()
    for n in range(0, 5_000, 100):
        transcript.add("".join(row(m) + "\n" for m in range(n, n + 100)))
    first, _ = transcript.kept
    text = excerpt_of(transcript, 10, 2_000, lambda first, count: f"offset={first}, limit={count}")
    assert text.startswith(
        f"[lines 10-{first - 1:,} were dropped to keep disk use under the cap of 97.6562 kB; "
        "the rest is below]\n" + row(first) + "\n"
    )
    assert text.endswith(row(4_999) + "\n")


def test_a_long_search_stops_in_time_and_says_where_to_go_on() -> None:
    transcript = Transcript()
    for n in range(0, 400_000, 10_000):
        transcript.add("".join(f"{m}\n" for m in range(n, n + 10_000)))
    pattern = regex.compile(r"(?=\d)\d")  # a lookahead: searched line by line
    found = scan(transcript, pattern, 5, seconds=0.05)
    assert found.stopped and 0 < found.end < 400_000 and found.count == found.end
    rest = scan(transcript, pattern, 5, seconds=60, offset=found.end)
    assert not rest.stopped and rest.first == found.end and found.count + rest.count == 400_000
    assert rest.matches[0].number == found.end


def test_a_pattern_that_backtracks_without_end_is_stopped() -> None:
    transcript = Transcript()
    transcript.add("a" * 80 + "\n")
    with pytest.raises(TimeoutError):
        scan(transcript, regex.compile(r"(a|aa)+b"), 10, seconds=0.2)
    transcript.add("".join("a" * 10 + "\n" for _ in range(100)) + "a" * 80 + "\n")
    found = scan(transcript, regex.compile(r"(a|aa)+b"), 10, seconds=0.3, offset=1)
    assert found.stopped and found.slow_line == 101 and found.end == 101  # it got that far


def test_a_search_in_a_thread_reads_safely_while_the_output_grows_and_is_dropped() -> None:
    store = TranscriptStore(2_000_000, segment_bytes=100_000)
    transcript = store.transcript()
    transcript.add("".join(row(n) + "\n" for n in range(40_000)))
    results = []

    def search() -> None:
        for _ in range(20):
            results.append(scan(transcript, regex.compile(r"^row \d+5 "), 100_000, seconds=30))

    thread = threading.Thread(target=search)
    thread.start()
    n = 40_000
    while thread.is_alive():  # the execution goes on writing, and the cap drops its start
        transcript.add("".join(row(m) + "\n" for m in range(n, n + 1_000)))
        n += 1_000
    thread.join()
    assert n > 80_000 and transcript.kept[0] > 0  # it wrote on, and dropped, while searching
    for found in results:
        assert found.matches and all(m.text == row(m.number) for m in found.matches)
        searched = set(range(found.first + 1, found.end))  # the first may have lost its start
        for first, last in found.lost:
            searched -= set(range(first, last + 1))
        matched = {m.number for m in found.matches} - {found.first}
        assert matched == {n for n in searched if n % 10 == 5}


def test_closing_deletes_the_files() -> None:
    before = temporary_bytes()
    transcript = TranscriptStore(segment_bytes=100_000).transcript()
    transcript.add("x" * LONGEST_LINE * 3 + "\n")
    assert temporary_bytes() - before >= LONGEST_LINE * 2
    transcript.close()
    assert temporary_bytes() - before <= 0

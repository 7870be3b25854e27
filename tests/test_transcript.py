"""The whole output of an execution, by line: carriage returns, paging, search, excerpts."""

from __future__ import annotations

import re

import pytest
import regex

from ipython_mcp.kernels.transcript import MEMORY_BYTES, Transcript


def test_carriage_returns_leave_the_line_a_terminal_would_show() -> None:
    transcript = Transcript()
    for piece in ("loading  10%\r", "loading  50%\r", "loading 100%", "\n", "done\r\n", "a\rb", "\nlast"):
        transcript.add(piece)
    assert transcript.read(0, 10) == ["loading 100%", "done", "b", "last"]
    assert transcript.lines == 4 and transcript.ended_lines == 3


def test_pages_and_searches_beyond_memory_exactly() -> None:
    transcript = Transcript()
    for n in range(6_000):
        transcript.add(f"row {n:04d} " + "y" * 500 + "\n")
    assert MEMORY_BYTES < 6_000 * 500  # so the lines are read back from the temporary file
    assert transcript.read(4_097, 3) == [f"row {n:04d} " + "y" * 500 for n in (4097, 4098, 4099)]
    assert transcript.read(5_999, 10)[0].startswith("row 5999 ") and transcript.read(6_000, 10) == []
    hits, count = transcript.search(regex.compile(r"^row (0123|4567) "), 1, seconds=5)
    assert count == 2 and hits == [(123, "row 0123 " + "y" * 500)]
    transcript.close()


def test_an_excerpt_keeps_head_and_tail_and_says_how_to_read_the_rest() -> None:
    transcript = Transcript()
    for n in range(1_000):
        transcript.add(f"{n}\n")
    text = transcript.excerpt(
        10, 400, lambda first, count: f"read_output('e1', offset={first}, limit={count})"
    )
    lines = text.splitlines()
    assert lines[0] == "10" and lines[-1] == "999" and len(text) <= 500
    notice = next(line for line in lines if line.startswith("[..."))
    first, count = map(int, re.search(r"offset=(\d+), limit=(\d+)", notice).groups())
    assert str(first - 1) in lines and str(first + count) in lines  # exactly the lines in between
    assert transcript.excerpt(995, 400, lambda *_: "") == "995\n996\n997\n998\n999"


def test_a_pattern_that_backtracks_without_end_is_stopped() -> None:
    transcript = Transcript()
    transcript.add("a" * 80 + "\n")
    with pytest.raises(TimeoutError):
        transcript.search(regex.compile(r"(a|aa)+b"), 10, seconds=0.2)

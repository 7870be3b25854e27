"""Output within a text budget: where head and tail are cut, the notice between them, blocks.

Shared by the two records of outputs: a run's (excerpt.py reads it from the output model) and a
cell seen in passing (log.py keeps only its head and tail). A part is a stretch of one output:
some of its text, or its image; consecutive parts of one output make one block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby

from .blocks import Block, Image, Omitted, Shortened, Text

STDERR = "[stderr]\n"
"""The line a stderr output begins with."""
SNAP = 200
"""Cut at a line break when one is this near, so the model sees whole lines."""


@dataclass(slots=True)
class Part:
    """A stretch of one output (`key` tells outputs apart): some of its text, or its image (with
    the text saying what it shows, if any)."""

    key: object
    kind: str  # "stdout", "stderr", "display" or "error"
    text: str = ""
    image: Image | None = None


def render_parts(parts: Iterable[Part]) -> list[Block]:
    """One block per output (one per image, after the text before it), however many parts hold
    it; a stderr output whose beginning is not among them is marked again."""
    blocks: list[Block] = []
    for (_, kind), group in groupby(parts, key=lambda part: (part.key, part.kind)):
        texts: list[str] = []
        for part in group:
            if part.text:
                texts.append(part.text)
            if part.image:
                _add_text(blocks, texts, kind)
                texts = []
                blocks.append(part.image)
        _add_text(blocks, texts, kind)
    return blocks


def _add_text(blocks: list[Block], texts: list[str], kind: str) -> None:
    if texts:
        text = "".join(texts)
        if kind == "stderr" and not text.startswith(STDERR):  # its beginning was dropped
            text = STDERR + text
        blocks.append(Text(text))


def head_cut(text: str, limit: int) -> int:
    """End of a head of at most `limit` characters of `text`, at a line break when one is near."""
    start = max(0, limit - SNAP)
    # Near the start of the text, the break before it is taken to be near.
    return text.rfind("\n", start, limit) + 1 or (limit if start else 0)


def tail_cut(text: str, at_least: int) -> int:
    """Start of a tail of `text` dropping at least `at_least` characters, at a near line break."""
    newline = text.find("\n", at_least - 1, at_least - 1 + SNAP)
    if newline >= 0:
        return newline + 1
    # Near the end of the text, the break after it is taken to be near.
    return len(text) if len(text) - at_least <= SNAP else at_least


def clip(text: str, limit: int) -> str:
    """`text` itself if within `limit`, else its head and tail around a notice of what was cut."""
    if len(text) <= limit:
        return text
    head_end = head_cut(text, limit // 2)
    tail_start = tail_cut(text, len(text) - (limit - limit // 2))
    head = text[:head_end]
    if not head.endswith("\n"):
        head += "\n"
    omitted = notice(tail_start - head_end, text.count("\n", head_end, tail_start))
    return f"{head}{omitted}\n{text[tail_start:]}"


def notice(chars: int, lines: int, more: str = "") -> str:
    """`[... 9,876,543 characters (123,456 lines) omitted ...]`, with `; more` before its end."""
    counted = count(chars, "character") + (f" ({count(lines, 'line')})" if lines else "")
    return f"[... {counted} omitted{'; ' + more if more else ''} ...]"


More = Callable[..., str]
"""`more(first_line, lines)`, or `more(first_line, 0, char_offset)` when the part left out is
within one line: the call that returns what a result leaves out."""


def omitted_text(gap: Omitted, more: More | None = None) -> str:
    """The notice in place of output a result leaves out, naming `more`'s call when given."""
    hint = ""
    if more is not None and gap.char_offset:
        hint = more(gap.first_line, 0, gap.char_offset)
    elif more is not None:
        hint = more(gap.first_line, gap.lines)
    return notice(gap.chars, gap.lines, hint)


def shortened_text(short: Shortened, more: More | None = None) -> str:
    """The line after a traceback shown in short, naming `more`'s call for the whole of it."""
    whole = f"; {more(short.first_line, short.lines)} whole" if more is not None else ""
    shortened = count(short.chars, "character")
    return f"[traceback shortened by {shortened}: library frames and repeats folded{whole}]"


def images_note(dropped: int) -> Text:
    return Text(f"[{count(dropped, 'more image')} not shown]")


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"

"""A run's output within a text budget: what a result shows of it, whole or head and tail.

Read from the output model, from where the reader's unseen output begins to the end: all of it
when it fits, else its first half-budget of characters (the head) and its last (the tail),
each cut at a line break when one is near, around an `Omitted` block that counts what was left
out and where it begins, for the caller to name the call that returns it. Images show where
they are, up to `max_images`; an error that ends the output is kept whole (within the budget)
after the tail. Cleared output is not shown; output dropped past the disk cap is said to be
gone, first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .blocks import Block, Omitted, Shortened, Text
from .budget import SNAP, STDERR, Part, clip, images_note, render_parts
from .outputs import IMAGES_KEPT

if TYPE_CHECKING:
    from .outputs import Outputs
    from .records import Output
    from .view import View


@dataclass(slots=True)
class _Fragment:
    """Text of one line from character `start`, and whether the line's newline follows it."""

    number: int
    start: int
    text: str
    newline: bool


def excerpt(
    outputs: Outputs,
    start: tuple[int, int] = (0, 0),
    *,
    budget: int,
    max_images: int = 2 * IMAGES_KEPT,
) -> list[Block]:
    """The output from store position `start` (line, characters before it) to its end, within
    `budget` characters of text."""
    view = outputs.view()
    line, chars = max(start, (outputs.clear_store, outputs.clear_chars))  # cleared: never shown
    first, char = view.line_at(line), 0
    left = view.chars_from(line, chars)  # characters from there to the end
    blocks: list[Block] = []
    if (first, char) < view.kept:
        blocks.append(Text(f"[{view.dropped(first)}; the rest is below]"))
        first, char = view.kept
        left = view.chars_from(*view.kept_store())
    end, error, shortened = view.lines, None, None
    last = outputs.outputs[-1] if outputs.outputs else None
    if last is not None and last.kind == "error" and (view.output_line(last), 0) >= (first, char):
        end = view.output_line(last)
        error = "".join(f.text + "\n" * f.newline for f in _read(view, end, 0, view.lines, left))
        left -= len(error)
        if last.lean is not None:  # the whole stays readable by line
            shortened = Shortened(len(error) - len(last.lean), end, view.lines - end)
            error = last.lean
        error = clip(error.removesuffix("\n"), budget)
    head_limit = budget // 2
    tail_limit = budget - head_limit - len(STDERR)  # room to mark a cut stderr output again
    shown = _Shown(view, max_images)
    if left <= head_limit + tail_limit:
        blocks += render_parts(shown.parts(_read(view, first, char, end, left)))
    else:
        head, head_end, head_size = _cut_head(_read(view, first, char, end, head_limit), head_limit)
        tail, tail_start, tail_size = _cut_tail(_read_back(view, end, tail_limit + 1, head_end))
        lines = tail_start[0] - head_end[0]
        char_offset = head_end[1] if not lines else 0  # a gap within one line
        blocks += render_parts(shown.parts(head))
        blocks.append(Omitted(left - head_size - tail_size, lines, head_end[0], char_offset))
        blocks += render_parts(shown.parts(tail))
    if error is not None:
        blocks.append(Text(error))
        if shortened is not None:
            blocks.append(shortened)
    dropped = _images(view, first, end) - shown.images
    if dropped:
        blocks.append(images_note(dropped))
    return blocks


def _read(view: View, line: int, char: int, end: int, limit: int) -> list[_Fragment]:
    """The first `limit` characters (newlines included) from `line`, character `char`, up to
    line `end`."""
    fragments: list[_Fragment] = []
    have, ended = 0, view.ended_lines
    for piece in view.pieces(line, char, end, max_chars=limit + 1):
        room = limit - have
        if room <= 0:
            break
        text = piece.text[:room]
        newline = len(text) == len(piece.text) and piece.end >= piece.length and piece.number < ended
        newline = newline and room > len(text)
        fragments.append(_Fragment(piece.number, piece.start, text, newline))
        have += len(text) + newline
    return fragments


def _read_back(view: View, end: int, limit: int, stop: tuple[int, int]) -> list[_Fragment]:
    """The last `limit` characters before line `end`, none before position `stop`."""
    fragments: list[_Fragment] = []
    have, line, batch, ended = 0, end, 64, view.ended_lines
    while have < limit and line > stop[0]:
        begin = max(stop[0], line - batch)
        batch *= 4
        pieces = list(view.pieces(begin, stop[1] if begin == stop[0] else 0, line, max_chars=limit + 1))
        for piece in reversed(pieces):
            room = limit - have
            if room <= 0:
                break
            newline = piece.number < ended and piece.number < end
            room -= newline
            take = min(room, piece.length - piece.start)
            if piece.end == piece.length and take <= len(piece.text):
                text = piece.text[len(piece.text) - take :]
            else:  # a long line: read its end
                again = view.piece(piece.number, piece.length - take, take)
                text = again.text if again is not None else ""
            fragments.append(_Fragment(piece.number, piece.length - len(text), text, newline))
            have += len(text) + newline
        if begin == line:
            break
        line = begin
    fragments.reverse()
    return fragments


def _cut_head(fragments: list[_Fragment], limit: int) -> tuple[list[_Fragment], tuple[int, int], int]:
    """The head cut at a line break near `limit` (else at `limit`); where what follows it
    begins; its size."""
    text = "".join(f.text + "\n" * f.newline for f in fragments)
    return _split(fragments, text.rfind("\n", max(0, limit - SNAP), limit) + 1 or limit, keep="front")


def _cut_tail(fragments: list[_Fragment]) -> tuple[list[_Fragment], tuple[int, int], int]:
    """The tail without its first character, or cut further to a line break when one is near."""
    text = "".join(f.text + "\n" * f.newline for f in fragments)
    return _split(fragments, (text.find("\n", 0, SNAP) + 1 or 1) if text else 0, keep="back")


def _split(fragments: list[_Fragment], at: int, *, keep: str) -> tuple[list[_Fragment], tuple[int, int], int]:
    """Fragments cut at character `at` of their text: the front or the back part, where the
    back part begins, and the size of the part kept."""
    front: list[_Fragment] = []
    back: list[_Fragment] = []
    where = _after(fragments[-1]) if fragments else (0, 0)
    offset = 0
    for f in fragments:
        size = len(f.text) + f.newline
        if offset >= at:
            back.append(f)
        elif offset + size <= at:
            front.append(f)
        else:
            cut = at - offset
            front.append(_Fragment(f.number, f.start, f.text[:cut], False))
            back.append(_Fragment(f.number, f.start + cut, f.text[cut:], f.newline))
        offset += size
    if back:
        where = (back[0].number, back[0].start)
    if keep == "front":
        return [f for f in front if f.text or f.newline], where, at
    return [f for f in back if f.text or f.newline], where, offset - at


def _after(f: _Fragment) -> tuple[int, int]:
    return (f.number + 1, 0) if f.newline else (f.number, f.start + len(f.text))


class _Shown:
    """Turns fragments into parts of the outputs they belong to; images up to max_images."""

    def __init__(self, view: View, max_images: int) -> None:
        self._view = view
        self._outputs = view.outputs
        self._max_images = max_images
        self.images = 0
        """Images shown."""

    def parts(self, fragments: list[_Fragment]) -> list[Part]:
        view, outputs, parts = self._view, self._outputs, []
        out: Output | None = None
        next_line = -1  # where the output after `out` begins
        for f in fragments:
            if f.number >= next_line:
                index = view.output_index(f.number)
                out = outputs[index] if index >= 0 else None
                following = index + 1
                next_line = view.output_line(outputs[following]) if following < len(outputs) else view.lines
            if out is None:
                parts.append(Part(None, "stdout", f.text + "\n" * f.newline))
                continue
            # A newline added after an output's text shows only between outputs.
            added = f.number == next_line - 1 and view.broken(out)
            shows_image, image = view.image(out)
            if shows_image:
                # A described image's line says what it shows, whether or not the image is shown.
                described = bool(image.alt) if image is not None else out.described
                if described:
                    parts.append(Part(out, out.kind, f.text + "\n" * (f.newline and not added)))
                if f.start == 0 and f.newline and image is not None and self.images < self._max_images:
                    self.images += 1
                    parts.append(Part(out, out.kind, image=image))
                continue
            parts.append(Part(out, out.kind, f.text + "\n" * (f.newline and not added)))
        return parts


def _images(view: View, first: int, end: int) -> int:
    """How many outputs between lines `first` and `end` show an image."""
    outputs = view.outputs
    index = max(view.output_index(first), 0)
    count = 0
    while index < len(outputs) and view.output_line(outputs[index]) < end:
        out = outputs[index]
        count += view.output_line(out) >= first and view.image(out)[0]
        index += 1
    return count

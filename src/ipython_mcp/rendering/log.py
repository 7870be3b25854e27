"""The outputs of a cell seen in passing (the user's), in bounded memory: head and tail only.

A run of the assistant's code keeps its whole output (outputs.py); a cell of another client is
only glimpsed, for the history of the kernel: OutputLog applies its messages as a notebook would (carriage
returns, clear_output, display updates), keeps the first half of the text budget and a rolling
last half, and counts what it drops between them. It renders through the same budget helpers
as a run's excerpt, and a property test holds the two to the same text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .ansi import strip_ansi
from .blocks import Block, Image, Text
from .budget import STDERR, Part, clip, head_cut, images_note, notice, render_parts, tail_cut
from .lines import apply_carriage_returns, last_line_of
from .mime import render_bundle
from .tracebacks import KernelError, clean_traceback, short_traceback


@dataclass(eq=False, slots=True)
class _Output:
    """One output as a notebook shows it; its text may be spread over several parts."""

    kind: str  # "stdout", "stderr", "display" or "error"
    display_id: str | None = None
    parts: list[_Part] = field(default_factory=list)  # kept for displays only, for updates to find


@dataclass(eq=False, slots=True)
class _Part:
    """A stretch of one output: some of its text, or its image (with the text saying what it
    shows, if any)."""

    out: _Output
    text: str = ""
    image: Image | None = None
    missing_image: bool = False  # an image over max_images, counted in the closing note instead
    in_head: bool = False

    @property
    def size(self) -> int:
        # Images are bounded by count, not by the text budget. An empty part still costs a
        # character, so that placeholders for later updates cannot pile up without bound.
        return len(self.text) or (0 if self.image else 1)


class OutputLog:
    """Outputs of one cell, applied in the order the kernel sent them, in bounded memory.

    The log keeps the first half of the text budget (the head) and a rolling last half (the
    tail), and counts what it drops between them. The stream line still being written is kept
    apart, since a carriage return may yet replace it. An error's traceback, while nothing
    follows it, is kept whole outside the budget (itself clipped to the budget).
    """

    def __init__(self, *, text_budget: int = 20_000, max_images: int = 10) -> None:
        self._budget = text_budget
        self._head_limit = text_budget // 2
        # The tail leaves room to mark again a stderr output whose beginning was dropped.
        self._tail_limit = text_budget - self._head_limit - len(STDERR)
        self._longest_line = self._tail_limit // 2  # longer, it is no progress bar: commit it
        self._max_images = max_images
        self._error: KernelError | None = None
        self._last_line = ""
        self._clear()

    @property
    def error(self) -> KernelError | None:
        """The last error the kernel reported, cleaned; None if none."""
        return self._error

    @property
    def last_line(self) -> str:
        """The latest non-empty line printed (stdout or stderr), as a terminal shows it now, at
        most 200 characters; "" if none."""
        return last_line_of("".join(self._line)) or self._last_line

    def drop_images(self) -> None:
        """Keep no image from now on: those kept are left out as if over max_images (what
        they show is still said)."""
        self._max_images = 0
        if not self._images:
            return
        for part in [*self._head, *self._tail]:
            if part.image is None:
                continue
            before = part.size
            part.image, part.missing_image = None, True
            self._images -= 1
            self._images_dropped += 1
            if part.in_head:
                self._head_size += part.size - before
            else:
                self._tail_size += part.size - before
        self._settle()

    def add(self, msg_type: str, content: dict) -> None:
        """Apply one iopub message (msg_type in: stream, display_data, execute_result,
        update_display_data, clear_output, error). Other msg_types are ignored."""
        if msg_type in ("stream", "display_data", "execute_result", "error"):
            if self._clear_pending:
                self._clear()
            if msg_type == "stream":
                self._add_stream(content.get("name", "stdout"), content.get("text", ""))
            elif msg_type == "error":
                self._add_error(content)
            else:
                self._add_display(content)
        elif msg_type == "update_display_data":
            self._update_display(content)
        elif msg_type == "clear_output":
            if content.get("wait"):
                self._clear_pending = True
            else:
                self._clear()
            return
        else:
            return
        self._settle()

    def blocks(self, more: Callable[[int, int], str] | None = None) -> list[Block]:
        """The outputs rendered in order, text budget applied. `more(first_line, lines)` says
        how to get what the budget left out: from the line after the head, that many lines."""
        tail = list(self._tail)
        if self._line:
            tail.append(_Part(self._stream, "".join(self._line)))
        if self._omitted_chars:
            blocks = _render(self._head)
            hint = ""
            if more is not None:
                first_line = sum(p.text.count("\n") for p in self._head if p.text != STDERR)
                hint = more(first_line, self._omitted_lines)
            blocks.append(Text(notice(self._omitted_chars, self._omitted_lines, hint)))
            blocks += _render(tail)
        else:
            blocks = _render(self._head + tail)
        if self._error_text is not None:
            blocks.append(Text(self._error_text))
        if self._images_dropped:
            blocks.append(images_note(self._images_dropped))
        return blocks

    def _clear(self) -> None:
        """Forget every output, as clear_output does."""
        self._head: list[_Part] = []
        self._tail: deque[_Part] = deque()
        self._head_size = 0
        self._tail_size = 0
        self._gap = False  # whether anything was dropped between head and tail
        self._omitted_chars = 0
        self._omitted_lines = 0
        self._images = 0
        self._images_dropped = 0
        self._displays: dict[str, dict[_Output, None]] = {}  # by display id, in order
        self._stream: _Output | None = None  # the output further stream text of its name joins
        self._line: list[str] = []  # its unfinished last line
        self._line_size = 0
        self._cr = False  # the line ended in a carriage return: the next text replaces it
        self._unmarked = False  # the open stream is stderr and not yet marked so
        self._error_text: str | None = None  # the traceback, while no output follows it
        self._clear_pending = False

    # Applying messages

    def _add_stream(self, name: str, text: str) -> None:
        text = strip_ansi(text)
        if not text:
            return
        if self._stream is None or self._stream.kind != name:
            self._begin_output()
            self._stream = _Output(name)
            self._unmarked = name == "stderr"
        if self._cr and (rest := text.lstrip("\r")):
            self._cr = False
            if rest[0] != "\n":  # a \r\n split over two messages is still a newline
                self._drop_line()
        if "\r" in text:
            text, replaces_line, self._cr = apply_carriage_returns(text)
            if replaces_line:
                self._drop_line()
        end = text.rfind("\n") + 1
        if end:
            self._commit(text[:end])
        if end < len(text):
            if self._unmarked:
                self._mark_stderr()
            self._line.append(text[end:])
            self._line_size += len(text) - end
            if self._line_size > self._longest_line:
                self._commit("")

    def _add_display(self, content: dict) -> None:
        self._begin_output()
        display_id = (content.get("transient") or {}).get("display_id")
        out = _Output("display", display_id)
        part = _Part(out)
        self._fill(part, render_bundle(content.get("data") or {}))
        if display_id is not None:  # kept even if empty: an update may fill it
            out.parts.append(part)
            self._displays.setdefault(display_id, {})[out] = None
        elif not (part.text or part.image):
            return
        self._append(part)

    def _update_display(self, content: dict) -> None:
        outs = self._displays.get((content.get("transient") or {}).get("display_id"))
        if not outs:
            return
        block = render_bundle(content.get("data") or {})
        for out in outs:
            for i, part in enumerate(out.parts):
                before = part.size
                self._empty(part)
                if i == 0:
                    self._fill(part, block)
                if part.in_head:
                    self._head_size += part.size - before
                else:
                    self._tail_size += part.size - before

    def _add_error(self, content: dict) -> None:
        ename = str(content.get("ename", ""))
        evalue = str(content.get("evalue", ""))
        frames = content.get("traceback") or []
        whole = clean_traceback(frames, ename, evalue)
        traceback = short_traceback(frames, ename, evalue, whole) or whole
        traceback = clip(traceback, self._budget)
        self._begin_output()
        self._error = KernelError(ename, evalue, traceback)
        self._error_text = apply_carriage_returns(traceback)[0]

    def _begin_output(self) -> None:
        """End the open stream and the trailing error: a new output follows them."""
        if self._stream is not None:
            self._commit("")
            self._stream = None
            self._cr = self._unmarked = False
        if self._error_text is not None:
            # Output after the error is rare; the error then counts against the budget like any.
            self._append(_Part(_Output("error"), self._error_text))
            self._error_text = None

    def _commit(self, text: str) -> None:
        """Write the open stream's unfinished line and `text` after it for good."""
        if self._line:
            text = "".join(self._line) + text
            self._drop_line()
        self._last_line = last_line_of(text) or self._last_line
        if text:
            if self._unmarked:
                self._mark_stderr()
            self._append(_Part(self._stream, text))

    def _drop_line(self) -> None:
        self._line = []
        self._line_size = 0

    def _mark_stderr(self) -> None:
        """Begin the open stderr output with its marker, now that it has something to show."""
        self._unmarked = False
        self._append(_Part(self._stream, STDERR))

    def _fill(self, part: _Part, block: Block | None) -> None:
        """Give an empty part its content, counting images against max_images."""
        if isinstance(block, Image):
            part.text = block.alt  # what it shows, said even when the image is left out
            if self._images < self._max_images:
                part.image = block
                self._images += 1
            else:
                part.missing_image = True
                self._images_dropped += 1
        elif block is not None:  # carriage returns apply as in a stream: the output model's rule
            part.text = apply_carriage_returns(block.text)[0]

    def _empty(self, part: _Part) -> None:
        if part.image:
            self._images -= 1
        if part.missing_image:
            self._images_dropped -= 1
        part.text, part.image, part.missing_image = "", None, False

    # Keeping within the budget

    def _append(self, part: _Part) -> None:
        self._tail.append(part)
        self._tail_size += part.size

    def _settle(self) -> None:
        """Bring head and tail back within their limits after a change."""
        head, tail = self._head, self._tail
        while self._head_size > self._head_limit:  # an update grew a part in the head
            part = head.pop()
            self._head_size -= part.size
            part.in_head = False
            if self._gap:
                self._evict(part)
            else:
                tail.appendleft(part)
                self._tail_size += part.size
        while tail and not self._gap:  # nothing dropped yet: the head takes what fits
            part = tail[0]
            room = self._head_limit - self._head_size
            if part.size > room:
                cut = head_cut(part.text, room)
                if cut:
                    self._to_head(self._split_front(part, cut))
                break
            tail.popleft()
            self._tail_size -= part.size
            self._to_head(part)
        limit = self._tail_limit - self._line_size
        while self._tail_size > limit:
            part = tail[0]
            excess = self._tail_size - limit
            size = part.size
            if size > excess and (cut := tail_cut(part.text, excess)) < size:
                self._gap = True
                self._omitted_chars += cut
                self._omitted_lines += part.text.count("\n", 0, cut)
                part.text = part.text[cut:]
                self._tail_size -= cut
            else:
                tail.popleft()
                self._tail_size -= size
                self._evict(part)

    def _to_head(self, part: _Part) -> None:
        self._head.append(part)
        self._head_size += part.size
        part.in_head = True

    def _split_front(self, part: _Part, at: int) -> _Part:
        """Take the first `at` characters of the tail's first part off into a part of their own."""
        front = _Part(part.out, part.text[:at])
        part.text = part.text[at:]
        self._tail_size -= at
        if part.out.display_id is not None:
            part.out.parts.insert(part.out.parts.index(part), front)
        return front

    def _evict(self, part: _Part) -> None:
        """Drop a whole part into the gap between head and tail, counting what it held."""
        self._gap = True
        self._omitted_chars += len(part.text)
        self._omitted_lines += part.text.count("\n")
        if part.image:
            self._images -= 1
            self._images_dropped += 1
        out = part.out
        if out.display_id is not None:
            out.parts.remove(part)
            if not out.parts:
                outs = self._displays[out.display_id]
                del outs[out]
                if not outs:
                    del self._displays[out.display_id]


def _render(parts: Iterable[_Part]) -> list[Block]:
    return render_parts(Part(part.out, part.out.kind, part.text, part.image) for part in parts)

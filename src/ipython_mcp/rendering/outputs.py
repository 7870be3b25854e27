"""The outputs of one run, recorded as they arrive and kept as a notebook shows them.

One structure for every reading of a run's output. `Outputs` applies each iopub message as a
notebook frontend does: consecutive stream text of one name joins, a carriage return rewrites
the line, clear_output empties the output (at the next output, with wait=True) and
update_display_data replaces what every output with that display id shows (as the comm
messages of a progress bar widget replace its line). The text goes to a store of lines
(`Lines`): in memory (lines.MemoryLines), or in segment files within the session's disk cap
(run.transcript.Transcript). Beside it the model keeps what lines do not
say: where each output begins and what it is (`Output`), the display updates, the first and
last images, the data a notebook needs, and where the output changed since it was last read.

The store is append-only: an update is kept here and read in place of the display's lines
(view.py); clear_output releases the store's files before it, and numbering goes on after
the cleared lines. Three renderings read the model: excerpt.py (head and tail within a text
budget), view.py (every line, for reading and searching the whole output) and notebook.py.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import replace
from typing import Any

from .ansi import strip_ansi
from .blocks import Block, Image, Text
from .budget import STDERR
from .lines import MemoryLines, apply_carriage_returns
from .mime import render_bundle
from .records import Changes, Lines, Output, ReadMark, Update
from .tracebacks import clean_traceback, short_traceback
from .view import View
from .widgets import Widgets, model_id

IMAGES_KEPT = 10
"""Images kept in memory at each end of the output (the first ones and the latest ones)."""
BUNDLES_KEPT = 50
"""Rich outputs whose every representation is kept for a notebook (the others keep their text)."""
_OUTPUTS = ("stream", "display_data", "execute_result", "error")


class Outputs:
    """The outputs of one run, as a notebook shows them, with their text in `store`."""

    def __init__(
        self, store: Lines | None = None, *, images_kept: int = IMAGES_KEPT
    ) -> None:
        self.store: Lines = store if store is not None else MemoryLines()
        self._images_kept = images_kept
        self._seq = itertools.count()
        self.error_name: str | None = None
        """The name of the last error the kernel reported (its ename); None if none."""
        self.outputs: list[Output] = []
        """The outputs shown, in order (those dropped past the disk cap are forgotten)."""
        self.by_id: dict[str, deque[Output]] = {}
        self.updates: dict[str, Update] = {}
        self.cleared_lines = 0
        """Line numbers taken by output cleared with clear_output: the lines shown come after."""
        self.clear_store = self.clear_chars = 0  # where in the store the output after the clear begins
        self.clears = 0
        self.changes = Changes()
        self._open: Output | None = None  # the stream output further text of its name joins
        self._clear_pending = False
        self._head_images = self._bundles = 0
        self._recent_images: deque[Output] = deque()
        self._drops = 0
        self._view: View | None = None
        self.figures = 0
        """Images shown so far, each numbered (Image.figure) in the order they came."""
        self._widgets = Widgets()
        self._widget_lines: dict[str, str] = {}  # a progress bar's display key: its line now

    # -- applying messages -----------------------------------------------------------------

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        """Apply one iopub message (stream, display_data, execute_result, update_display_data,
        clear_output, error); other msg_types are ignored."""
        if msg_type in _OUTPUTS:
            if self._clear_pending:
                self._clear()
            if msg_type == "stream":
                self._stream(str(content.get("name") or "stdout"), content.get("text"))
            elif msg_type == "error":
                self._error(content)
            else:
                self._display(msg_type, content)
        elif msg_type == "update_display_data":
            self._update(content)
        elif msg_type == "clear_output":
            if content.get("wait"):
                self._clear_pending = True
            else:
                self._clear()
        elif msg_type in ("comm_open", "comm_msg", "comm_close"):
            self._comm(msg_type, content)

    def _stream(self, name: str, text: object) -> None:
        text = strip_ansi(text if isinstance(text, str) else "")
        if not text:
            return
        out = self._open
        if out is None or out.kind != name:
            out = self._open = self._begin(name)
        if name == "stderr" and not out.marked and text.strip("\r"):
            out.marked = True  # marked once it has something to show
            self._write(STDERR, printed=False)
        self._write(text)

    def _display(self, msg_type: str, content: dict[str, Any]) -> None:
        data = content.get("data")
        data = data if isinstance(data, dict) else {}
        block = self._numbered(render_bundle(data))
        widget = model_id(data)
        line = self._widgets.progress_line(widget) if widget is not None else None
        if line is not None:
            block = Text(line)
        out = self._begin("display")
        out.display_id = _display_id(content)
        if widget is not None and line is not None and out.display_id is None:  # comm updates update it
            out.display_id = _widget_key(widget)
            self._widget_lines[out.display_id] = line
        out.result = msg_type == "execute_result"
        out.count = content.get("execution_count") if out.result else None
        if self._bundles < BUNDLES_KEPT:
            self._bundles += 1
            out.bundle = _bundle(content)
        text, out.broken = _text_of(block)
        if isinstance(block, Image):
            out.shows_image, out.described = True, bool(block.alt)
            self._keep_image(out, block)
        self._write(text, printed=False)
        if out.display_id is not None:
            self.by_id.setdefault(out.display_id, deque()).append(out)

    def _error(self, content: dict[str, Any]) -> None:
        ename, evalue = str(content.get("ename", "")), str(content.get("evalue", ""))
        frames = content.get("traceback")
        frames = [str(frame) for frame in frames] if isinstance(frames, list) else []
        text = clean_traceback(frames, ename, evalue)
        out = self._begin("error")
        out.error, out.broken = (ename, evalue, frames), True
        out.lean = short_traceback(frames, ename, evalue, text)
        self._write(text + "\n", printed=False)
        self.error_name = ename

    def _update(self, content: dict[str, Any]) -> None:
        display_id = _display_id(content)
        outs = self.by_id.get(display_id) if display_id is not None else None
        if not outs or display_id is None:
            return
        data = content.get("data")
        block = self._numbered(render_bundle(data if isinstance(data, dict) else {}))
        text, broken = _text_of(block)
        self.updates[display_id] = Update(next(self._seq), block, text, broken, _bundle(content))
        updated = self.changes.updated
        if updated is None or outs[0].seq < updated.seq:
            self.changes = Changes(self.changes.written, outs[0])
        self._view = None

    def _numbered(self, block: Block | None) -> Block | None:
        if not isinstance(block, Image):
            return block
        self.figures += 1
        return replace(block, figure=self.figures)

    def _comm(self, msg_type: str, content: dict[str, Any]) -> None:
        """A widget's state changed: a progress bar shown shows its new state."""
        for model in self._widgets.add(msg_type, content):
            key = _widget_key(model)
            line = self._widgets.progress_line(model) if key in self.by_id else None
            if line is not None and line != self._widget_lines.get(key):
                self._widget_lines[key] = line
                self._update({"data": {"text/plain": line}, "transient": {"display_id": key}})

    def _clear(self) -> None:
        """Empty the output, as clear_output does; its line numbers stay taken."""
        self._clear_pending = False
        self.cleared_lines = self.view().lines
        self.store.end_line()
        self._open = None
        self.clear_store, self.clear_chars = self.store.lines, self.store.chars
        self.store.release(self.clear_store)
        self.outputs, self.by_id, self.updates, self._widget_lines = [], {}, {}, {}
        self._head_images = self._bundles = 0
        self._recent_images.clear()
        self.changes = Changes()
        self.clears += 1
        self._view = None

    def _begin(self, kind: str) -> Output:
        """A new output after the others: it begins a line."""
        store = self.store
        if store.lines != store.ended_lines:
            self._note_write()
        broken = store.end_line()
        if self._open is not None:
            self._open.broken = broken
            self._open = None
        if self.outputs:
            self.outputs[-1].end, self.outputs[-1].end_chars = store.lines, store.chars
        out = Output(kind, store.lines, store.chars, next(self._seq))
        self.outputs.append(out)
        self._prune()
        self._view = None
        return out

    def _write(self, text: str, *, printed: bool = True) -> None:
        if text:
            self._note_write()
            self.store.add(text, printed=printed)

    def _note_write(self) -> None:
        if self.changes.written is None:  # later writes come after this one
            self.changes = Changes((self.store.ended_lines, self.store.ended_chars), self.changes.updated)

    def _keep_image(self, out: Output, image: Image) -> None:
        """The first images and the latest ones are kept; those between only counted."""
        out.image = image
        if self._head_images < self._images_kept:
            self._head_images += 1
            return
        self._recent_images.append(out)
        if len(self._recent_images) > self._images_kept:
            self._recent_images.popleft().image = None

    def _prune(self) -> None:
        """Forget the outputs whose lines were all dropped past the disk cap."""
        drops = getattr(self.store, "drops", 0)
        if drops == self._drops:
            return
        self._drops = drops
        kept = self.store.kept[0]
        gone = 0
        for out in self.outputs:
            if out.end is None or out.end > kept:
                break
            gone += 1
            out.image = None
            if out.display_id is not None:
                outs = self.by_id[out.display_id]
                outs.popleft()
                if not outs:
                    del self.by_id[out.display_id]
                    self.updates.pop(out.display_id, None)
                    self._widget_lines.pop(out.display_id, None)
        del self.outputs[:gone]
        self._view = None

    # -- reading ---------------------------------------------------------------------------

    def view(self) -> View:
        """The lines as the notebook shows them now (kept until the outputs change)."""
        self._prune()
        if self._view is None:
            self._view = View(
                self.store, self.outputs, self.by_id, self.updates, self.cleared_lines, self.clear_store
            )
        return self._view

    def figure(self, number: int) -> Image | None:
        """Image number `number` of the run, while it is shown and kept in memory."""
        view = self.view()
        for out in self.outputs:
            image = view.image(out)[1]
            if image is not None and image.figure == number:
                return image
        return None

    @property
    def last_line(self) -> str:
        """The latest non-empty line the code printed, at most 200 characters; "" if none."""
        return self.store.last_line

    @property
    def size(self) -> int:
        """Bytes of output written so far."""
        return self.store.size

    def unread(self, mark: ReadMark) -> tuple[tuple[int, int], bool, bool]:
        """Where the output a reader has not seen begins, for one that read up to `mark`: a
        store position (line, characters before it); and whether the output was cleared, and
        whether a display it saw was updated, since."""
        start = (mark.line, mark.chars)
        written, updated = self.changes.written, self.changes.updated
        if written is not None and written < start:
            start = written
        seen_updated = updated is not None and updated.start < mark.line
        if updated is not None and (updated.start, updated.chars_before) < start:
            start = (updated.start, updated.chars_before)
        return start, mark.shown and self.clears != mark.clears, seen_updated

    def read_all(self) -> ReadMark:
        """A reader has read the output to its end: the mark to give `unread` next time."""
        self.changes = Changes()
        shown = self.view().lines > self.cleared_lines
        return ReadMark(self.store.lines, self.store.chars, self.clears, shown)

    def restore(self, changes: Changes) -> None:
        """Changes from before a reading that was not shown after all (with any since)."""
        written, updated = self.changes.written, self.changes.updated
        if changes.written is not None and (written is None or changes.written < written):
            written = changes.written
        if changes.updated is not None and (updated is None or changes.updated.seq < updated.seq):
            updated = changes.updated
        self.changes = Changes(written, updated)

    def finish(self) -> None:
        self.store.finish()

    def close(self) -> None:
        self.store.close()


def _text_of(block: Block | None) -> tuple[str, bool]:
    """A display's lines: its text, or a line saying what its image shows (else naming it); and
    whether a newline was added."""
    if block is None:
        return "", False
    if isinstance(block, Image):
        return (block.alt + "\n", True) if block.alt else (f"[{block.mime_type} image]\n", False)
    text = apply_carriage_returns(block.text)[0] if "\r" in block.text else block.text
    if not text or text.endswith("\n"):
        return text, False
    return text + "\n", True


def _bundle(content: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    data, metadata = content.get("data"), content.get("metadata")
    return (data if isinstance(data, dict) else {}), (metadata if isinstance(metadata, dict) else {})


def _display_id(content: dict[str, Any]) -> str | None:
    transient = content.get("transient")
    display_id = transient.get("display_id") if isinstance(transient, dict) else None
    return display_id if isinstance(display_id, str) else None


def _widget_key(model: str) -> str:
    """The display id a progress bar's comm updates go by (no kernel makes one with a space)."""
    return f"widget {model}"

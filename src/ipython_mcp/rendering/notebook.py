"""The assistant's executions as a notebook: nbformat 4 cells rendered from the output model.

A cell's outputs are read from its run's `Outputs`, so they are what the results showed,
as a notebook shows them: stream text with carriage returns applied, cleared output gone,
displays as their last update left them, with every representation the kernel sent (for the
first BUNDLES_KEPT of them; later ones keep their text). A finished execution's cell is frozen
(rendered once and kept), so it outlives the execution's whole output, which the session
forgets after a while.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from .budget import STDERR
from .outputs import Outputs
from .records import Output
from .view import View

TEXT_LIMIT = 1_000_000
"""Characters of stream text one cell keeps; past it the notebook says how much was left out."""
SESSION_LIMIT = 64_000_000
"""Characters of output (text and encoded images) all cells of a session keep together; past
it the oldest cells keep their code only."""


class NotebookCell:
    """A code cell: the code, and the outputs of its run (see module docstring)."""

    def __init__(self, code: str, execution_count: int | None = None, outputs: Outputs | None = None) -> None:
        self.code = code
        self.execution_count = execution_count
        self.outputs = outputs if outputs is not None else Outputs()
        self._frozen: list[dict[str, Any]] | None = None
        self._dropped = False
        self._size: int | None = None

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        """Apply an iopub message to the outputs of a cell made on its own."""
        if self._frozen is None:
            self.outputs.add(msg_type, content)

    def freeze(self) -> None:
        """Keep the outputs as they are now; the run's whole output may go."""
        if self._frozen is None:
            self._frozen = notebook_outputs(self.outputs, self.execution_count)
            self._size = None

    def size(self) -> int:
        """About how many characters its kept outputs hold."""
        if self._frozen is None:
            return sum(_chars(output) for output in notebook_outputs(self.outputs, self.execution_count))
        if self._size is None:
            self._size = sum(_chars(output) for output in self._frozen)
        return self._size

    def drop_outputs(self) -> None:
        """Keep the code only, saying so in the notebook."""
        note = "[outputs not kept: the session's later ones filled its budget]\n"
        self._frozen = [{"output_type": "stream", "name": "stderr", "text": note}]
        self._dropped = True
        self._size = None

    def as_cell(self) -> dict[str, Any]:
        outputs = self._frozen
        if outputs is None:
            outputs = notebook_outputs(self.outputs, self.execution_count)
        return {
            "cell_type": "code",
            "id": uuid.uuid4().hex[:8],
            "execution_count": self.execution_count,
            "metadata": {},
            "source": self.code,
            "outputs": list(outputs),
        }


def notebook_outputs(outputs: Outputs, execution_count: int | None) -> list[dict[str, Any]]:
    """The outputs as nbformat 4 keeps them, stream text up to TEXT_LIMIT characters."""
    view = outputs.view()
    cells: list[dict[str, Any]] = []
    if view.kept > (view.cleared, 0):
        cells.append(_stderr(f"[The beginning of this output is not kept: {view.dropped(view.cleared)}.]\n"))
    room, left_out = TEXT_LIMIT, 0
    for index, out in enumerate(outputs.outputs):
        following = outputs.outputs[index + 1] if index + 1 < len(outputs.outputs) else None
        end = view.output_line(following) if following is not None else view.lines
        if out.kind in ("stdout", "stderr"):
            text, size = _text(view, out, end, room)
            if out.marked:
                text, size = text.removeprefix(STDERR), size - len(STDERR)
            room -= len(text)
            left_out += size - len(text)
            if text:
                cells.append({"output_type": "stream", "name": out.kind, "text": text})
        elif out.kind == "error" and out.error is not None:
            ename, evalue, frames = out.error
            cells.append({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": frames})
        elif out.kind == "display":
            cells.append(_display(view, out, end, execution_count))
    if left_out:
        cells.append(_stderr(f"\n[{left_out:,} more characters of output were not kept in this notebook]\n"))
    return cells


def _display(view: View, out: Output, end: int, execution_count: int | None) -> dict[str, Any]:
    span = view.span_of(out)
    bundle = span.update.bundle if span is not None else out.bundle
    if bundle is None:  # past BUNDLES_KEPT: its text
        text = _text(view, out, end, TEXT_LIMIT)[0]
        data, metadata = {"text/plain": text.removesuffix("\n")}, {}
    else:
        data, metadata = _nbformat_bundle(*bundle)
    output: dict[str, Any] = {
        "output_type": "execute_result" if out.result else "display_data",
        "data": data,
        "metadata": metadata,
    }
    if out.result:
        output["execution_count"] = out.count if out.count is not None else execution_count
    return output


def _text(view: View, out: Output, end: int, room: int) -> tuple[str, int]:
    """An output's text (without a newline added after it), at most `room` characters of it;
    and how many characters it has."""
    broken = view.broken(out)
    size = (out.end_chars if out.end_chars is not None else view.store.chars) - out.chars_before - broken
    parts: list[str] = []
    taken, ended = 0, view.ended_lines
    for piece in view.pieces(view.output_line(out), 0, end, max_chars=room + 1):
        if taken >= room:
            break
        added = broken and piece.number == end - 1  # the newline after the output, not in it
        newline = piece.end >= piece.length and piece.number < ended and not added
        parts.append((piece.text + "\n" * newline)[: room - taken])
        taken += len(parts[-1])
    return "".join(parts), size


def _stderr(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stderr", "text": text}


def notebook(cells: Iterable[NotebookCell], kernel_info: dict[str, Any]) -> dict[str, Any]:
    """An nbformat 4.5 notebook of the cells, with the kernel's language in its metadata."""
    language = kernel_info.get("language_info") or {}
    name = str(language.get("name") or "python")
    metadata: dict[str, Any] = {"language_info": {"name": name}}
    if language.get("version"):
        metadata["language_info"]["version"] = str(language["version"])
    if name == "python":
        metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return {
        "cells": [cell.as_cell() for cell in cells],
        "metadata": metadata,
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _chars(output: dict[str, Any]) -> int:
    data = output.get("data")
    if isinstance(data, dict):
        return sum(len(value) if isinstance(value, str) else 100 for value in data.values())
    text = output.get("text") or output.get("traceback") or ""
    return len(text) if isinstance(text, str) else sum(len(str(line)) for line in text)


def _nbformat_bundle(data: dict[str, Any], metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Data and metadata as nbformat requires them: text for every type but JSON ones."""
    kept = {
        str(mime): value
        for mime, value in data.items()
        if isinstance(value, str) or (str(mime).endswith("json") and isinstance(value, (dict, list)))
    }
    return kept, metadata


class SessionCells:
    """The cells of a session's executions, oldest first. Together they keep at most `limit`
    characters of output: past it, the oldest cells keep their code only."""

    def __init__(self, limit: int = SESSION_LIMIT) -> None:
        self._cells: list[NotebookCell] = []
        self._limit = limit
        self._chars = 0
        self._measured = 0  # cells counted in _chars: those complete when the next one came

    def append(self, cell: NotebookCell) -> None:
        self._chars += sum(c.size() for c in self._cells[self._measured :])
        self._measured = len(self._cells)
        if self._chars > self._limit:
            keep_within(self._cells, self._limit)
            self._chars = sum(c.size() for c in self._cells)
        self._cells.append(cell)

    def __iter__(self) -> Iterator[NotebookCell]:
        return iter(self._cells)

    def __len__(self) -> int:
        return len(self._cells)


def keep_within(cells: list[NotebookCell], limit: int = SESSION_LIMIT) -> None:
    """Drop the outputs of the oldest cells until all of them hold at most `limit` characters."""
    sizes = [cell.size() for cell in cells]
    total = sum(sizes)
    for cell, size in zip(cells, sizes, strict=True):
        if total <= limit:
            return
        if not cell._dropped:
            cell.drop_outputs()
            total -= size

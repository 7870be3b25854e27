"""The assistant's executions as a notebook: outputs kept as nbformat 4 keeps them (pure).

Outputs are applied as a notebook frontend applies them: consecutive stream text of one name
joins, `clear_output` empties the cell (at the next output, with `wait=True`), and
`update_display_data` replaces the data of the output with its display id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

TEXT_LIMIT = 1_000_000
"""Characters of stream text one cell keeps; past it the notebook says how much was left out."""
SESSION_LIMIT = 64_000_000
"""Characters of output (text and encoded images) all cells of a session keep together; past
it the oldest cells keep their code only."""
IMAGES_LIMIT = 50
"""Rich outputs (figures, tables) one cell keeps."""
_OUTPUTS = {"stream", "display_data", "execute_result", "error", "update_display_data", "clear_output"}


@dataclass
class NotebookCell:
    code: str
    execution_count: int | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    _displays: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _clear_pending: bool = False
    _text: int = 0
    _left_out: int = 0
    _rich: int = 0
    _dropped: bool = False
    _size: int | None = 0

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type not in _OUTPUTS or self._dropped:
            return
        if msg_type == "clear_output":
            if content.get("wait"):
                self._clear_pending = True
            else:
                self._clear()
            return
        self._size = None  # counted again from what is kept, when asked
        if msg_type == "update_display_data":
            for output in self._displays.get(_display_id(content) or "", []):
                output["data"], output["metadata"] = _bundle(content)
            return
        if self._clear_pending:
            self._clear()
        if msg_type == "stream":
            self._stream(str(content.get("name", "stdout")), str(content.get("text", "")))
        elif msg_type == "error":
            self.outputs.append(
                {
                    "output_type": "error",
                    "ename": str(content.get("ename", "")),
                    "evalue": str(content.get("evalue", "")),
                    "traceback": [str(line) for line in content.get("traceback", [])],
                }
            )
        else:
            self._rich += 1
            if self._rich > IMAGES_LIMIT:
                return
            data, metadata = _bundle(content)
            output: dict[str, Any] = {"output_type": msg_type, "data": data, "metadata": metadata}
            if msg_type == "execute_result":
                output["execution_count"] = content.get("execution_count", self.execution_count)
            self.outputs.append(output)
            display_id = _display_id(content)
            if display_id:
                self._displays.setdefault(display_id, []).append(output)

    def _stream(self, name: str, text: str) -> None:
        room = TEXT_LIMIT - self._text
        if len(text) > room:
            self._left_out += len(text) - max(room, 0)
            text = text[: max(room, 0)]
        self._text += len(text)
        if not text:
            return
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def size(self) -> int:
        """About how many characters its kept outputs hold."""
        if self._size is None:
            self._size = sum(_chars(output) for output in self.outputs)
        return self._size

    def drop_outputs(self) -> None:
        """Keep the code only, saying so in the notebook."""
        self._clear()
        self._left_out = 0
        self.outputs.append(
            {
                "output_type": "stream",
                "name": "stderr",
                "text": "[outputs not kept: the session's later ones filled its budget]\n",
            }
        )
        self._dropped = True

    def _clear(self) -> None:
        self.outputs.clear()
        self._displays.clear()
        self._clear_pending = False
        self._size = None

    def as_cell(self) -> dict[str, Any]:
        outputs = list(self.outputs)
        if self._left_out:
            note = f"\n[{self._left_out:,} more characters of output were not kept in this notebook]\n"
            outputs.append({"output_type": "stream", "name": "stderr", "text": note})
        return {
            "cell_type": "code",
            "id": uuid.uuid4().hex[:8],
            "execution_count": self.execution_count,
            "metadata": {},
            "source": self.code,
            "outputs": outputs,
        }


def notebook(cells: list[NotebookCell], kernel_info: dict[str, Any]) -> dict[str, Any]:
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


def _bundle(content: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Data and metadata as nbformat requires them: text for every type but JSON ones."""
    data = content.get("data")
    metadata = content.get("metadata")
    kept = {
        str(mime): value
        for mime, value in (data.items() if isinstance(data, dict) else ())
        if isinstance(value, str) or (str(mime).endswith("json") and isinstance(value, (dict, list)))
    }
    return kept, metadata if isinstance(metadata, dict) else {}


def _display_id(content: dict[str, Any]) -> str | None:
    return (content.get("transient") or {}).get("display_id")


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

"""Jupyter widgets, which only the user's frontend draws, read as a line: a widget as its repr
when shown; a progress bar (tqdm.notebook's) as its latest state, which the kernel sends as
comm messages, not as outputs."""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MODELS_KEPT = 2_000
"""Widget models of one run whose state is kept (the oldest are forgotten)."""
_CLOSED = " closed"
"""Set on a model once its comm closed: its frontend shows it no more."""
_KEPT = {"_model_name", "value", "min", "max", "description", "children", _CLOSED}
_PROGRESS = frozenset({"FloatProgressModel", "IntProgressModel"})
_TEXTS = frozenset({"HTMLModel", "LabelModel", "HTMLMathModel"})
_BOXES = frozenset({"HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel"})
_TAG = re.compile(r"<[^>]*>")


def widget_line(plain: str) -> str:
    """`[widget IntSlider(value=3), as first shown; interactive in the user's frontend only]`."""
    said = " ".join(plain.split())
    said = said if len(said) <= 300 else said[:299] + "…"
    return f"[widget {said}, as first shown; interactive in the user's frontend only]" if said else (
        "[a widget, interactive in the user's frontend only]"
    )


def model_id(data: dict[str, Any]) -> str | None:
    """The widget model a bundle shows, if it shows one."""
    view = data.get(WIDGET_VIEW)
    found = view.get("model_id") if isinstance(view, dict) else None
    return found if isinstance(found, str) else None


class Widgets:
    """What a run's comm messages say of the widgets it makes, as much as a progress bar's line
    needs: each model's name, value, bounds, description and children."""

    def __init__(self) -> None:
        self._models: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._parents: dict[str, str] = {}

    def add(self, msg_type: str, content: dict[str, Any]) -> list[str]:
        """Apply a comm_open, comm_msg or comm_close; the models whose progress line it may change."""
        comm_id, data = content.get("comm_id"), content.get("data")
        data = data if isinstance(data, dict) else {}
        state = data.get("state")
        if not isinstance(comm_id, str):
            return []
        if msg_type == "comm_open" and isinstance(state, dict):
            model = self._models[comm_id] = {}
            while len(self._models) > MODELS_KEPT:
                self._parents.pop(self._models.popitem(last=False)[0], None)
        elif comm_id not in self._models:
            return []
        elif msg_type == "comm_msg" and isinstance(state, dict) and data.get("method") == "update":
            model = self._models[comm_id]
        elif msg_type == "comm_close":
            model, state = self._models[comm_id], {_CLOSED: True}
        else:
            return []
        for key, value in state.items():
            if key in _KEPT:
                model[key] = _kept(value)
        for child in _children(model):
            self._parents[child] = comm_id
        return [comm_id, self._parents[comm_id]] if comm_id in self._parents else [comm_id]

    def progress_line(self, model: str) -> str | None:
        """The line of a progress bar, alone or in a box with its labels (as tqdm.notebook
        makes it); None for any other widget, or one whose state is unknown."""
        state = self._models.get(model)
        if state is None:
            return None
        if state.get("_model_name") in _PROGRESS:
            return _progress(state)
        if state.get("_model_name") not in _BOXES:
            return None
        children = [self._models.get(child) or {} for child in _children(state)]
        bars = [child for child in children if child.get("_model_name") in _PROGRESS]
        if not bars:
            return None
        if state.get(_CLOSED):  # tqdm(leave=False) closes it without writing its labels again
            return f"[progress bar, closed: {_progress(bars[0])}]"
        labels = [_text(child) for child in children if child.get("_model_name") in _TEXTS]
        return " ".join(label for label in labels if label) or _progress(bars[0])


def _progress(state: dict[str, Any]) -> str:
    """`load: 30% (3/10)`."""
    value, low, high = state.get("value"), state.get("min", 0), state.get("max")
    name = f"{state['description']}: " if state.get("description") else ""
    numbers = all(isinstance(n, int | float) and not isinstance(n, bool) for n in (value, low, high))
    if not numbers or high <= low:  # type: ignore[operator]
        return f"{name}{value}"
    share = (value - low) / (high - low)  # type: ignore[operator]
    return f"{name}{share:.0%} ({value:g}/{high:g})"


def _text(state: dict[str, Any]) -> str:
    value = state.get("value")
    text = html.unescape(_TAG.sub("", value)) if isinstance(value, str) else ""
    return " ".join(text.split())  # tqdm pads with figure spaces


def _children(state: dict[str, Any]) -> list[str]:
    children = state.get("children")
    children = children if isinstance(children, list) else []
    return [child.removeprefix("IPY_MODEL_") for child in children if isinstance(child, str)]


def _kept(value: object) -> object:
    if isinstance(value, str) and len(value) > 1_000:
        return value[:1_000]
    if isinstance(value, list):
        return value[:50]
    return value

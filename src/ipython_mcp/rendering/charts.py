"""Charts the model cannot see as images, described in a few lines: a Plotly figure's title,
axes and traces with their sizes and value ranges."""

from __future__ import annotations

import array
import base64
import binascii
from typing import Any

PLOTLY = "application/vnd.plotly.v1+json"
TRACES_SHOWN = 12
"""Traces described one by one; the others are counted."""
_TYPED = {
    **{"f8": "d", "f4": "f", "i1": "b", "u1": "B", "i2": "h"},
    **{"u2": "H", "i4": "i", "u4": "I", "i8": "q", "u8": "Q"},
}
"""Plotly's typed arrays (`{"dtype": "f8", "bdata": ...}`) as `array` type codes."""


def describe_plotly(figure: object) -> str:
    """`[plotly figure "Sales"; x axis "month"; y axis "sales" (0 to 40)]` and a line per trace."""
    figure = figure if isinstance(figure, dict) else {}
    layout = figure.get("layout") if isinstance(figure.get("layout"), dict) else {}
    traces = [t for t in figure.get("data") or [] if isinstance(t, dict)]
    head = ["plotly figure" + (f' "{title}"' if (title := _title(layout.get("title"))) else "")]
    for axis in ("xaxis", "yaxis"):
        settings = layout.get(axis)
        if isinstance(settings, dict):
            said = f' "{name}"' if (name := _title(settings.get("title"))) else ""
            shown = settings.get("range")
            if isinstance(shown, list) and len(shown) == 2:
                said += f" (shown {_value(shown[0])} to {_value(shown[1])})"
            if said:
                head.append(f"{axis[0]} axis{said}")
    lines = [f"[{'; '.join(head)}: {len(traces)} trace{'' if len(traces) == 1 else 's'}]"]
    lines += [_trace(trace) for trace in traces[:TRACES_SHOWN]]
    if len(traces) > TRACES_SHOWN:
        lines.append(f"- ... {len(traces) - TRACES_SHOWN} more traces")
    return "\n".join(lines)


def _trace(trace: dict[str, Any]) -> str:
    kind = str(trace.get("type") or "scatter")
    name = f' "{trace["name"]}"' if trace.get("name") else ""
    mode = f" ({trace['mode']})" if kind == "scatter" and trace.get("mode") else ""
    parts = []
    points = 0
    for key in ("x", "y", "z", "values", "labels"):
        values = _values(trace.get(key))
        if values is None:
            continue
        points = max(points, len(values))
        parts.append(f"{key} {_span(values)}")
    size = f"{points:,} point{'' if points == 1 else 's'}" if points else "no data"
    return f"- {kind}{name}{mode}: {', '.join([size, *parts])}"


def _values(raw: object) -> list[Any] | None:
    if isinstance(raw, dict) and isinstance(raw.get("bdata"), str) and raw.get("dtype") in _TYPED:
        try:
            typed = array.array(_TYPED[raw["dtype"]])
            typed.frombytes(base64.b64decode(raw["bdata"]))
            return typed.tolist()
        except (binascii.Error, ValueError):
            return None
    if isinstance(raw, list):
        return [v[0] if isinstance(v, list) and v else v for v in raw]  # a heatmap's rows: their first
    return None


def _span(values: list[Any]) -> str:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool) and v == v]
    if numbers and len(numbers) == len(values):
        return f"{_value(min(numbers))} to {_value(max(numbers))}"
    if not values:
        return "empty"
    return f"{_value(values[0])} to {_value(values[-1])}" if len(values) > 1 else _value(values[0])


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 30 else text[:29] + "…"


def _title(title: object) -> str:
    if isinstance(title, dict):
        title = title.get("text")
    return str(title).strip() if isinstance(title, str | int | float) and str(title).strip() else ""

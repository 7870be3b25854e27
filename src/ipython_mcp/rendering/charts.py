"""Charts the model cannot see as images, described in a few lines: a Plotly figure's title,
axes and traces with their sizes and value ranges; a Bokeh plot's figures and glyphs."""

from __future__ import annotations

import array
import base64
import binascii
import json
import re
from typing import Any

PLOTLY = "application/vnd.plotly.v1+json"
BOKEH_EXEC = "application/vnd.bokehjs_exec.v0+json"
BOKEH_LOAD = "application/vnd.bokehjs_load.v0+json"
BOKEH_LOADED = "[BokehJS loaded into the user's notebook, where Bokeh plots are drawn]"
BOKEH_SCRIPT_LIMIT = 5_000_000
"""Characters of a Bokeh script read for its figures; past it the plot is only named."""
_DOCS_JSON = re.compile(r"\bdocs_json\s*=\s*(?=\{)")
_BOKEH_OBJECTS_SEEN = 100_000
_FIGURES_SHOWN = 6
_ONLY_THERE = "interactive, shown in the user's notebook only"
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


def bokeh_placeholder(html: str) -> bool:
    """Bokeh's HTML beside its script: the element a plot is drawn into, or output_notebook's
    banner (`Loading BokehJS ...`)."""
    return "data-root-id=" in html or "bk-notebook-logo" in html


def describe_bokeh(script: object) -> str:
    """`[Bokeh figure "Growth": 2 renderers (line, scatter); interactive, shown in the user's
    notebook only]`, from the document the script embeds (`docs_json`)."""
    roots = _bokeh_roots(script) if isinstance(script, str) else []
    figures = _bokeh_figures(roots)
    if len(roots) == 1 and len(figures) == 1 and roots[0] is figures[0]:
        return f"[Bokeh {_bokeh_figure(figures[0])}; {_ONLY_THERE}]"
    if figures:
        where = " ".join(_bokeh_name(root).lower() for root in roots) or "document"
        said = [_bokeh_figure(figure) for figure in figures[:_FIGURES_SHOWN]]
        if len(figures) > _FIGURES_SHOWN:
            said.append(f"{len(figures) - _FIGURES_SHOWN} more")
        return f"[Bokeh {where} of {len(figures)} figures: {'; '.join(said)}; {_ONLY_THERE}]"
    if roots:
        return f"[Bokeh {', '.join(_bokeh_name(root) for root in roots[:_FIGURES_SHOWN])}; {_ONLY_THERE}]"
    return f"[Bokeh plot; {_ONLY_THERE}]"


def _bokeh_roots(script: str) -> list[dict[str, Any]]:
    match = _DOCS_JSON.search(script) if len(script) <= BOKEH_SCRIPT_LIMIT else None
    if match is None:
        return []
    try:
        docs, _ = json.JSONDecoder().raw_decode(script, match.end())
    except ValueError:
        return []
    docs = list(docs.values()) if isinstance(docs, dict) else []
    roots = [doc.get("roots") for doc in docs if isinstance(doc, dict)]
    return [root for some in roots if isinstance(some, list) for root in some if isinstance(root, dict)]


def _bokeh_figures(roots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plots among the objects of the document, in order (each object is given in full once;
    later mentions are its id only)."""
    figures, stack, seen = [], list(reversed(roots)), 0
    while stack and seen < _BOKEH_OBJECTS_SEEN:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            if node.get("type") == "object" and _bokeh_name(node) in ("Figure", "Plot", "GMap", "GMapPlot"):
                figures.append(node)
                continue
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return figures


def _bokeh_figure(figure: dict[str, Any]) -> str:
    """`figure "Growth": 2 renderers (line, scatter)`."""
    attributes = figure.get("attributes") if isinstance(figure.get("attributes"), dict) else {}
    title = attributes.get("title")
    if isinstance(title, dict):
        title = (title.get("attributes") or {}).get("text")
    name = f'figure "{_value(title)}"' if isinstance(title, str) and title.strip() else "figure"
    glyphs = []
    renderers = [r for r in attributes.get("renderers") or [] if isinstance(r, dict)]
    for renderer in renderers:
        glyph = (renderer.get("attributes") or {}).get("glyph")
        kind = _bokeh_name(glyph).lower() if isinstance(glyph, dict) else ""
        if kind and kind not in glyphs:
            glyphs.append(kind)
    count = f"{len(renderers)} renderer{'' if len(renderers) == 1 else 's'}"
    return f"{name}: {count}" + (f" ({', '.join(glyphs)})" if glyphs else "")


def _bokeh_name(node: dict[str, Any]) -> str:
    return str(node.get("name") or "object")

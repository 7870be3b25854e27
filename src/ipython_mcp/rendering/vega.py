"""Vega-Lite and Vega charts (Altair's): described in a line, and drawn to PNG with vl-convert
where the server has it (the `charts` extra), without the network: data at a URL is named, not
fetched."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from .blocks import Block, Deferred, Image, Text, ToDraw

try:
    import vl_convert
except ImportError:  # the optional `charts` extra
    vl_convert = None

SPEC_LIMIT = 2_000_000
"""Characters of JSON spec drawn; a larger one would hold the server up too long."""
SCALE = 2.0
"""Pixels per CSS pixel of the chart: text in it stays legible."""
_MIME = re.compile(r"application/vnd\.vega(lite)?\.v\d+(?:\.\d+)*(?:\+json|\.json)")
_SPEC_IN_HTML = re.compile(r"\}\)\(\s*(?=\{)|\bspec\s*=\s*(?=\{)")
"""Where Altair's HTML templates give the spec: `})({spec}, {options})` or `var spec = {spec};`."""
_LITE_VERSION = re.compile(r"/vega-lite/v(\d+)(?:\.(\d+))?")
_COMPOSITIONS = ("layer", "hconcat", "vconcat", "concat")
_VIEWS_SEEN = 200
_FIELDS_SHOWN = 8


def chart_of(data: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
    """The Vega-Lite or Vega spec a bundle shows, and whether it is Vega-Lite: from its own
    MIME type, or from the HTML Altair's default renderer gives."""
    for mime, value in data.items():
        if (match := _MIME.fullmatch(mime)) and (spec := _as_dict(value)) is not None:
            return spec, bool(match[1])
    html = data.get("text/html")
    if isinstance(html, str) and "vegaEmbed" in html:
        decoder = json.JSONDecoder()
        for match in _SPEC_IN_HTML.finditer(html):
            try:
                spec, _ = decoder.raw_decode(html, match.end())
            except ValueError:
                continue
            if isinstance(spec, dict) and _is_spec(spec):
                schema = str(spec.get("$schema", ""))
                return spec, "/vega/" not in schema and "marks" not in spec
    return None


def chart_block(spec: dict[str, Any], lite: bool) -> Block:
    """The chart, to draw when a result shows it, its description as the image's alt; or the
    description, and why it is not drawn."""
    said = describe_chart(spec, lite)
    why = _not_drawn(spec)
    if why is not None:
        return Text(f"[{said}; not drawn: {why}]")
    return ToDraw("", "image/png", alt=f"[{said}]", drawing=Deferred(lambda: _chart_image(spec, lite, said)))


def _chart_image(spec: dict[str, Any], lite: bool, said: str) -> Block:
    try:
        png = _draw(spec, lite)
    except Exception as exc:  # vl-convert raises ValueError, but any failure leaves it undrawn
        return Text(f"[{said}; not drawn: {_reason(exc)}]")
    return Image(base64.b64encode(png).decode(), "image/png", alt=f"[{said}]")


def describe_chart(spec: dict[str, Any], lite: bool) -> str:
    """`Vega-Lite chart "Sales": bar mark; x a (nominal), y b (quantitative); 3 rows`."""
    title = _title(spec.get("title"))
    head = ("Vega-Lite chart" if lite else "Vega chart") + (f' "{title}"' if title else "")
    parts = _lite_parts(spec) if lite else _vega_parts(spec)
    return f"{head}: {'; '.join(parts)}" if parts else head


def _lite_parts(spec: dict[str, Any]) -> list[str]:
    marks: list[str] = []
    fields: list[str] = []
    for view in _views(spec):
        mark = view.get("mark")
        mark = mark.get("type") if isinstance(mark, dict) else mark
        if isinstance(mark, str) and mark not in marks:
            marks.append(mark)
        encoding = view.get("encoding")
        for channel, encoded in (encoding.items() if isinstance(encoding, dict) else ()):
            said = _field(channel, encoded)
            if said and said not in fields:
                fields.append(said)
    parts = []
    if marks:
        parts.append(f"{', '.join(marks)} mark{'s' if len(marks) > 1 else ''}")
        arranged = next((key for key in (*_COMPOSITIONS, "facet", "repeat") if key in spec), None)
        if arranged:
            parts[-1] += f" ({arranged})"
    if fields:
        more = len(fields) - _FIELDS_SHOWN
        parts.append(", ".join(fields[:_FIELDS_SHOWN]) + (f", {more} more" if more > 0 else ""))
    if (data := _data(spec)) is not None:
        parts.append(data)
    return parts


def _views(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec and the views within it (layers, concatenated, faceted and repeated ones)."""
    views, stack = [], [spec]
    while stack and len(views) < _VIEWS_SEEN:
        view = stack.pop()
        views.append(view)
        inner = [view.get("spec")] + [v for key in _COMPOSITIONS for v in _list(view.get(key))]
        stack.extend(reversed([v for v in inner if isinstance(v, dict)]))
    return views


def _field(channel: str, encoded: object) -> str:
    """`x a (nominal)`, `y sum(b) (quantitative)`, `x month(date)`; "" for a constant."""
    if isinstance(encoded, list):  # tooltip, detail: several fields
        encoded = next((e for e in encoded if isinstance(e, dict)), None)
    if not isinstance(encoded, dict):
        return ""
    field = encoded.get("field")
    name = f"repeat({field.get('repeat')})" if isinstance(field, dict) else str(field or "")
    if aggregate := encoded.get("aggregate"):
        name = f"{aggregate}({name})" if name else str(aggregate)
    if unit := encoded.get("timeUnit"):
        name = f"{unit.get('unit') if isinstance(unit, dict) else unit}({name})"
    if not name:
        return ""
    kind = encoded.get("type")
    return f"{channel} {_clip(name)}" + (f" ({kind})" if isinstance(kind, str) else "")


def _data(spec: dict[str, Any]) -> str | None:
    """`3 rows`, or `data from https://...`: of the first view that has data."""
    datasets = spec.get("datasets") if isinstance(spec.get("datasets"), dict) else {}
    for view in _views(spec):
        data = view.get("data")
        if not isinstance(data, dict):
            continue
        rows = data.get("values")
        if rows is None and isinstance(data.get("name"), str):
            rows = datasets.get(data["name"])
        if isinstance(rows, list):
            return f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
        if isinstance(data.get("url"), str):
            return f"data from {_clip(data['url'], 200)}"
    return None


def _vega_parts(spec: dict[str, Any]) -> list[str]:
    marks: list[str] = []
    stack = list(_list(spec.get("marks")))
    seen = 0
    while stack and seen < _VIEWS_SEEN:
        mark = stack.pop(0)
        seen += 1
        if isinstance(mark, dict):
            if isinstance(mark.get("type"), str) and mark["type"] != "group" and mark["type"] not in marks:
                marks.append(mark["type"])
            stack.extend(_list(mark.get("marks")))
    parts = [f"{', '.join(marks)} mark{'s' if len(marks) > 1 else ''}"] if marks else []
    tables = []
    for data in _list(spec.get("data"))[:_FIELDS_SHOWN]:
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            if isinstance(data.get("values"), list):
                tables.append(f"{data['name']} ({len(data['values']):,} rows)")
            elif isinstance(data.get("url"), str):
                tables.append(f"{data['name']} (from {_clip(data['url'], 200)})")
    if tables:
        parts.append(f"data {', '.join(tables)}")
    return parts


def _not_drawn(spec: dict[str, Any]) -> str | None:
    if vl_convert is None:
        return "vl-convert-python is not installed where the server runs (the `charts` extra)"
    size = len(json.dumps(spec))
    if size > SPEC_LIMIT:
        return f"its spec is {size:,} characters, over {SPEC_LIMIT:,}"
    if _url(spec) is not None:  # the description names it
        return "data at a URL is not fetched here"
    return None


def _url(spec: dict[str, Any]) -> str | None:
    """A URL any data of the spec is read from (Vega-Lite's views, Vega's data)."""
    for view in _views(spec):
        for data in [view.get("data"), *_list(view.get("data"))]:
            if isinstance(data, dict) and isinstance(data.get("url"), str):
                return data["url"]
    return None


def _draw(spec: dict[str, Any], lite: bool) -> bytes:
    assert vl_convert is not None
    if lite:
        return vl_convert.vegalite_to_png(
            spec, vl_version=_lite_version(spec), scale=SCALE, allowed_base_urls=[]
        )
    return vl_convert.vega_to_png(spec, scale=SCALE, allowed_base_urls=[])


def _lite_version(spec: dict[str, Any]) -> str | None:
    """The version of Vega-Lite the spec was written for, among those vl-convert has: the same,
    else the latest of its major version; None (vl-convert's latest) for any other."""
    match = _LITE_VERSION.search(str(spec.get("$schema", "")))
    if match is None or vl_convert is None:
        return None
    versions = vl_convert.get_vegalite_versions()
    wanted = f"{match[1]}.{match[2]}"
    if wanted in versions:
        return wanted
    same_major = [v for v in versions if v.split(".")[0] == match[1]]
    return same_major[-1] if same_major else None


def _reason(exc: Exception) -> str:
    """The line of vl-convert's error that says what went wrong (it adds a JavaScript stack)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = next((line for line in lines if not line.endswith("conversion failed:")), "") or type(exc).__name__
    return _clip(said, 200)


def _is_spec(value: dict[str, Any]) -> bool:
    return any(key in value for key in ("$schema", "mark", "marks", *_COMPOSITIONS, "facet", "repeat"))


def _as_dict(value: object) -> dict[str, Any] | None:
    if isinstance(value, str):  # some frontends and libraries send the JSON as a string
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _title(title: object) -> str:
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):  # a title of several lines
        title = " ".join(str(line) for line in title)
    return _clip(title) if isinstance(title, str | int | float) else ""


def _clip(value: object, limit: int = 80) -> str:
    text = " ".join(str(value).split())  # one line
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Choosing the one representation of a mime bundle the model reads, and rendering it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from html.parser import HTMLParser

import resvg_py

from .ansi import strip_ansi
from .blocks import Block, Deferred, Image, Text, ToDraw
from .charts import (
    BOKEH_EXEC,
    BOKEH_LOAD,
    BOKEH_LOADED,
    PLOTLY,
    bokeh_placeholder,
    describe_bokeh,
    describe_plotly,
)
from .vega import chart_block, chart_of
from .widgets import WIDGET_VIEW, widget_line

_IMAGES = ("image/png", "image/jpeg")
SVG_LIMIT = 2_000_000
"""Characters of SVG rendered to an image; a larger one would hold the server up too long."""
_DEFAULT_REPR = re.compile(r"<[\w.]+ object>|<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>")
"""Python's default repr, and IPython's (`<pandas.io.formats.style.Styler at 0x7f...>`)."""
_RICHER_THAN_REPR = ("text/html", "text/latex", "application/json")
_LINE_TAGS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6"})
_HIDDEN_TAGS = frozenset({"script", "style"})


_drawn: list[tuple[dict, Block]] = []
"""The bundle of an SVG or a chart seen last and its block: the user's cells read one message
twice (their output, their latest figure), and one block is drawn once."""


def render_bundle(data: dict) -> Block | None:
    """The block showing a display_data or execute_result bundle best; None if it shows nothing."""
    for mime in _IMAGES:
        if mime in data:
            return _image(data[mime], mime)
    if _drawn and _drawn[0][0] is data:
        return _drawn[0][1]
    if isinstance(data.get("image/svg+xml"), str):
        _drawn[:] = [(data, _svg(data["image/svg+xml"]))]
        return _drawn[0][1]
    if (chart := chart_of(data)) is not None:  # Altair's, Vega-Lite's and Vega's
        _drawn[:] = [(data, chart_block(*chart))]
        return _drawn[0][1]
    if PLOTLY in data:  # described: its HTML is a script, its JSON thousands of numbers
        return Text(describe_plotly(data[PLOTLY]))
    if BOKEH_EXEC in data:
        return Text(describe_bokeh(data.get("application/javascript")))
    if BOKEH_LOAD in data:
        return Text(BOKEH_LOADED)
    html = data.get("text/html")
    if isinstance(html, str) and bokeh_placeholder(html):  # the script's own output says it
        return Text(describe_bokeh(html)) if "docs_json" in html else None
    if WIDGET_VIEW in data:
        return Text(widget_line(strip_ansi(str(data.get("text/plain") or ""))))
    if data.get("text/markdown"):
        return Text(data["text/markdown"])
    plain = strip_ansi(data.get("text/plain") or "")
    # `<IPython.core.display.HTML object>` or `<__main__.Report at 0x7f...>` says nothing; any
    # richer representation says more.
    richer = any(mime in data for mime in _RICHER_THAN_REPR)
    says_nothing = richer and _DEFAULT_REPR.fullmatch(plain) is not None
    if plain and not says_nothing:
        return Text(plain)
    if data.get("text/html") and (text := html_to_text(data["text/html"])):
        return Text(text)
    if data.get("text/latex"):
        return Text(data["text/latex"])
    if "application/json" in data:
        return Text(json.dumps(data["application/json"], indent=1, ensure_ascii=False))
    if plain:  # a default repr, still better than nothing
        return Text(plain)
    if data:
        return Text(f"[output of type {', '.join(data)} not shown: {_why_not_shown(data)}]")
    return None


def _why_not_shown(data: dict) -> str:
    if "text/html" in data or "application/javascript" in data:
        return "a script, or HTML without text, that only the user's frontend shows"
    return "it has no text or image form; the object behind it can be read in code instead"


def _image(data: object, mime: str) -> Block:
    """The image, or a note when its base64 does not decode."""
    if isinstance(data, str):
        encoded = "".join(data.split())  # base64 may come wrapped in lines
        try:
            if base64.b64decode(encoded, validate=True):
                return Image(encoded, mime)
        except (binascii.Error, ValueError):
            pass
    return Text(f"[{mime} output could not be decoded]")


def _svg(svg: str) -> Block:
    """An SVG figure, to draw to a PNG image when a result shows it; or a note of why it is
    not shown."""
    if len(svg) > SVG_LIMIT:
        return Text(f"[image/svg+xml figure not shown: {len(svg):,} characters, over {SVG_LIMIT:,}]")
    return ToDraw("", "image/png", drawing=Deferred(lambda: _draw_svg(svg)))


def _draw_svg(svg: str) -> Block:
    try:
        png = resvg_py.svg_to_bytes(svg_string=svg, dpi=96.0)  # its units (pt) at 96 dpi
    except (ValueError, RuntimeError) as exc:
        return Text(f"[image/svg+xml figure could not be rendered: {exc}]")
    return Image(base64.b64encode(bytes(png)).decode(), "image/png")


def html_to_text(html: str) -> str:
    """The readable text of HTML: a line per block element, table cells joined by ` | `."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    parser.end_line()
    return "\n".join(parser.lines)


class _TextParser(HTMLParser):
    """Collects the text of an HTML fragment as non-blank lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._hidden = 0  # depth inside <script> and <style>
        self._cells = 0  # cells begun in the current table row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in ("td", "th"):
            if self._cells:
                self._line.append(" | ")
            self._cells += 1
        elif tag in _LINE_TAGS:
            self.end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _LINE_TAGS:
            self.end_line()

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._line.append(data)

    def end_line(self) -> None:
        line = " ".join("".join(self._line).split())  # whitespace collapses, as in a browser
        if line:
            self.lines.append(line)
        self._line = []
        self._cells = 0


def image_of(msg_type: str, content: dict) -> Image | None:
    """The image an output message shows, if it shows one: as render_bundle gives it (an SVG
    figure or a chart drawn to PNG)."""
    if msg_type not in ("display_data", "execute_result", "update_display_data"):
        return None
    data = content.get("data")
    block = render_bundle(data if isinstance(data, dict) else {})
    return block if isinstance(block, Image) else None

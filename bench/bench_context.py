"""Benchmark: what typical outputs cost the model's context, a naive client against the server.

Run by hand (`.venv/bin/python bench/bench_context.py`, `--json` for machine reading); the table
goes into the README. One kernel runs a fixed suite of typical cells (tables, figures, charts,
widgets, errors, help, huge outputs) twice, after the same set-up (imports, a 1000 x 8 DataFrame,
a user module on sys.path):
- "naive": a plain `jupyter_client` client sends each cell and keeps its iopub messages as a
  naive MCP server would return them: stream text, the text/plain of execute_result and
  display_data, image/png and image/jpeg raw as base64 images, the traceback joined with its
  ANSI codes stripped (SVG and other rich types are seen only through their text/plain);
- "server": the same cells through `ipython-mcp`'s `execute_code` tool over stdio, driven by
  the official MCP client, taking the CallToolResult's content as it comes.

Per cell and path: characters of text, images with their pixels and decoded bytes, estimated
model tokens (text characters / 4, plus per image ceil(w/28) * ceil(h/28) after the downscale
the Claude API applies: long edge at most 1568 px, at most ~1.15 megapixels), a conservative
client count (every character of the serialized result, base64 included, / 4), the serialized
size of the result, and facts each result must keep (checked on its text, or an image present).
Then totals per kind of cell, the checks of the targets, and the size of the `tools/list` answer.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import math
import os
import queue
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mcp.types as types
from jupyter_client.asynchronous import AsyncKernelClient
from kernels import machine, start_kernel, stop_kernel
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from PIL import Image

SCRIPT = shutil.which("ipython-mcp", path=os.path.dirname(sys.executable)) or "ipython-mcp"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
NAIVE_IMAGES = ("image/png", "image/jpeg")
MAX_EDGE = 1568  # the Claude API scales an image's long edge down to this
MAX_PIXELS = 1_150_000  # and its area to about this
RESULT_LIMIT = 2**20  # the official client refuses a server-sent event over 1 MiB
CONSERVATIVE_LIMIT = 25_000  # tokens by the conservative count, per result
TOOLS_LIMIT = 2_500  # tokens of the tools/list answer
KINDS = {"text": "text cells", "figure": "figure cells", "error": "error cells", "huge": "huge outputs"}

USER_MODULE = "sales_loader"
USER_MODULE_CODE = '''"""Loading sales data (a user's own module)."""


def load(df):
    columns = list(df.columns)
    return df["missing_col"] if columns else None
'''
# The user's line, as the traceback shows it.
USER_LINE = 'df["missing_col"]'

SETUP = """\
import sys, io, warnings
sys.path.insert(0, {module_dir!r})
try:
    import numpy as np
    rng = np.random.default_rng(0)
    import pandas as pd
    df = pd.DataFrame(
        {{
            "region": rng.choice(["North", "South", "East", "West", "Central"], 1000),
            "revenue": rng.normal(1200, 300, 1000).round(2),
            "cost": rng.normal(800, 200, 1000).round(2),
            "units": rng.integers(1, 50, 1000),
            "price": rng.uniform(5, 80, 1000).round(2),
            "margin": rng.uniform(0.05, 0.45, 1000).round(3),
            "visits": rng.integers(10, 5000, 1000),
            "rating": rng.uniform(1, 5, 1000).round(1),
        }},
        index=pd.date_range("2024-01-01", periods=1000, freq="h", name="timestamp"),
    )
    wide = pd.DataFrame(rng.normal(size=(1000, 50)).round(3), columns=[f"feature_{{i:02d}}" for i in range(50)])
except ImportError:
    pass
try:
    import matplotlib.pyplot as plt
    get_ipython().run_line_magic("matplotlib", "inline")
except ImportError:
    pass
"""

# Before each cell on either path, unmeasured: the same random data for both.
RESEED = "if 'np' in globals():\n    rng = np.random.default_rng(0)"

# Which of the modules the cells need the kernel lacks: printed as JSON.
PROBE = """\
import importlib.util, json
print(json.dumps([m for m in {modules!r} if importlib.util.find_spec(m) is None]))
"""


@dataclass
class Seen:
    """What a path handed to the model: its text, and its images as (width, height, bytes)."""

    text: str = ""
    chars: int = 0  # of the text blocks, not counting the line breaks joining them in `text`
    images: list[tuple[int, int, int]] = field(default_factory=list)
    serialized: str = ""
    is_error: bool = False


@dataclass(frozen=True)
class Fact:
    label: str
    check: Callable[[Seen], bool]
    title: bool = False  # a chart's title, looked for in the text


def says(*needles: str) -> Callable[[Seen], bool]:
    return lambda seen: all(n in seen.text for n in needles)


def says_any(*needles: str) -> Callable[[Seen], bool]:
    return lambda seen: any(n in seen.text for n in needles)


def images(least: int = 1) -> Callable[[Seen], bool]:
    return lambda seen: len(seen.images) >= least


def figures(least: int) -> Callable[[Seen], bool]:
    """At least `least` figures, sent or named as left out with the call that returns them."""

    def check(seen: Seen) -> bool:
        named = sum(int(n) for n in re.findall(r"\[(\d+) figures \([^]]*left out[^]]*figure=N", seen.text))
        return len(seen.images) + named >= least

    return check


def text_fact(*needles: str) -> Fact:
    return Fact(" + ".join(repr(n) for n in needles), says(*needles))


def title_fact(title: str, *, drawn: bool = False) -> Fact:
    """A chart's title as text; for a static figure (`drawn`), in the text or drawn in an image
    of it that was sent (the model reads the image)."""
    if drawn:
        return Fact(f"title {title!r} as text or drawn in an image", lambda s: says(title)(s) or images()(s), title=True)
    return Fact(f"title {title!r} as text", says(title), title=True)


IMAGE = Fact("an image", images())


@dataclass(frozen=True)
class Cell:
    name: str
    kind: str
    code: str
    facts: tuple[Fact, ...]
    needs: tuple[str, ...] = ()


CELLS = [
    Cell(
        "DataFrame head",
        "text",
        "df.head()",
        (text_fact("revenue"), text_fact("2024-01-01 04:00:00")),
        ("pandas",),
    ),
    Cell("df.describe()", "text", "df.describe()", (text_fact("mean"), text_fact("revenue")), ("pandas",)),
    Cell(
        "wide DataFrame (50 columns)",
        "text",
        "wide",
        (text_fact("feature_00"), text_fact("feature_49"), text_fact("50 columns")),
        ("pandas",),
    ),
    Cell(
        "pandas Styler",
        "text",
        "df.head().style.highlight_max()",
        (text_fact("revenue"),),
        ("pandas", "jinja2"),
    ),
    Cell(
        "value_counts",
        "text",
        "df['region'].value_counts()",
        (text_fact("North"), text_fact("count")),
        ("pandas",),
    ),
    Cell(
        "matplotlib, default",
        "figure",
        "plt.plot(range(1, 13), rng.uniform(50, 100, 12), marker='o')\nplt.title('Monthly revenue')",
        (IMAGE, title_fact("Monthly revenue", drawn=True)),
        ("matplotlib", "numpy"),
    ),
    Cell(
        "matplotlib, 2x2 grid at dpi 150",
        "figure",
        "fig, axes = plt.subplots(2, 2, figsize=(10, 7), dpi=150)\n"
        "for ax, name in zip(axes.flat, ['Revenue', 'Cost', 'Units', 'Margin']):\n"
        "    ax.plot(rng.normal(size=120).cumsum())\n"
        "    ax.set_title(name)\n"
        "fig.suptitle('Quarterly KPIs')\n"
        "plt.tight_layout()",
        (IMAGE, title_fact("Quarterly KPIs", drawn=True)),
        ("matplotlib", "numpy"),
    ),
    Cell(
        "matplotlib, 4000 px scatter",
        "figure",
        "fig, ax = plt.subplots(figsize=(40, 40), dpi=100)\n"
        "ax.scatter(rng.normal(size=20_000), rng.normal(size=20_000), s=6, c=rng.uniform(size=20_000))\n"
        "ax.set_title('Customer map')\n"
        "plt.show()",
        (IMAGE, title_fact("Customer map", drawn=True)),
        ("matplotlib", "numpy"),
    ),
    Cell(
        "photo-like image (PNG, 1600x1200)",
        "figure",
        "from IPython.display import Image as PNGImage\n"
        "from PIL import Image as PILImage\n"
        "yy, xx = np.mgrid[0:1200, 0:1600]\n"
        "base = np.stack([xx / 1600 * 255, yy / 1200 * 255, (xx + yy) / 2800 * 255], axis=-1)\n"
        "photo = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype('uint8')\n"
        "buffer = io.BytesIO()\n"
        "PILImage.fromarray(photo).save(buffer, format='PNG')\n"
        "PNGImage(buffer.getvalue())",
        (IMAGE,),
        ("numpy", "PIL"),
    ),
    Cell(
        "12 figures in one cell",
        "figure",
        "for i in range(12):\n"
        "    plt.figure(figsize=(6, 4))\n"
        "    plt.plot(rng.normal(size=200).cumsum())\n"
        "    plt.title(f'Sensor {i + 1}')\n"
        "    plt.show()",
        (IMAGE, Fact("12 figures, sent or named with their call", figures(12))),
        ("matplotlib", "numpy"),
    ),
    Cell(
        "SVG figure",
        "figure",
        "%config InlineBackend.figure_formats = ['svg']\n"
        "plt.bar(['2021', '2022', '2023', '2024'], [0.12, 0.09, 0.11, 0.07])\n"
        "plt.title('Churn by cohort')\n"
        "plt.show()\n"
        "%config InlineBackend.figure_formats = ['png']",
        (IMAGE, title_fact("Churn by cohort", drawn=True)),
        ("matplotlib", "numpy"),
    ),
    Cell(
        "Plotly figure",
        "figure",
        "import plotly.graph_objects as go\n"
        "fig = go.Figure(go.Bar(x=['Q1', 'Q2', 'Q3', 'Q4'], y=[120, 135, 150, 172], name='sales'))\n"
        "fig.update_layout(title='Quarterly sales')\n"
        "fig",
        (title_fact("Quarterly sales"),),
        ("plotly",),
    ),
    Cell(
        "Altair chart",
        "figure",
        "import altair as alt\n"
        "signups = pd.DataFrame({'week': list(range(1, 21)), 'signups': rng.integers(80, 200, 20)})\n"
        "alt.Chart(signups, title='Weekly signups').mark_line(point=True).encode(x='week', y='signups')",
        (title_fact("Weekly signups"),),
        ("altair", "pandas", "numpy"),
    ),
    Cell(
        "ipywidgets IntSlider",
        "text",
        "import ipywidgets as widgets\nwidgets.IntSlider(value=7, min=0, max=10, description='Threshold')",
        (text_fact("IntSlider"), text_fact("Threshold")),
        ("ipywidgets",),
    ),
    Cell(
        "tqdm notebook bar",
        "text",
        "from tqdm.notebook import tqdm\nfor i in tqdm(range(100), desc='Loading'):\n    pass",
        (text_fact("Loading"), text_fact("100/100")),
        ("tqdm", "ipywidgets"),
    ),
    Cell(
        "Bokeh figure",
        "figure",
        "from bokeh.plotting import figure\n"
        "from bokeh.io import output_notebook, show\n"
        "output_notebook()\n"
        "p = figure(title='Daily active users', width=600, height=350)\n"
        "p.line(list(range(30)), rng.integers(900, 1400, 30).tolist(), line_width=2)\n"
        "show(p)",
        (title_fact("Daily active users"),),
        ("bokeh", "numpy"),
    ),
    Cell(
        "KeyError from a user module",
        "error",
        f"import {USER_MODULE}\n{USER_MODULE}.load(df)",
        (text_fact("KeyError"), text_fact(USER_LINE), text_fact(f"{USER_MODULE}.py")),
        ("pandas",),
    ),
    Cell(
        "RecursionError",
        "error",
        "def countdown(n):\n    return countdown(n - 1)\n\ncountdown(10)",
        (text_fact("RecursionError"), text_fact("countdown(n - 1)")),
    ),
    Cell(
        "SyntaxError",
        "error",
        "total = sum(x * x for x in range(10)\nprint(total)",
        (text_fact("SyntaxError"), text_fact("never closed")),
    ),
    Cell(
        "warnings",
        "text",
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('always')\n"
        "    warnings.warn('sample_rate is deprecated; use rate_hz')\n"
        "    warnings.warn('3 rows had missing timestamps and were dropped', RuntimeWarning)\n"
        "    renamed = df.rename(columns=str.upper, copy=False)",
        (
            text_fact("sample_rate is deprecated"),
            text_fact("3 rows had missing timestamps"),
            text_fact("copy keyword is deprecated"),
        ),
        ("pandas",),
    ),
    Cell(
        "help(pd.DataFrame.merge)",
        "text",
        "help(pd.DataFrame.merge)",
        (text_fact("merge(self, right"), text_fact("how")),
        ("pandas",),
    ),
    Cell("help(len)", "text", "help(len)", (text_fact("len(obj, /)"),)),
    Cell(
        "100k-item list",
        "huge",
        "[f'item{i}' for i in range(100_000)]",
        (text_fact("'item0'"), Fact("'item99999' or a truncation", says_any("item99999", "..."))),
    ),
    Cell(
        "10 MB print",
        "huge",
        "print('\\n'.join(f'row {i:06d} ' + 'x' * 89 for i in range(100_000)))",
        (text_fact("row 000000"), text_fact("row 099999")),
    ),
]


def image_size(data: str) -> tuple[int, int, int]:
    """(width, height, bytes) of a base64 image; (0, 0, bytes) if Pillow cannot read it."""
    raw = base64.b64decode(data)
    try:
        with Image.open(io.BytesIO(raw)) as image:
            return image.width, image.height, len(raw)
    except Exception:
        return 0, 0, len(raw)


def image_tokens(width: int, height: int) -> int:
    """Tokens of an image after the API's own downscale, at 28 x 28 px a token."""
    if not width or not height:
        return 0
    scale = min(1.0, MAX_EDGE / max(width, height), math.sqrt(MAX_PIXELS / (width * height)))
    return math.ceil(max(1, int(width * scale)) / 28) * math.ceil(max(1, int(height * scale)) / 28)


def serialize(result: types.CallToolResult) -> str:
    return json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False)


def seen_of(result: types.CallToolResult) -> Seen:
    seen = Seen(serialized=serialize(result), is_error=bool(result.is_error))
    texts = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            texts.append(block.text)
        elif isinstance(block, types.ImageContent):
            seen.images.append(image_size(block.data))
        elif isinstance(block, types.EmbeddedResource) and isinstance(
            block.resource, types.TextResourceContents
        ):
            texts.append(block.resource.text)
        else:  # any other block counts by its JSON
            texts.append(json.dumps(block.model_dump(mode="json", by_alias=True, exclude_none=True)))
    seen.text = "\n".join(texts)
    seen.chars = sum(len(t) for t in texts)
    return seen


def measures(seen: Seen) -> dict[str, object]:
    return {
        "chars": seen.chars,
        "images": len(seen.images),
        "image_pixels": [[w, h] for w, h, _ in seen.images],
        "image_bytes": [b for _, _, b in seen.images],
        "largest_edge": max((max(w, h) for w, h, _ in seen.images), default=0),
        "est_tokens": math.ceil(seen.chars / 4) + sum(image_tokens(w, h) for w, h, _ in seen.images),
        "conservative_tokens": math.ceil(len(seen.serialized) / 4),
        "serialized_bytes": len(seen.serialized.encode("utf-8", "surrogatepass")),
        "is_error": seen.is_error,
    }


class NaiveClient:
    """A plain kernel client keeping what a naive MCP server would hand the model."""

    def __init__(self, path: Path, kernel_pid: int) -> None:
        self.client = AsyncKernelClient()
        self.client.load_connection_file(str(path))
        self.kernel_pid = kernel_pid

    async def start(self) -> None:
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)

    def stop(self) -> None:
        self.client.stop_channels()

    async def run(self, code: str, timeout: float) -> types.CallToolResult:
        client = self.client
        while await client.iopub_channel.msg_ready():
            await client.get_iopub_msg(timeout=0)
        msg_id = client.execute(code, stop_on_error=False)
        content: list[types.TextContent | types.ImageContent] = []
        streams: list[str] = []
        stream_name = None
        is_error = False
        deadline = time.monotonic() + timeout
        interrupted = False

        def flush() -> None:
            if streams:
                content.append(types.TextContent(type="text", text="".join(streams)))
                streams.clear()

        while True:
            left = deadline - time.monotonic()
            if left <= 0 and not interrupted:
                os.kill(self.kernel_pid, signal.SIGINT)
                interrupted, deadline = True, time.monotonic() + 30
                continue
            if left <= 0:
                raise TimeoutError("the kernel did not go idle after an interrupt")
            try:
                msg = await client.get_iopub_msg(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, body = msg["msg_type"], msg["content"]
            if kind == "status" and body["execution_state"] == "idle":
                break
            if kind == "stream":
                if stream_name not in (None, body["name"]):
                    flush()
                stream_name = body["name"]
                streams.append(body["text"])
                continue
            if kind in ("execute_result", "display_data"):
                flush()
                data = body.get("data", {})
                if "text/plain" in data:
                    content.append(types.TextContent(type="text", text=data["text/plain"]))
                for mime in NAIVE_IMAGES:
                    if mime in data:
                        content.append(
                            types.ImageContent(type="image", data=data[mime].strip(), mime_type=mime)
                        )
            elif kind == "error":
                flush()
                is_error = True
                content.append(
                    types.TextContent(type="text", text=ANSI.sub("", "\n".join(body["traceback"])))
                )
        flush()
        while True:  # the reply, so the next cell starts clean
            reply = await client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if interrupted:
            raise TimeoutError(f"the cell ran over {timeout:g} s and was interrupted")
        return types.CallToolResult(content=content, is_error=is_error)


def server_params(path: Path, runtime_dir: Path) -> StdioServerParameters:
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir), "IPYTHON_MCP_CONNECTION": str(path)}
    return StdioServerParameters(command=SCRIPT, args=[], env=env)


def facts_of(cell: Cell, seen: Seen) -> list[bool]:
    return [fact.check(seen) for fact in cell.facts]


def row_of(
    cell: Cell, naive: Seen | None, server: Seen | None, missing: list[str], error: str
) -> dict[str, object]:
    row: dict[str, object] = {"cell": cell.name, "kind": cell.kind, "facts": [f.label for f in cell.facts]}
    if missing:
        row["status"] = f"not installed: {', '.join(missing)}"
        return row
    row["status"] = f"failed: {error}" if error else "ok"
    for name, seen in (("naive", naive), ("server", server)):
        if seen is not None:
            row[name] = {**measures(seen), "kept": facts_of(cell, seen)}
    return row


def show(cell: Cell, name: str, seen: Seen, limit: int) -> None:
    text = (
        seen.text
        if len(seen.text) <= limit
        else seen.text[: limit // 2] + "\n[...]\n" + seen.text[-limit // 2 :]
    )
    print(
        f"----- {cell.name}, {name}: {len(seen.text):,} chars, images (w, h, bytes) {seen.images}, "
        f"error {seen.is_error}\n{text}",
        file=sys.stderr,
    )


async def run_naive(
    path: Path, kernel_pid: int, cells: list[Cell], module_dir: Path, timeout: float
) -> tuple[dict[str, list[str]], dict[str, Seen | str]]:
    """The set-up, which modules the kernel lacks, then each cell through the naive client."""
    naive = NaiveClient(path, kernel_pid)
    await naive.start()
    results: dict[str, Seen | str] = {}
    try:
        modules = sorted({m for cell in cells for m in cell.needs})
        probe = seen_of(await naive.run(PROBE.format(modules=modules), 60))
        absent = set(json.loads(probe.text.strip().splitlines()[-1]))
        setup = seen_of(await naive.run(SETUP.format(module_dir=str(module_dir)), 120))
        if setup.is_error:
            raise RuntimeError(f"set-up failed:\n{setup.text}")
        missing = {cell.name: [m for m in cell.needs if m in absent] for cell in cells}
        for cell in cells:
            if missing[cell.name]:
                continue
            try:
                await naive.run(RESEED, 30)
                results[cell.name] = seen_of(await naive.run(cell.code, timeout))
            except Exception as exc:
                results[cell.name] = f"naive: {type(exc).__name__}: {exc}"
    finally:
        naive.stop()
    return missing, results


async def run_server(
    path: Path, runtime_dir: Path, cells: list[Cell], missing: dict[str, list[str]], timeout: float
) -> tuple[dict[str, Seen | str], str]:
    """Each cell through execute_code, and the tools/list answer as JSON."""
    results: dict[str, Seen | str] = {}
    async with (
        stdio_client(server_params(path, runtime_dir)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools: list[types.Tool] = []
        cursor = None
        while True:
            listed = await session.list_tools(
                params=types.PaginatedRequestParams(cursor=cursor) if cursor else None
            )
            tools.extend(listed.tools)
            cursor = listed.next_cursor
            if not cursor:
                break
        tools_json = json.dumps(
            {"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]},
            ensure_ascii=False,
        )
        connected = await session.call_tool("connect_to_kernel", {"connection_file": str(path)})
        assert not connected.is_error, connected
        await session.call_tool("execute_code", {"code": "1 + 1"})  # anything said once, said now
        for cell in cells:
            if missing[cell.name]:
                continue
            try:
                await session.call_tool("execute_code", {"code": RESEED})
                result = await session.call_tool(
                    "execute_code",
                    {"code": cell.code, "timeout": timeout},
                    read_timeout_seconds=timeout + 120,
                )
                if not isinstance(result, types.CallToolResult):
                    raise TypeError(f"not a CallToolResult: {type(result).__name__}")
                results[cell.name] = seen_of(result)
            except Exception as exc:
                results[cell.name] = f"server: {type(exc).__name__}: {exc}"
    return results, tools_json


def totals(rows: list[dict[str, object]], kind: str | None) -> dict[str, object]:
    chosen = [r for r in rows if r["status"] == "ok" and (kind is None or r["kind"] == kind)]
    out: dict[str, object] = {"cells": len(chosen)}
    for name in ("naive", "server"):
        paths = [r[name] for r in chosen]
        out[name] = {
            key: sum(p[key] for p in paths)  # type: ignore[index]
            for key in ("chars", "images", "est_tokens", "conservative_tokens")
        } | {
            "kept": sum(sum(p["kept"]) for p in paths),  # type: ignore[index]
            "facts": sum(len(p["kept"]) for p in paths),  # type: ignore[index]
        }
    return out


def checks(rows: list[dict[str, object]], tools_json: str) -> list[dict[str, object]]:
    done = [r for r in rows if r["status"] == "ok"]
    lost = [
        f"{r['cell']}: {label}"
        for r in done
        for label, n, s in zip(r["facts"], r["naive"]["kept"], r["server"]["kept"], strict=True)  # type: ignore[index]
        if n and not s
    ]
    titles = [
        (r["cell"], fact.label, r["server"]["kept"][i])  # type: ignore[index]
        for r in done
        for cell in CELLS
        if cell.name == r["cell"]
        for i, fact in enumerate(cell.facts)
        if fact.title and not r["naive"]["kept"][i]  # type: ignore[index]
    ]
    figures = totals(rows, "figure")
    naive_fig = figures["naive"]["conservative_tokens"]  # type: ignore[index]
    server_fig = figures["server"]["conservative_tokens"]  # type: ignore[index]
    edge = max((r["server"]["largest_edge"] for r in done), default=0)  # type: ignore[index]
    largest = max(done, key=lambda r: r["server"]["serialized_bytes"], default=None)  # type: ignore[index]
    most = (
        f"largest {largest['server']['serialized_bytes']:,} bytes, "  # type: ignore[index]
        f"{largest['server']['conservative_tokens']:,} tokens ({largest['cell']})"  # type: ignore[index]
        if largest
        else "no results"
    )
    too_big = [
        f"{r['cell']}: {r['server']['serialized_bytes']:,} bytes, {r['server']['conservative_tokens']:,} tokens"  # type: ignore[index]
        for r in done
        if r["server"]["serialized_bytes"] > RESULT_LIMIT
        or r["server"]["conservative_tokens"] > CONSERVATIVE_LIMIT  # type: ignore[index]
    ]
    tool_tokens = math.ceil(len(tools_json) / 4)
    return [
        {
            "check": "every fact the naive path keeps, the server keeps",
            "ok": not lost,
            "detail": "; ".join(lost) or "none lost",
        },
        {
            "check": "chart titles the naive path loses, the server keeps (as text; a static figure's also drawn in its image)",
            "ok": all(kept for _, _, kept in titles),
            "detail": f"{sum(k for _, _, k in titles)} of {len(titles)}"
            + "".join(f"; {c}: {'✓' if k else '✗'}" for c, _, k in titles),
        },
        {
            "check": "figure cells: server's conservative count at most half the naive's",
            "ok": server_fig * 2 <= naive_fig,
            "detail": f"{server_fig:,} against {naive_fig:,} tokens"
            + (f" ({server_fig / naive_fig:.1%})" if naive_fig else ""),
        },
        {
            "check": f"no server image over {MAX_EDGE} px",
            "ok": edge <= MAX_EDGE,
            "detail": f"largest edge {edge:,} px",
        },
        {
            "check": f"no server result over 1 MiB serialized or {CONSERVATIVE_LIMIT:,} tokens by the conservative count",
            "ok": not too_big,
            "detail": "; ".join(too_big) or f"none; {most}",
        },
        {
            "check": f"tools/list at most {TOOLS_LIMIT:,} tokens",
            "ok": tool_tokens <= TOOLS_LIMIT,
            "detail": f"{len(tools_json):,} characters, {tool_tokens:,} tokens",
        },
    ]


def marks(kept: list[bool]) -> str:
    return "".join("✓" if k else "✗" for k in kept)


def markdown(rows: list[dict[str, object]], checked: list[dict[str, object]], header: str) -> str:
    lines = [
        header,
        "",
        "| cell | naive chars | img | est tok | conserv. | server chars | img | est tok | conserv. "
        "| max edge | facts naive | facts server |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|:-:|",
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['cell']} | {r['status']} |" + " |" * 10)
            continue
        n, s = r["naive"], r["server"]
        lines.append(
            f"| {r['cell']} | {n['chars']:,} | {n['images']} | {n['est_tokens']:,} | {n['conservative_tokens']:,} "  # type: ignore[index]
            f"| {s['chars']:,} | {s['images']} | {s['est_tokens']:,} | {s['conservative_tokens']:,} "  # type: ignore[index]
            f"| {s['largest_edge'] or ''} | {marks(n['kept'])} | {marks(s['kept'])} |"  # type: ignore[index]
        )
    lines += [
        "",
        "| kind | cells | naive chars | img | est tok | conserv. | server chars | img | est tok | conserv. "
        "| facts naive | facts server |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for kind, label in [*KINDS.items(), (None, "**all**")]:
        t = totals(rows, kind)
        n, s = t["naive"], t["server"]
        lines.append(
            f"| {label} | {t['cells']} | {n['chars']:,} | {n['images']} | {n['est_tokens']:,} | {n['conservative_tokens']:,} "  # type: ignore[index]
            f"| {s['chars']:,} | {s['images']} | {s['est_tokens']:,} | {s['conservative_tokens']:,} "  # type: ignore[index]
            f"| {n['kept']}/{n['facts']} | {s['kept']}/{s['facts']} |"  # type: ignore[index]
        )
    lines += ["", "Facts, in the order of the ✓/✗ marks:", ""]
    for r in rows:
        lines.append(f"- {r['cell']}: {'; '.join(r['facts'])}")  # type: ignore[arg-type]
    lines += ["", "| check | result | |", "|---|---|---|"]
    for c in checked:
        lines.append(f"| {c['check']} | {'✓' if c['ok'] else '✗'} | {c['detail']} |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the measures as JSON, not Markdown")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds each cell may take (120)")
    parser.add_argument("--only", default="", help="run only the cells whose name contains this (any case)")
    parser.add_argument("--show", action="store_true", help="also print what each path returned, to stderr")
    parser.add_argument(
        "--kernel-python", default=sys.executable, help="the kernel's Python (default: this one)"
    )
    args = parser.parse_args()
    cells = [c for c in CELLS if args.only.lower() in c.name.lower()]

    runtime_dir = Path(tempfile.mkdtemp(prefix="ipython-mcp-bench-"))
    module_dir = runtime_dir / "user_modules"
    module_dir.mkdir()
    (module_dir / f"{USER_MODULE}.py").write_text(USER_MODULE_CODE)
    path, kernel = start_kernel(runtime_dir, python=args.kernel_python)
    started = time.perf_counter()
    try:
        missing, naive = await run_naive(path, kernel.pid, cells, module_dir, args.timeout)
        server, tools_json = await run_server(path, runtime_dir, cells, missing, args.timeout)
    finally:
        stop_kernel(kernel, runtime_dir)

    rows = []
    for cell in cells:
        n, s = naive.get(cell.name), server.get(cell.name)
        error = "; ".join(x for x in (n, s) if isinstance(x, str))
        n_seen = n if isinstance(n, Seen) else None
        s_seen = s if isinstance(s, Seen) else None
        rows.append(row_of(cell, n_seen, s_seen, missing[cell.name], error))
        if args.show:
            for name, seen in (("naive", n_seen), ("server", s_seen)):
                if seen is not None:
                    show(cell, name, seen, 3000)
    checked = checks(rows, tools_json)
    header = (
        f"# {machine()}; {sum(r['status'] == 'ok' for r in rows)} of {len(cells)} cells run in "
        f"{time.perf_counter() - started:.0f} s"
    )
    if args.json:
        tool_tokens = math.ceil(len(tools_json) / 4)
        print(
            json.dumps(
                {
                    "header": header.lstrip("# "),
                    "cells": rows,
                    "totals": {kind or "all": totals(rows, kind) for kind in [*KINDS, None]},
                    "checks": checked,
                    "tools_list": {"chars": len(tools_json), "tokens": tool_tokens},
                },
                indent=1,
                ensure_ascii=False,
            )
        )
    else:
        print(markdown(rows, checked, header))


if __name__ == "__main__":
    asyncio.run(main())

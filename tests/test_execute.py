"""execute_code against a real kernel the user's IDE also uses."""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from conftest import Assistant, Gate, IdeKernel, images, texts

ANSI = re.compile(r"\x1b\[")


async def connect(assistant: Assistant, kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(kernel.path))


async def test_printed_output_and_last_value_come_back(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    result = await assistant.call("execute_code", code="print('hello'); 6 * 7")
    assert not result.is_error
    assert [c.text for c in result.content] == ["hello\n", "42"]


async def test_state_is_shared_with_the_ide_user(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await connect(assistant, shared_kernel)
    await shared_kernel.ide.run("shared_with_assistant = [1, 2, 3]")
    result = await assistant.call("execute_code", code="sum(shared_with_assistant)")
    assert texts(result) == "6"
    await assistant.text("execute_code", code="made_by_assistant = 'hi'")
    _, printed = await shared_kernel.ide.run("print(made_by_assistant)")
    assert printed == "hi\n"


async def test_silent_code_says_it_had_no_output(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await connect(assistant, shared_kernel)
    assert await assistant.text("execute_code", code="x_silent = 1") == "(no output)"


async def test_matplotlib_plot_is_returned_as_png_image(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    result = await assistant.call(
        "execute_code",
        code="import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.title('demo'); plt.show()",
    )
    assert not result.is_error
    [image] = images(result)
    assert image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<Figure size" not in texts(result)


async def test_dataframe_is_readable_text(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await connect(assistant, shared_kernel)
    result = await assistant.call(
        "execute_code",
        code="import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Lima'], 'temp': [3.5, 19.0]})",
    )
    text = texts(result)
    assert "city" in text and "Oslo" in text and "19.0" in text
    assert "<table" not in text and "<td" not in text


async def test_objects_shown_by_their_html_read_as_text(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    """An object with only `_repr_html_`, and a pandas Styler, as readable text, not their repr."""
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    report = await assistant.text(
        "execute_code",
        code="class Report:\n    def _repr_html_(self):\n        return '<h3>Sales</h3><p>Total: <b>42</b></p>'\nReport()",
    )
    assert report == "Sales\nTotal: 42"
    styled = await assistant.text(
        "execute_code",
        code="import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Lima'], 'rain': [7.5, 0.5]}).style.format(precision=1)",
    )
    assert "Styler" not in styled and "0x" not in styled
    assert "| city | rain" in styled and "0 | Oslo | 7.5" in styled and "1 | Lima | 0.5" in styled


async def test_an_svg_figure_comes_back_as_an_image(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    """With the inline backend drawing SVG only, the figure is rendered to PNG for the model."""
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    code = (
        "%config InlineBackend.figure_formats = ['svg']\n"
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.title('svg only'); plt.show()\n"
        "%config InlineBackend.figure_formats = ['png']"
    )
    result = await assistant.call("execute_code", code=code)
    [image] = images(result)
    assert image.mime_type == "image/png"
    png = base64.b64decode(image.data)
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 300 < width < 2_000 and 200 < height < 2_000


async def test_a_plotly_figure_is_described(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    """Its title, axes and traces with their sizes and ranges, not a script or thousands of numbers."""
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    code = (
        "import numpy as np, plotly.graph_objects as go, plotly.io as pio\n"
        "pio.renderers.default = 'plotly_mimetype'\n"
        "fig = go.Figure([go.Scatter(x=np.arange(1000), y=np.linspace(-2.5, 40, 1000), name='loss', mode='lines'),\n"
        "                 go.Bar(x=['a', 'b', 'c'], y=[3, 1, 2], name='counts')])\n"
        "fig.update_layout(title='Training', xaxis_title='step', yaxis_title='value')\n"
        "fig"
    )
    text = await assistant.text("execute_code", code=code)
    assert text == (
        '[plotly figure "Training"; x axis "step"; y axis "value": 2 traces]\n'
        '- scatter "loss" (lines): 1,000 points, x 0 to 999, y -2.5 to 40\n'
        '- bar "counts": 3 points, x a to c, y 1 to 3'
    )


async def test_an_altair_chart_comes_back_as_an_image_under_a_line_saying_what_it_shows(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    """Altair's default renderer gives HTML and a script; the chart is drawn here, without the network."""
    pytest.importorskip("altair")
    pytest.importorskip("vl_convert")
    await connect(assistant, shared_kernel)
    code = (
        "import altair as alt\n"
        "rows = [{'city': 'Oslo', 'rain': 7.5}, {'city': 'Lima', 'rain': 0.5}]\n"
        "alt.Chart(alt.Data(values=rows), title='Rain').mark_bar().encode(x='city:N', y='rain:Q')"
    )
    result = await assistant.call("execute_code", code=code)
    assert texts(result) == '[Vega-Lite chart "Rain": bar mark; x city (nominal), y rain (quantitative); 2 rows]'
    [image] = images(result)
    assert image.mime_type == "image/png" and base64.b64decode(image.data).startswith(b"\x89PNG")
    assert [c.type for c in result.content] == ["text", "image"]


async def test_a_chart_is_drawn_beside_the_server_which_answers_meanwhile(
    assistant: Assistant, shared_kernel: IdeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawing a chart may take seconds (a large spec): it is drawn in a thread when the result
    needs it, while the server goes on answering calls."""
    pytest.importorskip("altair")
    vl_convert = pytest.importorskip("vl_convert")
    from ipython_mcp.rendering import vega

    drawing, release, threads = threading.Event(), threading.Event(), []

    def slow_draw(*args: Any, **kwargs: Any) -> bytes:
        threads.append(threading.current_thread())
        drawing.set()
        release.wait(30)
        return vl_convert.vegalite_to_png(*args, **kwargs)

    monkeypatch.setattr(vega, "vl_convert", types.SimpleNamespace(
        vegalite_to_png=slow_draw, get_vegalite_versions=vl_convert.get_vegalite_versions))  # fmt: skip
    await connect(assistant, shared_kernel)
    code = (
        "import altair as alt\n"
        "alt.Chart(alt.Data(values=[{'a': 1, 'b': 2}])).mark_point().encode(x='a:Q', y='b:Q')"
    )
    async with anyio.create_task_group() as tasks:
        result: list[Any] = []

        async def run() -> None:
            result.append(await assistant.call("execute_code", code=code))

        tasks.start_soon(run)
        await anyio.to_thread.run_sync(drawing.wait, 30)
        assert "idle" in await assistant.text("kernel_status")  # answered while the chart is drawn
        release.set()
    [image] = images(result[0])
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    assert threads and threading.main_thread() not in threads


async def test_a_bokeh_plot_is_one_line_without_its_script(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    pytest.importorskip("bokeh")
    await connect(assistant, shared_kernel)
    code = (
        "from bokeh.io import output_notebook\nfrom bokeh.plotting import figure, show\noutput_notebook()\n"
        "p = figure(title='Growth')\np.line([1, 2, 3], [4, 5, 6]); p.scatter([1, 2, 3], [4, 5, 6])\nshow(p)"
    )
    text = await assistant.text("execute_code", code=code)
    assert text == (
        "[BokehJS loaded into the user's notebook, where Bokeh plots are drawn]\n"
        "[Bokeh figure \"Growth\": 2 renderers (line, scatter); interactive, shown in the user's notebook only]"
    )


async def test_a_widget_and_a_tqdm_notebook_bar_are_a_line_each(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    """A widget reads as its repr; tqdm.notebook's bar as its last state, which comm messages bring."""
    pytest.importorskip("ipywidgets")
    pytest.importorskip("tqdm")
    await connect(assistant, shared_kernel)
    slider = await assistant.text("execute_code", code="import ipywidgets as w\nw.IntSlider(value=3, description='n')")
    assert slider == "[widget IntSlider(value=3, description='n'), as first shown; interactive in the user's frontend only]"
    done = await assistant.text("execute_code", code="from tqdm.notebook import tqdm\nfor i in tqdm(range(100)): pass")
    assert re.fullmatch(r"100% 100/100 \[00:00<00:00, [\d.]+it/s\]", done), done
    stopped = await assistant.text(
        "execute_code", code="for i in tqdm(range(100), desc='train'):\n    if i == 40: break"
    )
    assert re.fullmatch(r"train: 40% 40/100 \[00:00<00:00, [\d.]+it/s\]", stopped), stopped


async def test_exception_is_a_clean_traceback_marked_as_error(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    result = await assistant.call("execute_code", code="print('before')\ndef f(x):\n    return 1 / x\nf(0)")
    assert result.is_error
    text = texts(result)
    assert not ANSI.search(text)
    assert text.index("before") < text.index("ZeroDivisionError")
    assert "return 1 / x" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")


async def test_stderr_is_marked(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await connect(assistant, shared_kernel)
    text = await assistant.text("execute_code", code="import sys; print('careful', file=sys.stderr)")
    assert text == "[stderr]\ncareful\n"


async def test_progress_bar_shows_only_its_final_state(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    code = "for i in range(101):\n    print(f'\\rprogress {i}%', end='')\nprint()\nprint('done')"
    assert await assistant.text("execute_code", code=code) == "progress 100%\ndone\n"


async def test_clear_output_keeps_only_the_last_frame(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await connect(assistant, shared_kernel)
    code = (
        "from IPython.display import clear_output\n"
        "for i in range(5):\n    clear_output(wait=True)\n    print(f'frame {i}')"
    )
    assert await assistant.text("execute_code", code=code) == "frame 4\n"


async def test_updated_display_shows_its_final_content(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    code = (
        "from IPython.display import display, Markdown\n"
        "h = display(Markdown('**starting**'), display_id=True)\n"
        "print('between')\n"
        "h.update(Markdown('**finished**'))"
    )
    text = await assistant.text("execute_code", code=code)
    assert "starting" not in text
    assert text.index("**finished**") < text.index("between")


async def test_ten_megabytes_of_output_keep_head_and_tail_within_budget(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    code = "import sys\nfor i in range(10_000):\n    sys.stdout.write(f'{i:06d}' + 'x' * 1000 + '\\n')"
    result = await assistant.call("execute_code", code=code, timeout=120)
    assert not result.is_error
    text = texts(result)
    assert len(text) < 21_000
    assert text.startswith("000000xxx")
    assert "009999" in text
    assert re.search(
        r"\[\.\.\. [\d,]+ characters \([\d,]+ lines\) omitted; read_output\('e\d+', offset=\d+, limit=\d+\) returns it \.\.\.\]",
        text,
    )


async def test_two_hundred_thousand_lines_keep_head_and_tail(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    result = await assistant.call("execute_code", code="for i in range(200_000): print(i)", timeout=120)
    text = texts(result)
    assert len(text) < 21_000
    lines = text.splitlines()
    assert lines[0] == "0" and lines[-1] == "199999"
    assert "lines) omitted" in text


async def test_timeout_interrupts_a_runaway_loop_and_the_kernel_stays_usable(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    started = time.monotonic()
    result = await assistant.call(
        "execute_code", code="print('spinning', flush=True)\nwhile True: pass", timeout=2
    )
    elapsed = time.monotonic() - started
    assert result.is_error
    text = texts(result)
    assert "spinning" in text
    assert "Timed out after 2 s" in text and "interrupted" in text and "is idle" in text
    assert elapsed < 8
    assert await assistant.text("execute_code", code="'still here'") == "'still here'"


async def test_the_ide_users_output_never_leaks_into_the_assistants_result(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await connect(assistant, shared_kernel)
    ide, gate = shared_kernel.ide, gates()
    user_cell = ide.send(
        "for i in range(10):\n    print('USER', i, flush=True)\n"
        f"{gate.code}\n"
        "for i in range(10, 20):\n    print('USER', i, flush=True)"
    )
    await ide.started(str(gate.path))  # the user's cell runs before the assistant's call is made

    async def waiting(value: float, total: float | None, message: str | None) -> None:
        gate.open()  # the user's cell prints the rest while the call waits for it

    result = await assistant.call(
        "execute_code",
        progress=waiting,
        code="import time\nfor i in range(20):\n    print('ASSISTANT', i, flush=True); time.sleep(0.01)",
    )
    text = texts(result)
    assert "USER" not in text
    assert text.count("ASSISTANT") == 20
    user_messages = await ide.outputs_of(user_cell)
    user_text = "".join(m["content"].get("text", "") for m in user_messages if m["msg_type"] == "stream")
    assert "ASSISTANT" not in user_text and user_text.count("USER") == 20


async def test_concurrent_calls_each_get_exactly_their_own_output(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    calls = [
        assistant.call("execute_code", code=f"for j in range(3): print('call {i} line', j)") for i in range(5)
    ]
    results = await asyncio.gather(*calls)
    for i, result in enumerate(results):
        assert texts(result) == "".join(f"call {i} line {j}\n" for j in range(3))


async def test_the_assistants_error_never_aborts_the_users_queued_cell(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await connect(assistant, shared_kernel)
    ide, gate = shared_kernel.ide, gates()
    failing = asyncio.create_task(
        assistant.call("execute_code", code=f"{gate.code}\nraise ValueError('oops')")
    )
    await ide.started(str(gate.path))  # the assistant's cell runs: the user's queues behind it
    user_cell = ide.send("print('user cell ran')")
    gate.open()
    reply, printed = await ide.finish(user_cell)
    assert reply["status"] == "ok" and printed == "user cell ran\n"
    result = await failing
    assert result.is_error and "ValueError: oops" in texts(result)


async def test_code_aborted_by_the_users_failing_cell_says_so(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await connect(assistant, shared_kernel)
    gate = gates()
    user_cell = shared_kernel.ide.send(f"{gate.code}\n1/0")
    await assistant.until_busy()

    async def sent(value: float, total: float | None, message: str | None) -> None:
        gate.open()  # the call waits for the user's cell: its code is queued behind it

    result = await assistant.call("execute_code", progress=sent, code="never_ran = True")
    assert result.is_error
    assert "aborted this code without running it" in texts(result)
    await shared_kernel.ide.outputs_of(user_cell)
    check = await assistant.call("execute_code", code="'never_ran' in dir()")
    assert texts(check) == "False"


async def test_cancelling_a_call_interrupts_its_code(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await connect(assistant, shared_kernel)
    gate = gates()  # never opened while the test runs: only the interrupt ends the code
    call = asyncio.create_task(assistant.call("execute_code", code=f"{gate.code}\nfinished_anyway = True"))
    cell = await shared_kernel.ide.started(str(gate.path))
    await assistant.until_busy("the assistant's cell In[")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    messages = await shared_kernel.ide.outputs_of(cell)
    assert any(m["msg_type"] == "error" and m["content"]["ename"] == "KeyboardInterrupt" for m in messages)
    assert "idle" in await assistant.text("kernel_status")
    assert await assistant.text("execute_code", code="'finished_anyway' in dir()") == "False"

"""Looking at the user's work: history with what the user saw, the last error, completions."""

from __future__ import annotations

import ast
import base64
import time
from collections.abc import Callable
from pathlib import Path

import mcp
from conftest import Assistant, Gate, IdeKernel, IdeUser, images, statuses_during, texts
from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

from ipython_mcp.server import build_server
from ipython_mcp.settings import Settings


async def test_history_shows_every_cell_with_the_users_outputs_error_and_figure(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    ide = own_kernel.ide
    await ide.run("before = 1")
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    await ide.run("print('loaded 3 rows')")
    await ide.run("import matplotlib.pyplot as plt\nplt.plot([3, 1, 2]); plt.show()")
    await ide.run("def f(x):\n    return x / 0\nf(1)")
    await assistant.text("execute_code", code="after = before + 1")

    result = await assistant.call("get_history", n=10)
    assert not result.is_error
    text = texts(result)
    assert "In [1]: before = 1" in text
    assert "In [2]: print('loaded 3 rows')\nOut (as the user saw it):\nloaded 3 rows" in text
    assert "In [4]: def f(x):" in text and "ZeroDivisionError: division by zero" in text
    assert "In [5]: after = before + 1" in text
    assert "Most recent exception: In [4] above." in text
    assert "most recent figure, from In [3]" in text
    [figure] = images(result)
    assert base64.b64decode(figure.data).startswith(b"\x89PNG")


async def test_the_users_svg_figure_comes_back_in_history_as_an_image(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    """Drawn as SVG only in the user's IDE, it is rendered to PNG as the assistant's own figures are."""
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    await shared_kernel.ide.run(
        "%config InlineBackend.figure_formats = ['svg']\n"
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.title('svg only'); plt.show()\n"
        "%config InlineBackend.figure_formats = ['png']"
    )
    await assistant.text("execute_code", code="pass")  # after the user's outputs on iopub
    result = await assistant.call("get_history", n=3)
    assert "most recent figure, from In [" in texts(result)
    [figure] = images(result)
    assert figure.mime_type == "image/png" and base64.b64decode(figure.data).startswith(b"\x89PNG")


async def test_history_leaves_no_trace_in_the_users_namespace(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    ide = own_kernel.ide
    await ide.run("1/0")
    await ide.run("42")
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    before = await ide.run("print(len(In), _, sorted(k for k in globals() if not k.startswith('_')))")
    result = await assistant.call("get_history")
    text = texts(result)
    # An error from before we connected comes from the kernel itself, as a plain traceback.
    assert "Most recent exception:" in text and "ZeroDivisionError" in text
    assert "interactiveshell.py" not in text  # the user's frames only
    after = await ide.run("print(len(In) - 1, _, sorted(k for k in globals() if not k.startswith('_')))")
    assert before[1].split(" ", 1)[1] == after[1].split(" ", 1)[1]
    assert int(after[1].split(" ", 1)[0]) == int(before[1].split(" ", 1)[0])


async def test_looking_while_the_user_runs_a_long_cell_is_answered_by_a_subshell(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    ide = own_kernel.ide
    await ide.run("import time\nrows = list(range(10))")
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    _, before = await ide.run(
        "print(repr(_), len(In), sorted(k for k in globals() if not k.startswith('_i')))"
    )
    gate = gates()
    cell = ide.send(f"step = 'waiting'\n{gate.code}\nprint('finished')")
    await assistant.until_busy()

    listing = await assistant.text("list_variables")
    assert "rows" in listing and "list" in listing
    assert "Read while another client's cell" in listing and "`step = 'waiting' ...`" in listing
    assert "len 10" in await assistant.text("inspect_variable", name="rows")
    assert "import time\nrows = list(range(10))" in await assistant.text("get_history")
    assert "rows" in await assistant.text("complete", code="row")
    # All of it was answered while the user's cell still ran.
    assert "busy running another client's cell" in await assistant.text("kernel_status")

    gate.open()
    messages = await ide.outputs_of(cell)
    assert "finished\n" in [m["content"].get("text") for m in messages if m["msg_type"] == "stream"]
    _, after = await ide.run(
        "print(repr(_), len(In) - 2, sorted(k for k in globals() if not k.startswith('_i')))"
    )
    underscore, count, names = before.split(" ", 2)
    assert after.split(" ", 2) == [underscore, count, str(sorted([*ast.literal_eval(names), "step"])) + "\n"]


STATE = "print(repr(_), len(In), sorted(k for k in globals() if not k.startswith('_i')), sep=' | ')"
"""What a look must leave as it was: `_`, the number of cells run, the user's names."""


def _state(printed: str) -> tuple[str, int, list[str]]:
    underscore, count, names = printed.split(" | ")
    return underscore, int(count), ast.literal_eval(names)


COUNT_HOOKS = (
    "import matplotlib.pyplot as plt\n"
    "fired = []\n"
    "for event in ('pre_execute', 'post_execute'):\n"
    "    get_ipython().events.register(event, lambda event=event: fired.append(event))"
)
"""The user's setup: counts every run of IPython's execute hooks (where figures are shown)."""


def drawing_cell(gate: Gate) -> str:
    """A cell that draws, then waits for `gate`; it prints whether its figure is still open
    (not shown and closed by someone else's request) and how often the execute hooks ran."""
    return (
        "losses = [0.9, 0.7]\n"
        "plt.plot(losses)\n"
        "hooks_before = len(fired)\n"
        f"{gate.code}\n"
        "losses.append(0.5)\n"
        "print('open figures:', plt.get_fignums(), 'execute hooks run meanwhile:', len(fired) - hooks_before)"
    )


def shape(messages: list[dict], cell: str) -> list[tuple[str, object]]:
    """What a cell's messages showed the user, without ids and image bytes."""
    return [
        (m["msg_type"], sorted(m["content"]["data"]) if "data" in m["content"] else m["content"].get("text"))
        for m in messages
        if m["parent_header"].get("msg_id") == cell and m["msg_type"] not in ("status", "execute_input")
    ]


async def test_a_cell_drawing_figures_keeps_them_while_the_assistant_looks(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    # matplotlib shows the figures drawn so far after any request that runs code (its
    # post_execute hook): looks beside a drawing cell go through our inspector hook instead.
    ide = own_kernel.ide
    await ide.run(COUNT_HOOKS)
    await ide.run("def ratio(a, b):\n    return a / b\nratio(3, 0)")
    alone = gates()
    alone.open()
    cell = ide.send(drawing_cell(alone))
    without_server = shape(await ide.outputs_of(cell), cell)
    assert ("display_data", ["image/png", "text/plain"]) in without_server
    assert ("stream", "open figures: [1] execute hooks run meanwhile: 0\n") in without_server

    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    _, before = await ide.run(STATE)
    drawing = gates()
    cell = ide.send(drawing_cell(drawing))
    await assistant.until_busy("another client's cell In[")
    listing = await assistant.text("list_variables")
    assert "losses" in listing and "[0.9, 0.7]" in listing and "Read while another client's cell" in listing
    detail = await assistant.text("inspect_variable", name="losses")
    assert detail.startswith("losses: list, len 2") and "0.9\n0.7" in detail and "0.5" not in detail
    history = await assistant.text("get_history")
    assert "plt.plot(losses)" in history and "ZeroDivisionError" in history
    assert await assistant.text("debug_error", expression="a + b") == "3"
    assert "busy running another client's cell" in await assistant.text("kernel_status")

    drawing.open()
    messages = await ide.outputs_until_idle(cell)
    # The user's client got its figure under its own cell, exactly as without the server...
    assert shape(messages, cell) == without_server
    # ... and no request of the server's got any output of it.
    assert all(m["parent_header"].get("msg_id") == cell for m in messages if m["msg_type"] != "status")
    _, after = await ide.run(STATE)
    underscore, count, names = _state(before)
    assert _state(after) == (underscore, count + 2, names)  # the drawing cell, and this one


OLD_INSPECTOR = (
    "from IPython.core.oinspect import Inspector\n"
    "class OldInspector(Inspector):\n"
    "    @property\n"
    "    def mime_hooks(self):\n"
    "        raise AttributeError('mime_hooks')\n"
    "    def _get_info(self, obj, oname='', formatter=None, info=None, detail_level=0, omit_sections=()):\n"
    "        info_dict = self.info(obj, oname=oname, info=info, detail_level=detail_level)\n"
    "        return self.format_mime(self._make_info_unformatted(\n"
    "            obj, info_dict, formatter, detail_level=detail_level, omit_sections=list(omit_sections)))\n"
    "get_ipython().inspector.__class__ = OldInspector\n"
    "del Inspector, OldInspector"
)
"""The user's setup: IPython's Inspector as it was before 8.21, without mime_hooks."""


async def _refused_beside_drawing(assistant: Assistant, ide: IdeUser, gate: Gate) -> None:
    """Looks beside a drawing cell are refused, and its figure reaches the user's client."""
    cell = ide.send(drawing_cell(gate))
    await assistant.until_busy("another client's cell In[")
    error = await assistant.error("list_variables")
    assert "busy running another client's cell" in error and "could take the figures it draws" in error
    assert "plt.plot(losses)" in await assistant.text("get_history")  # history needs no code run
    gate.open()
    messages = await ide.outputs_of(cell)
    assert ("stream", "open figures: [1] execute hooks run meanwhile: 0\n") in shape(messages, cell)
    assert [m for m in messages if m["msg_type"] == "display_data" and "image/png" in m["content"]["data"]]


async def test_looks_beside_a_drawing_cell_are_refused_once_the_hook_is_gone_until_it_is_back(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    ide = own_kernel.ide
    await ide.run(COUNT_HOOKS)
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    await ide.run("get_ipython().inspector.mime_hooks = {}")  # as a configuration of the user's may
    await _refused_beside_drawing(assistant, ide, gates())
    await ide.run("pass")  # after the server's requests queued meanwhile: the kernel is idle
    assert "losses" in await assistant.text("list_variables")  # and the hook is installed again

    drawing = gates()
    cell = ide.send(drawing_cell(drawing))
    await assistant.until_busy("another client's cell In[")
    assert "[0.9, 0.7]" in await assistant.text("list_variables")
    drawing.open()
    messages = await ide.outputs_of(cell)
    assert ("stream", "open figures: [1] execute hooks run meanwhile: 0\n") in shape(messages, cell)


async def test_an_ipython_without_inspector_hooks_refuses_looks_beside_a_drawing_cell_as_before(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    ide = own_kernel.ide
    await ide.run(f"{OLD_INSPECTOR}\n{COUNT_HOOKS}")
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    await _refused_beside_drawing(assistant, ide, gates())
    await ide.run("pass")  # after the server's requests queued meanwhile: the kernel is idle
    assert "losses" in await assistant.text("list_variables")  # as ever
    assert "Create a new figure" in await assistant.text("inspect_variable", name="plt.figure")
    await _refused_beside_drawing(assistant, ide, gates())


HOOKED = "print(sorted(k for k in get_ipython().inspector.mime_hooks if 'ipython-mcp' in k))"
"""Which of our hooks the kernel's inspector holds."""


async def test_the_inspector_hook_answers_the_server_only_and_leaves_with_the_last_one(
    assistant: Assistant, own_kernel: IdeKernel, settings: Settings
) -> None:
    ide = own_kernel.ide
    await ide.run("losses = [0.9, 0.7]")
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    async with mcp.Client(build_server(settings)) as client:
        other = Assistant(client, Path(settings.runtime_dir))
        await other.text("connect_to_kernel", connection_file=str(own_kernel.path))
        assert (await ide.run(HOOKED))[1] == "['application/x.ipython-mcp+json']\n"
        # The user's own inspection (Shift-Tab) gets what it always got.
        asked = ide.client.inspect("losses")
        reply = await ide.client.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == asked and list(reply["content"]["data"]) == ["text/plain"]
        await other.text("disconnect_kernel")
    assert (await ide.run(HOOKED))[1] == "['application/x.ipython-mcp+json']\n"  # still in use
    assert "[0.9, 0.7]" in await assistant.text("list_variables")
    await assistant.text("disconnect_kernel")
    assert (await ide.run(HOOKED))[1] == "[]\n"


async def test_a_slow_look_beside_a_busy_loop_is_waited_for(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await own_kernel.ide.run("for i in range(100_000):\n    globals()[f'value_{i}'] = i")
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    # Busy until interrupted below, however long the look takes.
    cell = own_kernel.ide.send("import time\nend = float('inf')\nwhile time.time() < end:\n    pass")
    await assistant.until_busy()
    listing = await assistant.text("list_variables")  # slow: the loop shares the interpreter
    assert "100002 variables" in listing and "Read while another client's cell" in listing
    await assistant.text("interrupt_kernel")
    await own_kernel.ide.outputs_of(cell)


async def test_checking_on_a_busy_kernel_never_shows_it_idle_to_the_ide(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    # JupyterLab shows the kernel's state from every status message, but for those of the
    # request types jupyter_server lists as untracked (kernel_info_request among them).
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    cell = own_kernel.ide.send(gates().code)  # runs until interrupted below
    await assistant.until_busy()
    assert "busy" in await assistant.text("kernel_status")
    await assistant.text("interrupt_kernel")
    statuses = statuses_during(await own_kernel.ide.outputs_until_idle(cell), cell)
    untracked = MappingKernelManager.class_traits()["untracked_message_types"].default()
    assert statuses and not [s for s in statuses if s[0] not in untracked]


async def test_a_cell_holding_the_interpreter_gets_a_busy_answer_not_a_hang(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    # One C call of many seconds: no thread of the kernel runs meanwhile. The kernel is killed
    # with the test, not waited for.
    own_kernel.ide.send("sum(range(3 * 10**9))")
    await assistant.until_busy("")  # the cell may not even be announced
    error = await assistant.error("list_variables")
    # Held from its first instant, the kernel may not even have published the cell, or its code
    # (its busy status may come out, and the execute_input with the code not).
    assert (
        ("another client's cell" in error and "holds the interpreter" in error)
        or ("another client's cell" in error and "not known yet" in error)
        or "a cell it has not announced (it holds the interpreter)" in error
    ), error
    started = time.monotonic()
    assert "busy" in await assistant.text("kernel_status")  # answers, without waiting for the cell
    assert time.monotonic() - started < 5


async def test_looks_in_a_row_never_find_the_kernel_busy_with_the_last_one(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    # A look's idle status can reach us after the next request's (kernels publish from several
    # threads): answered, it is over, and the next look must not wait for it or call it a cell.
    await shared_kernel.ide.run("looked_at = 1")
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    for _ in range(50):
        assert "looked_at" in await assistant.text("list_variables")
        assert "int" in await assistant.text("inspect_variable", name="looked_at")


async def test_completions_come_from_the_live_namespace(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await shared_kernel.ide.run("sales_by_region = {'north': 1}")
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    text = await assistant.text("complete", code="sales_by_re")
    assert "sales_by_region" in text
    assert await assistant.text("complete", code="zzz_nothing_like_this") == "No completions."


async def test_variables_are_listed_compactly_largest_first_without_a_trace(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    ide = own_kernel.ide
    await ide.run(
        "import numpy as np, pandas as pd\n"
        "big = np.zeros((500, 1000))\n"
        "table = pd.DataFrame({'city': ['Oslo', 'Lima'], 'temp': [3.5, 19.0]})\n"
        "text = 'x' * 5_000_000\n"
        "count = 7\n"
        "def helper(): pass\n"
        "_secret = 1\n"
        "count"
    )
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    _, before = await ide.run(
        "print(repr(_), len(In), sorted(k for k in globals() if not k.startswith('_i')))"
    )

    text = await assistant.text("list_variables")
    lines = text.splitlines()
    assert lines[0].startswith("4 variables in kernel")
    names = [line.split()[0] for line in lines[2:]]
    assert names == ["text", "big", "table", "count"]  # largest first
    assert "len 5000000" in text and "500x1000" in text and "float64" in text
    assert "columns: city, temp" in text
    assert "helper" not in text and "_secret" not in text and "np" not in names
    assert all(len(line) < 200 for line in lines)

    wider = await assistant.text("list_variables", include_private=True, include_callables=True)
    assert "helper" in wider and "_secret" in wider and "__name__" not in wider

    _, after = await ide.run(
        "print(repr(_), len(In) - 1, sorted(k for k in globals() if not k.startswith('_i')))"
    )
    assert after == before


async def test_inspect_fits_the_type_and_samples_huge_data(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await own_kernel.ide.run(
        "import numpy as np, pandas as pd\n"
        "readings = np.arange(3_000_000, dtype=float); readings[7] = np.nan\n"
        "frame = pd.DataFrame({'id': np.arange(300_000), 'price': 2.5})\n"
        "def score(x, weight=1.0):\n    '''Score one sample.'''\n    return x * weight\n"
        "'done'"
    )
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    _, before = await own_kernel.ide.run(
        "print(repr(_), len(In), sorted(k for k in globals() if not k.startswith('_i')))"
    )

    text = await assistant.text("inspect_variable", name="frame")
    assert text.startswith("frame: pandas.DataFrame, 300000x2,")
    assert "id: int64, price: float64" in text
    assert "one row in every 3 (100000 of 300000 rows)" in text
    assert "mean" in text and "2.5" in text

    text = await assistant.text("inspect_variable", name="readings")
    assert text.startswith("readings: numpy.ndarray, 3000000, 22.9 MB")
    assert "one element in every 3 (1000000 of 3000000)" in text and "NaN 1" in text

    text = await assistant.text("inspect_variable", name="score")
    assert "score(x, weight=1.0)" in text and "Score one sample." in text
    assert "\x1b[" not in text

    assert "list_variables" in await assistant.error("inspect_variable", name="no_such_name")

    _, after = await own_kernel.ide.run(
        "print(repr(_), len(In) - 1, sorted(k for k in globals() if not k.startswith('_i')))"
    )
    assert after == before

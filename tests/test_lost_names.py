"""What a restart or death took with the kernel: the names it held, as recorded between cells,
each with the cell that last bound it; a record that leaves no trace and never runs beside a
cell."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import mcp
import psutil
import pytest
from conftest import (
    Assistant,
    Gate,
    IdeKernel,
    NotebookServer,
    ide_client,
    ide_managed_kernel,
    texts,
    wait_until,
)

from ipython_mcp.look import kernel_side
from ipython_mcp.look import record as record_module
from ipython_mcp.look.assignments import bound_names
from ipython_mcp.look.lost import LostName, LostNames, Origin, rank
from ipython_mcp.look.record import NamespaceRecord
from ipython_mcp.server import build_server
from ipython_mcp.server.words.lost import death_text, gone_phrase
from ipython_mcp.session.base import KernelSession
from ipython_mcp.session.registry import KernelRegistry
from ipython_mcp.settings import ServerConfig, Settings

USER_CELL = "import pandas as pd\ndf = pd.DataFrame({'x': range(1000), 'y': 2.0})"
ASSISTANT_CELL = "import numpy as np\nmodel = np.polyfit(df.x, df.y, 1)\ndef predict(v):\n    return v"
DF = "df (pandas.DataFrame 1000x2, In [{n}])"
MODEL = "model (numpy.ndarray 2, the assistant's In [{n}])"


# -- what a cell binds ------------------------------------------------------------------------


def test_the_names_a_cell_binds_are_read_from_its_code() -> None:
    code = (
        "import numpy as np, os.path\nfrom sklearn.linear_model import LinearRegression as LR\n"
        "df = load()\ndf['x'] = 1\nobj.attr = 2\na, (b, *rest) = f()\ncount += 1\nn: int = 3\nm: int\n"
        "for i, row in enumerate(rows):\n    total = i\nwith open(p) as fh, lock:\n    text = fh.read()\n"
        "def helper():\n    local = 1\n    global shared\nclass Model:\n    attr = 1\n"
        "if (k := 3) > 2:\n    inside = [j := v for v in range(3)]\nf = lambda: (z := 1)\n"
        "try:\n    pass\nexcept Exception as err:\n    handled = 1"
    )
    found = bound_names(code)
    assert found["np"] == ("import", "numpy") and found["os"] == ("import", "os.path")
    assert found["LR"] == ("import", "sklearn.linear_model.LinearRegression")
    assert found["helper"][0] == "function" and found["Model"][0] == "class"
    expected = {"df", "a", "b", "rest", "count", "n", "i", "row", "total", "fh", "text", "k", "j",
                "inside", "f", "handled"}  # fmt: skip
    assert expected <= {name for name, (kind, _) in found.items() if kind != "deleted"}
    assert found["err"][0] == "deleted"  # Python unbinds it as the handler ends
    # `shared` is bound by the cell that calls helper(), which is not known from the code.
    assert not {"m", "local", "attr", "z", "v", "obj", "lock", "shared"} & set(found)
    assert bound_names("x = 1\ndel x, y[0], z.attr, (w,)") == {"x": ("deleted", ""), "w": ("deleted", "")}


def test_ipython_syntax_does_not_hide_the_rest_of_a_cell() -> None:
    code = "%matplotlib inline\nfiles = !ls\nt = %timeit -o f()\ndf?\n!pip list\nx = 1\nif x:\n    %time y = g()"
    assert set(bound_names(code)) == {"files", "t", "x", "y"}
    assert set(bound_names("%%time\nq = 1\n")) == {"q"}
    assert set(bound_names("%%capture run\nq = 1\n")) == {"run", "q"}
    assert bound_names("%%writefile model.py\nmodel = train()") == {}  # writes a file, binds nothing
    assert set(bound_names("%timeit y = f()\nz = 1")) == {"z"}  # timeit runs it in a function
    # Python first: a line that starts with an operator is not taken for IPython's syntax.
    assert set(bound_names("mask = (df.a\n        != 0)\nclean = df[mask]")) == {"mask", "clean"}
    assert bound_names("x = = 1") == {}  # not Python: nothing known
    assert bound_names("x = 1\n" * 60_000) == {}  # too long to be worth reading


def test_the_record_of_names_computes_nothing_and_keeps_what_matters_most() -> None:
    """kernel_side/names.py, as the record runs it: no len() of objects that are not builtins
    (a lazy frame's runs its query), no shape but of the array and frame libraries (Spark's
    pandas counts rows for it), at most `limit` rows: objects of packages (a small model is not
    crowded out by big strings), then the user's own, then containers, larger first; functions
    a package defines, imported by name (`from numpy import *`), are imports, not variables."""

    class Lazy:
        shape = (10, 3)

        def __len__(self) -> int:
            raise AssertionError("len() of a lazy object was called")

    class Remote:
        @property
        def shape(self) -> tuple[int, int]:
            raise AssertionError("the shape of a remote frame was read")

    Lazy.__module__ = "polars.lazyframe"
    Remote.__module__ = "pyspark.pandas.frame"

    def helper() -> None: ...

    class Unconfigured:  # as Django's settings before they are configured
        @property
        def __class__(self) -> type:  # type: ignore[override]
            raise RuntimeError("settings are not configured")

    ns = {"lazy": Lazy(), "small": 1, "big": "x" * 10_000, "rows": [1, 2], "helper": helper, "_hidden": 1,
          "json": json, "In": [], "dumps": json.dumps, "remote": Remote(), "settings": Unconfigured(),
          7: "a key that is not a name"}  # fmt: skip
    scope = {"NS": ns, "OPTIONS": {"limit": 3}}
    exec(kernel_side.source("names"), scope)
    found = json.loads(scope["RESULT"])
    assert (found["total"], found["defined"], found["hidden"]) == (6, 1, 6)  # odd objects: hidden, not fatal
    assert [row[0] for row in found["rows"]] == ["lazy", "remote", "helper"]
    assert found["rows"][2][4] == 1
    scope["OPTIONS"]["limit"] = 10
    exec(kernel_side.source("names"), scope)
    rows = {row[0]: row for row in json.loads(scope["RESULT"])["rows"]}
    assert rows["lazy"][1:3] == ["polars.Lazy", "10x3"] and rows["lazy"][4] == 0
    assert rows["remote"][1:3] == ["pyspark.Remote", None]
    assert rows["big"][1:3] == ["str", "len 10000"] and rows["small"][2] is None

    # Past the time given to sizing, objects are listed without a size rather than measured.
    scope["OPTIONS"]["limit"] = 10
    exec(kernel_side.source("names").replace("_SIZING_BUDGET = 0.003", "_SIZING_BUDGET = 0"), scope)
    rows = {row[0]: row for row in json.loads(scope["RESULT"])["rows"]}
    assert rows["lazy"][3] is None and rows["big"][3] > 10_000


# -- the words ----------------------------------------------------------------------------------


def _lost(name: str, kind: str | None, size: int = 0, n: int | None = None, ours: bool = False) -> LostName:
    origin = Origin(n, ours, "value") if n is not None else None
    return LostName(name, kind, "10x2" if kind and "." in kind else None, size, "value", origin)


def test_the_most_important_names_come_first_and_the_rest_are_counted() -> None:
    names = [_lost(f"v{i}", "int", 28, i) for i in range(100)]
    names += [_lost("df", "pandas.DataFrame", 80 << 20, 3), _lost("fresh", None, n=200, ours=True)]
    names += [_lost("rows", "list", 900, 4)]
    ranked = rank(names)
    # Objects of packages, names bound since the last record, containers, numbers.
    assert [n.name for n in ranked[:3]] == ["df", "fresh", "rows"] and ranked[3].type == "int"
    functions = (LostName("clean", "function", kind="function"),)
    imports = tuple(LostName(m, None, kind="import") for m in ("np", "pd"))
    lost = LostNames(tuple(ranked), 250, functions, imports)
    text = gone_phrase(lost, "unknown")
    assert text.startswith(
        "its 250 variables are gone: df (pandas.DataFrame 10x2, 80 MB, In [3]), fresh (the assistant's "
        "In [200]), rows (list, In [4]), v0 (int, In [0]), v1 (int, In [1]), "
    )
    assert " and 242 more; also its function clean and imports np, pd. Rerun those cells" in text
    assert len(text) < 500
    assert gone_phrase(None, "unknown") == "unknown"
    assert gone_phrase(LostNames((), 0, (), ()), "") == "it held no variables; its state from before is gone."
    died = death_text("The kernel k1 died (process 1 is gone).", LostNames((_lost("x", "int", 28),), 1, (), ()))
    assert died == "The kernel k1 died (process 1 is gone). Its 1 variable is gone: x (int). Rerun what is needed."


def test_the_record_can_be_turned_off() -> None:
    assert Settings.from_env({"IPYTHON_MCP_NAMES_KEPT": "0"}, runtime_dir="/tmp/x").names_kept == 0
    with pytest.raises(ValueError, match="names_kept"):
        Settings(runtime_dir="/tmp/x", names_kept=-1)


# -- real kernels -------------------------------------------------------------------------------


def record(registry: KernelRegistry) -> NamespaceRecord:
    return registry.sessions[-1].names


async def recorded(registry: KernelRegistry, cells: int = 0) -> None:
    """Until the kernel's namespace was recorded after the last cell seen to end, once `cells`
    cells were seen to end."""
    names = record(registry)
    await wait_until(lambda: names.cells_ended >= cells and names.up_to_date, timeout=30)


async def user_and_assistant_cells(user_run: Callable[[str], object], assistant: Assistant) -> tuple[int, int]:
    """The user builds `df`, the assistant `model` from it; their execution counts."""
    reply, _ = await user_run(USER_CELL)  # type: ignore[misc]
    assert reply["status"] == "ok", reply
    result = await assistant.call("execute_code", code=ASSISTANT_CELL)
    assert not result.is_error, texts(result)
    return reply["execution_count"], reply["execution_count"] + 1


async def test_a_death_names_what_the_kernel_held_and_the_cells_that_built_it(
    helper: tuple[Assistant, KernelRegistry], own_kernel: IdeKernel
) -> None:
    assistant, registry = helper
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    users, ours = await user_and_assistant_cells(own_kernel.ide.run, assistant)
    await recorded(registry)
    session = registry.sessions[-1]
    own_kernel.process.kill()
    await asyncio.wait_for(session.link.dead, 15)
    error = await assistant.error("execute_code", code="1")
    said = f"Its 2 variables are gone: {DF.format(n=users)}, {MODEL.format(n=ours)}; also its function predict"
    assert f"The kernel {own_kernel.name} died" in error and said in error, error
    assert "and imports pd, np. Rerun those cells to rebuild what is needed." in error
    status = await assistant.error("kernel_status")
    assert said in status


async def test_names_bound_after_the_last_record_are_told_from_their_code(
    helper: tuple[Assistant, KernelRegistry], own_kernel: IdeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant, registry = helper
    monkeypatch.setattr(record_module, "SNAPSHOT_DELAY", 3600.0)  # what is known comes from code
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    session = registry.sessions[-1]
    users, ours = await user_and_assistant_cells(own_kernel.ide.run, assistant)
    await own_kernel.ide.run("scratch = [1, 2]")
    await own_kernel.ide.run("del scratch")  # deleted: not lost
    await wait_until(lambda: session.names.cells_ended >= 4)  # the server saw it end
    assert session.names.taken == 0
    own_kernel.process.kill()
    await asyncio.wait_for(session.link.dead, 15)
    error = await assistant.error("execute_code", code="1")
    assert f"Its 2 variables are gone: df (In [{users}]), model (the assistant's In [{ours}])" in error, error


async def test_a_restart_from_the_ide_names_what_the_old_kernel_held(
    helper: tuple[Assistant, KernelRegistry], runtime_dir: Path
) -> None:
    assistant, registry = helper
    async with ide_managed_kernel(runtime_dir / f"kernel-lost{os.getpid()}.json") as manager:
        user = await ide_client(Path(manager.connection_file))
        try:
            await assistant.text("connect_to_kernel", connection_file=manager.connection_file)
            users, ours = await user_and_assistant_cells(user.run, assistant)
            await recorded(registry)
            await manager.restart_kernel()
            result = await assistant.call("execute_code", code="'df' in globals()")
            text = texts(result)
            assert text.startswith("False\n") and "was restarted by another client" in text, text
            assert f"its 2 variables are gone: {DF.format(n=users)}, {MODEL.format(n=ours)}" in text
            again = await assistant.text("execute_code", code="1 + 1")
            assert again == "2" and registry.sessions[-1].restarts == 1  # one restart, told once
        finally:
            user.client.stop_channels()


async def test_restart_kernel_names_what_the_kernel_it_started_held(
    helper: tuple[Assistant, KernelRegistry], tmp_path: Path
) -> None:
    assistant, registry = helper
    started = await assistant.text("start_kernel", cwd=str(tmp_path))
    path = next(line for line in started.splitlines() if line.startswith("Connection file:")).split(": ", 1)[1]
    user = await ide_client(Path(path))
    try:
        users, ours = await user_and_assistant_cells(user.run, assistant)
        # No wait for a record: restarting records the namespace once more first.
        restarted = await assistant.text("restart_kernel")
        assert f"its 2 variables are gone: {DF.format(n=users)}, {MODEL.format(n=ours)}" in restarted, restarted
        assert "predict" in restarted and "Rerun those cells" in restarted
        # The new kernel's record starts empty.
        restarted = await assistant.text("restart_kernel")
        assert "it held no variables" in restarted, restarted
    finally:
        user.client.stop_channels()
        await assistant.text("shutdown_kernel")


async def test_the_record_leaves_no_trace_in_the_kernel(
    helper: tuple[Assistant, KernelRegistry], own_kernel: IdeKernel
) -> None:
    assistant, registry = helper
    ide = own_kernel.ide
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    first, _ = await ide.run("seen, count = set(globals()), get_ipython().execution_count\n41")
    await recorded(registry, cells=1)  # of what that cell left
    # Only what the user's own cells made: their names, In, Out, `_` and execution count.
    reply, printed = await ide.run(
        "print(sorted(set(globals()) - seen - {'seen', 'count', '_1', '_i2'}), len(In), sorted(Out), _, "
        "get_ipython().execution_count - count)"
    )
    assert printed == "[] 3 [1] 41 1\n", printed
    assert (first["execution_count"], reply["execution_count"]) == (1, 2)


async def test_no_record_is_taken_while_a_cell_runs(
    helper: tuple[Assistant, KernelRegistry], own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    assistant, registry = helper
    ide, gate = own_kernel.ide, gates()
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    # The user's kernel notes, after anything runs, whether their long cell was running then.
    await ide.run("running = False\nnoted = []\nget_ipython().events.register('post_execute', lambda: noted.append(running))")
    names = record(registry)
    await recorded(registry, cells=1)
    taken, decided = names.taken, names.sent + names.skipped
    # A quick cell then a long one, back to back: the record due after the first is not taken.
    ide.send("quick = 1")
    long_cell = ide.send(f"running = True\n{gate.code}\nrunning = False")
    await ide.started(str(gate.path))
    await wait_until(lambda: names.sent + names.skipped > decided, timeout=30)
    assert names.taken == taken
    await assistant.until_busy()
    gate.open()
    await ide.outputs_of(long_cell)
    await recorded(registry, cells=3)
    assert names.taken > taken
    _, printed = await ide.run("print(any(noted))")
    assert printed == "False\n"


# -- a Jupyter Server's kernel -----------------------------------------------------------------


async def test_restarts_of_a_servers_kernel_name_what_it_held(notebook_server: NotebookServer) -> None:
    server = notebook_server
    settings = Settings(
        runtime_dir=str(server.runtime_dir),
        timeout=30.0,
        connect_timeout=20.0,
        servers=(ServerConfig(server.url, server.token, "hub"),),
    )
    registry = KernelRegistry(settings)
    async with mcp.Client(build_server(settings, registry)) as client:
        assistant = Assistant(client, server.runtime_dir)
        await assistant.text("start_kernel", server="hub")
        session: KernelSession = registry.sessions[-1]
        kernel_id = session.kernel_id  # type: ignore[attr-defined]
        user = await ide_client(server.runtime_dir / f"kernel-{kernel_id}.json")
        try:
            # Restarted from JupyterLab.
            users, ours = await user_and_assistant_cells(user.run, assistant)
            failed, _ = await user.run("df['missing']")
            await recorded(registry)
            restarted = session.link.restarted_signal
            async with server.rest() as rest:
                (await rest.post(f"api/kernels/{kernel_id}/restart")).raise_for_status()
            await asyncio.wait_for(restarted, 20)
            text = texts(await assistant.call("execute_code", code="1"))
            assert "restarted by another client (JupyterLab?)" in text
            assert f"its 2 variables are gone: {DF.format(n=users)}, {MODEL.format(n=ours)}" in text, text
            gone = await assistant.text("debug_error")
            assert f"its last one, KeyError: 'missing' (In [{failed['execution_count']}], the user's cell)" in gone

            # Died, and restarted by the server.
            user.client.stop_channels()
            user = await ide_client(server.runtime_dir / f"kernel-{kernel_id}.json")
            users, ours = await user_and_assistant_cells(user.run, assistant)
            await recorded(registry)
            restarted = session.link.restarted_signal
            kernel = next(
                p for p in psutil.process_iter(["cmdline"]) if kernel_id in " ".join(p.info["cmdline"] or [])
            )
            os.kill(kernel.pid, signal.SIGKILL)
            await asyncio.wait_for(restarted, 30)
            text = texts(await assistant.call("execute_code", code="1"))
            assert "after it died" in text
            assert f"its 2 variables are gone: {DF.format(n=users)}, {MODEL.format(n=ours)}" in text, text

            # Restarted by this server.
            await assistant.text("execute_code", code="kept = [1, 2, 3]")
            restarted_text = await assistant.text("restart_kernel")
            assert "its 1 variable is gone: kept (list len 3, the assistant's In [" in restarted_text
        finally:
            user.client.stop_channels()
            await assistant.text("shutdown_kernel")


async def test_a_record_given_up_on_and_still_run_is_not_taken_for_the_users_cell(
    helper: tuple[Assistant, KernelRegistry], own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    """A request of the server's given up on may still run (one queued for a kernel that
    restarts reaches the new one): its messages stay the server's, and a quiet one quiet."""
    assistant, registry = helper
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    session = registry.sessions[-1]
    held, late = gates(), gates()
    cell = own_kernel.ide.send(held.code)  # the user's cell holds the main shell
    await own_kernel.ide.started(str(held.path))
    waits = f"[0 for _ in iter(lambda: __import__('os').path.exists({str(late.path)!r}), True)]"
    content = {"code": "", "silent": True, "store_history": False, "user_expressions": {"x": waits}}
    msg_id, _ = session.router.request("shell", "execute_request", content, sink=lambda *_: None, quiet=True)
    session.router.forget(msg_id)  # as a record is, when its kernel restarts
    held.open()
    await own_kernel.ide.finish(cell)
    await own_kernel.ide.until(
        lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "busy"
        and (m["parent_header"] or {}).get("msg_id") == msg_id
    )
    await session.router.catch_up()
    assert session.router.current() is None and session.observed.get(msg_id) is None
    late.open()

"""What a restart or death took with the kernel: the names each cell binds, and a record of
the namespace that leaves no trace and never runs beside a cell."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import mcp
import pytest
from conftest import Assistant, Gate, IdeKernel, wait_until

from ipython_mcp.look import kernel_side
from ipython_mcp.look.assignments import bound_names
from ipython_mcp.look.record import NamespaceRecord
from ipython_mcp.server import build_server
from ipython_mcp.session.registry import KernelRegistry
from ipython_mcp.settings import Settings

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
    expected = {"df", "a", "b", "rest", "count", "n", "i", "row", "total", "fh", "text", "shared", "k", "j",
                "inside", "f", "err", "handled"}  # fmt: skip
    assert expected <= set(found)
    assert not {"m", "local", "attr", "z", "v", "obj", "lock"} & set(found)


def test_ipython_syntax_does_not_hide_the_rest_of_a_cell() -> None:
    code = "%matplotlib inline\nfiles = !ls\nt = %timeit -o f()\ndf?\n!pip list\nx = 1\nif x:\n    %time y = g()"
    assert set(bound_names(code)) == {"files", "t", "x", "y"}
    assert set(bound_names("%%time\nq = 1\n")) == {"q"}
    assert bound_names("x = = 1") == {}  # not Python: nothing known
    assert bound_names("x = 1\n" * 60_000) == {}  # too long to be worth reading


def test_the_lean_listing_computes_nothing_and_keeps_the_largest() -> None:
    """kernel_side/namespace.py as the record runs it: no len() of objects that are not
    builtins (a lazy frame's runs its query), at most `limit` rows, the largest."""

    class Lazy:
        shape = (10, 3)

        def __len__(self) -> int:
            raise AssertionError("len() of a lazy object was called")

    def helper() -> None: ...

    ns = {"lazy": Lazy(), "small": 1, "big": "x" * 10_000, "rows": [1, 2], "helper": helper, "_hidden": 1}
    scope = {"NS": ns, "OPTIONS": {"lean": True, "limit": 3, "include_callables": True}}
    exec(kernel_side.source("namespace"), scope)
    found = json.loads(scope["RESULT"])
    assert found["total"] == 5 and [row[0] for row in found["rows"]] == ["big", "helper", "rows"]
    assert found["rows"][0][1:3] == ["str", "len 10000"] and found["rows"][1][4] == 1
    scope["OPTIONS"]["limit"] = 10
    exec(kernel_side.source("namespace"), scope)
    rows = {row[0]: row for row in json.loads(scope["RESULT"])["rows"]}
    kind, shape, _, defined = rows["lazy"][1:]
    assert kind.endswith(".Lazy") and shape == "10x3" and defined == 0


def test_the_record_can_be_turned_off() -> None:
    assert Settings.from_env({"IPYTHON_MCP_NAMES_KEPT": "0"}, runtime_dir="/tmp/x").names_kept == 0
    with pytest.raises(ValueError, match="names_kept"):
        Settings(runtime_dir="/tmp/x", names_kept=-1)


# -- real kernels -------------------------------------------------------------------------------


@pytest.fixture
async def helper(settings: Settings) -> AsyncIterator[tuple[Assistant, KernelRegistry]]:
    """The assistant, with the server's registry at hand to follow the records."""
    registry = KernelRegistry(settings)
    async with mcp.Client(build_server(settings, registry)) as client:
        yield Assistant(client, Path(settings.runtime_dir)), registry


def record(registry: KernelRegistry) -> NamespaceRecord:
    return registry.sessions[-1].names


async def recorded(registry: KernelRegistry, cells: int = 0) -> None:
    """Until the kernel's namespace was recorded after the last cell seen to end, once `cells`
    cells were seen to end."""
    names = record(registry)
    await wait_until(lambda: names.cells_ended >= cells and names.up_to_date, timeout=30)


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

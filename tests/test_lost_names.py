"""What a restart or death took with the kernel: the names each cell binds."""

from __future__ import annotations

import json

from ipython_mcp.look import kernel_side
from ipython_mcp.look.assignments import bound_names

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

"""save_notebook: the assistant's work as a notebook the user can review and rerun."""

from __future__ import annotations

from pathlib import Path

import nbformat
from conftest import Assistant, IdeKernel

from ipython_mcp.rendering.notebook import TEXT_LIMIT, NotebookCell, keep_within


async def test_the_assistants_cells_are_saved_with_their_outputs(
    assistant: Assistant, own_kernel: IdeKernel, tmp_path: Path
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    nothing = await assistant.error("save_notebook", path=str(tmp_path / "empty.ipynb"))
    assert "has run no code" in nothing
    await assistant.text("execute_code", code="print('loading'); 40 + 2")
    await own_kernel.ide.run("users_own_cell = 1")  # the user's cell is not the assistant's work
    await assistant.call(
        "execute_code", code="import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.show()"
    )
    await assistant.call("execute_code", code="1 / 0")
    await assistant.text(
        "execute_code",
        code="from IPython.display import display, clear_output\n"
        "h = display('draft', display_id=True)\nh.update('final')\n"
        "for i in range(3):\n    clear_output(wait=True); print('step', i)",
    )

    saved = await assistant.text("save_notebook", path=str(tmp_path / "review"))
    target = tmp_path / "review.ipynb"
    assert f"Saved 4 cells (the assistant's executions in kernel {own_kernel.name[:8]}) to {target}." == saved
    document = nbformat.read(target, as_version=4)
    nbformat.validate(document)
    first, plot, error, progress = document.cells
    assert first.source == "print('loading'); 40 + 2"
    assert [o.output_type for o in first.outputs] == ["stream", "execute_result"]
    assert first.outputs[0].text == "loading\n" and first.outputs[1].data["text/plain"] == "42"
    assert first.execution_count is not None and first.outputs[1].execution_count == first.execution_count
    assert any("image/png" in o.get("data", {}) for o in plot.outputs)
    assert error.outputs[-1].output_type == "error" and error.outputs[-1].ename == "ZeroDivisionError"
    assert [o.get("text") for o in progress.outputs] == ["step 2\n"]  # cleared, display updated away
    assert "users_own_cell" not in target.read_text()

    again = await assistant.error("save_notebook", path=str(target))
    assert "exists. Pass overwrite=True" in again
    assert "Saved 4 cells" in await assistant.text("save_notebook", path=str(target), overwrite=True)

    # An output nbformat would refuse does not spoil the notebook; a folder gets a file inside.
    await assistant.text(
        "execute_code",
        code="from IPython.display import display\ndisplay({'text/plain': 'odd', 'application/x-thing': 5}, raw=True)",
    )
    saved = await assistant.text("save_notebook", path=str(tmp_path))
    inside = tmp_path / f"{own_kernel.name[:8]}-assistant.ipynb"
    assert str(inside) in saved
    odd = nbformat.read(inside, as_version=4).cells[-1].outputs
    assert odd == [{"output_type": "display_data", "data": {"text/plain": "odd"}, "metadata": {}}]


def test_a_display_update_replaces_the_shown_data() -> None:
    cell = NotebookCell("h = display(...)")
    cell.add(
        "display_data", {"data": {"text/plain": "'draft'"}, "metadata": {}, "transient": {"display_id": "d1"}}
    )
    cell.add("stream", {"name": "stdout", "text": "a"})
    cell.add("stream", {"name": "stdout", "text": "b\n"})
    cell.add(
        "update_display_data",
        {"data": {"text/plain": "'final'"}, "metadata": {}, "transient": {"display_id": "d1"}},
    )
    assert cell.as_cell()["outputs"] == [
        {"output_type": "display_data", "data": {"text/plain": "'final'"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "ab\n"},
    ]


def test_huge_output_is_kept_up_to_a_limit_and_says_so() -> None:
    cell = NotebookCell("print(...)")
    for _ in range(3):
        cell.add("stream", {"name": "stdout", "text": "x" * TEXT_LIMIT})
    outputs = cell.as_cell()["outputs"]
    assert len(outputs[0]["text"]) == TEXT_LIMIT
    assert (
        outputs[-1]["text"].strip()
        == f"[{2 * TEXT_LIMIT:,} more characters of output were not kept in this notebook]"
    )


def test_a_long_session_keeps_the_outputs_of_its_latest_cells_within_a_budget() -> None:
    cells = [NotebookCell(f"print({i})") for i in range(10)]
    for cell in cells:
        cell.add("stream", {"name": "stdout", "text": "x" * 1_000})
    keep_within(cells, limit=5_000)
    assert sum(cell.size() for cell in cells) <= 5_000 + 10 * 200
    assert all("outputs not kept" in cell.as_cell()["outputs"][0]["text"] for cell in cells[:5])
    assert cells[5].as_cell()["outputs"][0]["text"] == "x" * 1_000
    assert cells[-1].as_cell()["outputs"][0]["text"] == "x" * 1_000

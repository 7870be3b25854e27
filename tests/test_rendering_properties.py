"""Property tests: whatever a kernel sends, rendering never fails, stays within its budget,
shows no terminal escapes and passes on only images that decode."""

from __future__ import annotations

import base64
import string
from dataclasses import replace

import nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipython_mcp.rendering import Image, Omitted, OutputLog, Outputs, Shortened, Text, excerpt, image_of
from ipython_mcp.rendering.budget import omitted_text
from ipython_mcp.rendering.notebook import NotebookCell, notebook

ANSI = st.sampled_from(
    ["\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x1b]8;;http://x\x1b\\", "\x1b[2K", "\x1b[", "\x1b"]
)
PIECES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.printable, max_size=40),
    ANSI,
    st.sampled_from(["\r", "\n", "\r\n", "\t", "\x00", "\ufeff", "🙂", "é", "\u200b", "\ud7ff"]),
    st.integers(min_value=1, max_value=50_000).map(lambda n: "z" * n),  # huge lines
)
TEXT = st.lists(PIECES, max_size=12).map("".join)
DISPLAY_IDS = st.sampled_from([None, "a", "b"])


def _bundle(text: str, image: str | None) -> dict[str, object]:
    data: dict[str, object] = {"text/plain": text}
    if image is not None:
        data["image/png"] = image
    return data


IMAGES = st.one_of(
    st.none(),
    st.binary(min_size=1, max_size=200).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=30),  # not base64
)


def _transient(display_id: str | None) -> dict[str, object]:
    return {"display_id": display_id} if display_id else {}


MESSAGES = st.one_of(
    st.builds(lambda name, text: ("stream", {"name": name, "text": text}), st.sampled_from(["stdout", "stderr"]), TEXT),
    st.builds(
        lambda text, image, did: ("display_data", {"data": _bundle(text, image), "metadata": {}, "transient": _transient(did)}),
        TEXT, IMAGES, DISPLAY_IDS,
    ),
    st.builds(
        lambda text, image, did: ("update_display_data", {"data": _bundle(text, image), "metadata": {}, "transient": _transient(did)}),
        TEXT, IMAGES, DISPLAY_IDS,
    ),
    st.builds(lambda text: ("execute_result", {"data": {"text/plain": text}, "metadata": {}, "execution_count": 3}), TEXT),
    st.builds(
        lambda name, value, frames: ("error", {"ename": name, "evalue": value, "traceback": frames}),
        TEXT, TEXT, st.lists(TEXT, max_size=5),
    ),
    st.builds(lambda wait: ("clear_output", {"wait": wait}), st.booleans()),
    st.builds(
        lambda value, meta: ("display_data", {"data": {"text/plain": "x", "application/x-odd": value}, "metadata": meta}),
        st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
        st.one_of(st.none(), st.integers(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
    ),
    st.just(("stream", {})),  # malformed: missing fields
    st.just(("display_data", {"data": {}})),
)  # fmt: skip

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(MESSAGES, max_size=25), st.integers(min_value=1_000, max_value=5_000))
def test_any_outputs_render_within_budget_without_escapes(messages: list, budget: int) -> None:
    log, outputs = OutputLog(text_budget=budget), Outputs()
    for msg_type, content in messages:
        log.add(msg_type, content)
        outputs.add(msg_type, content)
        image_of(msg_type, content)
    more = lambda first, lines, char=0: f"read_output(offset={first}, char_offset={char}, limit={lines})"  # noqa: E731
    # A cell seen in passing, and a run of the assistant's, read the same messages.
    excerpted = [Text(omitted_text(b, more)) if isinstance(b, Omitted) else b for b in excerpt(outputs, budget=budget)]
    for blocks in (log.blocks(more), excerpted):
        text = "".join(block.text for block in blocks if isinstance(block, Text))
        assert "\x1b" not in text
        assert len(text) <= 2 * budget + 1_000  # head + tail, a last traceback kept whole, notices
        for block in blocks:
            if isinstance(block, Image):
                assert base64.b64decode(block.data, validate=True)


@SETTINGS
@given(st.lists(MESSAGES, max_size=25))
def test_any_outputs_make_a_valid_notebook(messages: list) -> None:
    cell = NotebookCell("print('x')", execution_count=1)
    for msg_type, content in messages:
        cell.add(msg_type, content)
    nbformat.validate(nbformat.from_dict(notebook([cell], {"language_info": {"name": "python"}})))


@SETTINGS
@given(st.lists(MESSAGES, max_size=25))
def test_a_cell_seen_in_passing_reads_as_a_run_of_the_assistant(messages: list) -> None:
    """The user's cells (OutputLog, head and tail in bounded memory) and the assistant's runs
    (the output model) show the same blocks for the same messages, while they fit the budget."""
    budget = 10_000_000
    log, outputs = OutputLog(text_budget=budget), Outputs()
    for msg_type, content in messages:
        log.add(msg_type, content)
        outputs.add(msg_type, content)
    # A run's traceback in short also says where the whole is, and its figures are numbered
    # for asking for one again; a glimpsed cell has no whole.
    run = [replace(b, figure=None) if isinstance(b, Image) else b for b in excerpt(outputs, budget=budget)]
    assert log.blocks() == [b for b in run if not isinstance(b, Shortened)]

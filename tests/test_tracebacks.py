"""Lean tracebacks: the user's frames and the one that raised, library frames and recursion
folded, the whole traceback still readable by line."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Assistant, IdeKernel, texts

from ipython_mcp.rendering.tracebacks import clean_traceback, lean_traceback

HEADER = "\x1b[31m---------------------------------------------------------------------------\x1b[39m"


def cell(number: int, line: int, code: str, function: str = "") -> str:
    where = f", in {function}" if function else ""
    return f"\x1b[36mCell In[{number}], line {line}{where}\x1b[39m\n----> {line} {code}\n"


def library(path: str, line: int, function: str) -> str:
    return f"File \x1b[32m{path}\x1b[39m:{line}, in {function}\n-> {line} raise X\n"


def test_library_frames_fold_to_a_line_naming_their_packages_and_the_raising_frame_stays() -> None:
    site = "/home/u/.venv/lib/python3.11/site-packages"
    frames = [
        HEADER,
        "ValueError            Traceback (most recent call last)",
        cell(4, 2, "fit(model)"),
        library(f"{site}/sklearn/base.py", 10, "fit()"),
        library(f"{site}/sklearn/utils/validation.py", 20, "check()"),
        library("/usr/lib/python3.11/json/decoder.py", 30, "decode()"),
        library(f"{site}/numpy/core/numeric.py", 40, "asarray()"),
        "ValueError: bad input",
    ]
    lean = lean_traceback(frames, "ValueError", "bad input")
    assert "\x1b" not in lean and "------" not in lean
    assert "Cell In[4], line 2" in lean
    assert "[... 3 frames in sklearn, the standard library ...]" in lean
    assert "numpy/core/numeric.py:40, in asarray()" in lean  # the frame that raised
    assert lean.endswith("ValueError: bad input")
    assert len(lean) < len(clean_traceback(frames, "ValueError", "bad input"))


def test_a_cycle_of_frames_is_told_once_with_its_count() -> None:
    frames = ["E  Traceback (most recent call last)", cell(1, 9, "ping(0)")]
    frames += [cell(1, 2, "return pong(n)", "ping(n)"), cell(1, 5, "return ping(n)", "pong(n)")] * 50
    lean = lean_traceback([*frames, "RecursionError: deep"], "RecursionError", "deep")
    assert lean.count("in ping(n)") == 1 and lean.count("in pong(n)") == 1
    assert "[... the 2 frames above repeated 49 more times ...]" in lean
    assert lean.endswith("RecursionError: deep")


def test_a_traceback_of_no_known_shape_is_left_as_it_is() -> None:
    frames = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>', "ZeroDivisionError: x"]
    assert lean_traceback(frames, "ZeroDivisionError", "x") == clean_traceback(frames, "ZeroDivisionError", "x")


async def test_a_recursion_error_is_short_and_whole_on_request(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    result = await assistant.call("execute_code", code="def down(n):\n    return down(n + 1)\ndown(0)")
    text = texts(result)
    assert result.is_error and len(text) < 2_500, len(text)
    assert "return down(n + 1)" in text and "RecursionError: maximum recursion depth exceeded" in text
    assert re.search(r"\[\.\.\. the frame above repeated [\d,]+ more times \.\.\.\]", text)
    call = re.search(r"read_output\('(e\d+)', offset=(\d+), limit=(\d+)\) returns it whole", text)
    assert call, text
    whole = await assistant.text(
        "read_output", execution_id=call.group(1), offset=int(call.group(2)), limit=int(call.group(3))
    )
    # Every frame as the kernel sent them, a page at a time.
    assert whole.count("return down(n + 1)") > 200 and "more lines: read_output(" in whole


async def test_an_error_deep_in_pandas_keeps_every_frame_of_the_user(
    assistant: Assistant, shared_kernel: IdeKernel, tmp_path: Path
) -> None:
    (tmp_path / "user_helpers.py").write_text("def column(frame, name):\n    return frame[name]\n")
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "import pandas as pd, user_helpers\n"
        "def total(frame):\n    return user_helpers.column(frame, 'price').sum()\n"
        "total(pd.DataFrame({'cost': [1, 2]}))"
    )
    text = texts(await assistant.call("execute_code", code=code))
    assert len(text) < 2_500, len(text)
    assert "----> 5 total(pd.DataFrame" in text and "in total(frame)" in text  # the cell's frames
    assert "user_helpers.py:2, in column(frame, name)" in text  # the user's own file
    assert re.search(r"\[\.\.\. \d+ frames? in pandas \.\.\.\]", text)
    assert "KeyError: 'price'" in text.split("[traceback shortened")[0]

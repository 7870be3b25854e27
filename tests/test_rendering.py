"""What the model sees of a cell's output: iopub messages in, content blocks out."""

from __future__ import annotations

import base64
import gc
import json
import random
import re
import types
import uuid

import pytest

from ipython_mcp.rendering import Image, KernelError, OutputLog, Outputs, Text, strip_ansi
from ipython_mcp.rendering.blocks import Block, ToDraw

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()
FIGURE = "<Figure size 640x480 with 1 Axes>"
ZERO_DIVISION = {
    "ename": "ZeroDivisionError",
    "evalue": "division by zero",
    "traceback": [
        "\x1b[0;31m" + "-" * 75 + "\x1b[0m",
        "\x1b[0;31mZeroDivisionError\x1b[0m" + " " * 25 + "Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[1], line 1\x1b[0m\n\x1b[0;32m----> 1\x1b[0m \x1b[38;5;241m1\x1b[39m"
        "\x1b[38;5;241m/\x1b[39m\x1b[38;5;241m0\x1b[39m\n",
        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
    ],
}
DATAFRAME_HTML = (
    "<div>\n<style scoped>\n"
    "    .dataframe tbody tr th:only-of-type {\n        vertical-align: middle;\n    }\n"
    "</style>\n"
    '<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n'
    "      <th></th>\n      <th>name</th>\n      <th>score</th>\n    </tr>\n  </thead>\n  <tbody>\n"
    "    <tr>\n      <th>0</th>\n      <td>alice</td>\n      <td>1.5</td>\n    </tr>\n"
    "    <tr>\n      <th>1</th>\n      <td>bob</td>\n      <td>2.0</td>\n    </tr>\n"
    "  </tbody>\n</table>\n</div>"
)
NOTICE = re.compile(r"\[\.\.\. ([\d,]+) characters?(?: \(([\d,]+) lines?\))? omitted \.\.\.\]")


def stdout(text: str) -> tuple[str, dict]:
    return "stream", {"name": "stdout", "text": text}


def stderr(text: str) -> tuple[str, dict]:
    return "stream", {"name": "stderr", "text": text}


def display(data: dict, display_id: str | None = None, msg_type: str = "display_data") -> tuple[str, dict]:
    transient = {"display_id": display_id} if display_id else {}
    return msg_type, {"data": data, "metadata": {}, "transient": transient}


def update(data: dict, display_id: str) -> tuple[str, dict]:
    return display(data, display_id, "update_display_data")


def clear(wait: bool = False) -> tuple[str, dict]:
    return "clear_output", {"wait": wait}


def error(ename: str, evalue: str, traceback: list[str]) -> tuple[str, dict]:
    return "error", {"ename": ename, "evalue": evalue, "traceback": traceback}


def log_of(*messages: tuple[str, dict], **options: int) -> OutputLog:
    log = OutputLog(**options)
    for msg_type, content in messages:
        log.add(msg_type, content)
    return log


def drawn(blocks: list[Block]) -> list[Block]:
    """The blocks with their SVGs and charts drawn, as a result draws them (figures.fit_figures,
    in a thread): recording an output never draws."""
    return [block.draw() if isinstance(block, ToDraw) else block for block in blocks]


def texts(log: OutputLog) -> list[str]:
    return [block.text for block in log.blocks() if isinstance(block, Text)]


def text_chars(log: OutputLog) -> int:
    return sum(len(text) for text in texts(log))


def omitted(text: str) -> tuple[int, int]:
    match = NOTICE.fullmatch(text)
    assert match, text
    return int(match[1].replace(",", "")), int((match[2] or "0").replace(",", ""))


def chars_held(obj: object) -> int:
    """Characters of every string reachable from `obj` through containers and plain objects."""
    total, seen, stack = 0, set(), [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type | types.ModuleType | types.FunctionType):
            continue
        seen.add(id(item))
        if isinstance(item, str):
            total += len(item)
        else:
            stack.extend(gc.get_referents(item))
    return total


# Streams


def test_no_output_gives_no_blocks():
    assert log_of().blocks() == []
    assert log_of(stdout("")).blocks() == []


def test_consecutive_prints_merge_into_one_text():
    assert log_of(stdout("a\n"), stdout("b\n"), stdout("c")).blocks() == [Text("a\nb\nc")]


def test_stderr_is_marked():
    log = log_of(stdout("loading\n"), stderr("UserWarning: careful\n"), stdout("done\n"))
    assert texts(log) == ["loading\n", "[stderr]\nUserWarning: careful\n", "done\n"]


def test_progress_bar_keeps_only_its_last_frame():
    log = log_of(*(stdout(f"\r{i}%") for i in range(100)))
    assert log.blocks() == [Text("99%")]


def test_tqdm_bar_on_stderr_shows_its_final_state():
    frames = [f"\r{p:3d}%|{'█' * (p // 10):<10}| {p}/100" for p in range(0, 101, 10)]
    log = log_of(stdout("training\n"), *(stderr(frame) for frame in frames), stderr("\n"))
    assert texts(log) == ["training\n", "[stderr]\n100%|██████████| 100/100\n"]


def test_text_after_a_carriage_return_replaces_the_line():
    assert texts(log_of(stdout("first\nabc\rxy\nlast\n"))) == ["first\nxy\nlast\n"]
    assert texts(log_of(stdout("loading..."), stdout("\rloaded   \n"))) == ["loaded   \n"]


def test_crlf_is_a_newline_even_split_over_two_messages():
    assert texts(log_of(stdout("a\r\nb\r\n"))) == ["a\nb\n"]
    assert texts(log_of(stdout("a\r"), stdout("\nb"))) == ["a\nb"]


def test_a_trailing_carriage_return_lets_the_next_message_replace_the_line():
    log = log_of(stdout("done\nstep 1\r"), stdout("step 2\r"), stdout("step 3\n"))
    assert texts(log) == ["done\nstep 3\n"]


def test_ansi_colours_cursor_moves_and_hyperlinks_are_stripped():
    log = log_of(
        stdout("\x1b[0;31mred\x1b[0m \x1b[1mbold\x1b[22m\n"),
        stdout("\x1b[1A\x1b[Kredrawn\n"),
        stdout("see \x1b]8;;https://example.com\x1b\\the docs\x1b]8;;\x1b\\\n"),
    )
    assert texts(log) == ["red bold\nredrawn\nsee the docs\n"]


def test_strip_ansi():
    assert strip_ansi("\x1b[38;5;241m1\x1b[39m\x1b]0;title\x07 \x1b(Bplain") == "1 plain"
    assert strip_ansi("no escapes") == "no escapes"


def test_last_line_is_the_latest_printed_line_for_progress_notices():
    outputs = Outputs()  # a run of the assistant's, whose latest line its progress shows
    assert outputs.last_line == ""
    outputs.add(*stdout("epoch 1\n\n\n"))
    assert outputs.last_line == "epoch 1"
    outputs.add(*stderr("\r 50%|#####     |"))
    assert outputs.last_line == "50%|#####     |"
    outputs.add(*display({"text/plain": "a display is not printed"}))
    assert outputs.last_line == "50%|#####     |"
    outputs.add(*stdout("x" * 500 + "\n"))
    assert outputs.last_line == "x" * 200


# Rich outputs


def test_matplotlib_figure_becomes_an_image_without_its_text_repr():
    log = log_of(display({"image/png": PNG + "\n", "text/plain": FIGURE}))
    assert log.blocks() == [Image(PNG, "image/png")]


def test_base64_wrapped_in_lines_is_joined():
    wrapped = "\n".join(PNG[i : i + 20] for i in range(0, len(PNG), 20))
    assert log_of(display({"image/jpeg": wrapped})).blocks() == [Image(PNG, "image/jpeg")]


def test_invalid_base64_becomes_a_note():
    log = log_of(display({"image/png": "not base64!", "text/plain": FIGURE}))
    assert log.blocks() == [Text("[image/png output could not be decoded]")]


def test_markdown_is_preferred_over_plain_text():
    markdown = {"text/markdown": "# Title", "text/plain": "<IPython.core.display.Markdown object>"}
    log = log_of(display(markdown))
    assert log.blocks() == [Text("# Title")]


def test_plain_text_repr_has_no_ansi():
    assert log_of(display({"text/plain": "\x1b[32m'green'\x1b[0m"})).blocks() == [Text("'green'")]


def test_default_object_repr_gives_way_to_html():
    html = {"text/html": "<b>Hello</b> world", "text/plain": "<IPython.core.display.HTML object>"}
    log = log_of(display(html))
    assert log.blocks() == [Text("Hello world")]


def test_ipythons_default_repr_gives_way_to_html_too():
    for plain in ("<__main__.Report at 0x7fc44672d310>", "<pandas.io.formats.style.Styler at 0x7F00AB>"):
        assert texts(log_of(display({"text/html": "<p>Total: 3</p>", "text/plain": plain}))) == ["Total: 3"]
    # Text that only looks like markup is kept.
    assert texts(log_of(display({"text/html": "<p>x</p>", "text/plain": "<Quantity 3 m>"}))) == ["<Quantity 3 m>"]


def test_a_useful_plain_text_is_preferred_over_html():
    plain = "    name  score\n0  alice    1.5\n1    bob    2.0"
    data = {"text/html": DATAFRAME_HTML, "text/plain": plain}
    assert texts(log_of(display(data, msg_type="execute_result"))) == [data["text/plain"]]


def test_dataframe_html_alone_becomes_a_readable_table():
    table = "| name | score\n0 | alice | 1.5\n1 | bob | 2.0"
    assert texts(log_of(display({"text/html": DATAFRAME_HTML}))) == [table]


def test_html_drops_scripts_and_styles_and_unescapes_entities():
    html = "<h1>Report</h1><style>p {}</style><p>Tom &amp; Jerry &lt;3</p><script>alert(1)</script><br>end"
    assert texts(log_of(display({"text/html": html}))) == ["Report\nTom & Jerry <3\nend"]


def test_svg_is_rendered_to_an_image_or_says_why_not():
    svg = "<svg xmlns='http://www.w3.org/2000/svg' width='40pt' height='20pt'><rect width='40' height='20'/></svg>"
    [image] = drawn(log_of(display({"image/svg+xml": svg, "text/plain": FIGURE})).blocks())
    assert isinstance(image, Image) and image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    [broken] = drawn(log_of(display({"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'><rect"})).blocks())
    assert isinstance(broken, Text) and broken.text.startswith("[image/svg+xml figure could not be rendered: ")
    huge = svg.replace("<rect", " " * 2_000_000 + "<rect")
    assert texts(log_of(display({"image/svg+xml": huge}))) == [
        f"[image/svg+xml figure not shown: {len(huge):,} characters, over 2,000,000]"
    ]


def test_latex_and_json():
    assert texts(log_of(display({"text/latex": r"$\alpha$"}))) == [r"$\alpha$"]
    json_text = '{\n "a": [\n  1,\n  2\n ]\n}'
    assert texts(log_of(display({"application/json": {"a": [1, 2]}}))) == [json_text]


def test_unknown_mime_types_are_named_with_what_can_be_done():
    log = log_of(display({"application/x-foo": "...", "application/vnd.bar+json": {}}))
    assert texts(log) == [
        "[output of type application/x-foo, application/vnd.bar+json not shown: it has no text or image "
        "form; the object behind it can be read in code instead]"
    ]
    scripted = log_of(display({"text/html": "<div id='x'></div><script>draw()</script>"}), display({"application/javascript": "f()"}))
    assert texts(scripted) == [
        f"[output of type {kind} not shown: a script, or HTML without text, that only the user's frontend shows]"
        for kind in ("text/html", "application/javascript")
    ]


def test_execute_result_renders_like_display_data():
    data = {"text/plain": "42"}
    result = log_of(display(data, msg_type="execute_result"))
    assert result.blocks() == log_of(display(data)).blocks()


def test_an_empty_bundle_shows_nothing():
    assert log_of(display({})).blocks() == []


# Display updates and clearing


def test_update_display_data_replaces_in_place():
    log = log_of(
        stdout("before\n"),
        display({"text/plain": "0%"}, "progress"),
        stdout("working\n"),
        update({"text/plain": "50%"}, "progress"),
        update({"text/plain": "100%"}, "progress"),
    )
    assert texts(log) == ["before\n", "100%", "working\n"]


def test_update_replaces_every_output_with_that_id():
    log = log_of(
        display({"text/plain": "a"}, "x"),
        display({"text/plain": "b"}, "y"),
        display({"text/plain": "c"}, "x"),
    )
    log.add(*update({"image/png": PNG}, "x"))
    assert log.blocks() == [Image(PNG, "image/png"), Text("b"), Image(PNG, "image/png")]


def test_update_for_an_unknown_display_id_is_ignored():
    log = log_of(display({"text/plain": "a"}, "x"), update({"text/plain": "b"}, "nope"))
    assert texts(log) == ["a"]


def test_an_empty_display_can_be_filled_by_an_update():
    log = log_of(display({}, "slot"), stdout("after\n"))
    assert texts(log) == ["after\n"]
    log.add(*update({"text/plain": "filled"}, "slot"))
    assert texts(log) == ["filled", "after\n"]


def test_clear_output_clears_at_once():
    log = log_of(stdout("old\n"), display({"text/plain": "old"}, "d"), clear(), stdout("new\n"))
    log.add(*update({"text/plain": "cleared displays cannot be updated"}, "d"))
    assert texts(log) == ["new\n"]


def test_clear_output_wait_keeps_last_frame():
    frames = []
    for i in range(5):
        frames += [clear(wait=True), display({"text/plain": f"frame {i}"}), stdout(f"step {i}\n")]
    assert texts(log_of(*frames)) == ["frame 4", "step 4\n"]


def test_clear_output_wait_with_nothing_after_it_clears_nothing():
    assert texts(log_of(stdout("kept\n"), clear(wait=True))) == ["kept\n"]


def test_clearing_resets_what_was_omitted():
    log = log_of(*(stdout(f"line {i}\n") for i in range(1_000)), text_budget=500)
    assert any(NOTICE.fullmatch(text) for text in texts(log))
    log.add(*clear())
    log.add(*stdout("fresh\n"))
    assert texts(log) == ["fresh\n"]


def test_unknown_message_types_are_ignored():
    log = log_of(
        ("status", {"execution_state": "busy"}),
        ("execute_input", {"code": "1", "execution_count": 1}),
        ("comm_msg", {"comm_id": "c", "data": {}}),
    )
    assert log.blocks() == []


# Errors


def test_traceback_has_no_ansi_and_ends_with_the_exception():
    log = log_of(("error", ZERO_DIVISION))
    expected = (
        "ZeroDivisionError                         Traceback (most recent call last)\n"
        "Cell In[1], line 1\n"
        "----> 1 1/0\n"
        "\n"
        "ZeroDivisionError: division by zero"
    )
    assert log.blocks() == [Text(expected)]
    assert log.error == KernelError("ZeroDivisionError", "division by zero", expected)


def test_a_traceback_without_its_exception_line_gets_one():
    frames = ["Traceback (most recent call last):", '  File "<stdin>", line 1']
    log = log_of(error("KeyError", "'x'", frames))
    assert texts(log) == ["\n".join([*frames, "KeyError: 'x'"])]


def test_an_empty_traceback_is_the_exception():
    log = log_of(error("NameError", "name 'x' is not defined", []))
    assert texts(log) == ["NameError: name 'x' is not defined"]
    assert log_of(error("KeyboardInterrupt", "", [])).error.traceback == "KeyboardInterrupt"


def test_error_comes_after_what_was_printed_before_it():
    log = log_of(stdout("about to fail\n"), ("error", ZERO_DIVISION))
    assert texts(log)[0] == "about to fail\n"
    assert texts(log)[1].endswith("ZeroDivisionError: division by zero")
    assert log_of(stdout("no error\n")).error is None


def test_output_after_an_error_follows_it():
    log = log_of(("error", ZERO_DIVISION), stderr("late warning\n"))
    assert texts(log)[0].endswith("ZeroDivisionError: division by zero")
    assert texts(log)[1] == "[stderr]\nlate warning\n"


def test_error_is_kept_in_full_after_a_flood_of_output():
    frames = [f'File "lib.py", line {i}, in f{i}\n    step_{i}()' for i in range(20)]
    flood = [stdout(f"noise {i}\n") for i in range(10_000)]
    log = log_of(*flood, error("ValueError", "bad", frames), text_budget=1_000)
    blocks = texts(log)
    assert blocks[-1] == "\n".join(frames) + "\nValueError: bad"
    assert len(blocks[-1]) > 700  # more than the tail alone could hold
    assert text_chars(log) <= 1_000 + len(blocks[1]) + len(blocks[-1])


def test_a_recursion_in_the_users_cell_is_told_once_with_its_count():
    frames = ["RecursionError                            Traceback (most recent call last)"]
    frames += ["Cell In[1], line 2, in f(n)\n----> 2 return f(n + 1)\n"] * 3_000
    frames += ["RecursionError: maximum recursion depth exceeded"]
    log = log_of(error("RecursionError", "maximum recursion depth exceeded", frames))
    assert log.error.traceback == (
        "RecursionError                            Traceback (most recent call last)\n"
        "Cell In[1], line 2, in f(n)\n----> 2 return f(n + 1)\n\n"
        "[... the frame above repeated 2,999 more times ...]\n\n"
        "RecursionError: maximum recursion depth exceeded"
    )


def test_a_huge_traceback_keeps_its_head_and_tail():
    frames = ["RecursionError                            Traceback (most recent call last)"]
    frames += [f"Cell In[1], line {i}, in f{i}(n)\n----> {i} return f{i + 1}(n + 1)\n" for i in range(3_000)]
    frames += ["RecursionError: maximum recursion depth exceeded"]
    recursion = error("RecursionError", "maximum recursion depth exceeded", frames)
    log = log_of(recursion, text_budget=2_000)
    head, notice, tail = re.split(r"\n(\[\.\.\. .* omitted \.\.\.\])\n", log.error.traceback)
    assert head.startswith("RecursionError                            Traceback")
    assert tail.endswith("return f3000(n + 1)\n\nRecursionError: maximum recursion depth exceeded")
    assert len(head) + len(tail) <= 2_000
    chars, lines = omitted(notice)
    assert chars > 100_000
    assert lines > 5_000


# Bounded memory and the text budget


def test_ten_megabytes_of_output_keep_head_and_tail_within_budget():
    output = "".join(f"row {i:>7}: {'x' * 80}\n" for i in range(110_000))  # about 10 MB
    chunk = 8_191  # kernels flush in chunks that ignore line ends
    log = log_of(*(stdout(output[i : i + chunk]) for i in range(0, len(output), chunk)))
    head, notice, tail = texts(log)
    assert head.startswith("row       0: ")
    assert output.startswith(head)
    assert head.endswith("\n")
    assert tail.startswith("row ")
    assert output.endswith(tail)
    chars, lines = omitted(notice)
    assert len(head) + chars + len(tail) == len(output)
    assert head.count("\n") + lines + tail.count("\n") == 110_000
    assert len(head) + len(tail) <= 20_000
    assert chars_held(log) < 3 * 20_000


def test_200000_lines_stay_within_budget_with_the_right_omitted_line_count():
    log = log_of(*(stdout(f"line {i}\n") for i in range(200_000)), text_budget=10_000)
    head, notice, tail = texts(log)
    assert head.startswith("line 0\nline 1\n")
    assert tail.startswith("line ")
    assert tail.endswith("line 199998\nline 199999\n")
    chars, lines = omitted(notice)
    assert head.count("\n") + lines + tail.count("\n") == 200_000
    assert len(head) + len(tail) <= 10_000
    assert chars_held(log) < 3 * 10_000


def test_a_ten_megabyte_line_is_bounded():
    chunks = [stdout("y" * 10_000) for _ in range(1_000)]
    for messages in ([stdout("y" * 10_000_000)], [*chunks, stdout("\n")]):
        log = log_of(*messages, text_budget=4_000)
        head, notice, tail = texts(log)
        assert set(head) == {"y"}
        assert set(tail.rstrip("\n")) == {"y"}
        assert len(head) + omitted(notice)[0] + len(tail.rstrip("\n")) == 10_000_000
        assert len(head) + len(tail) <= 4_000
        assert chars_held(log) < 3 * 4_000


def test_a_stderr_output_cut_in_its_middle_is_marked_on_both_sides():
    log = log_of(*(stderr(f"warning {i}\n") for i in range(1_000)), text_budget=1_000)
    head, notice, tail = texts(log)
    assert head.startswith("[stderr]\nwarning 0\n")
    assert tail.startswith("[stderr]\nwarning ")
    assert tail.endswith("warning 999\n")
    assert len(head) + len(tail) <= 1_000


def test_100000_display_calls_stay_within_budget():
    displays = (display({"text/plain": str(i)}, "same") for i in range(100_000))
    log = log_of(*displays, text_budget=2_000)
    shown = texts(log)
    assert shown[:3] == ["0", "1", "2"]
    assert shown[-1] == "99999"
    assert sum(len(text) for text in shown if not NOTICE.fullmatch(text)) <= 2_000
    assert chars_held(log) < 3 * 2_000
    log.add(*update({"text/plain": "updated"}, "same"))
    assert {text for text in texts(log) if not NOTICE.fullmatch(text)} == {"updated"}


def test_images_beyond_the_limit_become_one_note():
    figures = [display({"image/png": PNG, "text/plain": FIGURE}) for _ in range(25)]
    log = log_of(*figures, max_images=10)
    blocks = log.blocks()
    assert blocks[:10] == [Image(PNG, "image/png")] * 10
    assert blocks[10:] == [Text("[15 more images not shown]")]


def test_blocks_can_be_asked_for_again():
    log = log_of(*(stdout(f"line {i}\n") for i in range(5_000)), stderr("\r 7%"), text_budget=1_000)
    assert log.blocks() == log.blocks()
    log.add(*stderr("\r 8%"))
    assert log.blocks()[-1] == Text("[stderr]\n 8%")


def test_updates_that_grow_a_display_keep_the_budget():
    lines = [stdout(f"line {i}\n") for i in range(500)]
    log = log_of(display({"text/plain": "small"}, "d"), *lines, text_budget=1_000)
    log.add(*update({"text/plain": "big " * 2_000}, "d"))
    assert sum(len(text) for text in texts(log) if not NOTICE.fullmatch(text)) <= 1_000


# Against a simple model, and invariants under random messages


def _notebook_view(messages: list[tuple[str, str]]) -> list[str]:
    """Streams as a notebook shows them, worked out one character at a time."""
    outputs: list[tuple[str, list[str]]] = []
    replace = False
    for name, text in messages:
        if not outputs or outputs[-1][0] != name:
            outputs.append((name, [""]))
            replace = False
        lines = outputs[-1][1]
        for char in text:
            if char == "\r":
                replace = True
            elif char == "\n":
                lines.append("")
                replace = False
            else:
                if replace:
                    lines[-1] = ""
                    replace = False
                lines[-1] += char
    shown = [(name, "\n".join(lines)) for name, lines in outputs]
    return [("[stderr]\n" if name == "stderr" else "") + text for name, text in shown if text]


def test_streams_match_a_char_by_char_notebook_model():
    rng = random.Random(7)
    for _ in range(300):
        messages = []
        for _ in range(rng.randint(1, 12)):
            text = "".join(rng.choices("ab\r\n", k=rng.randint(1, 8)))
            messages.append((rng.choice(["stdout", "stdout", "stderr"]), text))
        log = log_of(*(("stream", {"name": name, "text": text}) for name, text in messages))
        assert texts(log) == _notebook_view(messages), messages


def test_random_messages_keep_every_bound():
    rng = random.Random(11)
    for _ in range(200):
        budget = rng.choice([300, 1_000])
        log = OutputLog(text_budget=budget, max_images=3)
        for _ in range(rng.randint(1, 120)):
            kind = rng.random()
            if kind < 0.5:
                pieces = rng.choices(["x", "yy\n", "\r", "\n", "z" * 300], k=rng.randint(1, 6))
                text = "".join(pieces)
                log.add(*rng.choice([stdout, stderr])(text))
            elif kind < 0.7:
                plain = {"text/plain": "p" * rng.randint(0, 700)}
                data = rng.choice([plain, {"image/png": PNG}, {}])
                log.add(*display(data, rng.choice([None, "a", "b"])))
            elif kind < 0.85:
                data = rng.choice([{"text/plain": "u" * rng.randint(0, 700)}, {"image/png": PNG}])
                log.add(*update(data, rng.choice(["a", "b"])))
            elif kind < 0.95:
                log.add(*clear(wait=rng.random() < 0.5))
            else:
                log.add(*error("E", "v", ["t" * rng.randint(0, 2 * budget)]))
        blocks = log.blocks()
        assert blocks == log.blocks()
        assert sum(isinstance(block, Image) for block in blocks) <= 3
        budgeted = [b.text for b in blocks if isinstance(b, Text) and not NOTICE.fullmatch(b.text)]
        budgeted = [t for t in budgeted if not re.fullmatch(r"\[\d+ more images? not shown\]", t)]
        if log.error and budgeted and budgeted[-1] == log.error.traceback:
            budgeted.pop()
        assert sum(len(text) for text in budgeted) <= budget
        assert chars_held(log) < 4 * budget


def test_a_plotly_bundle_of_any_shape_is_described_without_failing():
    from ipython_mcp.rendering.charts import describe_plotly

    for odd in (None, [], {"data": "x"}, {"data": [1, None, {"y": {"dtype": "f8", "bdata": "%%"}}]},
                {"layout": {"title": ["x"], "xaxis": {"range": [1]}}, "data": [{"x": [[1, 2], [3]], "y": [None]}]}):
        assert describe_plotly(odd).startswith("[plotly figure")
    many = {"data": [{"type": "bar", "y": [i]} for i in range(20)]}
    assert describe_plotly(many).endswith("- ... 8 more traces")
    log = log_of(display({"application/vnd.plotly.v1+json": many, "text/html": "<script>Plotly.newPlot()</script>"}))
    assert texts(log)[0].startswith("[plotly figure: 20 traces]")


# Charts drawn or described, plots and widgets of the user's frontend


def altair_chart(title: str = "Sales") -> object:
    alt = pytest.importorskip("altair")
    rows = [{"city": "Oslo", "rain": 7.5}, {"city": "Lima", "rain": 0.5}, {"city": "Pune", "rain": 3.0}]
    return alt.Chart(alt.Data(values=rows), title=title).mark_bar().encode(x="city:N", y="rain:Q")


SALES = '[Vega-Lite chart "Sales": bar mark; x city (nominal), y rain (quantitative); 3 rows]'


def test_an_altair_chart_is_drawn_with_a_line_saying_what_it_shows():
    """Altair's default renderer gives HTML with the spec in a script; its mimetype renderer the spec."""
    pytest.importorskip("vl_convert")
    alt = pytest.importorskip("altair")
    chart = altair_chart()
    html = chart._repr_mimebundle_()
    with alt.renderers.enable("mimetype"):
        spec_bundle, _ = chart._repr_mimebundle_()
    assert "text/html" in html and any(mime.startswith("application/vnd.vegalite.") for mime in spec_bundle)
    for data in (html, spec_bundle):
        [said, image] = drawn(log_of(display(data, msg_type="execute_result")).blocks())
        assert said == Text(SALES)
        assert isinstance(image, Image) and image.mime_type == "image/png" and image.alt == SALES
        png = base64.b64decode(image.data)
        assert png.startswith(b"\x89PNG") and 400 < int.from_bytes(png[20:24], "big") < 2_000  # its height


def test_a_chart_is_described_alone_without_vl_convert_or_its_data(monkeypatch: pytest.MonkeyPatch):
    from ipython_mcp.rendering import vega

    spec = altair_chart().to_dict()
    monkeypatch.setattr(vega, "vl_convert", None)
    assert texts(log_of(display({"application/vnd.vegalite.v5+json": spec}))) == [
        SALES[:-1] + "; not drawn: vl-convert-python is not installed where the server runs (the `charts` extra)]"
    ]
    monkeypatch.undo()
    pytest.importorskip("vl_convert")
    at_url = {"$schema": "https://vega.github.io/schema/vega-lite/v4.json", "data": {"url": "https://example.com/cars.csv"},
              "mark": {"type": "point"}, "encoding": {"x": {"field": "hp", "type": "quantitative"}}}
    assert texts(log_of(display({"application/vnd.vegalite.v4+json": at_url}))) == [
        "[Vega-Lite chart: point mark; x hp (quantitative); data from https://example.com/cars.csv; "
        "not drawn: data at a URL is not fetched here]"
    ]
    huge = {**spec, "data": {"values": spec["data"]["values"] * 40_000}}
    [said] = texts(log_of(display({"application/vnd.vegalite.v6+json": huge})))
    assert said.startswith(SALES[:-len("3 rows]")] + "120,000 rows; not drawn: its spec is ")
    assert said.endswith(" characters, over 2,000,000]")


def test_a_vega_spec_is_drawn_and_a_broken_one_says_why_not():
    pytest.importorskip("vl_convert")
    spec = {
        "$schema": "https://vega.github.io/schema/vega/v5.json", "width": 200, "height": 100, "title": "Raw",
        "data": [{"name": "table", "values": [{"c": "A", "v": 28}, {"c": "B", "v": 55}]}],
        "scales": [{"name": "x", "type": "band", "domain": {"data": "table", "field": "c"}, "range": "width"},
                   {"name": "y", "domain": {"data": "table", "field": "v"}, "range": "height"}],
        "marks": [{"type": "rect", "from": {"data": "table"}, "encode": {"enter": {
            "x": {"scale": "x", "field": "c"}, "width": {"scale": "x", "band": 1},
            "y": {"scale": "y", "field": "v"}, "y2": {"scale": "y", "value": 0}}}}],
    }
    [said, image] = drawn(log_of(display({"application/vnd.vega.v5+json": spec})).blocks())
    assert said == Text('[Vega chart "Raw": rect mark; data table (2 rows)]') and isinstance(image, Image)
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    [_, broken] = drawn(log_of(display({"application/vnd.vegalite.v5+json": {"mark": 3}})).blocks())
    assert isinstance(broken, Text) and broken.text.startswith("[Vega-Lite chart; not drawn: ")
    assert "\n" not in broken.text and len(broken.text) < 300


def test_a_described_image_says_what_it_shows_where_the_image_is_left_out(monkeypatch: pytest.MonkeyPatch):
    """Past max_images, and in the whole output read by line, the chart's line stays."""
    from ipython_mcp.rendering import excerpt, vega

    calls = []

    def draw(*args: object, **kwargs: object) -> bytes:
        calls.append(args)
        return base64.b64decode(PNG)

    monkeypatch.setattr(vega, "vl_convert", types.SimpleNamespace(vegalite_to_png=draw, get_vegalite_versions=lambda: []))
    spec = altair_chart().to_dict()
    outputs = Outputs()
    for _ in range(3):
        outputs.add(*display({"application/vnd.vegalite.v5+json": spec}))
    outputs.add(*stdout("done\n"))
    assert calls == []  # recorded, not drawn: a result draws what it shows

    def said(blocks: list) -> list[str]:
        return [f"<image {b.alt}>" if isinstance(b, Image) and b.data == PNG else b.text for b in drawn(blocks)]

    assert said(excerpt(outputs, budget=10_000, max_images=2)) == [
        SALES, f"<image {SALES}>", SALES, f"<image {SALES}>", SALES, "done\n", "[1 more image not shown]"
    ]
    assert len(calls) == 2  # the chart not shown is never drawn
    view = outputs.view()
    assert [piece.text for piece in view.pieces(0, 0, view.lines, max_chars=10_000)] == [SALES] * 3 + ["done"]
    log = log_of(*[display({"application/vnd.vegalite.v5+json": spec})] * 2, max_images=1)
    assert said(log.blocks()) == [SALES, f"<image {SALES}>", SALES, "[1 more image not shown]"]


def test_a_bokeh_plot_is_one_line_without_its_script():
    pytest.importorskip("bokeh")
    from bokeh.embed.notebook import notebook_content
    from bokeh.layouts import row
    from bokeh.plotting import figure

    growth = figure(title="Growth")
    growth.line([1, 2, 3], [4, 5, 6])
    growth.scatter([1, 2, 3], [4, 5, 6])
    script, div, _ = notebook_content(growth)
    exec_bundle = {"application/javascript": script, "application/vnd.bokehjs_exec.v0+json": ""}
    assert texts(log_of(display({"text/html": div}), display(exec_bundle))) == [
        "[Bokeh figure \"Growth\": 2 renderers (line, scatter); interactive, shown in the user's notebook only]"
    ]
    other = figure()
    other.vbar(x=[1, 2], top=[3, 4])
    script, _, _ = notebook_content(row(figure(title="A"), other))
    assert texts(log_of(display({**exec_bundle, "application/javascript": script}))) == [
        "[Bokeh row of 2 figures: figure \"A\": 0 renderers; figure: 1 renderer (vbar); "
        "interactive, shown in the user's notebook only]"
    ]
    loaded = {"application/javascript": "...", "application/vnd.bokehjs_load.v0+json": "..."}
    banner = "<div><a href='https://bokeh.org' class='bk-notebook-logo'></a><span>Loading BokehJS ...</span></div>"
    assert texts(log_of(display({"text/html": banner}), display(loaded))) == [
        "[BokehJS loaded into the user's notebook, where Bokeh plots are drawn]"
    ]


def test_a_widget_is_its_repr_and_where_it_works():
    widgets = pytest.importorskip("ipywidgets")
    data = widgets.IntSlider(value=3, description="n")._repr_mimebundle_()
    assert texts(log_of(display(data, msg_type="execute_result"))) == [
        "[widget IntSlider(value=3, description='n'), as first shown; interactive in the user's frontend only]"
    ]
    view_only = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc"}}
    assert texts(log_of(display(view_only))) == ["[a widget, interactive in the user's frontend only]"]


def tqdm_messages(monkeypatch: pytest.MonkeyPatch, steps: int, *, leave: bool = True) -> list[tuple[str, dict]]:
    """The comm messages and the display of a tqdm.notebook bar of 100 steps stopped after `steps`,
    as a kernel publishes them."""
    comm = pytest.importorskip("comm")
    notebook = pytest.importorskip("tqdm.notebook")
    pytest.importorskip("ipywidgets")
    sent: list[tuple[str, dict]] = []

    class Recorder:
        kernel = True

        def __init__(self, data: dict | None = None, comm_id: str | None = None, **_: object) -> None:
            self.comm_id = comm_id or uuid.uuid4().hex
            sent.append(("comm_open", {"comm_id": self.comm_id, "target_name": "jupyter.widget", "data": data}))

        def send(self, data: dict | None = None, **_: object) -> None:
            sent.append(("comm_msg", {"comm_id": self.comm_id, "data": data}))

        def close(self, *_: object, **__: object) -> None:
            sent.append(("comm_close", {"comm_id": self.comm_id, "data": {}}))

        def on_msg(self, callback: object) -> None:
            pass

        on_close = on_msg

    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: Recorder(**kwargs))
    bar = notebook.tqdm(total=100, desc="train", display=False, mininterval=0, leave=leave)
    sent.append(display(bar.container._repr_mimebundle_()))
    for _ in range(steps):
        bar.update(1)
    bar.close()
    return json.loads(json.dumps(sent))  # as JSON carries them: tuples become lists


def test_a_tqdm_notebook_bar_reads_as_its_latest_state(monkeypatch: pytest.MonkeyPatch):
    """Its display holds the bar as it began; comm messages bring its state since."""
    from ipython_mcp.rendering import excerpt

    messages = tqdm_messages(monkeypatch, 40)
    outputs = Outputs()
    for msg_type, content in messages:
        outputs.add(msg_type, content)
    [line] = excerpt(outputs, budget=1_000)
    assert isinstance(line, Text) and re.fullmatch(r"train: 40% 40/100 \[00:00<00:00, [\d.]+it/s\]", line.text)
    # Seen in passing (the user's cell), only the display is known: it says so.
    assert texts(log_of(*messages)) == [
        "[widget train: 0%| | 0/100 [00:00<?, ?it/s], as first shown; interactive in the user's frontend only]"
    ]
    # A bar whose models the run did not make keeps its first state, said as such.
    outputs = Outputs()
    outputs.add(*next(m for m in messages if m[0] == "display_data"))
    assert excerpt(outputs, budget=1_000) == [Text(text) for text in texts(log_of(*messages))]
    # tqdm(leave=False) closes its widget, which then shows no more, its labels maybe not written again.
    outputs = Outputs()
    for msg_type, content in tqdm_messages(monkeypatch, 100, leave=False):
        outputs.add(msg_type, content)
    assert excerpt(outputs, budget=1_000) == [Text("[progress bar, closed: 100% (100/100)]")]

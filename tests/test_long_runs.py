"""Long-running work: background runs, live progress, whole outputs, a kernel the user keeps busy."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp
import pytest
from conftest import Assistant, Gate, IdeKernel, ide_managed_kernel, texts

from ipython_mcp.server import build_server
from ipython_mcp.settings import Settings


def countdown(first: Gate, second: Gate) -> str:
    """Ten ticks: four, then three once `first` is open, then three once `second` is."""
    return "\n".join(
        [
            "for i in range(4):\n    print('tick', i, flush=True)",
            first.code,
            "for i in range(4, 7):\n    print('tick', i, flush=True)",
            second.code,
            "for i in range(7, 10):\n    print('tick', i, flush=True)",
        ]
    )


def _ticks(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^tick (\d+)$", text, re.M)]


async def test_a_long_cell_continues_past_its_timeout_and_is_collected_to_its_end(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    ide, one, two = shared_kernel.ide, gates(), gates()
    first = await assistant.call("execute_code", code=countdown(one, two), timeout=2, on_timeout="continue")
    text = texts(first)
    execution_id = re.search(r"as execution (e\d+)", text).group(1)
    assert "Still running after 2 s" in text and f"wait_for_execution('{execution_id}')" in text
    assert not first.is_error  # not failed: sent again, it would run twice; the text says it runs on
    seen = _ticks(text)
    assert seen and seen == list(range(len(seen)))

    cell = await ide.started(str(one.path))
    one.open()
    await ide.until(
        lambda m: m["parent_header"].get("msg_id") == cell and "tick 6" in m["content"].get("text", "")
    )
    middle = texts(await assistant.call("wait_for_execution", execution_id=execution_id, timeout=2))
    assert "It is still running" in middle
    # Only what was printed since the last read, and nothing skipped.
    assert _ticks(middle)[0] == seen[-1] + 1
    seen += _ticks(middle)

    two.open()
    last = await assistant.call("wait_for_execution", timeout=30)  # the latest one still running
    assert not last.is_error and f"Execution {execution_id} has finished (ok)." in texts(last)
    assert seen + _ticks(texts(last)) == list(range(10))

    again = texts(await assistant.call("wait_for_execution", execution_id=execution_id))
    assert "has finished (ok)" in again and _ticks(again) == []


async def test_a_call_sends_progress_with_the_latest_line(
    assistant: Assistant, shared_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    updates: list[tuple[float, str | None]] = []
    gate = gates()

    async def progress(value: float, total: float | None, message: str | None) -> None:
        updates.append((value, message))
        if len(updates) >= 4:
            gate.open()

    code = f"for i in range(2):\n    print('step', i, flush=True)\n{gate.code}\nprint('step', 2, flush=True)"
    result = await assistant.call("execute_code", progress=progress, code=code)
    assert not result.is_error
    assert len(updates) >= 4  # a few per second, not one per message
    values = [value for value, _ in updates]
    assert values == sorted(values)
    assert any(message and message.endswith(": step 1") for _, message in updates)


async def test_read_and_search_the_whole_of_a_10_mb_output(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    code = "for n in range(10_000):\n    print(f'line {n:05d} ' + 'x' * 1000)"
    result = texts(await assistant.call("execute_code", code=code))
    assert len(result) < 25_000
    notice = re.search(r"read_output\('(e\d+)', offset=(\d+), limit=(\d+)\) returns it", result)
    assert notice, result[:500]
    execution_id, offset, limit = notice.group(1), int(notice.group(2)), int(notice.group(3))
    head = result.split("[...")[0].rstrip("\n").splitlines()
    cut_short = len(head[-1]) < len("line 00000 ") + 1000  # the head ends inside this line
    # The call names exactly the lines left out, starting with the one the head cut short.
    assert offset == int(head[-1][5:10]) + (0 if cut_short else 1)
    tail_first = int(re.search(r"line (\d{5}) ", result.split("...]", 1)[1]).group(1))
    assert tail_first + 1 <= offset + limit <= tail_first + 3  # up to the tail's first line, whole

    page = await assistant.text("read_output", execution_id=execution_id, offset=offset, limit=5)
    assert page.startswith(f"Lines {offset}-{offset + 4} of 10,000 of the output of execution {execution_id}")
    assert [int(n) for n in re.findall(r"^line (\d{5}) ", page, re.M)] == list(range(offset, offset + 5))
    last = await assistant.text("read_output", execution_id=execution_id, offset=9_998, limit=100)
    assert "line 09999 " in last and "more lines" not in last

    found = await assistant.text("read_output", execution_id=execution_id, pattern=r"^line 0(4321|7777) ")
    assert (
        found.startswith("2 lines of the output")
        and "4321: line 04321" in found
        and "7777: line 07777" in found
    )
    assert "not a valid regular expression" in await assistant.error(
        "read_output", execution_id=execution_id, pattern="("
    )
    assert "backtracks too much" in await assistant.error(
        "read_output", execution_id=execution_id, pattern=r"(x|xx)+z"
    )
    assert "a search (with pattern) takes offset only" in await assistant.error(
        "read_output", execution_id=execution_id, pattern="line", char_offset=10
    )
    assert "only the last" in await assistant.error("read_output", execution_id="e999999")


async def test_a_cell_the_user_runs_makes_the_call_wait_or_fail_as_asked(
    assistant: Assistant, own_kernel: IdeKernel, gates: Callable[[], Gate]
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    gate = gates()
    cell = own_kernel.ide.send(f"waiting = True\n{gate.code}")
    await assistant.until_busy("another client's cell In[1]")
    error = await assistant.error("execute_code", code="marker = 1", if_busy="fail")
    assert "busy running another client's cell" in error and "the code was not sent" in error

    updates: list[str | None] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        updates.append(message)
        if message and message.startswith("waiting for another client's cell In[1]"):
            gate.open()

    result = await assistant.call("execute_code", progress=progress, code="print('after')", timeout=20)
    assert not result.is_error and texts(result).startswith("after\n")
    assert "It ran after another client's cell In[1] `waiting = True ...` had finished" in texts(result)
    assert any(m and m.startswith("waiting for another client's cell In[1]") for m in updates)
    await own_kernel.ide.outputs_of(cell)
    # if_busy='fail' sent nothing: the name was never defined.
    assert "NameError" in await assistant.error("execute_code", code="marker")


async def test_a_restart_from_the_ide_is_followed_and_told(
    assistant: Assistant, runtime_dir: Path, gates: Callable[[], Gate]
) -> None:
    # The IDE starts and restarts its kernel through a KernelManager, as Jupyter and Spyder do.
    async with ide_managed_kernel(runtime_dir / "kernel-restarted.json") as manager:
        await assistant.text("connect_to_kernel", connection_file="restarted")
        await assistant.text("execute_code", code="state = 'before'")
        old_pid = manager.provisioner.process.pid

        gate = gates()  # never opened while the test runs: the restart ends the code
        running = asyncio.ensure_future(
            assistant.call("execute_code", code=gate.code, on_timeout="continue", timeout=60)
        )
        await assistant.until_busy("the assistant's cell In[")
        await manager.restart_kernel()
        cut_short = await running
        assert cut_short.is_error and "was restarted by another client" in texts(cut_short)

        result = await assistant.call("execute_code", code="state")
        assert result.is_error and "NameError" in texts(result)
        status = await assistant.text("kernel_status")
        assert f"pid {manager.provisioner.process.pid}" in status and f"pid {old_pid}" not in status
        assert "Restarted by another client once" in status
        assert await assistant.text("execute_code", code="state = 'after'; state") == "'after'"


ASK_NAME = "name = input('Your name? ')\nprint('hello', name)"


@pytest.mark.anyio  # here, not by conftest: parametrizing needs it at collection
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_input_is_answered_by_the_user_through_elicitation(
    settings: Settings, shared_kernel: IdeKernel, mode: str
) -> None:
    """Asked in a result the client answers by calling again (protocol 2026-07-28), or with
    'legacy' in the middle of the call."""
    asked: list[str] = []

    async def user(context: Any, params: mcp.types.ElicitRequestParams) -> mcp.types.ElicitResult:
        asked.append(params.message)
        answer = "s3cret" if "password" in params.message else "Ada"
        return mcp.types.ElicitResult(action="accept", content={"answer": answer})

    async with mcp.Client(build_server(settings), mode=mode, elicitation_callback=user) as client:
        assistant = Assistant(client, Path(settings.runtime_dir))
        await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
        answered = await assistant.text("execute_code", code="print('before')\n" + ASK_NAME)
        assert answered.startswith("before\nhello Ada\n")  # nothing printed before input() is lost
        assert "asks for input: 'Your name? '" in asked[0]

        # A secret is not asked through a form: the user types it in their IDE.
        result = await assistant.call("execute_code", code="import getpass\nlen(getpass.getpass('Token: '))")
        assert "0" in texts(result) and "only the user may type it" in texts(result) and len(asked) == 1


async def test_input_without_elicitation_is_answered_by_send_input(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    waiting = await assistant.call("execute_code", code=ASK_NAME)
    assert not waiting.is_error and "Waiting for input: 'Your name? '" in texts(waiting)
    execution_id = re.search(r"\(execution (e\d+)\)", texts(waiting)).group(1)
    answered = await assistant.call("send_input", text="Bob", execution_id=execution_id)
    assert not answered.is_error and "hello Bob" in texts(answered)
    assert f"Execution {execution_id} has finished (ok)." in texts(answered)
    assert "nothing was sent" in await assistant.error("send_input", text="again")


async def test_unanswered_input_gets_an_empty_answer_and_the_kernel_stays_usable(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    waiting = await assistant.call("execute_code", code=ASK_NAME, timeout=1)
    assert "Waiting for input" in texts(waiting) and "within 1 s it gets an empty one" in texts(waiting)
    ended = texts(await assistant.call("wait_for_execution", timeout=20))
    assert "Nobody answered input('Your name? ') in time: it got ''." in ended
    assert "hello \n" in ended and "has finished (ok)" in ended
    assert await assistant.text("execute_code", code="1 + 1") == "2"


async def test_an_input_that_stopped_waiting_is_never_answered_later(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    waiting = texts(await assistant.call("execute_code", code=ASK_NAME, timeout=30))
    execution_id = re.search(r"\(execution (e\d+)\)", waiting).group(1)
    await assistant.text("interrupt_kernel")
    ended = await assistant.call("wait_for_execution", execution_id=execution_id, timeout=10)
    assert "KeyboardInterrupt" in texts(ended) and "Waiting for input" not in texts(ended)
    # An answer now could only reach somebody else's input(): nothing is sent.
    assert "nothing was sent" in await assistant.error("send_input", text="late")


async def test_disconnecting_answers_a_pending_input_so_the_user_is_not_blocked(
    assistant: Assistant, own_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(own_kernel.path))
    assert "Waiting for input" in texts(await assistant.call("execute_code", code=ASK_NAME, timeout=60))
    await assistant.text("disconnect_kernel")
    reply, printed = await own_kernel.ide.run("print('user cell ran')", timeout=15)
    assert reply["status"] == "ok" and printed == "user cell ran\n"

"""Whole outputs through the MCP tools, on a real kernel: the disk cap, long lines read in
pieces, and a search that leaves the server free to answer meanwhile."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import mcp
import pytest
from conftest import Assistant, IdeKernel, texts

from ipython_mcp.server import build_server
from ipython_mcp.settings import Settings


def temporary_bytes() -> int:
    """Bytes in the temporary files this process (and the server in it) holds open."""
    total = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(tempfile.gettempdir()):
                total += os.stat(f"/proc/self/fd/{fd}").st_size
        except OSError:
            continue
    return total


@pytest.fixture
async def capped(settings: Settings, shared_kernel: IdeKernel) -> AsyncIterator[Assistant]:
    """The assistant of a server whose whole outputs may keep 1 MB per kernel."""
    async with mcp.Client(build_server(dataclasses.replace(settings, max_output_disk_mb=1))) as client:
        assistant = Assistant(client, Path(settings.runtime_dir))
        await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
        yield assistant


def execution_id(text: str) -> str:
    return re.search(r"\b(e\d+)\b", text).group(1)


async def test_whole_outputs_stay_under_the_cap_and_say_what_was_dropped(
    capped: Assistant, tmp_path: Path
) -> None:
    before = temporary_bytes()
    go = tmp_path / "go"
    code = (
        "import os, time\nprint('started', flush=True)\n"
        f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.005)\n"
        "for i in range(40_000):\n    print(f'{i:06d} ' + 'x' * 100)"
    )
    # Still waiting for the file at its timeout: left running.
    first = texts(await capped.call("execute_code", code=code, timeout=1, on_timeout="continue"))
    assert "Still running" in first
    eid = execution_id(first.split("as execution ", 1)[1])
    go.touch()
    # 4.4 MB printed, 1 MB kept: the lines not shown yet lost their start, and the call says so.
    waited = texts(await capped.call("wait_for_execution", execution_id=eid, timeout=120))
    assert f"Execution {eid} has finished (ok)." in waited
    dropped = re.match(
        r"\[lines [01]-([\d,]+) were dropped to keep disk use under the cap of 1 MB; the rest is below\]\n",
        waited,
    )
    assert dropped, waited[:300]
    kept = int(dropped.group(1).replace(",", "")) + 1
    assert 30_000 < kept < 40_000 and waited.split("\n")[1] == f"{kept - 1:06d} " + "x" * 100
    assert temporary_bytes() - before <= 1 << 20

    page = await capped.text("read_output", execution_id=eid, offset=0, limit=3)
    assert page.startswith(
        f"[Lines 0-{kept - 1:,} were dropped to keep disk use under the cap of 1 MB; the rest is below.]\n"
        f"Lines {kept}-{kept + 2} of 40,001 of the output of execution {eid} (finished):\n{kept - 1:06d} "
    )
    last = await capped.text("read_output", execution_id=eid, offset=40_000)
    assert (
        last
        == f"Lines 40000-40000 of 40,001 of the output of execution {eid} (finished):\n039999 " + "x" * 100
    )
    found = await capped.text("read_output", execution_id=eid, pattern=r"^0(00123|39998) ")
    assert found.startswith(f"1 line of lines {kept:,}-40,000 of the output of execution {eid} matches:")
    assert "39999: 039998 " in found
    assert f"Lines 0-{kept - 1:,} were dropped to keep disk use under the cap of 1 MB: not searched." in found

    # The next execution's output goes in; what is left of this one goes first.
    await capped.text("execute_code", code="for i in range(10_000):\n    print(f'{i:06d} ' + 'y' * 100)")
    assert temporary_bytes() - before <= 1 << 20
    gone = await capped.text("read_output", execution_id=eid, offset=39_990)
    assert "were dropped to keep disk use under the cap of 1 MB" in gone


async def test_a_long_line_is_read_in_pieces_each_naming_the_next(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    code = "print('ab' * 1_250_000)\nfor i in range(3):\n    print('after', i)"
    result = texts(await assistant.call("execute_code", code=code))
    eid = execution_id(re.search(r"read_output\('(e\d+)'", result).group(0))
    assert result.rstrip().endswith("after 2")

    # The lines after the long one keep the numbers execute_code's notice counts.
    after = await assistant.text("read_output", execution_id=eid, offset=1)
    assert after == f"Lines 1-3 of 4 of the output of execution {eid} (finished):\nafter 0\nafter 1\nafter 2"
    page = await assistant.text("read_output", execution_id=eid, offset=0)
    assert page.startswith(f"Line 0, characters 0-19,999 of 2,500,000, of the output of execution {eid}")
    assert page.endswith(
        f"[line 0 goes on for 2,480,000 more characters: read_output('{eid}', offset=0, char_offset=20000)]"
    )
    assert page.split("\n")[1] == "ab" * 10_000
    near_end = await assistant.text("read_output", execution_id=eid, offset=0, char_offset=2_480_000)
    assert near_end == (
        f"Lines 0-0 of 4 of the output of execution {eid} (finished) (line 0 from character 2,480,000):\n"
        + "ab" * 10_000
        + f"\n[3 more lines: read_output('{eid}', offset=1)]"
    )
    # Following the calls each piece names gives the whole line back.
    pieces, offset = [], 1_000_000
    while offset is not None:
        text = await assistant.text("read_output", execution_id=eid, offset=0, char_offset=offset, limit=1)
        pieces.append(text.split("\n")[1])
        following = re.search(r"char_offset=(\d+)\)\]$", text)
        offset = int(following.group(1)) if following else None
    assert "".join(pieces) == ("ab" * 1_250_000)[1_000_000:]
    beyond = await assistant.text("read_output", execution_id=eid, offset=0, char_offset=3_000_000)
    assert "has 2,500,000 characters; none from character 3,000,000" in beyond


async def test_the_server_answers_other_calls_while_a_long_search_runs(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(shared_kernel.path))
    result = texts(await assistant.call("execute_code", code="print('\\n'.join(map(str, range(5_000_000))))"))
    eid = execution_id(re.search(r"read_output\('(e\d+)'", result).group(0))
    searching = asyncio.Event()
    order: list[str] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        if message and message.startswith("searched "):
            searching.set()

    # A lookahead is searched line by line: five million lines take longer than a search may.
    search = asyncio.ensure_future(
        assistant.call("read_output", progress=progress, execution_id=eid, pattern=r"(?=\d)\d+")
    )
    search.add_done_callback(lambda _: order.append("search"))
    await asyncio.wait_for(searching.wait(), 60)  # the search reports progress: it runs beside
    status = await assistant.text("kernel_status")
    order.append("kernel_status")
    assert "idle" in status
    assert await assistant.text("execute_code", code="1 + 1") == "2"
    order.append("execute_code")
    found = texts(await search)
    assert order == ["kernel_status", "execute_code", "search"]

    stopped = re.search(
        r"Searched lines 0-([\d,]+) of 5,000,000 in 3 s, then stopped: the same call with offset=(\d+) goes on from there\.",
        found,
    )
    assert stopped, found[-500:]
    end = int(stopped.group(2))
    assert found.startswith(
        f"{end:,} lines of lines 0-{end - 1:,} of the output of execution {eid} match (the first 50 shown):\n0: 0\n1: 1\n"
    )
    rest = await assistant.text("read_output", execution_id=eid, pattern=r"^499999\d$", offset=end)
    assert rest.startswith(f"10 lines of lines {end:,}-4,999,999 of the output of execution {eid} match:")
    assert rest.endswith("4999999: 4999999")

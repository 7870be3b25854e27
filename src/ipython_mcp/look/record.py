"""A small record of the user's namespace, kept between cells, to tell what a restart or death
took with it: names, types, shapes and sizes as last seen, and the cell that last bound each.

The names come from the kernel, where it is an IPython kernel (ipykernel, spyder-kernels):
after a cell ends (anyone's), once the kernel has stayed idle for SNAPSHOT_DELAY, one silent
request runs kernel_side/names.py (types, shapes and sizes; no previews, nothing that
computes) on the main shell. It leaves no trace (no history, no `_`, no execution count, no
name) and is never sent while a cell runs: a cell that starts meanwhile skips it, and the end
of that cell asks again. At most one is in flight. For 2,000 names it takes about 6 ms (an
empty silent request: under 3 ms); a cell sent meanwhile waits that long at most
(bench/bench_variables.py).

Which cell bound a name is read from the code of the cells (assignments.py) when the record
is due, never on the way of a result: the assistant's and other clients' alike, and, once per
kernel, from the kernel's history for the cells run before this server connected; after a
restart that history belongs to the new kernel.

Bounded: at most `limit` names are kept (the first in the order the words list them, lost.rank),
the cells of at most ORIGINS_KEPT names.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..session.link import KernelLink
from . import kernel_side
from .assignments import MAX_CODE, bound_names
from .lost import LostName, LostNames, Origin, rank

log = logging.getLogger(__name__)

SNAPSHOT_DELAY = 0.1
"""Seconds the kernel stays idle after a cell before its namespace is recorded: cells sent back
to back (Run All) follow each other within a millisecond, so only the last is followed by one."""
SNAPSHOT_GIVE_UP = 120.0
"""Seconds after which a record that did not come back is given up (it waits behind a cell that
started unseen, before this server connected)."""
FINAL_WAIT = 2.0
"""Seconds a last record before this server restarts the kernel may take."""
INLINE_CODE = 8_000
"""Characters of a cell read in the event loop (about a millisecond); longer cells are read in a
thread."""
HISTORY_CELLS = 300
"""Cells of the kernel's history read at most, for the names bound before this server connected."""
ORIGINS_KEPT = 2_000
"""Names whose cell is remembered; the names bound longest ago are forgotten first."""
CELLS_RUNNING = 64
"""Cells seen to start and not to end, remembered at most."""
CELLS_UNREAD = 16
"""Cells ended and still to read, at most (their code is kept until then): beyond, they are
read at once."""

Row = tuple[str, str, str | None, int | None, bool]
"""name, type, shape, size, is a function or class."""


@dataclass(slots=True)
class _Cell:
    """A cell seen to start: its code, number and whether it raised so far."""

    code: str
    execution_count: int | None
    ours: bool
    failed: bool = False
    ended: int = 0
    """When it ended, in the order cells ended."""


class NamespaceRecord:
    """The record of one kernel's namespace (see the module's docstring)."""

    def __init__(self, kernel: KernelLink, limit: int) -> None:
        self._kernel = kernel
        self._router = kernel.router
        self.limit = limit
        """Names kept at most (those lost.rank puts first); 0: no record."""
        self._rows: list[Row] | None = None
        """As last recorded; None: never recorded."""
        self._variables = 0
        """Variables the last record counted (it keeps `limit` of them)."""
        self._recorded_at = 0
        """The number of cells that had ended when the last record was asked for."""
        self._origins: dict[str, Origin] = {}
        self._ended = 0
        """Cells seen to end."""
        self._running: dict[str, _Cell] = {}
        self._unread: deque[_Cell] = deque()
        """Cells ended whose code is still to read."""
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._generation = 0
        self._history_read = False
        self._reading: set[asyncio.Task[None]] = set()
        self.taken = 0
        """Records taken so far."""
        self.sent = 0
        """Records asked for so far (one may come back only after a cell queued before it)."""
        self.skipped = 0
        """Records not asked for, the kernel being busy when one was due."""

    @property
    def enabled(self) -> bool:
        language = str(self._kernel.kernel_info.get("language_info", {}).get("name", "")).lower()
        return self.limit > 0 and language == "python"

    @property
    def asks_the_kernel(self) -> bool:
        """Whether records are asked of the kernel, or only the cells' code is read: xeus-python
        (0.19) drops its reply to a request that comes while it runs another, so a record
        could cost the assistant's next look its answer. IPython kernels (ipykernel,
        spyder-kernels) are asked."""
        return self.enabled and self._kernel.kernel_info.get("implementation") == "ipython"

    @property
    def cells_ended(self) -> int:
        """Cells seen to end, anyone's."""
        return self._ended

    @property
    def up_to_date(self) -> bool:
        """Whether the last record was taken after every cell seen to end had ended."""
        return self._rows is not None and self._recorded_at == self._ended

    # -- when to record ---------------------------------------------------------------------

    def start(self) -> None:
        """Connected: record what the kernel holds, once it is idle."""
        self.soon()

    def on_execute(self, msg_id: str, msg_type: str, content: dict[str, Any], ours: bool) -> None:
        """A message of anyone's cell (the router's on_execute): note when one starts, fails
        and ends."""
        if msg_type == "execute_input":
            if not self.enabled:
                return
            self._running[msg_id] = _Cell(content.get("code", ""), content.get("execution_count"), ours)
            while len(self._running) > CELLS_RUNNING:  # cells that never ended (a lost connection)
                del self._running[next(iter(self._running))]
        elif msg_type == "error" and msg_id in self._running:
            self._running[msg_id].failed = True
        elif msg_type == "status" and content.get("execution_state") == "idle":
            cell = self._running.pop(msg_id, None)
            if cell is not None:  # not a silent request (ours), which has no input
                self._cell_ended(cell)

    def _cell_ended(self, cell: _Cell) -> None:
        """Keep the cell's code to read (off the way of its result), then record the namespace
        once the kernel stayed idle."""
        self._ended += 1
        if cell.code and len(cell.code) <= MAX_CODE:
            cell.ended = self._ended
            self._unread.append(cell)
            if len(self._unread) > CELLS_UNREAD:
                self._read_cells()
        self.soon()

    def _read_cells(self) -> None:
        """Note what the cells ended since the last reading bind: short ones at once, longer
        ones in a thread."""
        while self._unread:
            cell = self._unread.popleft()
            noted = (cell.execution_count, cell.ours, cell.ended, not cell.failed)
            if len(cell.code) <= INLINE_CODE:
                self._note(bound_names(cell.code), *noted)
            else:
                self._read_in_thread(cell.code, noted)

    def soon(self) -> None:
        """Record the namespace after SNAPSHOT_DELAY, if the kernel is idle then."""
        if not self.asks_the_kernel:
            return
        if self._task is not None:
            self._again = True
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(SNAPSHOT_DELAY, self._fire)

    def _idle(self) -> bool:
        kernel = self._kernel
        return (
            kernel.death is None
            and self._router.current() is None
            and kernel.settled.is_set()
            and self._router.iopub_seen.is_set()
            and kernel.controls.frozen() is None
            and not kernel.controls.being_replaced()
        )

    def _fire(self) -> None:
        self._timer = None
        self._read_cells()  # the kernel need not be idle for that
        if self._task is not None:
            return
        if not self._idle():  # the end of the running cell asks again
            self.skipped += 1
            return
        self._task = asyncio.ensure_future(self._take())
        self._task.add_done_callback(self._taken)

    def _taken(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.debug("recording the namespace of %s failed", self._kernel.name, exc_info=task.exception())
        if self._again:
            self._again = False
            self.soon()

    # -- recording --------------------------------------------------------------------------

    async def _take(self) -> None:
        generation, ended = self._generation, self._ended
        content = {"code": "", "silent": True, "store_history": False, "allow_stdin": False,
                   "user_expressions": {"names": names_expression(self.limit)},
                   "stop_on_error": False}  # fmt: skip
        self.sent += 1
        reply = await self._request("execute_request", content)
        if reply is None or generation != self._generation:
            return
        value = (reply["content"].get("user_expressions") or {}).get("names") or {}
        if value.get("status") != "ok":
            return
        found = json.loads(ast.literal_eval(value["data"]["text/plain"]))
        rows = [(str(r[0]), str(r[1]), r[2], r[3], bool(r[4])) for r in found["rows"]]
        self._rows = rows
        self._variables = int(found["total"]) - int(found["defined"])
        self._recorded_at = ended
        self.taken += 1
        if not self._history_read and any(row[0] not in self._origins for row in rows):
            await self._read_history(generation)

    async def _request(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
        """A quiet shell request (never shown as a running cell); its reply, or None when the
        kernel died, was restarted or did not answer within SNAPSHOT_GIVE_UP (a cell that
        started unseen, before this server connected, runs before it)."""
        msg_id, reply = self._router.request("shell", msg_type, content, sink=_ignore, quiet=True)
        try:
            waiting = {reply, self._kernel.dead, self._kernel.restarted_signal}
            await asyncio.wait(waiting, timeout=SNAPSHOT_GIVE_UP, return_when="FIRST_COMPLETED")
        finally:
            if not reply.done():
                self._router.forget(msg_id)
        if reply.cancelled() or reply.exception() is not None:
            return None
        return reply.result()

    async def _read_history(self, generation: int) -> None:
        """The cells of this kernel run before this server connected, from its history (an
        IPython kernel's, of its current session): who bound the names recorded."""
        if not self._idle():
            return  # the next record asks again
        self._history_read = True
        # Raw, as cells are seen run: `%time x = f()`, not its translation to a call.
        asked = {"hist_access_type": "range", "session": 0, "stop": None, "output": False, "raw": True}
        last = await self._request("history_request", {**asked, "start": -1})
        entries = (last or {}).get("content", {}).get("history") or []
        latest = max((e[1] for e in entries if len(e) >= 3), default=0)
        if latest < 1 or generation != self._generation:
            return
        if not self._idle():
            self._history_read = False  # a cell started meanwhile: the next record asks again
            return
        cells = await self._request("history_request", {**asked, "start": max(1, latest - HISTORY_CELLS + 1)})
        entries = [(e[1], e[2]) for e in (cells or {}).get("content", {}).get("history") or [] if len(e) >= 3]
        found = await asyncio.to_thread(lambda: [(count, bound_names(code)) for count, code in entries])
        if generation != self._generation:
            return
        for count, names in found:
            self._note(names, count, False, 0)

    def _note(
        self, names: dict[str, tuple[Any, str]], count: int | None, ours: bool, ended: int, sure: bool = True
    ) -> None:
        """What a cell binds; a cell that ended later (or, from the history, has a later number)
        wins, unless it raised (`sure` false): then it may have stopped before binding a name,
        and is taken only for names no other cell is known to bind."""
        for name, (kind, detail) in names.items():
            origin = Origin(count, ours, kind, detail, ended, sure)
            known = self._origins.get(name)
            later = known is not None and (known.seq, known.execution_count or 0) > (ended, count or 0)
            if known is not None and (later or not sure):
                continue
            self._origins.pop(name, None)
            self._origins[name] = origin
        if len(self._origins) > ORIGINS_KEPT + ORIGINS_KEPT // 10:
            kept = sorted(self._origins.items(), key=lambda item: (item[1].seq, item[1].execution_count or 0))
            self._origins = dict(kept[-ORIGINS_KEPT:])

    def _read_in_thread(self, code: str, cell: tuple[int | None, bool, int, bool]) -> None:
        generation = self._generation

        async def read() -> None:
            names = await asyncio.to_thread(bound_names, code)
            if generation == self._generation:
                self._note(names, *cell)

        task = asyncio.ensure_future(read())
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    # -- what was lost ------------------------------------------------------------------------

    async def final(self) -> LostNames | None:
        """What the kernel holds, recorded once more if it is idle and a cell ended since the
        last record: for this server's own restart of it."""
        changed = self._rows is None or self._recorded_at < self._ended
        if self.asks_the_kernel and (self._task is not None or changed):
            if self._task is None and self._idle():
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                self._task = asyncio.ensure_future(self._take())
                self._task.add_done_callback(self._taken)
            if self._task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait({self._task}, timeout=FINAL_WAIT)
        return self.lost()

    def lost(self) -> LostNames | None:
        """What a restart or death now would take: the last record's names, with those that
        cells bound since; None when nothing is known (no record, no cell seen)."""
        self._read_cells()
        if not self.enabled or (self._rows is None and not self._origins):
            return None
        variables: list[LostName] = []
        functions: list[LostName] = []
        imports: list[LostName] = []
        listed = set()
        for name, kind, shape, size, is_callable in self._rows or []:
            origin = self._origins.get(name)
            deleted = origin is not None and origin.kind == "deleted" and origin.sure
            if deleted and origin.seq > self._recorded_at:
                continue  # deleted by a cell since the record
            if origin is not None and origin.kind == "import":
                imports.append(LostName(name, kind, shape, size, "import", origin))
            elif is_callable:
                defined = "class" if kind == "type" else "function"
                functions.append(LostName(name, kind, shape, size, defined, origin))
            else:
                variables.append(LostName(name, kind, shape, size, "value", origin))
            listed.add(name)
        bound_since = 0
        for name, origin in self._origins.items():
            if name in listed or name.startswith("_") or not origin.sure or origin.kind == "deleted":
                continue
            lost = LostName(name, None, kind=origin.kind, origin=origin)
            if origin.kind == "import":
                imports.append(lost)
            elif self._rows is None or origin.seq > self._recorded_at:
                (variables if origin.kind == "value" else functions).append(lost)
                bound_since += origin.kind == "value"
        return LostNames(
            tuple(rank(variables)[: self.limit]),
            self._variables + bound_since,
            tuple(functions[-self.limit :]),
            tuple(imports[-self.limit :]),
        )

    # -- a new kernel ----------------------------------------------------------------------------

    def restarted(self) -> None:
        """The kernel is a new one: it holds nothing yet, and its history is its own."""
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._again = False
        self._rows, self._variables = [], 0
        self._origins.clear()
        self._running.clear()
        self._unread.clear()
        self._recorded_at = self._ended
        self._history_read = True

    async def close(self) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
        tasks = {*self._reading, *([self._task] if self._task is not None else [])}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def names_expression(limit: int) -> str:
    """The user expression that lists the namespace's `limit` largest names (kernel_side/names.py),
    in a fresh globals dict, as KernelInspector.run_kernel_side runs its modules."""
    source = kernel_side.source("names")
    scope = f"{{'NS': globals(), 'OPTIONS': {{'limit': {limit}}}}}"
    return f"(lambda g: (exec({source!r}, g), g['RESULT'])[1])({scope})"


def _ignore(msg_type: str, content: dict[str, Any]) -> None:
    """The sink of the record's requests: marks them as ours, so none is taken for a user's cell."""

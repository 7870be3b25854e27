"""Looking at a kernel without running a cell of anyone's: variables, history, help, completions.

Between cells these are silent requests on the main shell. While a cell runs, ipykernel 7
answers them in a subshell of ours (code of ours through an inspector hook: inspect_hook.py)
and spyder-kernels through Spyder's variable explorer comm; other kernels get a clear "busy" at
once instead of a wait.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ..errors import KernelBusy, KernelDied, KernelSideError
from ..session.link import KernelLink
from ..transport.router import Activity
from . import inspect_hook, kernel_side, spyder

IDLE_ANSWER = 1.0
"""Seconds to wait for a shell answer (history, completion) before checking what the kernel runs."""
ANSWER_PATIENCE = 15.0
"""Seconds a shell answer may take while no cell is running (a first completion imports jedi)."""
SUBSHELL_REPLY = 2.0
"""Seconds the kernel gets to create or delete a subshell (control answers while busy)."""
HOOKS_EXPRESSION = (
    "[getattr(f, '__module__', '') + '.' + getattr(f, '__qualname__', type(f).__name__) "
    "for f in get_ipython().events.callbacks.get('post_execute', [])]"
)
HARMLESS_HOOKS = {"IPython.core.displaypub.DisplayPublisher._on_post_execute"}
_PLOTTING = re.compile(r"plt\b|pyplot|matplotlib|seaborn|\bsns\.|\.plot\b|\.hist\(|imshow|figure|\bdisplay\(")
UNKNOWN_CELL = (
    "what it runs is not known yet, and reading variables beside a cell could take the figures it draws"
)
HELD = "it holds the interpreter, so even a subshell cannot answer"
FIGURES = (
    "reading variables beside it could take the figures it draws, as matplotlib shows them "
    "after any code runs"
)


@dataclass(frozen=True, slots=True)
class Answer:
    """A kernel's reply to a look at it, and the cell that was running meanwhile, if any."""

    content: dict[str, Any]
    during: Activity | None = None


class KernelInspector:
    """The looking side of one kernel."""

    def __init__(self, kernel: KernelLink) -> None:
        self._kernel = kernel
        self._router = kernel.router
        self.has_subshells = False
        self.spyder: spyder.SpyderComm | None = None
        """Spyder's variable explorer channel, which answers while a cell runs (spyder-kernels)."""
        self._subshell: str | None = None
        self._subshell_created: asyncio.Future[dict[str, Any]] | None = None
        self._execute_hooks: set[str] | None = None
        """post_execute hooks of the kernel beyond IPython's own, as last seen; None: unknown."""
        self._hooked: bool | None = None
        """Whether our inspector hook runs code of ours beside a cell (see inspect_hook.py), as
        last seen; None: not known yet."""

    def start(self) -> asyncio.Future[Any] | None:
        """Set up what the kernel offers for looking at it while a cell runs (after the
        handshake); the hooks probe's answer, to wait for, where one was sent."""
        kernel_info = self._kernel.kernel_info
        self.has_subshells = "kernel subshells" in (kernel_info.get("supported_features") or [])
        if self.has_subshells:
            self._router.catch_up_request = "kernel_info_request"  # a status JupyterLab ignores
            self._router.on_cell = self._on_cell
            return self._probe_hooks()
        if spyder.is_spyder_kernel(kernel_info):
            self.spyder = spyder.SpyderComm(self._router)
            self.spyder.open()
        return None

    def restarted(self) -> None:
        """The kernel is a new one: what we made in the old one is gone with it."""
        self._subshell = None
        self._subshell_created = None
        self._execute_hooks = None
        self._hooked = None
        if self.has_subshells:
            self._probe_hooks()
        if self.spyder is not None:
            self.spyder.close(
                KernelDied("The kernel was restarted before it answered.", advice="ask_the_new_kernel")
            )
            self.spyder = spyder.SpyderComm(self._router)
            self.spyder.open()

    async def close(self) -> None:
        """Remove what we made in the kernel (subshell, comm) while it can still hear us."""
        kernel = self._kernel
        reason = kernel.died(f"The connection to kernel {kernel.name} was closed.")
        with contextlib.suppress(Exception):
            await self._unhook()
        with contextlib.suppress(Exception):
            await self._delete_subshell()
        if self.spyder is not None:
            self.spyder.close(reason)

    @property
    def is_python(self) -> bool:
        return str(self._kernel.kernel_info.get("language_info", {}).get("name", "")).lower() == "python"

    async def _ask(self, msg_type: str, content: dict[str, Any], what: str) -> Answer:
        """A shell request that looks at the kernel without running a cell of its own.

        Kernels with subshells (ipykernel 7+) answer it in a subshell of ours while a cell
        runs, where that is safe (see `_unsafe_beside`). Others answer between cells, so while
        one runs they get a clear no instead of a wait. Some answers are slow by themselves
        (the first completion imports jedi), so waiting goes on while the kernel is shown to
        be responsive, up to ANSWER_PATIENCE."""
        self._kernel.check_ready()
        if self.has_subshells:
            await self._router.catch_up()
            running = await self._past_our_looks(self._router.current())
        else:  # nothing may show the user's cell as done: the shell says whether one runs
            busy, running = await self._kernel.running_cell()
            if busy and _a_look(running):
                await self._past_our_looks(running)
                busy, running = await self._kernel.running_cell()
            if busy:
                raise _busy(running, what)
        executes = msg_type == "execute_request"
        subshell = None
        if self.has_subshells and (running is not None or not executes):
            if executes and (unsafe := self._unsafe_beside(running)):
                raise _busy(running, what, why=unsafe, beside=True)
            subshell = await self._side_subshell()
        if running is not None and subshell is None:
            raise _busy(running, what, why=HELD if self.has_subshells else "")
        # A sink marks the request as ours, so it is never recorded as the user's cell.
        msg_id, reply = self._router.request("shell", msg_type, content, sink=_ignore, subshell=subshell)
        deadline = time.monotonic() + ANSWER_PATIENCE
        while True:
            try:
                msg = await asyncio.wait_for(asyncio.shield(reply), IDLE_ANSWER)
                beside = self._router.current()  # what ran meanwhile, not this request itself
                return Answer(
                    msg["content"], running or (beside if beside and beside.msg_id != msg_id else None)
                )
            except TimeoutError:
                # A subshell is slow but working while control still answers (the interpreter
                # is not held); the main shell is working while no cell runs but this look.
                responsive = await self._router.catch_up()
                current = self._router.current()
                this_look = current is not None and current.msg_id == msg_id
                running = None if this_look else current
                working = responsive if subshell is not None else running is None
                if working and time.monotonic() < deadline:
                    continue
            self._router.forget(msg_id)
            if this_look:
                raise KernelBusy(
                    f"{what[:1].upper()}{what[1:]} took over {ANSWER_PATIENCE:.0f} s in the kernel (a slow "
                    "repr or size method?); it goes on there, unwaited for.",
                    advice="slow_look",
                )
            raise _busy(running, what, why=HELD if subshell is not None and not responsive else "")

    async def _past_our_looks(self, running: Activity | None) -> Activity | None:
        """What runs once a look of this server's that runs now has ended (another client's
        look, the hooks' probe a new kernel answers once it is up): a look is not a cell, it
        takes milliseconds, and is waited for, up to ANSWER_PATIENCE."""
        deadline = time.monotonic() + ANSWER_PATIENCE
        while _a_look(running) and (left := deadline - time.monotonic()) > 0:
            assert running is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(running.ended.wait(), left)
            await self._router.catch_up()
            running = self._router.current()
        return running

    def _unsafe_beside(self, running: Activity | None) -> str:
        """Why code of ours may not run in a subshell beside the running cell; "" if it may.

        Every execute request runs IPython's post_execute hooks, where matplotlib's inline
        backend shows and closes the figures drawn so far: beside a cell that is drawing, ours
        would take its figures. So only beside a cell we know, that does not look like it
        plots, in a kernel whose post_execute hooks (as last seen) are IPython's own."""
        if running is None or not running.code:
            return UNKNOWN_CELL
        if self._execute_hooks != set() or _PLOTTING.search(running.code):
            return FIGURES
        return ""

    def _learn_hooks(self, value: dict[str, Any] | None) -> None:
        """Note the kernel's post_execute hooks, from the `hooks` user expression's value."""
        try:
            names = ast.literal_eval((value or {})["data"]["text/plain"])
            self._execute_hooks = {str(n) for n in names} - HARMLESS_HOOKS
        except (KeyError, TypeError, ValueError, SyntaxError):
            self._execute_hooks = None

    def _on_cell(self, code: str) -> None:
        """A cell that may draw may also install matplotlib's hook: learn the hooks again once
        the main shell is free."""
        if _PLOTTING.search(code) and self._execute_hooks is not None:
            self._execute_hooks = None
            self._probe_hooks()

    def _probe_hooks(self) -> asyncio.Future[dict[str, Any]]:
        """Ask for the post_execute hooks, and install our inspector hook, in a silent request
        (no trace) that the kernel runs when its main shell is free; the answer arrives
        whenever that is."""
        expressions = {"hooks": HOOKS_EXPRESSION, "hooked": inspect_hook.install_expression()}
        content = {"code": "", "silent": True, "store_history": False, "allow_stdin": False,
                   "user_expressions": expressions, "stop_on_error": False}  # fmt: skip
        _, reply = self._router.request("shell", "execute_request", content, sink=_ignore)

        def learn(reply: asyncio.Future[dict[str, Any]]) -> None:
            if not reply.cancelled() and reply.exception() is None:
                values = reply.result()["content"].get("user_expressions") or {}
                self._learn_hooks(values.get("hooks"))
                self._hooked = inspect_hook.installed(values.get("hooked"))

        reply.add_done_callback(learn)
        return reply

    async def _side_subshell(self) -> str | None:
        """Our subshell in the kernel, created on first use; None where the kernel has none.

        A creation that is slow to answer (a cell holds the interpreter) is not given up:
        the next call waits for the same one, so the kernel never gets a subshell nobody uses."""
        if self._subshell is not None or not self.has_subshells:
            return self._subshell
        if self._subshell_created is None:
            _, self._subshell_created = self._router.request("control", "create_subshell_request")
        created = self._subshell_created
        try:
            msg = await asyncio.wait_for(asyncio.shield(created), SUBSHELL_REPLY)
        except TimeoutError:
            return None
        except Exception:  # the session is closing
            return None
        if self._subshell_created is created:
            self._subshell_created = None
            if msg["content"].get("status") == "ok":
                self._subshell = str(msg["content"]["subshell_id"])
            else:
                self.has_subshells = False
        return self._subshell

    async def _unhook(self) -> None:
        """Tell our inspector hook this client is gone (the last one removes it). Without a
        subshell of ours the main shell answers whenever it is free: not waited for."""
        if not self._hooked or self._kernel.death is not None:
            return
        self._hooked = None
        subshell = self._subshell
        msg_id, reply = self._router.request(
            "shell", "inspect_request", inspect_hook.leave_request(), sink=_ignore, subshell=subshell
        )
        if subshell is None:
            self._router.forget(msg_id)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reply, SUBSHELL_REPLY)

    async def _delete_subshell(self) -> None:
        if self._subshell is None or self._kernel.death is not None:
            return
        _, reply = self._router.request("control", "delete_subshell_request", {"subshell_id": self._subshell})
        self._subshell = None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reply, SUBSHELL_REPLY)

    async def history(self, n: int) -> list[tuple[int, str]]:
        """The last n cells of this kernel session, run by anyone: (execution number, code).

        All kernels of a user share one history database, so a `tail` reaches into other
        kernels' cells, other people's on a shared server. IPython kernels are asked for a
        range of their current session (session 0); other kernels keep their own history."""
        if self._kernel.kernel_info.get("implementation") != "ipython":
            content = await self._content("history_request", _history("tail", n=n), "a history request")
            entries = [e for e in content.get("history") or [] if len(e) >= 3]
            current = max((e[0] for e in entries), default=0)
            return [(e[1], e[2]) for e in entries if e[0] == current]
        last = await self._content("history_request", _history("range", start=-1), "a history request")
        latest = max((e[1] for e in last.get("history") or [] if len(e) >= 3), default=0)
        if latest < 1:
            return []
        start = max(1, latest - n + 1)
        content = await self._content("history_request", _history("range", start=start), "a history request")
        return [(e[1], e[2]) for e in content.get("history") or [] if len(e) >= 3 and e[1] >= 1][-n:]

    async def last_exception(self) -> str:
        """The traceback of the last exception the user's code raised, as plain text, or ""."""
        if not self.is_python:
            return ""
        found, _ = await self.run_kernel_side("last_error", {}, "a request for the last exception")
        return str(found.get("traceback") or "")

    async def _content(self, msg_type: str, content: dict[str, Any], what: str) -> dict[str, Any]:
        return (await self._ask(msg_type, content, what)).content

    async def run_kernel_side(
        self, module: str, options: dict[str, Any], what: str, *, in_stack: bool = False
    ) -> tuple[Any, Activity | None]:
        """Run a module of kernel_side in a fresh globals dict, leaving no trace: no history,
        no `_`, no execution count, no names left behind. Where our inspector hook is in
        place, through it (see inspect_hook.py); elsewhere through a silent user expression.
        `in_stack`: stack.py runs first, giving it the last exception's stack, and with
        options["frame"] that frame's namespace for NS (or the reason there is none).
        Returns its result and the cell that ran meanwhile (then values may be changing)."""
        if not self.is_python:
            language = self._kernel.kernel_info.get("language_info", {}).get("name", "another language")
            raise KernelSideError(
                f"Kernel {self._kernel.name} runs {language}, and {what} works in Python kernels only.",
                advice="other_language",
                language=language,
            )
        # stack.py may have said why there is no frame: then the module is not run.
        sources = [kernel_side.source("stack")] if in_stack else []
        sources.append(kernel_side.source(module))
        if self._hooked:
            answer = await self._ask("inspect_request", inspect_hook.request(sources, options), what)
            value = inspect_hook.answer(answer.content)
            if value is not None:
                return _result(value.get("result"), value), answer.during
            # The hook is gone (the user's configuration replaced the inspector's hooks):
            # install it again once the main shell is free, and look as if it never was.
            self._hooked = None
            self._probe_hooks()
        return await self._run_executing(sources, options, what)

    async def _run_executing(
        self, sources: list[str], options: dict[str, Any], what: str
    ) -> tuple[Any, Activity | None]:
        """run_kernel_side through a silent user expression, which also installs our
        inspector hook where that is not known to be impossible. Each source runs in turn
        until one sets RESULT."""
        run = ", ".join(f"'RESULT' in g or exec({source!r}, g)" for source in sources)
        expression = f"(lambda g: ({run}, g['RESULT'])[-1])({{'NS': globals(), 'OPTIONS': {options!r}}})"
        expressions = {"result": expression, "hooks": HOOKS_EXPRESSION}
        if self._hooked is None and self.has_subshells:
            expressions["hooked"] = inspect_hook.install_expression()
        answer = await self._ask(
            "execute_request",
            {
                "code": "",
                "silent": True,
                "store_history": False,
                "user_expressions": expressions,
                "allow_stdin": False,
                "stop_on_error": False,
            },
            what,
        )
        values = answer.content.get("user_expressions") or {}
        self._learn_hooks(values.get("hooks"))
        if "hooked" in expressions:
            self._hooked = inspect_hook.installed(values.get("hooked"))
        value = values.get("result") or {}
        text = value["data"].get("text/plain") if value.get("status") == "ok" else None
        return _result(None if text is None else ast.literal_eval(text), value), answer.during

    async def look(self, module: str, options: dict[str, Any], what: str) -> tuple[Any, Activity | None]:
        """run_kernel_side; while a cell blocks that in a spyder-kernels kernel, what Spyder's
        variable explorer channel can tell instead (marked `"source": "spyder"`)."""
        try:
            return await self.run_kernel_side(module, options, what)
        except KernelBusy:
            if self.spyder is None or not self.spyder.ready.is_set():
                raise
            running = self._router.current()
            try:
                view = await self.spyder.namespace_view()
            except TimeoutError:
                self._kernel.check_alive()
                raise _busy(running, what, why=HELD) from None
            return spyder.found_from_view(module, options, view), running

    async def help(self, code: str) -> dict[str, Any]:
        """The kernel's own help on an object (signature, docstring): inspect_request."""
        return await self._content(
            "inspect_request", {"code": code, "cursor_pos": len(code), "detail_level": 0}, "help"
        )

    async def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return await self._content(
            "complete_request", {"code": code, "cursor_pos": cursor_pos}, "completions"
        )


def _busy(running: Activity | None, what: str, *, why: str = "", beside: bool = False) -> KernelBusy:
    """`beside`: only looks that run code are refused beside the cell; the others still answer."""
    # A cell that holds the interpreter from its first instant may not even have announced itself.
    doing = running.describe() if running else "a cell it has not announced (it holds the interpreter)"
    return KernelBusy(
        f"The kernel is busy running {doing}{f' ({why})' if why else ''}, so it cannot answer {what} now.",
        advice="busy_own_cell" if running is not None and running.ours else "busy_users_cell",
        beside=beside,
    )


def _a_look(running: Activity | None) -> bool:
    """Whether what runs is a silent request of this server's (a look), not a cell."""
    return running is not None and running.ours and not running.code.strip()


def _result(text: Any, failure: dict[str, Any]) -> Any:
    """A kernel_side module's RESULT (JSON text), or the error of its failure."""
    if not isinstance(text, str):
        raise KernelSideError(
            f"Looking at the kernel failed ({failure.get('ename', 'no result')}: "
            f"{failure.get('evalue', '')}).",
            advice="maybe_not_python",
        )
    return json.loads(text)


def _history(access: str, **more: Any) -> dict[str, Any]:
    """A history_request's content: code as typed, no outputs; a range is of this session."""
    content = {"hist_access_type": access, "output": False, "raw": True, **more}
    if access == "range":
        content.update(session=0, stop=None)
    return content


def _ignore(msg_type: str, content: dict[str, Any]) -> None:
    """The sink of requests whose iopub messages we do not need."""

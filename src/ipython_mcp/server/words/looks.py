"""What the model reads of a look at the kernel: history with the user's outputs, variables,
one variable in detail, completions."""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult, ImageContent, TextContent

from ...look.errors_seen import SeenError
from ...look.observed import ObservedCell
from ...rendering import Block, Image, Text
from ...rendering.budget import clip
from ...session.base import KernelSession
from ...transport.router import Activity
from .kernels import restarted_by
from .runs import content_of

EVALUE_CHARS = 160
"""Characters of the first line of an exception's message said where its stack cannot be shown."""


def history_result(
    session: KernelSession,
    history: list[tuple[int, str]],
    observed: list[ObservedCell],
    last_error: str | None,
    figure: tuple[ObservedCell, Block] | None,
    budget: int,
) -> CallToolResult:
    """The recent cells, with the user's outputs where we saw them, the last error, the figure."""
    seen = {c.execution_count: c for c in observed if c.execution_count is not None}
    from_kernel = bool(history)
    if not history:  # some kernels (bash, R) keep no history: show the cells we saw instead
        history = [(number, cell.code) for number, cell in seen.items() if cell.code]
    parts = []
    for number, code in history:
        parts.append(f"In [{number}]: {code}")
        cell = seen.get(number)
        if cell is not None:
            shown = "".join(b.text for b in cell.log.blocks() if isinstance(b, Text)).rstrip()
            if shown:
                parts.append(f"Out (as the user saw it):\n{shown}")
    text = "\n".join(parts)
    if len(text) > budget:
        text = f"[... earlier cells omitted ...]\n{text[-budget:]}"
    if from_kernel:
        header = (
            f"Last {len(history)} cells run in kernel {session.name}, by anyone (outputs only for "
            "the cells other clients ran while this server was connected):"
        )
    elif history:
        header = (
            f"Kernel {session.name} keeps no history; the cells other clients ran while this "
            "server was connected:"
        )
    else:
        header = f"Kernel {session.name} reports no history: no cells yet, or it keeps none."
    content: list[TextContent | ImageContent] = [TextContent(type="text", text=f"{header}\n{text}".rstrip())]
    failed = [c for c in observed if c.log.error is not None]
    shown = {number for number, _ in history}
    if failed and failed[-1].execution_count in shown:
        note = f"Most recent exception: In [{failed[-1].execution_count}] above."
        content.append(TextContent(type="text", text=note))
    elif last_error is None:
        content.append(
            TextContent(type="text", text="(The last exception cannot be read while a cell runs.)")
        )
    elif failed or last_error:
        traceback = failed[-1].log.error.traceback if failed else last_error  # type: ignore[union-attr]
        content.append(TextContent(type="text", text=f"Most recent exception:\n{traceback.rstrip()}"))
    if figure is not None:
        cell, image = figure
        where = f"In [{cell.execution_count}]" if cell.execution_count else "a cell of the user"
        scaled = ""
        if isinstance(image, Image) and image.drawn:
            scaled = f" (drawn {image.drawn[0]}x{image.drawn[1]}, shown at {image.width}x{image.height})"
        content.append(TextContent(type="text", text=f"The user's most recent figure, from {where}{scaled}:"))
        content += content_of([image], session)
    return CallToolResult(content=content, is_error=False)


def during_note(running: Activity | None, found: dict[str, Any]) -> str:
    """Said when a look at the kernel was answered while a cell ran beside it."""
    if found.get("source") == "spyder":
        doing = running.describe() if running else "a cell"
        return (
            f"\n(From Spyder's variable explorer, which answers while {doing} runs: its filter, "
            "no memory sizes. Ask again once the kernel is idle for the full detail.)"
        )
    if running is None:
        return ""
    return f"\n(Read while {running.describe()} was running: its values may still change.)"


def completion_text(code: str, reply: dict[str, Any], limit: int = 50) -> str:
    matches = list(dict.fromkeys(reply.get("matches") or []))
    if not matches:
        return "No completions."
    start, end = reply.get("cursor_start", 0), reply.get("cursor_end", len(code))
    more = f" (+{len(matches) - limit} more)" if len(matches) > limit else ""
    return (
        f"{len(matches)} completions for {code[start:end]!r} (replacing characters {start}-{end}):\n"
        + ", ".join(matches[:limit])
        + more
    )


def variables_text(session: KernelSession, found: dict[str, Any], budget: int, *, scope: str = "") -> str:
    """The variables as a table, largest first; `scope`: where they are, if not the namespace."""
    scope = scope or f"kernel {session.name}"
    rows = sorted(found.get("rows") or [], key=lambda r: r.get("size") or 0, reverse=True)
    hidden = found.get("hidden", 0)
    left_out = f"; {hidden} left out (modules, callables, internals)" if hidden else ""
    if not rows:
        return f"No variables in {scope}{left_out}."
    header = ("name", "type", "shape", "dtype", "size", "preview")
    table = [header] + [
        (
            r["name"],
            r["type"],
            r.get("shape") or "",
            r.get("dtype") or "",
            _human_size(r.get("size")),
            r.get("preview") or "",
        )
        for r in rows
    ]
    widths = [min(max(len(str(row[i])) for row in table), 24) for i in range(len(header) - 1)]
    lines = [
        "  ".join(str(cell)[:24].ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in table
    ]
    text, shown = lines[0], 0
    for line in lines[1:]:
        if len(text) + len(line) + 200 > budget:
            break
        text += "\n" + line
        shown += 1
    more = f"\n[{len(rows) - shown} smaller variables not shown]" if shown < len(rows) else ""
    title = f"{len(rows)} variables in {scope}, largest first{left_out}:"
    return f"{title}\n{text}{more}"


def _human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def inspection_text(found: dict[str, Any], help_text: str, budget: int) -> str:
    expression = found.get("expression", "?")
    facts = [found.get("type", "?")]
    if found.get("shape"):
        facts.append(found["shape"])
    if found.get("memory") is not None:
        facts.append(_human_size(found["memory"]))
    lines = [f"{expression}: {', '.join(facts)}"]
    for key, label in (("dtypes", "dtypes"), ("note", "note"), ("head", "head"), ("summary", "summary")):
        value = found.get(key)
        if value:
            lines.append(f"{label}:\n{value}" if "\n" in str(value) else f"{label}: {value}")
    if found.get("attributes"):
        lines.append(f"public attributes: {found['attributes']}")
    if help_text:
        lines.append(help_text.strip())
    text = "\n".join(lines)
    if len(text) > budget:
        text = text[:budget] + f"\n[... {len(text) - budget:,} characters omitted ...]"
    return text


def post_mortem_text(found: dict[str, Any], chosen: int, whose: str) -> str:
    """The last exception's stack: the user's frames with their source, each run of library
    frames and of a frame repeated (a recursion) in a line, the frame that raised and the one
    whose locals follow marked."""
    error, frames = found["error"], found["frames"]
    lines = [f"{error['ename']}: {error['evalue']}".strip(), f"Raised in {whose}. Stack, outermost first:"]
    last = found.get("depth", len(frames)) - 1
    run: list[dict[str, Any]] = []  # library frames, or repeats of the frame shown before them
    shown: dict[str, Any] | None = None

    def fold() -> None:
        if run:
            first, end = run[0]["index"], run[-1]["index"]
            span = f"#{first}-#{end}" if end > first else f"#{first}"
            if run[0]["package"] is None:
                lines.append(f"  [{span}: the frame above, {len(run)} more times]")
            else:
                packages = ", ".join(dict.fromkeys(str(f["package"]) for f in run))
                lines.append(f"  [{span}: {len(run)} in {packages}]")
            run.clear()

    expected = 0
    for frame in frames:
        index = frame["index"]
        if index > expected:
            fold()
            lines.append(f"  [#{expected}-#{index - 1}: {index - expected} frames not shown]")
        expected = index + 1
        marked = index in (last, chosen)
        if not marked and (frame["package"] is not None or _same_place(frame, shown)):
            if run and (run[0]["package"] is None) != (frame["package"] is None):
                fold()
            run.append(frame)
            continue
        fold()
        shown = frame
        marks = [m for m, on in (("raised here", index == last), ("locals below", index == chosen)) if on]
        said = f"  <- {', '.join(marks)}" if marks else ""
        lines.append(f"  #{index} {frame['where']}, line {frame['line']}, in {frame['function']}{said}")
        for number, text in frame.get("source") or []:
            pointer = "->" if number == frame["line"] else "  "
            lines.append(f"     {pointer} {number:>4} | {text}")
    fold()
    return "\n".join(lines)


def _same_place(frame: dict[str, Any], before: dict[str, Any] | None) -> bool:
    return before is not None and all(frame[k] == before[k] for k in ("where", "line", "function"))


def read_only_expression_text(expression: str) -> str:
    """Why a read-only server does not evaluate an expression (inspect_variable, debug_error)."""
    return (
        f"{expression!r} is an expression; this read-only server inspects names and their "
        "attributes only (e.g. 'df' or 'df.columns'), since an expression could call code."
    )


def no_stack_text(error: dict[str, Any]) -> str:
    return (
        f"{error['ename']}: {error['evalue']}\nIt has no stack to examine: it was raised before any "
        "of the code ran (a syntax error, or an error of the kernel's machinery)."
    )


def no_exception_text(session: KernelSession) -> str:
    """Nothing to examine; after a restart, what the old kernel's last exception was."""
    none = f"No exception to examine in kernel {session.name}"
    restart = session.last_restart
    if restart is None or session.errors.latest is not None:
        return f"{none}: no code raised one since it started (or the last error was cleared)."
    by = restarted_by(restart)
    if restart.error is None:
        return f"{none}: none was raised since it was restarted by {by}; any raised before went with it."
    error = restart.error
    message = error.evalue.strip().splitlines()[0] if error.evalue.strip() else ""
    if len(message) > EVALUE_CHARS:
        message = message[: EVALUE_CHARS - 1] + "…"
    raised = f"{error.ename}: {message}" if message else error.ename
    return (
        f"{none}: its last one, {raised} ({_whose(session, error, old=True)}), was raised before "
        f"the kernel was restarted by {by}; its stack and variables went with the old kernel. "
        "Running that code again raises it anew, to examine here."
    )


def whose_error(session: KernelSession, frames: list[dict[str, Any]]) -> str:
    """Which cell raised the last exception: the assistant's run, or the user's cell."""
    cell = frames[0]["cell"] if frames else None
    if cell is None:
        return "code whose cell is not known"
    seen = session.errors.latest
    if seen is None:  # this server sees the errors of cells run while it listens
        return f"In [{cell}] (not seen raised by this server: run before it connected?)"
    if seen.execution_count != cell:
        return f"In [{cell}]"
    return _whose(session, seen)


def _whose(session: KernelSession, seen: SeenError, old: bool = False) -> str:
    cell = f"In [{seen.execution_count}]" if seen.execution_count is not None else "a cell"
    if not seen.ours:
        return f"{cell}, the user's cell"
    run = None if old else next((ex for ex in session.runner.executions if ex.msg_id == seen.msg_id), None)
    return f"{cell}, the assistant's run {run.id}" if run is not None else f"{cell}, the assistant's"


def module_frame_text(frame: int) -> str:
    return f"Frame #{frame} is the cell itself: its variables are the kernel's namespace (list_variables)."


def evaluation_result(blocks: list[Block], session: KernelSession, budget: int) -> CallToolResult:
    """An expression's value in a frame, shown as a cell's result would be."""
    clipped = [Text(clip(block.text, budget)) if isinstance(block, Text) else block for block in blocks]
    content = content_of(clipped, session)
    nothing = "(nothing to show: the value has no representation within 2 MB, or displays itself only)"
    return CallToolResult(content=content or [TextContent(type="text", text=nothing)])

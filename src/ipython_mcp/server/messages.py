"""What the model reads: session-layer values turned into MCP results and short plain text."""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult, ImageContent, TextContent

from ..discovery.server_kernels import ServerReport
from ..look.observed import ObservedCell
from ..rendering import Image, Text
from ..rendering.lines import Piece
from ..run.execution import Execution, ExecutionResult
from ..run.search import Match, Search
from ..session.base import KernelSession, KernelStatus, Restart
from ..session.clients import ClientView
from ..session.link import InterruptReport
from ..session.listing import Discovery
from ..session.local import LocalKernelSession
from ..session.remote import ServerKernelSession
from ..transport.router import Activity
from .advice import reach_by_id
from .fit import fit_result


def execution_result(result: ExecutionResult) -> CallToolResult:
    content: list[TextContent | ImageContent] = []
    for block in result.blocks:
        if isinstance(block, Image):
            content.append(ImageContent(type="image", data=block.data, mime_type=block.mime_type))
        elif isinstance(block, Text) and block.text:
            content.append(TextContent(type="text", text=block.text))
    if not content and result.status == "ok":
        content.append(TextContent(type="text", text="(no output)"))
    if result.notes:
        content.append(TextContent(type="text", text="\n".join(result.notes)))
    more = f"read_output('{result.execution_id}') returns the whole output" if result.execution_id else ""
    return fit_result(CallToolResult(content=content, is_error=result.is_error), more)


def kernel_line(session: KernelSession) -> str:
    """`ab12cd34 (python 3.11.7, ipykernel 7.4.0, pid 1234)`"""
    info = session.kernel_info
    language = info.get("language_info", {})
    parts = [f"{language.get('name', '?')} {language.get('version', '')}".strip()]
    implementation = info.get("implementation")
    if implementation:
        parts.append(f"{implementation} {info.get('implementation_version', '')}".strip())
    if session.pid is not None:
        parts.append(f"pid {session.pid}")
    notebook = session.notebook
    if notebook is not None:
        on = notebook.server.url
        parts.append(f"notebook {notebook.path} on {on}" if notebook.path else f"on {on}")
    return f"{session.name} ({', '.join(parts)})"


def default_phrase(view: ClientView, session: KernelSession) -> str:
    """How the model reaches the kernel it just attached: by default, or by its name."""
    if view.named_only:
        return (
            f"pass kernel={session.name!r} to the other tools (this server is shared over HTTP "
            "and keeps no default kernel for this client)"
        )
    return "it is the default kernel"


def default_now(view: ClientView) -> str:
    """` Default kernel is now ab12cd34.` after the default was disconnected, or ``."""
    return f" Default kernel is now {view.current}." if view.current and not view.named_only else ""


def status_text(session: KernelSession, status: KernelStatus) -> str:
    if status.frozen is not None:
        return f"Kernel {kernel_line(session)}: STOPPED. {status.frozen}\n{session.location}"
    if status.busy:
        doing = "busy running " + (
            status.running.describe() if status.running else "a cell this server did not see start"
        )
    else:
        doing = "idle"
    lines = [
        f"Kernel {kernel_line(session)}: {'alive' if status.alive else _not_alive(session)}, {doing}.",
    ]
    if status.execution_count is not None:
        lines.append(f"Execution count: {status.execution_count}.")
    lines.append(session.location)
    if session.restartable:
        lines.append("restart_kernel can restart it (its variables are then lost).")
    if session.restarts:
        times = "once" if session.restarts == 1 else f"{session.restarts} times"
        lines.append(f"Restarted by another client {times} while connected: state from before is gone.")
    return "\n".join(lines)


def _not_alive(session: KernelSession) -> str:
    if isinstance(session, ServerKernelSession):
        return "its server connection is down, reconnecting (calls wait for it)"
    return "NOT answering its heartbeat (frozen or overloaded?)"


def interrupt_text(session: KernelSession, report: InterruptReport) -> str:
    if report.frozen is not None:
        return f"Nothing was sent to kernel {session.name}: it cannot take an interrupt now. {report.frozen}"
    if not report.steps:
        return f"Nothing was running in kernel {session.name}; it is idle (no interrupt sent)."
    what = report.interrupted.describe() if report.interrupted else "the running cell"
    how = " then ".join(report.steps)
    if report.idle:
        return f"Interrupted {what} in kernel {session.name} ({how}). The kernel is idle."
    return (
        f"Kernel {session.name} is still busy after {how}: the running code may be in a C "
        "extension or a loop that ignores KeyboardInterrupt. Try interrupt_kernel again, or "
        "restart_kernel (its variables are lost)."
    )


def listing_text(runtime_dir: str, discovery: Discovery, view: ClientView) -> str:
    listings = discovery.listings
    current = view.current
    servers = _servers_text(discovery)
    if not listings:
        return servers or (
            f"No kernel connection files in {runtime_dir}. Call start_kernel to start a kernel, "
            "or ask the user for their kernel's connection file."
        )
    live = sum(k.live for k in listings)
    files = "1 connection file" if len(listings) == 1 else f"{len(listings)} connection files"
    lines = [f"{files} in {runtime_dir}, {live} live:"]
    for k in listings:
        marks = []
        if k.live:
            marks.append("live")
            if k.pid:
                marks.append(f"pid {k.pid}")
        else:
            marks.append(k.problem or "stale: no kernel answers (safe to ignore)")
        if k.kernel_name:
            marks.append(k.kernel_name)
        if k.server_kernel is not None:
            marks.append(k.server_kernel.describe())
        elif k.owner:
            marks.append(k.owner)
        if k.cwd:
            marks.append(f"cwd {k.cwd}")
        if k.readable_by_others:
            marks.append(f"WARNING file readable by other users (chmod 600 {k.path})")
        if k.connected and view.holds(k.name):
            marks.append("connected" + (", default" if k.name == current else ""))
        elif k.connected:
            marks.append("attached by another client of this server")
        lines.append(f"{'*' if k.name == current else '-'} {k.name}: {'; '.join(marks)}")
    if servers:
        lines.append(servers)
    return "\n".join(lines)


def _servers_text(discovery: Discovery) -> str:
    """What does not show in the connection files: servers that failed to answer, and server
    kernels whose files are elsewhere."""
    lines = [f"{r.server.title} {r.problem}." for r in discovery.servers if r.problem]
    remote = discovery.server_kernels()
    if remote:
        lines.append("Kernels of Jupyter Servers (connect_to_kernel takes the notebook path or kernel id):")
        lines.extend(f"- {k.kernel_id[:8]}: {k.kernel_name}; {k.describe()}" for k in remote)
    return "\n".join(lines)


def attach_instructions(session: KernelSession) -> str:
    if isinstance(session, ServerKernelSession):
        return (
            f"The user can use it from JupyterLab on {session.server.url}: in a notebook, Kernel > "
            f"Change Kernel… lists it among the running kernels ({session.kernel_id[:8]})."
        )
    assert isinstance(session, LocalKernelSession)
    path = session.conn.path
    return "\n".join(
        [
            "The user can attach to the same kernel:",
            f"- jupyter console / qtconsole: jupyter console --existing {path.name}",
            f"- Spyder: Consoles > Connect to an existing kernel > Browse: {path}",
            "- JupyterLab / VS Code: their notebooks start their own kernels; open a terminal "
            f"there and run `jupyter console --existing {path.name}`, or, to share a notebook's "
            "kernel instead, call list_kernels and connect_to_kernel on it.",
        ]
    )


def history_result(
    session: KernelSession,
    history: list[tuple[int, str]],
    observed: list[ObservedCell],
    last_error: str | None,
    figure: tuple[ObservedCell, Image] | None,
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
        content.append(TextContent(type="text", text=f"The user's most recent figure, from {where}:"))
        content.append(ImageContent(type="image", data=image.data, mime_type=image.mime_type))
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


def variables_text(session: KernelSession, found: dict[str, Any], budget: int) -> str:
    rows = sorted(found.get("rows") or [], key=lambda r: r.get("size") or 0, reverse=True)
    hidden = found.get("hidden", 0)
    left_out = f"; {hidden} left out (modules, callables, internals)" if hidden else ""
    if not rows:
        return f"No variables in kernel {session.name}{left_out}."
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
    title = f"{len(rows)} variables in kernel {session.name}, largest first{left_out}:"
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


def output_lines(ex: Execution, offset: int, limit: int, budget: int, char_offset: int = 0) -> str:
    """Lines of an execution's whole output, with their numbers in the header. A line longer
    than the budget comes a piece at a time, each naming the call that returns the next."""
    transcript = ex.outputs.view()
    total = transcript.lines
    state = "still running" if ex.finished is not None and not ex.finished.done() else "finished"
    gone = transcript.dropped(offset, char_offset)
    line, char = max((offset, char_offset), transcript.kept)
    pieces: list[Piece] = []
    size = 0
    for piece in transcript.pieces(line, char, line + limit, max_chars=budget):
        if pieces and (size + len(piece.text) > budget or piece.end < piece.length):
            break
        pieces.append(piece)
        size += len(piece.text) + 1
        if piece.end < piece.length:
            break
    if not pieces:
        if gone:
            return (
                f"Of the output of execution {ex.id} ({state}), {gone}: nothing is left from line {offset:,}."
            )
        return f"Execution {ex.id} ({state}) has {total:,} lines of output; none from line {offset}."
    notice = f"[{gone[0].upper()}{gone[1:]}; the rest is below.]\n" if gone else ""
    first = pieces[0]
    if first.start > first.length:
        return notice + (
            f"Line {first.number:,} of the output of execution {ex.id} ({state}) has {first.length:,} "
            f"characters; none from character {first.start:,}."
        )
    if first.end < first.length:  # a piece of a long line
        header = (
            f"Line {first.number:,}, characters {first.start:,}-{first.end - 1:,} of {first.length:,}, "
            f"of the output of execution {ex.id} ({state}):"
        )
        more = (
            f"\n[line {first.number:,} goes on for {first.length - first.end:,} more characters: "
            f"read_output('{ex.id}', offset={first.number}, char_offset={first.end})]"
        )
        return f"{notice}{header}\n{first.text}{more}"
    end = pieces[-1].number + 1
    start = f" (line {first.number:,} from character {first.start:,})" if first.start else ""
    header = (
        f"Lines {first.number}-{end - 1} of {total:,} of the output of execution {ex.id} ({state}){start}:"
    )
    more = f"\n[{total - end:,} more lines: read_output('{ex.id}', offset={end})]" if end < total else ""
    return notice + header + "\n" + "\n".join(piece.text for piece in pieces) + more


def output_matches(ex: Execution, found: Search, offset: int, budget: int, seconds: float) -> str:
    """The lines a search found, each with its number for read_output (and where in a long
    line), and how much of the output it went through."""
    transcript = ex.outputs.view()
    notes = []
    gone = transcript.dropped(offset) if found.first > offset else ""
    if gone:
        notes.append(f"{gone[0].upper()}{gone[1:]}: not searched.")
    if found.lost:
        lost = sum(last - first + 1 for first, last in found.lost)
        notes.append(
            f"{lost:,} lines between lines {found.lost[0][0]:,} and {found.lost[-1][1]:,} were dropped "
            "while the search ran, to keep disk use under the cap: not searched."
        )
    if found.slow_line is not None:
        notes.append(
            f"The pattern took over {seconds / 3:.1g} s on line {found.slow_line:,} alone: it "
            "backtracks too much there; a simpler pattern goes faster."
        )
    if found.stopped:
        notes.append(
            f"Searched lines {found.first:,}-{found.end - 1:,} of {found.lines:,} in {seconds:g} s, "
            f"then stopped: the same call with offset={found.end} goes on from there."
        )
    where = f"lines {found.first:,}-{found.end - 1:,} of " if found.stopped or found.first else ""
    if found.first >= found.lines:
        return f"Execution {ex.id} has {found.lines:,} lines of output; none from line {offset:,}."
    if not found.matches:
        text = f"No line in {where or ''}the output of execution {ex.id} ({found.lines:,} lines) matches."
        return "\n".join([text, *notes])
    width = max(80, min(300, budget // max(len(found.matches), 1)))
    shown = "\n".join(_match_line(match, width) for match in found.matches)
    more = f" (the first {len(found.matches)} shown)" if found.count > len(found.matches) else ""
    lines = "line" if found.count == 1 else "lines"
    verb = "matches" if found.count == 1 else "match"
    title = f"{found.count:,} {lines} of {where}the output of execution {ex.id} {verb}{more}:"
    return "\n".join([title, shown, *notes])


def _match_line(match: Match, width: int) -> str:
    """`12: the line's start`, or when the match is further into the line than `width`
    allows, the part around it: `12 [characters 2,000-2,299 of 5,000,000]: text`."""
    near = match.at - match.start < width * 3 // 4
    begin = match.start if near else max(match.start, match.at - width // 4)
    text = match.text[begin - match.start : begin - match.start + width]
    if begin == 0:
        return f"{match.number}: {text}"
    return f"{match.number} [characters {begin:,}-{begin + len(text) - 1:,} of {match.length:,}]: {text}"


# -- what the session and discovery layers report, worded --------------------------------------

_RESTARTED_BY = {
    "this_server": "restart_kernel (from a client of this server)",
    "another_client": "another client, most likely the user's IDE",
    "another_client_of_its_server": "another client (JupyterLab?)",
    "its_server": "{server} after it died (a crash, or out of memory?)",
}


def restart_notice(restart: Restart) -> str:
    """What a client of the kernel is told once about its latest restart."""
    by = _RESTARTED_BY[restart.by].format(server=restart.server)
    pids = f" (pid {restart.old_pid} is now pid {restart.new_pid})" if restart.old_pid else ""
    return (
        f"The kernel {restart.kernel} was restarted by {by}{pids}: all its variables, imports and "
        "state from before the restart are gone. Rerun what is needed."
    )


def unlisted_servers_note(reports: list[ServerReport]) -> str:
    """How the kernels of the servers that do not list them are reached, after a listing (whose
    lines say which servers those are)."""
    return "".join(f"\n{reach_by_id(r.server.name)}" for r in reports if not r.listed)

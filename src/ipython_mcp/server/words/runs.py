"""What the model reads about the assistant's runs: results, what happened besides the output,
and the whole output by line and by search."""
from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from mcp_types import CallToolResult, ImageContent, TextContent

from ...errors import NoSuchFigure
from ...rendering import Block, FigureLeftOut, Image, Omitted, Shortened, Text
from ...rendering.budget import More, omitted_text, shortened_text
from ...rendering.lines import Piece
from ...run import notes
from ...run.execution import Execution, ExecutionResult
from ...run.notes import Note
from ...run.search import Match, Search
from ...session.base import KernelSession
from ...session.link import InterruptReport
from ...transport.router import Activity
from ..fit import fit_result
from .advice import OWN_CELL, USERS_CELL, advice_text
from .lost import death_text


def execution_result(
    result: ExecutionResult, session: KernelSession, before: Sequence[str] = ()
) -> CallToolResult:
    """An execution's result: its output, then what happened besides, with `before` (what the
    server itself has to tell first) ahead of the notes."""
    content = content_of(result.blocks, session, result.execution_id)
    if not content and result.status == "ok":
        content.append(TextContent(type="text", text="(no output)"))
    scaled = [block for block in result.blocks if isinstance(block, Image) and block.drawn]
    notes = [*before, *(note_text(note, session) for note in result.notes)]
    if scaled:
        notes.insert(len(before), scaled_text(scaled, result.execution_id))
    if notes:
        content.append(TextContent(type="text", text="\n".join(notes)))
    whole = f"read_output('{result.execution_id}') returns the whole output" if result.execution_id else ""
    return fit_result(CallToolResult(content=content, is_error=result.is_error), whole)


def content_of(
    blocks: Sequence[Block], session: KernelSession, execution_id: str = ""
) -> list[TextContent | ImageContent]:
    """Blocks as the model reads them: text, images, and what was left out worded, with the
    call that returns it when they are an execution's (`execution_id`)."""
    more = more_hint(execution_id) if execution_id else None
    content: list[TextContent | ImageContent] = []
    over_budget = lambda block: isinstance(block, FigureLeftOut) and not block.unusable  # noqa: E731
    for left_out, group in groupby(blocks, key=over_budget):
        if left_out:
            content.append(TextContent(type="text", text=left_out_text(list(group), execution_id, session)))
            continue
        for block in group:
            if isinstance(block, FigureLeftOut):
                content.append(TextContent(type="text", text=unusable_text(block)))
            elif isinstance(block, Image):
                content.append(ImageContent(type="image", data=block.data, mime_type=block.mime_type))
            elif isinstance(block, Omitted):
                content.append(TextContent(type="text", text=omitted_text(block, more)))
            elif isinstance(block, Shortened):
                content.append(TextContent(type="text", text=shortened_text(block, more)))
            elif isinstance(block, Text) and block.text:
                content.append(TextContent(type="text", text=block.text))
    return content


def scaled_text(images: Sequence[Image], execution_id: str) -> str:
    """Which figures a result shows smaller than drawn, and the call that returns one whole."""
    sizes = ", ".join(f"{pixels(image.drawn)} -> {image.width}x{image.height}" for image in images)
    what = "1 figure" if len(images) == 1 else f"{len(images)} figures"
    first = images[0]
    call = f"read_output('{execution_id}', figure={first.figure}, max_px=N)" if first.figure else ""
    return f"{what} scaled {sizes}" + (f"; {call} returns one at up to N px." if call else ".")


def left_out_text(figures: Sequence[FigureLeftOut], execution_id: str, session: KernelSession) -> str:
    """The figures a result left out: which, their sizes, and the call that returns one."""
    budget = f"over this result's {session.settings.max_image_bytes // 1000} kB for images"
    numbers = [f.figure for f in figures if f.figure] if execution_id else []
    if len(figures) == 1:
        [figure] = figures
        what = f"figure {figure.figure}" if figure.figure else "1 figure"
        call = f"; read_output('{execution_id}', figure={figure.figure}) returns it" if numbers else ""
        return f"[{what} ({pixels((figure.width, figure.height))}) left out: {budget}{call}]"
    sizes = sorted({(f.width * f.height, pixels((f.width, f.height))) for f in figures})
    size = f"{sizes[0][1]} each" if len(sizes) == 1 else f"{sizes[0][1]} to {sizes[-1][1]}"
    what = f"{len(figures)} figures" + (f" ({spans(numbers)})" if numbers else "")
    call = f"; read_output('{execution_id}', figure=N) returns figure N" if numbers else ""
    return f"[{what}, {size}, left out: {budget}{call}]"


def unusable_text(figure: FigureLeftOut) -> str:
    """A figure that could not be fitted at all, and why."""
    what = f"figure {figure.figure}" if figure.figure else "an image"
    if figure.unusable == "too large":
        return f"[{what} not shown: {pixels((figure.width, figure.height))}, too many pixels to scale here]"
    return f"[{what} not shown: its data could not be read as an image]"


def spans(numbers: Sequence[int]) -> str:
    """`2-10, 12` for 2, 3, ..., 10, 12."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else f"{run[0]}" for run in runs)


def figure_result(block: Image | FigureLeftOut, execution_id: str) -> CallToolResult:
    """One figure of an execution, as asked for (read_output with figure=)."""
    if isinstance(block, FigureLeftOut) and block.unusable:
        return CallToolResult(content=[TextContent(type="text", text=unusable_text(block))], is_error=True)
    if isinstance(block, FigureLeftOut):
        return CallToolResult(
            content=[TextContent(type="text", text=(
                f"Figure {block.figure} of {execution_id} ({pixels((block.width, block.height))}) does not "
                "fit a result's image budget even at 400 px. With max_px it comes at that size, within what "
                "a transport carries (800 kB); or save it with savefig and look at parts of it."
            ))],
            is_error=True,
        )  # fmt: skip
    drawn = block.drawn or (block.width, block.height)
    shown = f", shown at {block.width}x{block.height}" if block.drawn else ""
    kind, kb = block.mime_type.removeprefix("image/").upper(), len(block.data) * 3 // 4 // 1000
    about = f"Figure {block.figure} of {execution_id}: {pixels(drawn)} as drawn{shown} ({kind}, {kb} kB)."
    image = ImageContent(type="image", data=block.data, mime_type=block.mime_type)
    return CallToolResult(content=[TextContent(type="text", text=about), image])


def no_such_figure(execution_id: str, number: int, count: int) -> NoSuchFigure:
    """The error for a figure an execution does not have, or no longer keeps."""
    if number > count:
        has = "no figures" if not count else f"figures 1 to {count}"
        return NoSuchFigure(f"Execution {execution_id} has {has}.")
    return NoSuchFigure(
        f"Figure {number} of {execution_id} is no longer kept: a run keeps its first and latest "
        "10 figures (not those replaced by an update or cleared)."
    )


def pixels(size: tuple[int, int] | None) -> str:
    return f"{size[0]}x{size[1]}" if size else "?"


def more_hint(execution_id: str) -> More:
    """The call that returns the part of an execution's output a result leaves out."""

    def more(first_line: int, lines: int, char_offset: int = 0) -> str:
        # Head and tail may each cut a line in two: the call covers both of those lines whole.
        if char_offset and lines <= 1:
            return f"read_output('{execution_id}', offset={first_line}, char_offset={char_offset}) returns it"
        at = f", char_offset={char_offset}" if char_offset else ""
        return f"read_output('{execution_id}', offset={first_line}{at}, limit={lines + 2}) returns it"

    return more


def note_text(note: Note, session: KernelSession) -> str:
    """What the model reads of one thing that happened to an execution besides its output."""
    match note:
        case notes.Aborted():
            return (
                "The kernel aborted this code without running it: a cell queued before it "
                "failed or was interrupted. Run it again if it is still wanted."
            )
        case notes.ErrorWithoutTraceback(ename, evalue):
            return f"{ename}: {evalue}"
        case notes.NoStdin():
            return (
                "input() is not available to the assistant: put the values in the code instead "
                "(or ask the user for them)."
            )
        case notes.OutputCleared():
            return (
                "The code cleared its output (clear_output) since it was last read: the output "
                "above is all it shows now."
            )
        case notes.DisplayUpdated():
            return (
                "A display already read was updated since: the output above starts with it, and "
                "shows it and what follows as they are now."
            )
        case notes.Finished(execution_id, status):
            return f"Execution {execution_id} has finished ({status})."
        case notes.RateLimited():
            return (
                "Its Jupyter Server dropped part of this output: it passes output to websocket "
                "clients up to a rate limit (1 MB/s by default), so the code printed more than "
                "shown. Write large outputs to a file instead, or ask the user to raise "
                "ZMQChannelsWebsocketConnection.iopub_data_rate_limit (and iopub_msg_rate_limit)."
            )
        case notes.TimedOut(timeout, report):
            return _timed_out(timeout, report, session.pid)
        case notes.WaitingForInput(execution_id, prompt, password, answer_within):
            if password:
                return (
                    f"The code asked for a password ({prompt!r}): only the user may type it, in "
                    "their IDE, so it got an empty answer here. Ask the user to run this part themselves."
                )
            return (
                f"Waiting for input: {prompt!r} (execution {execution_id}). Call send_input with the "
                f"answer; if none comes within {answer_within:.0f} s it gets an empty one, so the "
                "kernel is never left waiting."
            )
        case notes.InputUnanswered(prompt, by_user):
            if by_user:
                return f"input({prompt!r}) was not answered by the user: it got ''."
            return f"Nobody answered input({prompt!r}) in time: it got ''."
        case notes.StillRunning(execution_id, timeout, again):
            what = "It is still running"
            if not again:
                what = f"Still running after {timeout:g} s (on_timeout='continue')"
            return (
                f"{what} as execution {execution_id}. wait_for_execution('{execution_id}') returns what "
                "it prints next and its end; interrupt_kernel stops it; read_output reads or searches "
                "all its output."
            )
        case notes.Queued(execution_id, timeout, running):
            whose = running.describe() if running else "another request"
            return (
                f"Not started after {timeout:g} s: the kernel is busy with {whose}. The code stays "
                f"queued as execution {execution_id} (a kernel cannot drop it): it runs once the kernel "
                f"is free, and is interrupted if it runs longer than {timeout:g} s. Do not send it "
                f"again: wait_for_execution('{execution_id}') returns its output. {leave_it(running)}"
            )
        case notes.RanAfter(whose, seconds):
            return f"It ran after {whose} had finished ({seconds:.0f} s)."
        case notes.Reconnected(gap, others):
            kept = (
                ". Another client was connected, so the server kept no output for us: output "
                "printed meanwhile may be missing."
                if others
                else "; the server replayed the output it kept meanwhile."
            )
            return (
                f"The connection to the kernel's server dropped for at least {gap:.1f} s while this "
                f"ran, and was reopened{kept}"
            )
        case notes.NoReply():
            return "The kernel finished this code but sent no reply (an interrupt came as it ended)."
        case notes.EndLost(started):
            if started:
                return "Its end was lost with the connection: it finished while we were disconnected."
            return (
                "The kernel never said it ran this: the request may have been lost as the "
                "connection dropped, or it ran while we were disconnected. get_history shows "
                "whether it ran."
            )
        case notes.OutputMissing():
            return (
                "It ran, but none of its output reached ipython-mcp (the kernel had just restarted, "
                "or its output channel dropped): anything it printed or drew is not shown here."
            )
        case notes.KernelDied(death):
            return f"{death_text(death, session.link.lost)} {_recovery(session)}"
        case notes.KernelExited(kernel):
            return (
                f"The code ended the kernel {kernel} (it called exit() or quit()): its process "
                f"exits, and all its state is gone. {_recovery(session)}"
            )
        case notes.NotSeenToEnd():
            return "Its end was not seen: the connection closed."
        case notes.Restarted(execution_id, started):
            if started:
                return (
                    f"Execution {execution_id} did not finish: the kernel was restarted while it ran; "
                    "the output above is all it printed, and what it did in the kernel is gone with "
                    "the old kernel."
                )
            return (
                f"Execution {execution_id} did not run: the kernel was restarted before it started it "
                "(any effect it had is gone with the old kernel). Run it again if it is still wanted."
            )
    raise AssertionError(note)


def _recovery(session: KernelSession) -> str:
    """How to get the kernel back once it is gone."""
    recovery = session.recovery()
    return advice_text(recovery.advice, server=recovery.server)


def _timed_out(timeout: float, report: InterruptReport, pid: int | None) -> str:
    if report.frozen is not None:
        resume = advice_text("resume_process", pid=pid)
        return f"Timed out after {timeout:g} s, and it cannot be interrupted now. {report.frozen} {resume}"
    how = " then ".join(report.steps)
    if report.idle:
        return (
            f"Timed out after {timeout:g} s; the kernel was interrupted ({how}) and is idle. "
            "Output above is partial."
        )
    return (
        f"Timed out after {timeout:g} s; the kernel did not stop after {how}: it may be inside "
        "code that ignores interrupts. It is still busy; call interrupt_kernel again or "
        "restart_kernel."
    )


def leave_it(running: Activity | None) -> str:
    """What to do about the running cell: the user's is theirs to stop."""
    return OWN_CELL if running is not None and running.ours else USERS_CELL


def output_lines(ex: Execution, offset: int, limit: int, budget: int, char_offset: int = 0) -> str:
    """Lines of an execution's whole output, with their numbers in the header. A line longer
    than the budget comes a piece at a time, each naming the call that returns the next."""
    view = ex.outputs.view()
    total = view.lines
    state = "still running" if ex.finished is not None and not ex.finished.done() else "finished"
    gone = view.dropped(offset, char_offset)
    line, char = max((offset, char_offset), view.kept)
    pieces: list[Piece] = []
    size = 0
    for piece in view.pieces(line, char, line + limit, max_chars=budget):
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
    view = ex.outputs.view()
    notes = []
    gone = view.dropped(offset) if found.first > offset else ""
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

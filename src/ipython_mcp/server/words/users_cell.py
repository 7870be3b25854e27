"""What the model reads about the cell another client (the user's IDE) runs, followed to its end
by wait_for_execution(execution_id='user') (wait_for_users_cell on a read-only server): its
output as the user saw it, and how it ended."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_types import CallToolResult, ImageContent, TextContent

from ...look.follow import Followed
from ...look.observed import ObservedCell
from ...rendering import Block, Image, Text
from ...session.base import KernelSession
from ...transport.router import Activity
from .advice import OWN_CELL, USERS_CELL, advice_text
from .runs import content_of, scaled_text

RECENT = 600.0
"""Seconds since it ended within which the user's last cell is shown whole when none runs."""
USER = "user"
"""The execution_id that makes wait_for_execution follow the user's cell."""


def follow_call(session: KernelSession) -> str:
    """The call that follows the user's cell: a read-only server offers its own tool for it."""
    if session.settings.read_only:
        return "wait_for_users_cell()"
    return f"wait_for_execution(execution_id='{USER}')"


def users_cell_blocks(followed: Followed) -> list[Block]:
    """What of the cell's output a result shows: all of it once it ended, or where the kernel
    died or restarted under it; while it runs, its text (its figures come with its end); of the
    last cell when none runs, all of it if it ended recently."""
    cell = followed.cell
    if cell is None or (followed.state == "idle" and followed.ago > RECENT):
        return []
    blocks = cell.log.blocks()
    if followed.state == "running":
        return [block for block in blocks if not isinstance(block, Image)]
    return blocks


def users_cell_result(
    followed: Followed, blocks: Sequence[Block], session: KernelSession, before: Sequence[str] = ()
) -> CallToolResult:
    """The result of following the user's cell: what happened, its output (figures fitted),
    then what the model can do and what the server has to tell (`before`: restarts)."""
    cell, state = followed.cell, followed.state
    after: list[str] = []
    if state == "ended":
        header = _ended(followed)
    elif state == "running":
        header = _running(followed, sum(isinstance(block, Image) for block in _all_blocks(cell)))
        after.append(f"{follow_call(session)} waits for it again. {USERS_CELL}")
    elif state == "idle":
        header = _idle(followed, session, bool(blocks))
    elif state == "died":
        recovery = session.recovery()
        header = session.death or f"The kernel {session.name} is gone."
        if followed.busy:
            header += f" It was running {_which(followed)}{_so_far(blocks)}"
        after.append(advice_text(recovery.advice, server=recovery.server))
    else:
        gone = "" if before else ", and the state from before the restart is gone"
        header = f"The kernel {session.name} was restarted{gone}."
        if followed.busy:
            header = (
                f"The kernel {session.name} was restarted while it ran {_which(followed)}: that cell "
                f"did not finish{gone}{_so_far(blocks)}"
            )
    content: list[TextContent | ImageContent] = [TextContent(type="text", text=header)]
    content += content_of(blocks, session)
    scaled = [block for block in blocks if isinstance(block, Image) and block.drawn]
    notes = [*([scaled_text(scaled, "")] if scaled else []), *after, *before]
    if notes:
        content.append(TextContent(type="text", text="\n".join(notes)))
    return CallToolResult(content=content, is_error=state in ("died", "restarted"))


def _ended(followed: Followed) -> str:
    cell = followed.cell
    if not followed.seen_start:
        started = (
            "A cell another client started before ipython-mcp connected has ended (after at least "
            f"{_duration(followed.waited)}); what it showed before then was not seen"
        )
        shown = cell is not None and _all_blocks(cell)
        return started + (". What it showed since, as the user saw it:" if shown else ", nor anything since.")
    if cell is None:
        return "Another client's cell has ended, showing nothing."
    lost = "" if followed.end_seen else " (its end never reached ipython-mcp: its last output may be missing)"
    ended = f"{_first_upper(_name(cell))} ended {_how(cell)} after {_duration(followed.running)}"
    return f"{ended}{lost}{_shown(cell)}"


def _running(followed: Followed, figures: int) -> str:
    cell = followed.cell
    later = f" ({figures} figure{'s' if figures != 1 else ''} so far, shown once it ends)" if figures else ""
    if not followed.seen_start:
        what = (
            "A cell another client started before ipython-mcp connected is still running (at least "
            f"{_duration(followed.running)}; what it showed before then was not seen)"
        )
    else:
        name = _name(cell) if cell is not None else "another client's cell"
        what = f"{_first_upper(name)} is still running ({_duration(followed.running)} so far)"
    shown = cell is not None and any(isinstance(block, Text) for block in _all_blocks(cell))
    output = f". Its output so far{later}, as the user saw it:" if shown else f"; no output yet{later}."
    return f"{what}; waited {_duration(followed.waited)} and left it running{output}"


def _idle(followed: Followed, session: KernelSession, showing: bool) -> str:
    said = f"No cell of another client is running in kernel {session.name}."
    if followed.own is not None:
        said += f" It runs {followed.own.describe()}. {OWN_CELL}"
    cell = followed.cell
    if cell is None:
        return said + " None ran while ipython-mcp was connected; get_history lists the cells run before."
    ago = f"{_duration(followed.ago)} ago"
    if not showing:
        return said + f" The last one seen, {_name(cell, whose=False)}, ended {ago}; get_history shows it."
    return said + (
        f" The last one, {_name(cell, whose=False)}, ended {_how(cell)} {ago}, after "
        f"{_duration(followed.running)}{_shown(cell)}"
    )


def _all_blocks(cell: ObservedCell | None) -> list[Block]:
    return cell.log.blocks() if cell is not None else []


def _which(followed: Followed) -> str:
    if followed.cell is not None and followed.cell.announced:
        return _name(followed.cell)
    if followed.seen_start:
        return "a cell of another client"
    return "a cell another client started before ipython-mcp connected"


def _so_far(blocks: Sequence[Block]) -> str:
    return ". What it showed, as the user saw it:" if blocks else "."


def _shown(cell: ObservedCell) -> str:
    return ". What it showed, as the user saw it:" if _all_blocks(cell) else ", showing nothing."


def _how(cell: ObservedCell) -> str:
    error = cell.log.error
    return f"with an error ({error.ename})" if error is not None else "(ok)"


def _name(cell: ObservedCell, *, whose: bool = True) -> str:
    """`another client's cell In[7] `train(model)``, as the kernel's status names it."""
    named = Activity(cell.msg_id, ours=False, code=cell.code, execution_count=cell.execution_count)
    name = named.describe().rsplit(" (", 1)[0]
    return name if whose else name.removeprefix("another client's ")


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _duration(seconds: float) -> str:
    """`42 s`, `12 min`, `3.5 h`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""What happened to an execution besides its output, as values: the server layer words them.

A result carries these after its output (ExecutionResult.notes); server/ turns each into the
sentence the model reads, with the tools that help. Here they say only what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..session.link import InterruptReport
from ..transport.router import Activity


@dataclass(frozen=True, slots=True)
class Aborted:
    """The kernel aborted the code unrun: a cell queued before it failed or was interrupted."""


@dataclass(frozen=True, slots=True)
class ErrorWithoutTraceback:
    """The reply says the code failed, and no error output came: its name and value."""

    ename: str
    evalue: str


@dataclass(frozen=True, slots=True)
class NoStdin:
    """input() raised StdinNotImplementedError: the kernel's frontend cannot answer it."""


@dataclass(frozen=True, slots=True)
class OutputCleared:
    """The code cleared its output (clear_output) since the output was last read."""


@dataclass(frozen=True, slots=True)
class DisplayUpdated:
    """A display already read was updated since: shown again from there."""


@dataclass(frozen=True, slots=True)
class Finished:
    """A run followed past its first result has ended, with this status."""

    execution_id: str
    status: str


@dataclass(frozen=True, slots=True)
class RateLimited:
    """Its Jupyter Server dropped part of the output past its IOPub rate limit."""


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The code ran past its timeout and was interrupted (as the report says)."""

    timeout: float
    report: InterruptReport


@dataclass(frozen=True, slots=True)
class WaitingForInput:
    """The code waits on input(): for the model to answer within `answer_within` seconds; a
    password prompt got an empty answer at once, for only the user may type it."""

    execution_id: str
    prompt: str
    password: bool
    answer_within: float


@dataclass(frozen=True, slots=True)
class InputUnanswered:
    """An input() got an empty answer: the user gave none, or nobody did by its deadline."""

    prompt: str
    by_user: bool


@dataclass(frozen=True, slots=True)
class StillRunning:
    """The code runs on past the call (on_timeout="continue"); `again` on a later call."""

    execution_id: str
    timeout: float
    again: bool = False


@dataclass(frozen=True, slots=True)
class Queued:
    """The code has not started: the kernel is busy with `running`; it stays queued."""

    execution_id: str
    timeout: float
    running: Activity | None


@dataclass(frozen=True, slots=True)
class RanAfter:
    """The code waited for another client's cell before it ran."""

    whose: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The connection to the kernel's server dropped for `gap` s while the code ran; with
    `others` clients connected, the server kept no output for us meanwhile."""

    gap: float
    others: int


@dataclass(frozen=True, slots=True)
class NoReply:
    """The kernel finished the code but sent no reply (an interrupt came as it ended)."""


@dataclass(frozen=True, slots=True)
class EndLost:
    """The code's end was lost with a dropped connection; if it never `started`, whether it
    ran at all is unknown."""

    started: bool


@dataclass(frozen=True, slots=True)
class OutputMissing:
    """It ran, but none of its output reached us (a restart, or its output channel dropped)."""


@dataclass(frozen=True, slots=True)
class KernelDied:
    """The kernel died under the code: `death` says how."""

    death: str


@dataclass(frozen=True, slots=True)
class KernelExited:
    """The code ended the kernel (exit(), quit()): its process exits with all its state."""

    kernel: str


@dataclass(frozen=True, slots=True)
class NotSeenToEnd:
    """The connection closed before the code's end was seen."""


@dataclass(frozen=True, slots=True)
class Restarted:
    """The kernel was restarted under the code: it did not finish, or if it had not `started`,
    did not run; what it did is gone with the old kernel."""

    execution_id: str
    started: bool


Note = (
    Aborted
    | ErrorWithoutTraceback
    | NoStdin
    | OutputCleared
    | DisplayUpdated
    | Finished
    | RateLimited
    | TimedOut
    | WaitingForInput
    | InputUnanswered
    | StillRunning
    | Queued
    | RanAfter
    | Reconnected
    | NoReply
    | EndLost
    | OutputMissing
    | KernelDied
    | KernelExited
    | NotSeenToEnd
    | Restarted
)

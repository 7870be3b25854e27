"""The one exception tree of ipython-mcp; the MCP layer turns it into tool errors.

    IPythonMCPError
    ├── ConnectionFileError     a connection file is missing, unreadable or invalid
    ├── KernelNotChosen         which kernel to connect to is not clear: none, several, no match
    ├── NoSuchKernel            a call named a kernel that is not connected (or none is)
    ├── KernelUnreachable       nothing answers at the addresses of a connection file
    ├── JupyterServerError      a Jupyter Server is unreachable, refuses the token or a request
    ├── KeyMismatch             the kernel's heartbeat answers but it ignores our signed messages
    ├── RemoteKernelRefused     a connection file binds a non-loopback address, not allowed
    ├── KernelStartError        a kernel we launched did not come up
    ├── KernelDied              the connected kernel's process or heartbeat is gone
    ├── KernelFrozen            the kernel's process is stopped (SIGSTOP) and answers nothing
    ├── KernelBusy              a request needs an idle kernel and another cell is running
    ├── KernelSideError         code we run in the kernel to look at it failed there
    ├── CodeRefused             the assistant's code would end the user's kernel: not sent
    ├── CannotRestart           the kernel to restart is managed by another program (an IDE)
    ├── NoSuchExecution         no recent execution has the id a call named
    └── NotebookError           no code of the assistant to save, or the notebook cannot be written

Each says what happened, in facts, and may name by `advice` what can be done about it: the
server layer (server/words/advice.py) words that advice for the model, with the tools that
help, so the layers below know no tool. An exception raised by the *user's code* is not one of these:
it is output of the execution.
"""

from __future__ import annotations

from typing import Any


class IPythonMCPError(Exception):
    """Base class: an anticipated failure. Its message says what happened; `advice` names
    what can be done about it (a key of server/words/advice.py), `facts` fill in its words."""

    def __init__(self, message: str, *, advice: str = "", **facts: Any) -> None:
        super().__init__(message)
        self.advice = advice
        self.facts = facts


class ConnectionFileError(IPythonMCPError, LookupError):
    """Raised when a connection file cannot be found, read or parsed."""


class KernelNotChosen(IPythonMCPError, LookupError):
    """Raised when connecting cannot tell which kernel is meant: none runs, several do, or none
    matches the name, notebook or id given."""


class NoSuchKernel(IPythonMCPError, LookupError):
    """Raised when a call names a kernel that is not connected, or no kernel is connected."""


class KernelUnreachable(IPythonMCPError, ConnectionError):
    """Raised when nothing answers at the addresses of a connection file."""


class JupyterServerError(IPythonMCPError, ConnectionError):
    """Raised when a Jupyter Server cannot be reached, refuses our token, or refuses a request.

    `final` when trying again cannot help (a refused token, a kernel the server does not have)."""

    def __init__(
        self,
        message: str,
        *,
        final: bool = False,
        problem: str = "",
        unlisted: bool = False,
        advice: str = "",
        **facts: Any,
    ) -> None:
        super().__init__(message, advice=advice, **facts)
        self.final = final
        self.problem = problem or message
        """The short form for a listing: `refused the token in its jpserver file`."""
        self.unlisted = unlisted
        """The server refuses to list its kernels (an Enterprise Gateway's default) but answers
        for a kernel by its id."""


class KeyMismatch(IPythonMCPError, ConnectionError):
    """Raised when the heartbeat answers but requests signed with the file's key get no reply."""


class RemoteKernelRefused(IPythonMCPError, PermissionError):
    """Raised when a connection file binds a network address and remote kernels are not allowed."""


class KernelStartError(IPythonMCPError, RuntimeError):
    """Raised when a kernel this server launches exits or does not answer in time."""


class KernelDied(IPythonMCPError, RuntimeError):
    """Raised when the connected kernel's process is gone or its heartbeat stopped."""


class KernelFrozen(IPythonMCPError, RuntimeError):
    """Raised when the kernel's process is stopped (SIGSTOP, Ctrl+Z): nothing can run until resumed."""


class KernelBusy(IPythonMCPError, RuntimeError):
    """Raised when a request the kernel answers only when idle waits behind a running cell."""


class KernelSideError(IPythonMCPError, RuntimeError):
    """Raised when the code we run inside the kernel to inspect it fails there."""


class CodeRefused(IPythonMCPError, ValueError):
    """Raised when the assistant's code would end the kernel's process (exit(), quit()): not sent."""


class CannotRestart(IPythonMCPError, RuntimeError):
    """Raised when a kernel to restart is managed by another program (the user's IDE)."""


class NoSuchExecution(IPythonMCPError):
    """No recent execution has that id."""


class NoSuchFigure(IPythonMCPError, LookupError):
    """An execution has no figure of that number, or no longer keeps it."""


class NotebookError(IPythonMCPError):
    """Raised when the assistant ran no code to save as a notebook, or the notebook cannot be
    written where it was asked to."""

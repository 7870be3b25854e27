"""What the model can do about each anticipated failure, worded with the tools that help.

The layers below raise exceptions that say what happened in facts and name their advice by a
key (errors.IPythonMCPError); this is the one place that advice is written, so the words the
model reads about what to do next live in the server layer alone.
"""

from __future__ import annotations

from ...errors import IPythonMCPError

ADVICE: dict[str, str] = {
    # choosing and reaching a kernel
    "connect_first": "Call connect_to_kernel to attach to the user's kernel (list_kernels shows them), "
    "or start_kernel to start a new one.",
    "name_the_kernel": "connect_to_kernel and start_kernel return the name to pass.",
    "kernel_gone": "Call connect_to_kernel to attach to another kernel (list_kernels shows them), or "
    "start_kernel.",
    "connect_by_name": "Call connect_to_kernel with it (list_kernels shows the kernels).",
    # a kernel busy with a cell
    "busy_users_cell": "Ask again once it is idle (kernel_status tells). That cell is most likely the "
    "user's work: let it run, and interrupt it only if the user asks you to.",
    "busy_own_cell": "Ask again once it is idle: wait_for_execution follows it, interrupt_kernel stops it.",
    "run_after_busy": "With if_busy='wait' it runs after that cell. That cell is most likely the user's "
    "work: let it run, and interrupt it only if the user asks you to.",
    "run_after_own": "With if_busy='wait' it runs after it: wait_for_execution follows it, "
    "interrupt_kernel stops it.",
    # running code
    "ending_the_kernel": "If the user asked to shut it down, call shutdown_kernel; to stop the code early, "
    "raise an exception instead.",
    "name_the_execution": "Pass the id an execute_code result gave (e.g. 'e3').",
    # looking at the kernel
    "other_language": "Use execute_code with {language}'s own commands instead.",
    "list_names": "list_variables shows the names there.",
}


def error_text(exc: IPythonMCPError) -> str:
    """What the model reads for an anticipated failure: what happened, then what to do."""
    said = str(exc)
    if not exc.advice:
        return said
    return f"{said} {ADVICE[exc.advice].format(**exc.facts)}"

"""What the model can do about each anticipated failure, worded with the tools that help.

The layers below raise exceptions that say what happened in facts and name their advice by a
key (errors.IPythonMCPError); this is the one place that advice is written, so the words the
model reads about what to do next live in the server layer alone. An advice is a template of
those facts, or, where its words depend on them beyond filling them in, a function of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...errors import IPythonMCPError, KernelDied
from .lost import death_text

Advice = str | Callable[..., str]


USERS_CELL = (
    "That cell is most likely the user's work: let it run, and interrupt it only if the user asks you to."
)
"""What to do about another client's running cell: it is theirs to stop."""
OWN_CELL = "It is the assistant's own: wait_for_execution follows it, interrupt_kernel stops it."
"""What to do about the assistant's own running cell."""
ENABLE_LISTING = "Its admin can enable listing with --EnterpriseGatewayApp.list_kernels=True."
"""What makes an Enterprise Gateway list its kernels."""


def reach_by_id(server: str) -> str:
    """How the kernels of a server that does not list them (an Enterprise Gateway) are reached."""
    return f"connect_to_kernel takes a full kernel id with server={server!r}. {ENABLE_LISTING}"


def _after_looks_beside(advice: str) -> Callable[..., str]:
    """The advice about a busy kernel, after what it still answers where only looks that run code
    were refused beside the running cell (the `beside` fact)."""

    def words(beside: bool = False, **_: Any) -> str:
        return ("History and completions still answer (get_history, complete). " if beside else "") + advice

    return words


def _after_unlisted(advice: str) -> Callable[..., str]:
    """The advice, after how to reach the kernels of the servers that do not list them (the
    `unlisted` fact: their names)."""

    def words(unlisted: Sequence[str] = (), **_: Any) -> str:
        return "".join(f"{reach_by_id(name)} " for name in unlisted) + advice

    return words


ADVICE: dict[str, Advice] = {
    # choosing and reaching a kernel
    "connect_first": "Call connect_to_kernel to attach to the user's kernel (list_kernels shows them), "
    "or start_kernel to start a new one.",
    "name_the_kernel": "Name the kernel (kernel='...'): connect_to_kernel and start_kernel return the name "
    "to pass.",
    "kernel_gone": "Call connect_to_kernel to attach to another kernel (list_kernels shows them), or "
    "start_kernel.",
    "connect_by_name": "Call connect_to_kernel with it (list_kernels shows the kernels).",
    "no_kernel_running": _after_unlisted(
        "Ask the user for their kernel's connection file (Spyder: Consoles > Connection info; "
        "Jupyter: %connect_info), or call start_kernel."
    ),
    "pass_one_of_them": "Pass one of these to connect_to_kernel (list_kernels tells more about each).",
    "tell_them_apart": "Pass the notebook's path as shown or the kernel id, with server= when they are "
    "on different servers.",
    "open_the_notebook": _after_unlisted(
        "Ask the user to open the notebook (its kernel starts with it), or call list_kernels."
    ),
    # connection files
    "give_a_connection_file": "Give the path of a kernel's connection file; list_kernels shows them.",
    "no_file_matches": _after_unlisted(
        "Call list_kernels to see the kernels there, or pass the full path of the file."
    ),
    "longer_name": "Pass a longer part of the name.",
    "reconnect_or_start": "Ask the user to reconnect their IDE to a running kernel, or call start_kernel.",
    "stale_file": "Call list_kernels to find a live kernel, or start_kernel to start one.",
    "key_mismatch": "Ask the user for the current connection file, or call list_kernels.",
    "check_the_file": "Check the file, or call list_kernels.",
    "run_as_kernel_owner": "Run this MCP server as the user who started the kernel.",
    "restrict_the_file": "Fix: chmod 600 {path}",
    "tunnel_or_allow_remote": "Prefer an SSH tunnel (jupyter console --existing FILE --ssh HOST writes a "
    "loopback file), or, if this is intended, the user can start ipython-mcp with --allow-remote-kernels.",
    # starting a kernel here
    "file_exists": "Pass a new path, or call connect_to_kernel to attach to it.",
    "python_path": "Pass the full path of the environment's python (e.g. ~/envs/data/bin/python), or "
    "leave python unset to use the server's own.",
    "existing_cwd": "Pass an existing one.",
    "install_ipykernel": "Install it with `{python} -m pip install ipykernel`, then call start_kernel again.",
    # Jupyter Servers and their kernels
    "check_server": "Check that it is running and reachable, or call list_kernels.",
    "check_server_url": "Check that it is running and its URL, or call list_kernels.",
    "check_base_url": "Check that its URL is the base URL of a Jupyter Server (with JupyterHub, "
    "/user/<name>/).",
    "check_the_proxy": "Ask the user to check that proxy.",
    "where_servers_come_from": "Servers come from IPYTHON_MCP_JUPYTER_URL, a servers file, or a JupyterLab "
    "running on this machine.",
    "see_server_kernels": "Call list_kernels to see its kernels.",
    "gateway_unlisted": "Reach a kernel by its full id, connect_to_kernel('<kernel id>', server={server!r}), "
    "or start one with start_kernel(server={server!r}). " + ENABLE_LISTING,
    "full_id_or_start": "Pass a kernel's full id to connect_to_kernel with server={server!r}, or call "
    "start_kernel(server={server!r}). " + ENABLE_LISTING,
    "set_its_current_token": "The user should set its current token (`jupyter server list` shows it) and "
    "restart this MCP server.",
    "set_that_token": "The user should set that token (IPYTHON_MCP_JUPYTER_TOKEN, or token_env in the "
    "servers file) and restart this MCP server.",
    "check_url_and_token": "Check its URL (JupyterHub serves each user under /user/<name>/) and token.",
    "start_it_there": "Ask the user to start it there.",
    "configure_a_users_server": "The user should configure that URL (their server's, as JupyterLab shows it) "
    "and restart this MCP server.",
    "kernel_username": "The user can set KERNEL_USERNAME in this MCP server's environment to a user the "
    "gateway accepts and restart this MCP server, or ask the gateway's admin to accept this user.",
    "pick_one_of_them": "Pass a notebook path or kernel id to connect_to_kernel, or call list_kernels.",
    "start_one_there": "Call start_kernel(server={server!r}) to start one.",
    "list_them": "Call list_kernels.",
    "server_kernel_silent": "Call kernel_status later or ask the user to check it in JupyterLab.",
    # a kernel gone (session.link.Recovery), or restarted elsewhere
    "ask_the_new_kernel": "Ask again: the new kernel answers (its state from before the restart is gone).",
    "relaunch": "Call restart_kernel to start it again (its variables are lost), or start_kernel.",
    "restart_in_its_ide": "Ask the user to restart it in their IDE, then call connect_to_kernel; or call "
    "start_kernel for a new kernel.",
    "another_of_its_server": "Call list_kernels to see the server's kernels, then connect_to_kernel; or "
    "start_kernel(server={server!r}) for a new one.",
    "restart_it_there": "Ask the user to restart it there (Spyder: Consoles > Restart kernel; JupyterLab: "
    "Kernel > Restart Kernel), then call connect_to_kernel.",
    # a kernel whose process is stopped (SIGSTOP, Ctrl+Z)
    "resume_process": "Ask the user to resume it (`kill -CONT {pid}`, or `fg` in its terminal).",
    # a kernel busy with a cell
    "busy_users_cell": _after_looks_beside(f"Ask again once it is idle (kernel_status tells). {USERS_CELL}"),
    "busy_own_cell": _after_looks_beside(f"Ask again once it is idle (kernel_status tells). {OWN_CELL}"),
    "slow_look": "Look at a part of the value instead (inspect_variable with an attribute or an item), "
    "once kernel_status says idle.",
    "run_after_busy": f"With if_busy='wait' it runs after that cell. {USERS_CELL}",
    "run_after_own": f"With if_busy='wait' it runs after that cell. {OWN_CELL}",
    # running code
    "ending_the_kernel": "If the user asked to shut it down, call shutdown_kernel; to stop the code early, "
    "raise an exception instead.",
    "name_the_execution": "Pass the id an execute_code result gave (e.g. 'e3'), or 'user' to wait for the "
    "cell the user runs.",
    # looking at the kernel
    "other_language": "Use execute_code with {language}'s own commands instead.",
    "list_names": "list_variables shows the names there.",
    "maybe_not_python": "The kernel may not be a Python kernel.",
    "pick_a_frame": "Pass one of them as frame, or none for the deepest in the user's code.",
    "ask_again": "Call debug_error again to read the new one.",
    "see_the_frame": "debug_error(frame={frame}) lists the variables there.",
}


def advice_text(advice: str, **facts: Any) -> str:
    """The words of the advice named `advice`, with its facts."""
    words = ADVICE[advice]
    return words(**facts) if callable(words) else words.format(**facts)


def error_text(exc: IPythonMCPError) -> str:
    """What the model reads for an anticipated failure: what happened, then what to do."""
    said = str(exc)
    if isinstance(exc, KernelDied):
        said = death_text(said, exc.facts.get("lost"))
    if not exc.advice:
        return said
    return f"{said} {advice_text(exc.advice, **exc.facts)}"

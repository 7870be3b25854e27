"""The `ipython-mcp` command: flags and environment into Settings, then serve MCP over stdio."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import anyio

from . import __version__
from .settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipython-mcp",
        description=(
            "MCP server (stdio) that lets an AI assistant work in your live IPython/Jupyter "
            "kernel, shared with Spyder, JupyterLab, VS Code or jupyter console."
        ),
        epilog="Every flag also has an environment variable, shown in brackets; the flag wins.",
    )
    parser.add_argument("--version", action="version", version=f"ipython-mcp {__version__}")
    parser.add_argument(
        "--connection-file",
        metavar="PATH_OR_NAME",
        help="kernel that connect_to_kernel picks with no argument [IPYTHON_MCP_CONNECTION]",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="default execute_code timeout before the kernel is interrupted (60) [IPYTHON_MCP_TIMEOUT]",
    )
    parser.add_argument(
        "--max-output-chars",
        type=int,
        metavar="N",
        help="text budget of one result; the head and tail are kept past it (20000) "
        "[IPYTHON_MCP_MAX_OUTPUT_CHARS]",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        metavar="SECONDS",
        help="how long connecting waits for a kernel to answer (10) [IPYTHON_MCP_CONNECT_TIMEOUT]",
    )
    parser.add_argument(
        "--runtime-dir",
        metavar="DIR",
        help="where connection files are found and written (Jupyter's runtime dir) [JUPYTER_RUNTIME_DIR]",
    )
    parser.add_argument(
        "--jupyter-url",
        metavar="URL",
        help="a Jupyter Server, JupyterHub user server (https://hub/user/NAME/) or Enterprise Gateway "
        "whose kernels to reach over its websocket; its token comes from IPYTHON_MCP_JUPYTER_TOKEN, "
        "never from a flag [IPYTHON_MCP_JUPYTER_URL]",
    )
    parser.add_argument(
        "--servers-file",
        metavar="PATH",
        help="TOML file naming several servers: [servers.NAME] with url and token_env "
        "[IPYTHON_MCP_SERVERS_FILE]",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of the messages written to stderr (WARNING)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        settings = Settings.from_env(
            connection_file=args.connection_file,
            timeout=args.timeout,
            max_output_chars=args.max_output_chars,
            connect_timeout=args.connect_timeout,
            runtime_dir=args.runtime_dir,
            jupyter_url=args.jupyter_url,
            servers_file=args.servers_file,
        )
    except ValueError as exc:
        sys.exit(f"ipython-mcp: {exc}")

    from .kernels.registry import KernelRegistry
    from .server import build_server

    registry = KernelRegistry(settings)
    anyio.run(_serve_stdio, build_server(settings, registry), registry)
    _exit()


async def _serve_stdio(server: Any, registry: Any) -> None:
    """Serve until stdin closes or SIGTERM/SIGINT arrives.

    On a signal the assistant's running code is interrupted and connections are closed;
    kernels keep running."""
    async with anyio.create_task_group() as tasks:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    break
            await registry.close_all()
            _exit()

        tasks.start_soon(stop_on_signal)
        await server.run_stdio_async()
        tasks.cancel_scope.cancel()


def _exit() -> None:
    # The SDK reads stdin in a thread that may still be blocked in read(): don't wait for it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

"""The `ipython-mcp` command: flags and environment into Settings, then one of its subcommands.

ipython-mcp [FLAGS]                 serve MCP over stdio (what MCP clients launch)
ipython-mcp serve --transport http  serve streamable HTTP on 127.0.0.1 with a bearer token
ipython-mcp kernels                 the kernels this server sees, as a table
ipython-mcp start-kernel            start a kernel to share, and say how to attach to it
ipython-mcp doctor                  check this machine's setup and say what to fix
"""

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

SETTINGS_FLAGS = (
    ("--connection-file", "connection_file", "PATH_OR_NAME", str,
     "kernel that connect_to_kernel picks with no argument [IPYTHON_MCP_CONNECTION]"),
    ("--timeout", "timeout", "SECONDS", float,
     "default execute_code timeout before the kernel is interrupted (60) [IPYTHON_MCP_TIMEOUT]"),
    ("--max-output-chars", "max_output_chars", "N", int,
     "text budget of one result; the head and tail are kept past it (20000) [IPYTHON_MCP_MAX_OUTPUT_CHARS]"),
    ("--max-image-px", "max_image_px", "PX", int,
     "longest edge of a figure in a result; larger ones are scaled down (1568) [IPYTHON_MCP_MAX_IMAGE_PX]"),
    ("--max-image-bytes", "max_image_bytes", "N", int,
     "bytes of figures one result holds, base64 as sent; past it figures are made smaller, then left out "
     "and named (72000) [IPYTHON_MCP_MAX_IMAGE_BYTES]"),
    ("--max-output-disk-mb", "max_output_disk_mb", "MB", int,
     "disk the whole outputs of one kernel's executions may use, for read_output; the oldest output "
     "is dropped past it (256) [IPYTHON_MCP_MAX_OUTPUT_DISK_MB]"),
    ("--connect-timeout", "connect_timeout", "SECONDS", float,
     "how long connecting waits for a kernel to answer (10) [IPYTHON_MCP_CONNECT_TIMEOUT]"),
    ("--runtime-dir", "runtime_dir", "DIR", str,
     "where connection files are found and written (Jupyter's runtime dir) [JUPYTER_RUNTIME_DIR]"),
    ("--jupyter-url", "jupyter_url", "URL", str,
     "a Jupyter Server, JupyterHub user server (https://hub/user/NAME/) or Enterprise Gateway whose "
     "kernels to reach over its websocket; its token comes from IPYTHON_MCP_JUPYTER_TOKEN, never "
     "from a flag [IPYTHON_MCP_JUPYTER_URL]"),
    ("--servers-file", "servers_file", "PATH", str,
     "TOML file naming several servers: [servers.NAME] with url and token_env [IPYTHON_MCP_SERVERS_FILE]"),
)  # fmt: skip


def _add_settings_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # A subcommand's copies must not overwrite values given before the subcommand: SUPPRESS.
    default = None if top else argparse.SUPPRESS
    for flag, dest, metavar, kind, text in SETTINGS_FLAGS:
        parser.add_argument(flag, dest=dest, metavar=metavar, type=kind, help=text, default=default)
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="offer only the tools that cannot change a kernel: status, listings, variables, "
        "history [IPYTHON_MCP_READ_ONLY=1]",
    )
    parser.add_argument(
        "--allow-remote-kernels",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="connect to kernels whose connection file binds a network address (their traffic is "
        "not encrypted) [IPYTHON_MCP_ALLOW_REMOTE_KERNELS=1]",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING" if top else argparse.SUPPRESS,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of the messages written to stderr (WARNING)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipython-mcp",
        description=(
            "MCP server that lets an AI assistant work in your live IPython/Jupyter kernel, "
            "shared with Spyder, JupyterLab, VS Code or jupyter console. With no command it "
            "serves MCP over stdio, which is how MCP clients start it."
        ),
        epilog="Every flag also has an environment variable, shown in brackets; the flag wins. "
        "`ipython-mcp COMMAND --help` tells more about each command.",
    )
    parser.add_argument("--version", action="version", version=f"ipython-mcp {__version__}")
    _add_settings_flags(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve MCP over stdio (default) or streamable HTTP",
        description="Serve MCP. Over HTTP it listens on 127.0.0.1 and requires a bearer token "
        "(IPYTHON_MCP_HTTP_TOKEN, or a new one printed at start); Host and Origin headers are "
        "checked against DNS rebinding.",
    )
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="(stdio)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on over HTTP (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on over HTTP (8765)")
    serve.add_argument(
        "--allow-remote-clients",
        action="store_true",
        help="allow --host to be a non-loopback address: anyone who can reach it and has the token can "
        "run code in your kernels",
    )
    _add_settings_flags(serve, top=False)

    kernels = commands.add_parser(
        "kernels",
        help="list the kernels found here and on configured Jupyter Servers",
        description="Print the kernels this server would see (connection files in the runtime dir, "
        "notebooks of Jupyter Servers) as a table.",
    )
    _add_settings_flags(kernels, top=False)

    start = commands.add_parser(
        "start-kernel",
        help="start a kernel to share with your assistant, and say how to attach to it",
        description="Start a detached IPython kernel (random key, loopback ports, file mode 0600) in "
        "the runtime dir, wait until it answers, and print how to attach from Spyder, JupyterLab, "
        "VS Code and jupyter console. It keeps running after this command ends.",
    )
    start.add_argument(
        "--python", metavar="PATH", help="interpreter of the environment to run in (needs ipykernel)"
    )
    start.add_argument("--cwd", metavar="DIR", help="working directory of the kernel")
    _add_settings_flags(start, top=False)

    doctor = commands.add_parser(
        "doctor",
        help="check the setup (runtime dir, kernels, servers, versions, permissions) and say what to fix",
        description="Check what ipython-mcp needs and say what to fix; exits 1 when something fails.",
    )
    _add_settings_flags(doctor, top=False)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        settings = Settings.from_env(
            **{dest: getattr(args, dest, None) for _, dest, *_ in SETTINGS_FLAGS},
            read_only=args.read_only or None,
            allow_remote_kernels=args.allow_remote_kernels or None,
        )
        http = _http_options(args) if getattr(args, "transport", "stdio") == "http" else None
    except ValueError as exc:
        sys.exit(f"ipython-mcp: {exc}")

    if args.command in (None, "serve"):
        _serve(settings, http)
    from . import console

    code = anyio.run(
        {"kernels": console.kernels, "start-kernel": console.start_kernel, "doctor": console.doctor}[
            args.command
        ],
        settings,
        args,
    )
    sys.exit(code)


def _http_options(args: argparse.Namespace) -> Any:
    from .server.http import HttpOptions, host_for_url, new_token

    token = os.environ.get("IPYTHON_MCP_HTTP_TOKEN") or ""
    options = HttpOptions(
        host=args.host, port=args.port, token=token or new_token(), allow_remote=args.allow_remote_clients
    )
    url = f"http://{host_for_url(args.host)}:{args.port}/mcp"
    if not token:  # the user needs it to configure their client; printed once, never logged
        print(
            f"ipython-mcp serves MCP at {url}\n"
            f"Bearer token (set IPYTHON_MCP_HTTP_TOKEN to choose your own): {options.token}",
            file=sys.stderr,
            flush=True,
        )
    if options.allow_remote:
        print(
            "Warning: listening beyond this machine over plain HTTP: the token and your code travel "
            "unencrypted. Put it behind a TLS proxy, or prefer an SSH tunnel to 127.0.0.1.",
            file=sys.stderr,
            flush=True,
        )
    return options


def _serve(settings: Settings, http: Any) -> None:
    from .server import build_server
    from .session.registry import KernelRegistry

    registry = KernelRegistry(settings)
    server = build_server(settings, registry, http=http)
    if http is None:
        anyio.run(_serve_stdio, server, registry)
    else:
        from .server.http import serve_http

        anyio.run(serve_http, server, http)
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

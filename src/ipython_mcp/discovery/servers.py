"""Jupyter Servers (JupyterLab, JupyterHub, Enterprise Gateway): which there are, and their names.

Servers come from the user's configuration and from the runtime dir, where a running local
server writes `jpserver-<pid>.json` (URL and token). Their REST API is server_api.py, their
kernels server_kernels.py. A token authenticates our requests and goes nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from ..settings import ServerConfig
from .addresses import is_loopback

SERVER_GLOB = "jpserver-*.json"


@dataclass(frozen=True, slots=True)
class JupyterServer:
    url: str
    """Base URL, prefix included (`http://host:8888/user/alice/`), ending in a slash."""
    pid: int | None = None
    root_dir: str = ""
    token: str = field(default="", repr=False)
    name: str = ""
    """How the model names it: the name it was configured under, else host:port/prefix."""
    configured: bool = False
    """Configured by the user (environment, flag, servers file): its kernels are reached over
    its websocket. A local server only found in the runtime dir is reached over ZMQ."""

    @property
    def title(self) -> str:
        """`Jupyter Server http://host:8888/`, with its configured name when it has one."""
        if self.name == _short(self.url):
            return f"Jupyter Server {self.url}"
        return f"Jupyter Server {self.name!r} ({self.url})"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:] if self.url.startswith("http") else self.url

    @property
    def is_loopback(self) -> bool:
        return is_loopback(urlsplit(self.url).hostname or "")


def configured_servers(configs: Iterable[ServerConfig]) -> list[JupyterServer]:
    servers = []
    for config in configs:
        url = config.url.strip()
        url = url if url.endswith("/") else url + "/"
        servers.append(
            JupyterServer(url=url, token=config.token, name=config.name or _short(url), configured=True)
        )
    return servers


def url_key(url: str) -> tuple[str, int | None, str]:
    """What makes two URLs the same server: localhost and 127.0.0.1 alike, default ports filled in."""
    parts = urlsplit(url)
    host = "loopback" if is_loopback(parts.hostname or "") else (parts.hostname or "").lower()
    return host, parts.port or (443 if parts.scheme == "https" else 80), parts.path.rstrip("/")


def _short(url: str) -> str:
    """`127.0.0.1:8888/user/alice` for `http://127.0.0.1:8888/user/alice/`."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}".rstrip("/")


def find_servers(runtime_dir: Path | str, configured: Iterable[JupyterServer] = ()) -> list[JupyterServer]:
    """The configured servers, then those whose `jpserver-*.json` is in the runtime dir and whose
    process still runs (a server both configured and found is the configured one)."""
    servers = list(configured)
    known = {url_key(server.url) for server in servers}
    for path in sorted(Path(runtime_dir).glob(SERVER_GLOB)):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            url = str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        pid = info.get("pid")
        if isinstance(pid, int) and not psutil.pid_exists(pid):
            continue  # the server crashed and left its file behind
        url = url if url.endswith("/") else url + "/"
        if url_key(url) in known:
            continue
        servers.append(
            JupyterServer(
                url=url,
                pid=pid if isinstance(pid, int) else None,
                root_dir=str(info.get("root_dir") or info.get("notebook_dir") or ""),
                token=str(info.get("token") or ""),
                name=_short(url),
            )
        )
    return servers

"""Settings: one frozen value built at start-up from CLI flags and environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit, urlunsplit


def _default_runtime_dir() -> str:
    from jupyter_core.paths import jupyter_runtime_dir

    return jupyter_runtime_dir()


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """How the server behaves; every duration is in seconds."""

    timeout: float = 60.0
    """Default limit for one run of the assistant's code before the kernel is interrupted."""
    max_output_chars: int = 20_000
    """Text budget of one result; past it the head and tail are kept."""
    max_image_px: int = 1568
    """Longest edge of a figure in a result: larger ones are scaled down (the Claude API
    downscales past 1568 px anyway)."""
    max_image_bytes: int = 72_000
    """Bytes of figures one result holds, base64-encoded as sent: with a full text budget a
    result stays under 25,000 tokens even for a client counting images as text."""
    max_output_disk_mb: int = 256
    """Megabytes the whole outputs of one kernel's executions keep, to read and search them;
    past it the oldest output is dropped."""
    connect_timeout: float = 10.0
    """How long connecting may wait for a kernel to answer (a just-started kernel needs ~1 s)."""
    key_check_timeout: float = 3.0
    """How long a kernel whose heartbeat answers may ignore us before we call it a key mismatch."""
    start_timeout: float = 60.0
    """How long a kernel this server launched may take to answer its first request."""
    runtime_dir: str = field(default_factory=_default_runtime_dir)
    """Where connection files are looked for and written (Jupyter's runtime dir)."""
    connection_file: str | None = None
    """The kernel to connect to when connecting names none (IPYTHON_MCP_CONNECTION)."""
    servers: tuple[ServerConfig, ...] = ()
    """Jupyter Servers whose kernels are reached over their websocket (IPYTHON_MCP_JUPYTER_URL
    and _TOKEN, --jupyter-url, a servers file)."""
    reconnect_timeout: float = 60.0
    """How long a dropped connection to a server's kernel is retried before it counts as lost."""
    read_only: bool = False
    """Offer only the tools that cannot change a kernel: status, listings, variables, history."""
    allow_remote_kernels: bool = False
    """Connect to kernels whose connection file binds a non-loopback address (unencrypted traffic)."""
    names_kept: int = 500
    """Names of each kernel's namespace recorded between cells (objects of packages first, then
    the larger), to tell what a restart or death took with it; 0: no record."""

    def __post_init__(self) -> None:
        for name in ("timeout", "connect_timeout", "key_check_timeout", "start_timeout", "reconnect_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.max_output_chars < 1000:
            raise ValueError("max_output_chars must be at least 1000")
        if not 64 <= self.max_image_px <= 8000:
            raise ValueError("max_image_px must be between 64 and 8000 pixels")
        if not 10_000 <= self.max_image_bytes <= 700_000:
            raise ValueError("max_image_bytes must be between 10000 and 700000")
        if self.max_output_disk_mb < 1:
            raise ValueError("max_output_disk_mb must be at least 1 megabyte")
        if self.names_kept < 0:
            raise ValueError("names_kept must be 0 (no record) or more")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        jupyter_url: str | None = None,
        servers_file: str | None = None,
        **overrides: object,
    ) -> Settings:
        """Settings from IPYTHON_MCP_* variables, with explicit values (CLI flags) winning."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name, var, convert in _ENV_VARS:
            if env.get(var):
                try:
                    values[name] = convert(env[var])
                except ValueError as exc:
                    raise ValueError(f"{var}={env[var]!r} is not valid: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        servers = []
        url = jupyter_url or env.get("IPYTHON_MCP_JUPYTER_URL")
        if url:
            servers.append(ServerConfig.of(url, env.get("IPYTHON_MCP_JUPYTER_TOKEN", "")))
        servers_file = servers_file or env.get("IPYTHON_MCP_SERVERS_FILE")
        if servers_file:
            servers.extend(read_servers_file(servers_file, env))
        values["servers"] = tuple(servers)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A Jupyter Server, JupyterHub user server or Enterprise Gateway the user set up."""

    url: str
    token: str = field(default="", repr=False)
    name: str = ""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"{self.url!r} is not an http:// or https:// URL of a Jupyter Server")

    @classmethod
    def of(cls, url: str, token: str = "", name: str = "") -> ServerConfig:
        """From a URL as people copy it: `http://host:8888/lab?token=…` is the server at
        `http://host:8888/` with that token (which then never shows in a message)."""
        parts = urlsplit(url.strip())
        shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{shown!r} is not an http:// or https:// URL of a Jupyter Server")
        if parts.username or parts.password:
            raise ValueError(
                f"the URL of {shown} holds a user name or password: give the server's token in "
                "IPYTHON_MCP_JUPYTER_TOKEN (or token_env in a servers file) instead"
            )
        token = token or (parse_qs(parts.query).get("token") or [""])[0]
        path = parts.path.rstrip("/")
        for app in ("/lab", "/tree", "/notebooks"):  # a page of the server, not its base URL
            if path.endswith(app):
                path = path.removesuffix(app)
                break
        return cls(urlunsplit((parts.scheme, parts.netloc, path + "/", "", "")), token, name)


def read_servers_file(path: str, env: Mapping[str, str]) -> list[ServerConfig]:
    """Servers from a TOML file, one table each; the token from the variable `token_env` names
    (or `token` itself):

        [servers.hub]
        url = "https://hub.example.org/user/alice/"
        token_env = "JUPYTERHUB_API_TOKEN"
    """
    import tomllib

    try:
        with open(path, "rb") as file:
            tables = tomllib.load(file).get("servers", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"servers file {path}: {exc}") from None
    servers = []
    for name, table in tables.items():
        if not isinstance(table, dict) or not isinstance(table.get("url"), str):
            raise ValueError(f"servers file {path}: [servers.{name}] needs a url")
        token = table.get("token") or ""
        if table.get("token_env"):
            token = env.get(str(table["token_env"]), "")
            if not token:
                raise ValueError(
                    f"servers file {path}: [servers.{name}] names ${table['token_env']}, which is not set"
                )
        servers.append(ServerConfig.of(table["url"], str(token), str(name)))
    return servers


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("use 1 or 0")


_ENV_VARS = (
    ("timeout", "IPYTHON_MCP_TIMEOUT", float),
    ("max_output_chars", "IPYTHON_MCP_MAX_OUTPUT_CHARS", int),
    ("max_image_px", "IPYTHON_MCP_MAX_IMAGE_PX", int),
    ("max_image_bytes", "IPYTHON_MCP_MAX_IMAGE_BYTES", int),
    ("max_output_disk_mb", "IPYTHON_MCP_MAX_OUTPUT_DISK_MB", int),
    ("connect_timeout", "IPYTHON_MCP_CONNECT_TIMEOUT", float),
    ("reconnect_timeout", "IPYTHON_MCP_RECONNECT_TIMEOUT", float),
    ("names_kept", "IPYTHON_MCP_NAMES_KEPT", int),
    ("read_only", "IPYTHON_MCP_READ_ONLY", _flag),
    ("allow_remote_kernels", "IPYTHON_MCP_ALLOW_REMOTE_KERNELS", _flag),
    ("connection_file", "IPYTHON_MCP_CONNECTION", str),
)

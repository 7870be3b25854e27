"""Settings: one frozen value built at start-up from CLI flags and environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


def _default_runtime_dir() -> str:
    from jupyter_core.paths import jupyter_runtime_dir

    return jupyter_runtime_dir()


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """How the server behaves; every duration is in seconds."""

    timeout: float = 60.0
    """Default limit for one execute_code call before the kernel is interrupted."""
    max_output_chars: int = 20_000
    """Text budget of one result; past it the head and tail are kept."""
    connect_timeout: float = 10.0
    """How long connecting may wait for a kernel to answer (a just-started kernel needs ~1 s)."""
    key_check_timeout: float = 3.0
    """How long a kernel whose heartbeat answers may ignore us before we call it a key mismatch."""
    start_timeout: float = 60.0
    """How long a kernel launched by start_kernel may take to answer its first request."""
    runtime_dir: str = field(default_factory=_default_runtime_dir)
    """Where connection files are looked for and written (Jupyter's runtime dir)."""
    connection_file: str | None = None
    """The kernel to connect to when connect_to_kernel gets no argument (IPYTHON_MCP_CONNECTION)."""

    def __post_init__(self) -> None:
        for name in ("timeout", "connect_timeout", "key_check_timeout", "start_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.max_output_chars < 1000:
            raise ValueError("max_output_chars must be at least 1000")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
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
        return cls(**values)  # type: ignore[arg-type]


_ENV_VARS = (
    ("timeout", "IPYTHON_MCP_TIMEOUT", float),
    ("max_output_chars", "IPYTHON_MCP_MAX_OUTPUT_CHARS", int),
    ("connect_timeout", "IPYTHON_MCP_CONNECT_TIMEOUT", float),
    ("connection_file", "IPYTHON_MCP_CONNECTION", str),
)

"""Connection files: reading, finding them as `jupyter console --existing` does, writing new ones."""

from __future__ import annotations

import json
import os
import secrets
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConnectionFileError
from .addresses import is_loopback

_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
_REQUIRED = (*_PORTS, "ip", "key")
SIZE_LIMIT = 64 << 10
"""Bytes of a connection file read at most: a real one is a few hundred."""
KERNEL_GLOB = "kernel-*.json"


@dataclass(frozen=True, slots=True)
class ConnectionFile:
    """A parsed connection file. `info` holds the key: never put it in a result or a log."""

    path: Path
    info: dict[str, Any] = field(repr=False)
    mode: int = 0o600
    """The file's permission bits: its key lets anyone who reads it run code as its owner."""

    @property
    def name(self) -> str:
        """The short name tools use: the file name without `kernel-` and `.json`."""
        return kernel_name_of(self.path)

    @property
    def ip(self) -> str:
        return str(self.info["ip"])

    @property
    def transport(self) -> str:
        return str(self.info.get("transport", "tcp"))

    @property
    def shell_port(self) -> int:
        return int(self.info["shell_port"])

    @property
    def kernel_name(self) -> str:
        return str(self.info.get("kernel_name") or "")

    @property
    def is_loopback(self) -> bool:
        """Reachable only from this machine: a loopback address, or ipc (a local socket file)."""
        return self.transport == "ipc" or is_loopback(self.ip)

    @property
    def readable_by_others(self) -> bool:
        return bool(self.mode & (stat.S_IRGRP | stat.S_IROTH))

    def exposure_warning(self) -> str | None:
        """That other users of the machine can read the key, if they can (the fact: the server
        layer words the fix)."""
        if not self.readable_by_others:
            return None
        return (
            f"Warning: {self.path.name} is readable by other users of this machine (mode "
            f"{self.mode:o}); its key lets them run code in this kernel."
        )


def _is_port(value: Any) -> bool:
    try:
        return 0 <= int(value) < 65536 and not isinstance(value, bool | float)
    except (TypeError, ValueError):
        return False


def kernel_name_of(path: Path | str) -> str:
    stem = Path(path).stem
    return stem.removeprefix("kernel-") or stem


def read_connection_file(path: Path | str) -> ConnectionFile:
    """Parse a connection file, with a message that says what is wrong with it."""
    path = Path(path).expanduser().resolve()
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConnectionFileError(
                f"{path} is not a regular file (a folder or a device), so not a connection file.",
                advice="give_a_connection_file",
            )
        with path.open("rb") as file:
            data = file.read(SIZE_LIMIT + 1)
    except FileNotFoundError:
        raise ConnectionFileError(f"Connection file {path} does not exist.") from None
    except PermissionError:
        raise ConnectionFileError(
            f"Connection file {path} is not readable by this user.", advice="run_as_kernel_owner"
        ) from None
    except OSError as exc:
        raise ConnectionFileError(f"Connection file {path} cannot be read: {exc.strerror}.") from None
    try:
        if len(data) > SIZE_LIMIT:
            raise ValueError("too large")
        info = json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        raise ConnectionFileError(
            f"Connection file {path} is not valid JSON (empty or truncated?).", advice="reconnect_or_start"
        ) from None
    if not isinstance(info, dict):
        raise ConnectionFileError(f"Connection file {path} does not hold a JSON object.")
    missing = [k for k in _REQUIRED if k not in info]
    if missing:
        raise ConnectionFileError(
            f"Connection file {path} is missing {', '.join(missing)}; it is not a Jupyter kernel "
            "connection file."
        )
    wrong = [k for k in _PORTS if not _is_port(info[k])]
    wrong += [k for k in ("ip", "key") if not isinstance(info[k], str)]
    if wrong:
        raise ConnectionFileError(
            f"Connection file {path} has invalid {', '.join(wrong)}; it is not a usable Jupyter "
            "kernel connection file."
        )
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o600
    return ConnectionFile(path=path, info=info, mode=mode)


def list_connection_files(runtime_dir: Path | str) -> list[Path]:
    """The kernel connection files in the runtime dir, newest first."""
    try:
        paths = list(Path(runtime_dir).glob(KERNEL_GLOB))
    except OSError:
        return []
    return sorted(paths, key=_mtime, reverse=True)


def resolve_connection_file(spec: str, runtime_dir: Path | str) -> Path:
    """A path, a file name in the runtime dir, or a unique part of one (`12345`, `a1b2`)."""
    spec = spec.strip()
    direct = Path(spec).expanduser()
    for candidate in (direct, Path(runtime_dir) / spec):
        if candidate.is_file():
            return candidate.resolve()
    if direct.is_dir():
        raise ConnectionFileError(f"{spec} is a folder, not a connection file: it cannot be read as one.")
    if direct.exists():  # a device or a pipe: reading it might never end
        raise ConnectionFileError(f"{spec} is not a regular file, so not a connection file.")
    if os.sep in spec:
        raise ConnectionFileError(f"Connection file {spec} does not exist.")
    matches = [p for p in list_connection_files(runtime_dir) if spec in p.name]
    if len(matches) == 1:
        return matches[0].resolve()
    if not matches:
        raise ConnectionFileError(
            f"No connection file in {runtime_dir} matches {spec!r}.", advice="no_file_matches"
        )
    names = ", ".join(kernel_name_of(p) for p in matches[:10])
    raise ConnectionFileError(
        f"{len(matches)} connection files match {spec!r}: {names}.", advice="longer_name"
    )


def new_connection_file(runtime_dir: Path | str, path: Path | str | None = None) -> ConnectionFile:
    """Write a connection file for a new kernel: random key, free loopback ports, mode 0600."""
    from jupyter_client.connect import write_connection_file

    runtime_dir = Path(runtime_dir)
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = Path(path).expanduser().resolve() if path else runtime_dir / f"kernel-{uuid.uuid4()}.json"
    if target.exists():
        raise ConnectionFileError(f"{target} already exists.", advice="file_exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    fname, _ = write_connection_file(
        str(target), ip="127.0.0.1", key=secrets.token_hex(32).encode(), kernel_name="python3"
    )
    os.chmod(fname, stat.S_IRUSR | stat.S_IWUSR)
    return read_connection_file(fname)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0

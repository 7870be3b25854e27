"""Settings from flags and environment: wrong values are refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipython_mcp.settings import Settings


def test_environment_values_are_read_and_flags_win() -> None:
    env = {"IPYTHON_MCP_TIMEOUT": "12.5", "IPYTHON_MCP_MAX_OUTPUT_CHARS": "5000"}
    settings = Settings.from_env(env, runtime_dir="/tmp/x", max_output_chars=8000)
    assert settings.timeout == 12.5
    assert settings.max_output_chars == 8000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IPYTHON_MCP_TIMEOUT": "soon"}, "IPYTHON_MCP_TIMEOUT='soon' is not valid"),
        ({"IPYTHON_MCP_TIMEOUT": "0"}, "timeout must be a positive number of seconds"),
        ({"IPYTHON_MCP_MAX_OUTPUT_CHARS": "10"}, "max_output_chars must be at least 1000"),
    ],
)
def test_bad_values_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Settings.from_env(env, runtime_dir="/tmp/x")


def test_the_command_refuses_a_bad_flag_without_a_traceback() -> None:
    script = Path(sys.executable).parent / "ipython-mcp"
    done = subprocess.run([str(script), "--timeout", "-1"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "timeout must be a positive number of seconds" in done.stderr
    assert "Traceback" not in done.stderr

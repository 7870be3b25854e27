"""Settings from flags and environment: wrong values are refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipython_mcp.settings import Settings


def test_environment_values_are_read_and_flags_win() -> None:
    env = {
        "IPYTHON_MCP_TIMEOUT": "12.5",
        "IPYTHON_MCP_MAX_OUTPUT_CHARS": "5000",
        "IPYTHON_MCP_MAX_OUTPUT_DISK_MB": "64",
        "IPYTHON_MCP_MAX_IMAGE_PX": "1000",
        "IPYTHON_MCP_MAX_IMAGE_BYTES": "300000",
    }
    settings = Settings.from_env(env, runtime_dir="/tmp/x", max_output_chars=8000)
    assert settings.timeout == 12.5
    assert settings.max_output_chars == 8000
    assert settings.max_output_disk_mb == 64
    assert (settings.max_image_px, settings.max_image_bytes) == (1000, 300_000)
    assert Settings.from_env(env, runtime_dir="/tmp/x", max_output_disk_mb=512).max_output_disk_mb == 512
    assert Settings.from_env({}, runtime_dir="/tmp/x").max_output_disk_mb == 256


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IPYTHON_MCP_TIMEOUT": "soon"}, "IPYTHON_MCP_TIMEOUT='soon' is not valid"),
        ({"IPYTHON_MCP_TIMEOUT": "0"}, "timeout must be a positive number of seconds"),
        ({"IPYTHON_MCP_MAX_OUTPUT_CHARS": "10"}, "max_output_chars must be at least 1000"),
        ({"IPYTHON_MCP_MAX_OUTPUT_DISK_MB": "0"}, "max_output_disk_mb must be at least 1 megabyte"),
        ({"IPYTHON_MCP_MAX_IMAGE_PX": "10000"}, "max_image_px must be between 64 and 8000 pixels"),
        ({"IPYTHON_MCP_MAX_IMAGE_BYTES": "100"}, "max_image_bytes must be between 10000 and 700000"),
        ({"IPYTHON_MCP_MAX_OUTPUT_DISK_MB": "1.5"}, "IPYTHON_MCP_MAX_OUTPUT_DISK_MB='1.5' is not valid"),
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


def test_a_jupyter_server_comes_from_the_environment_and_its_token_stays_hidden() -> None:
    env = {
        "IPYTHON_MCP_JUPYTER_URL": "https://hub.example.org/user/ada/",
        "IPYTHON_MCP_JUPYTER_TOKEN": "s3cret",
    }
    settings = Settings.from_env(env, runtime_dir="/tmp/x")
    [server] = settings.servers
    assert server.url == "https://hub.example.org/user/ada/" and server.token == "s3cret"
    assert "s3cret" not in repr(settings)
    flagged = Settings.from_env(env, runtime_dir="/tmp/x", jupyter_url="http://127.0.0.1:8888/")
    assert [s.url for s in flagged.servers] == ["http://127.0.0.1:8888/"]


def test_several_servers_come_from_a_servers_file(tmp_path: Path) -> None:
    path = tmp_path / "servers.toml"
    path.write_text(
        '[servers.hub]\nurl = "https://hub.example.org/user/ada/"\ntoken_env = "HUB_TOKEN"\n\n'
        '[servers.gateway]\nurl = "http://gateway:8888/"\n'
    )
    settings = Settings.from_env({"HUB_TOKEN": "t0k"}, runtime_dir="/tmp/x", servers_file=str(path))
    assert [(s.name, s.token) for s in settings.servers] == [("hub", "t0k"), ("gateway", "")]
    with pytest.raises(ValueError, match=r"\[servers.hub\] names \$HUB_TOKEN, which is not set"):
        Settings.from_env({}, runtime_dir="/tmp/x", servers_file=str(path))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IPYTHON_MCP_JUPYTER_URL": "hub.example.org"}, "is not an http:// or https:// URL"),
        ({"IPYTHON_MCP_SERVERS_FILE": "/nonexistent/servers.toml"}, "servers file /nonexistent/servers.toml"),
    ],
)
def test_bad_server_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env, runtime_dir="/tmp/x")


def test_a_server_url_copied_from_jupyterlab_gives_its_base_url_and_token() -> None:
    env = {"IPYTHON_MCP_JUPYTER_URL": "http://127.0.0.1:8888/user/ada/lab?token=c0ffee"}
    [server] = Settings.from_env(env, runtime_dir="/tmp/x").servers
    assert (server.url, server.token) == ("http://127.0.0.1:8888/user/ada/", "c0ffee")
    with pytest.raises(ValueError, match="holds a user name or password") as refused:
        Settings.from_env(
            {"IPYTHON_MCP_JUPYTER_URL": "https://ada:pa55@hub.example.org/"}, runtime_dir="/tmp/x"
        )
    assert "pa55" not in str(refused.value)

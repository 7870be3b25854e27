"""The one rule for what is this machine, used for connection files, servers and the HTTP host."""

from __future__ import annotations

import pytest

from ipython_mcp.discovery.addresses import is_loopback


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]", " 127.0.0.1 "])
def test_this_machine(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.org", "localhost.example", "", "127"])
def test_other_machines_or_every_interface(host: str) -> None:
    assert not is_loopback(host)

"""The one rule for what is this machine: a loopback address, by name or number."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost`, and any address in 127.0.0.0/8 or ::1 (brackets allowed, as in URLs)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

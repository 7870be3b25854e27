"""Streamable HTTP transport: loopback by default, a bearer token, DNS-rebinding protection.

Authentication is the SDK's own bearer middleware with a verifier that knows one token; Host
and Origin checks are the SDK's transport security, allowing only the addresses we listen on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from ..discovery.addresses import is_loopback

HTTP_PATH = "/mcp"


@dataclass(frozen=True, slots=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str = field(default="", repr=False)
    """The bearer token clients must send; generated when empty."""
    allow_remote: bool = False
    """Listening beyond loopback exposes code execution to the network: explicit only."""

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.allow_remote:
            raise ValueError(
                f"--host {self.host} is not a loopback address: anyone who can reach it and has the "
                "token could run code in your kernels. Add --allow-remote-clients if that is intended."
            )


def new_token() -> str:
    return secrets.token_urlsafe(32)


class StaticTokenVerifier:
    """Accepts exactly one token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def verify_token(self, token: str) -> Any:
        from mcp.server.auth.provider import AccessToken

        if secrets.compare_digest(token.encode(), self._token.encode()):
            return AccessToken(token="(valid)", client_id="ipython-mcp-user", scopes=[])
        return None


def auth_settings(options: HttpOptions) -> dict[str, Any]:
    """What MCPServer needs to require the token on every request."""
    from mcp.server.auth.settings import AuthSettings

    url = f"http://{host_for_url(options.host)}:{options.port}"
    return {
        "token_verifier": StaticTokenVerifier(options.token),
        "auth": AuthSettings(issuer_url=url, resource_server_url=None),  # type: ignore[arg-type]
    }


def http_app(server: Any, options: HttpOptions) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    if options.allow_remote:
        # Reached by any name the network gives this machine: the token is the protection
        # (DNS rebinding lets a web page reach a local server, not learn its token).
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    else:
        hosts = {options.host, "127.0.0.1", "localhost"}
        names = [f"{host_for_url(h)}:{options.port}" for h in sorted(hosts)]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=names,
            allowed_origins=[f"http://{name}" for name in names],
        )
    return server.streamable_http_app(
        streamable_http_path=HTTP_PATH, transport_security=security, host=options.host
    )


async def serve_http(server: Any, options: HttpOptions) -> None:
    import uvicorn

    config = uvicorn.Config(
        http_app(server, options),
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    await uvicorn.Server(config).serve()


def host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host

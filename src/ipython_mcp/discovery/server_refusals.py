"""Why a Jupyter Server refused a request, as a JupyterServerError with its real cause.

A token refused (and where that kind of server issues its tokens), a JupyterHub user server
that is stopped, the Hub's own URL where a user's server was meant, an Enterprise Gateway that
does not list its kernels or refuses the user to run them as, a kernel the server does not
have. Where a redirect leads and what kind of server answers are asked on the same origin only;
HTML pages are never read (they can hold tokens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import JupyterServerError
from .servers import JupyterServer

PROBE_TIMEOUT = 3.0
"""Seconds a server gets to answer each request that looks for the cause of a refusal."""
HUB_HEADER = "x-jupyterhub-version"
"""JupyterHub and the user servers it spawns put their version on their answers."""
USER_REFUSED = re.compile(
    r"User '(?P<user>[^']*)' is (?P<why>not authorized|not in the set of users authorized)"
)
"""Enterprise Gateway's reason for refusing a kernel's KERNEL_USERNAME."""


@dataclass(frozen=True, slots=True)
class _Probe:
    """What kind of server answers at a URL, told by its `api` answer."""

    kind: str = ""
    """"jupyterhub" (a Hub or a user server it spawned), "gateway", "jupyter" or "" (unknown)."""
    stopped: str = ""
    """A Hub's own words that the user's server is not running."""
    token_refused: bool = False
    """Refused even there: a gateway wants its token for everything; a Hub sends to its login."""


async def explain(http: Any, server: JupyterServer, reply: Any, what: str) -> JupyterServerError:
    """The error for a refused request, with its real cause: where a redirect leads (a Hub's
    word that the user's server is not running, or its login page), and, for a refused
    token, which kind of server refused it (each issues tokens its own way)."""
    method, path = reply.request.method, reply.request.url.path
    reply = await _follow(http, reply)
    status, reason = reply.status_code, _reason(reply)
    if HUB_HEADER in reply.headers and "/user/" not in urlsplit(server.url).path:
        return _hub_itself(server)
    if status == 424 and HUB_HEADER in reply.headers:
        return _stopped(server, reason)
    refused_user = USER_REFUSED.search(reason) if status == 403 else None
    if refused_user:
        return _user_refused(server, refused_user["user"], refused_user["why"])
    if status in (401, 403) or _to_login(reply):
        probe = await _probe(http)
        if probe.stopped:  # a Hub refuses what it cannot pass on (POST, DELETE) with a 403
            return _stopped(server, probe.stopped)
        if probe.kind == "gateway" and not probe.token_refused:  # the token is fine
            if method == "GET" and path.rstrip("/").endswith(("/api/kernels", "/api/sessions")):
                return _unlisted(server, status)
            detail = f": {reason}" if reason else ""
            return JupyterServerError(
                f"{server.title} refused the request (HTTP {status}{detail}).",
                final=True,
                problem=f"refused a request (HTTP {status}{detail})",
            )
        if status in (401, 403) or probe.kind == "jupyterhub":
            return _token_refused(server, status, probe.kind)
    return refusal(server, status, what, reason)


async def _follow(http: Any, reply: Any) -> Any:
    """Where a redirect leads, asked with GET on the same origin only (the token goes nowhere
    else), up to a login page."""
    for _ in range(3):
        location = reply.headers.get("location")
        if not reply.is_redirect or not location:
            return reply
        here, target = reply.url, reply.url.join(location)
        if (target.scheme, target.host, target.port) != (here.scheme, here.host, here.port):
            return reply
        if _to_login(reply):
            return reply
        reply = await http.get(target, timeout=PROBE_TIMEOUT)
    return reply


async def _probe(http: Any) -> _Probe:
    """Which kind of server this is and whether its `api` takes our token: a Jupyter Server
    answers it to anyone, an Enterprise Gateway only with its token, with its version;
    JupyterHub marks every answer and redirects a stopped user server to the Hub."""
    import httpx2

    try:
        reply = await _follow(http, await http.get("api", timeout=PROBE_TIMEOUT))
    except httpx2.HTTPError:
        return _Probe()
    try:
        body = reply.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if HUB_HEADER in reply.headers:
        stopped = _reason(reply) if reply.status_code == 424 else ""
        return _Probe("jupyterhub", stopped=stopped, token_refused=_to_login(reply))
    if reply.status_code == 200 and "gateway_version" in body:
        return _Probe("gateway")
    if reply.status_code == 401 and "reason" in body:  # only a gateway guards its `api`
        return _Probe("gateway", token_refused=True)
    if reply.status_code == 200 and "version" in body:
        return _Probe("jupyter")
    return _Probe()


def _token_refused(server: JupyterServer, status: int, kind: str) -> JupyterServerError:
    title = server.title
    if not server.configured:
        where = "the token in its jpserver file"
        return JupyterServerError(
            f"{title} refused {where} (HTTP {status}).",
            final=True,
            problem=f"refused {where}",
            advice="set_its_current_token",
        )
    if kind == "jupyterhub":
        fix = (
            f"a new one comes from the Hub's Token page, {_hub_url(server.url)}token, "
            "signed in as the user whose server this is"
        )
    elif kind == "gateway":
        fix = (
            "it must be the token the gateway was started with (its "
            "--EnterpriseGatewayApp.auth_token, or EG_AUTH_TOKEN)"
        )
    else:
        fix = "`jupyter server list` shows its current token"
    where = "the token configured for it"
    return JupyterServerError(
        f"{title} refused {where} (HTTP {status}): {fix}.",
        final=True,
        problem=f"refused {where}: {fix}",
        advice="set_that_token",
    )


def _stopped(server: JupyterServer, hub_said: str) -> JupyterServerError:
    """JupyterHub: the user's server was stopped (from the Hub, or culled as idle)."""
    found = re.search(r"Restart the server at (\S+)", hub_said)
    spawn = found[1] if found else f"{_hub_url(server.url)}spawn/{_hub_user(server.url)}"
    what = "is a JupyterHub user server that is not running"
    # Where it starts is a fact of the message: a connection it ended carries the message alone.
    return JupyterServerError(
        f"{server.title} {what} (stopped from the Hub, or culled as idle); its kernels ended "
        f"with it. It can be started again at {spawn}.",
        final=True,
        problem=f"{what} (it can be started again at {spawn})",
        advice="start_it_there",
    )


def _hub_itself(server: JupyterServer) -> JupyterServerError:
    """JupyterHub's own URL, where a user's server was meant."""
    parts = urlsplit(server.url)
    prefix = parts.path.split("/hub/")[0].rstrip("/")
    user_url = f"{parts.scheme}://{parts.netloc}{prefix}/user/<name>/"
    return JupyterServerError(
        f"{server.title} is JupyterHub itself, not a user's server, whose kernels are at {user_url}.",
        final=True,
        problem=f"is JupyterHub itself; a user's server is at {user_url}",
        advice="configure_a_users_server",
    )


def _unlisted(server: JupyterServer, status: int) -> JupyterServerError:
    return JupyterServerError(
        f"{server.title} is an Enterprise Gateway that does not list its kernels (HTTP "
        f"{status}: listing is off by default); the token is fine.",
        final=True,
        problem="does not list its kernels (an Enterprise Gateway)",
        unlisted=True,
        advice="gateway_unlisted",
        server=server.name,
    )


def _user_refused(server: JupyterServer, user: str, why: str) -> JupyterServerError:
    if why == "not authorized":
        rule = f"{user!r} is in its --EnterpriseGatewayApp.unauthorized_users" + (
            " (root is, by default)" if user == "root" else ""
        )
    else:
        rule = f"its --EnterpriseGatewayApp.authorized_users does not name {user!r}"
    return JupyterServerError(
        f"{server.title} refused to start a kernel as user {user!r} (HTTP 403): {rule}.",
        final=True,
        problem=f"refused to start kernels as user {user!r}",
        advice="kernel_username",
    )


def refusal(server: JupyterServer, status: int, what: str, reason: str = "") -> JupyterServerError:
    """The error for an HTTP refusal whose cause the status tells."""
    title = server.title
    if status in (401, 403):
        return _token_refused(server, status, "")
    detail = f": {reason}" if reason else ""
    if status == 404:
        return JupyterServerError(
            f"{title} has no such {what} (HTTP 404{detail}).",
            final=True,
            problem="answered HTTP 404",
            advice="see_server_kernels",
        )
    if status < 400:
        return JupyterServerError(
            f"{title} redirected a request (HTTP {status}), as a login page does.",
            final=True,
            problem=f"redirected to a login page (HTTP {status})",
            advice="check_url_and_token",
        )
    return JupyterServerError(
        f"{title} answered HTTP {status}{detail}.", final=status < 500, problem=f"answered HTTP {status}"
    )


def _reason(reply: Any) -> str:
    """What a server says of its refusal: Jupyter Server and JupyterHub say it in `message`,
    Enterprise Gateway in `reason`. HTML pages are never read (they can hold tokens)."""
    try:
        body = reply.json()
    except Exception:
        return ""
    if not isinstance(body, dict):
        return ""
    return str(body.get("message") or body.get("reason") or "")[:300]


def _to_login(reply: Any) -> bool:
    """A redirect to a login page (JupyterHub's /hub/login, Jupyter Server's /login)."""
    location = reply.headers.get("location") or ""
    return reply.is_redirect and urlsplit(location).path.rstrip("/").endswith("/login")


def _hub_url(url: str) -> str:
    """`https://hub.example.org/hub/` for the user server `https://hub.example.org/user/ada/`."""
    parts = urlsplit(url)
    prefix = parts.path.split("/user/")[0].rstrip("/") if "/user/" in parts.path else ""
    return f"{parts.scheme}://{parts.netloc}{prefix}/hub/"


def _hub_user(url: str) -> str:
    path = urlsplit(url).path
    return path.split("/user/", 1)[1].split("/")[0] if "/user/" in path else "<name>"


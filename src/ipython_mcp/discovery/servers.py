"""Jupyter Servers (JupyterLab, JupyterHub, Enterprise Gateway): their kernels, notebooks and REST API.

Servers come from the user's configuration and from the runtime dir, where a running local
server writes `jpserver-<pid>.json` (URL and token) and its kernels' connection files
`kernel-<kernel id>.json`; `/api/sessions` maps kernel ids to notebook paths. A token
authenticates our requests and goes nowhere else.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from ..errors import JupyterServerError
from ..settings import ServerConfig
from .addresses import is_loopback

log = logging.getLogger(__name__)

SERVER_GLOB = "jpserver-*.json"
ANSWER_TIMEOUT = 3.0
"""Seconds a server gets to list its kernels before the listing goes on without it."""
REQUEST_TIMEOUT = 10.0
"""Seconds a server gets to answer a request about one kernel (start, interrupt, shut down)."""
RESTART_TIMEOUT = 60.0
"""Seconds a server gets to restart a kernel: it answers once the new kernel does."""
KERNEL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
HUB_HEADER = "x-jupyterhub-version"
"""JupyterHub and the user servers it spawns put their version on their answers."""
USER_REFUSED = re.compile(
    r"User '(?P<user>[^']*)' is (?P<why>not authorized|not in the set of users authorized)"
)
"""Enterprise Gateway's reason for refusing a kernel's KERNEL_USERNAME."""


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


@dataclass(frozen=True, slots=True)
class ServerKernel:
    """A kernel as its Jupyter Server describes it."""

    kernel_id: str
    kernel_name: str
    execution_state: str
    connections: int
    server: JupyterServer
    path: str | None = None
    """The notebook (or console, file) the kernel belongs to, relative to the server's root."""

    def describe(self) -> str:
        """`Jupyter Server http://127.0.0.1:8888/ notebook analysis.ipynb, idle, 2 websocket clients`"""
        what = f"notebook {self.path}" if self.path else "no notebook"
        plural = "" if self.connections == 1 else "s"
        return (
            f"{self.server.title} {what}, {self.execution_state}, {self.connections} websocket client{plural}"
        )


@dataclass(frozen=True, slots=True)
class ServerReport:
    server: JupyterServer
    kernels: list[ServerKernel]
    problem: str | None = None
    listed: bool = True
    """False where the server refuses to list its kernels (an Enterprise Gateway by default);
    it still answers for a kernel by its id."""


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


async def list_server_kernels(servers: list[JupyterServer]) -> list[ServerReport]:
    """Every server's kernels with their notebooks, asked of all servers in parallel."""
    return list(await asyncio.gather(*(_report(server) for server in servers)))


async def _report(server: JupyterServer) -> ServerReport:
    async with ServerAPI(server, timeout=ANSWER_TIMEOUT) as api:
        try:
            answers = await asyncio.gather(api.get("api/kernels"), api.sessions(), return_exceptions=True)
            for answer in answers:  # both asked at once, and both done before the client closes
                if isinstance(answer, BaseException):
                    raise answer
            kernels, sessions = answers
        except JupyterServerError as exc:
            return ServerReport(server, [], exc.problem, listed=not exc.unlisted)
        except Exception as exc:  # one odd server must not break the listing
            log.warning("listing the kernels of %s failed: %r", server.title, exc)
            return ServerReport(server, [], f"could not be asked ({type(exc).__name__})")
    try:
        # Jupyter Server names the notebook `path`; Enterprise Gateway (jupyter_server 1) `notebook.path`.
        paths = {
            s["kernel"]["id"]: s.get("path") or (s.get("notebook") or {}).get("path")
            for s in sessions
            if s.get("kernel")
        }
        found = [_server_kernel(k, server, paths.get(k["id"])) for k in kernels]
    except Exception as exc:  # any shape of answer: one odd server must not break the listing
        log.warning("unexpected answer from %s: %s", server.title, type(exc).__name__)
        return ServerReport(server, [], "answered in an unexpected format")
    return ServerReport(server, found)


def _server_kernel(model: dict[str, Any], server: JupyterServer, path: str | None = None) -> ServerKernel:
    return ServerKernel(
        kernel_id=model["id"],
        kernel_name=str(model.get("name", "")),
        execution_state=str(model.get("execution_state", "unknown")),
        connections=int(model.get("connections") or 0),
        server=server,
        path=path,
    )


async def kernels_by_id(servers: Iterable[JupyterServer], spec: str) -> list[ServerKernel]:
    """The kernel whose full id `spec` is, asked of each server (`api/kernels/<id>`): how kernels
    of a server that lists none (an Enterprise Gateway by default) are found."""
    spec = spec.strip()
    if not KERNEL_ID.fullmatch(spec):
        return []

    async def ask(server: JupyterServer) -> ServerKernel | None:
        async with ServerAPI(server, timeout=ANSWER_TIMEOUT) as api:
            model = await api.kernel(spec)
        return None if model is None else _server_kernel(model, server)

    found = await asyncio.gather(*(ask(server) for server in servers), return_exceptions=True)
    for answer in found:
        if isinstance(answer, JupyterServerError) and answer.final:
            raise answer  # the server refuses even that: its error says what to do
    return [k for k in found if isinstance(k, ServerKernel)]


@dataclass(frozen=True, slots=True)
class _Probe:
    """What kind of server answers at a URL, told by its `api` answer."""

    kind: str = ""
    """"jupyterhub" (a Hub or a user server it spawned), "gateway", "jupyter" or "" (unknown)."""
    stopped: str = ""
    """A Hub's own words that the user's server is not running."""
    token_refused: bool = False
    """Refused even there: a gateway wants its token for everything; a Hub sends to its login."""


class ServerAPI:
    """The REST calls we make to one server; failures become `JupyterServerError`s naming it.

    The token goes in the Authorization header of these requests and nowhere else."""

    def __init__(self, server: JupyterServer, timeout: float = REQUEST_TIMEOUT) -> None:
        import httpx2

        self.server = server
        self.headers = {"Authorization": f"token {server.token}"} if server.token else {}
        self._http = httpx2.AsyncClient(
            base_url=server.url, headers=self.headers, timeout=timeout, trust_env=not server.is_loopback
        )

    async def __aenter__(self) -> ServerAPI:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> Any:
        return self._json(await self._call("GET", path))

    async def sessions(self) -> Any:
        """Which notebook each kernel belongs to; none where a server has no sessions API (404).
        Enterprise Gateway has one, refused like its kernel listing unless that is enabled."""
        reply = await self._call("GET", "api/sessions", missing_ok=True)
        return [] if reply is None else self._json(reply)

    async def kernel(self, kernel_id: str) -> dict[str, Any] | None:
        """The server's model of a kernel (state, connections), None when it has no such kernel."""
        reply = await self._call("GET", f"api/kernels/{kernel_id}", missing_ok=True)
        return None if reply is None else self._json(reply)

    async def start_kernel(self, kernel_name: str | None) -> dict[str, Any]:
        # Enterprise Gateway starts the kernel as KERNEL_USERNAME (its clients pass on the one in
        # their environment, as we do); Jupyter Server ignores it.
        user = os.environ.get("KERNEL_USERNAME") or getpass.getuser()
        body: dict[str, Any] = {"env": {"KERNEL_USERNAME": user}}
        if kernel_name:
            body["name"] = kernel_name
        return self._json(await self._call("POST", "api/kernels", json=body, what="kernel spec"))

    async def interrupt(self, kernel_id: str) -> None:
        await self._call("POST", f"api/kernels/{kernel_id}/interrupt")

    async def restart(self, kernel_id: str) -> None:
        await self._call("POST", f"api/kernels/{kernel_id}/restart", timeout=RESTART_TIMEOUT)

    async def shutdown(self, kernel_id: str) -> bool:
        """Shut the kernel down; False when the server no longer had it."""
        return await self._call("DELETE", f"api/kernels/{kernel_id}", missing_ok=True) is not None

    async def _call(
        self, method: str, path: str, *, missing_ok: bool = False, what: str = "kernel", **kwargs: Any
    ) -> Any:
        import httpx2

        try:
            reply = await self._http.request(method, path, **kwargs)
            if reply.status_code == 404 and missing_ok:
                return None
            if reply.status_code >= 300:
                raise await self.explain(reply, what)
        except httpx2.HTTPError as exc:
            raise JupyterServerError(
                f"{self.server.title} did not answer ({type(exc).__name__}).",
                problem=f"did not answer ({type(exc).__name__})",
                advice="check_server",
            ) from None
        return reply

    def _json(self, reply: Any) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise JupyterServerError(
                f"{self.server.title} answered {reply.request.url.path} with something that is not "
                "JSON: is this the base URL of a Jupyter Server (with JupyterHub, /user/<name>/)?",
                final=True,
                problem="answered with something that is not JSON (is the URL its base URL?)",
            ) from None

    # -- why a request was refused -----------------------------------------------------------

    async def explain(self, reply: Any, what: str) -> JupyterServerError:
        """The error for a refused request, with its real cause: where a redirect leads (a Hub's
        word that the user's server is not running, or its login page), and, for a refused
        token, which kind of server refused it (each issues tokens its own way)."""
        method, path = reply.request.method, reply.request.url.path
        reply = await self._follow(reply)
        status, reason = reply.status_code, _reason(reply)
        if HUB_HEADER in reply.headers and "/user/" not in urlsplit(self.server.url).path:
            return self._hub_itself()
        if status == 424 and HUB_HEADER in reply.headers:
            return self._stopped(reason)
        refused_user = USER_REFUSED.search(reason) if status == 403 else None
        if refused_user:
            return self._user_refused(refused_user["user"], refused_user["why"])
        if status in (401, 403) or _to_login(reply):
            probe = await self._probe()
            if probe.stopped:  # a Hub refuses what it cannot pass on (POST, DELETE) with a 403
                return self._stopped(probe.stopped)
            if probe.kind == "gateway" and not probe.token_refused:  # the token is fine
                if method == "GET" and path.rstrip("/").endswith(("/api/kernels", "/api/sessions")):
                    return self._unlisted(status)
                detail = f": {reason}" if reason else ""
                return JupyterServerError(
                    f"{self.server.title} refused the request (HTTP {status}{detail}).",
                    final=True,
                    problem=f"refused a request (HTTP {status}{detail})",
                )
            if status in (401, 403) or probe.kind == "jupyterhub":
                return self._token_refused(status, probe.kind)
        return self.refusal(status, what, reason)

    async def _follow(self, reply: Any) -> Any:
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
            reply = await self._http.get(target, timeout=ANSWER_TIMEOUT)
        return reply

    async def _probe(self) -> _Probe:
        """Which kind of server this is and whether its `api` takes our token: a Jupyter Server
        answers it to anyone, an Enterprise Gateway only with its token, with its version;
        JupyterHub marks every answer and redirects a stopped user server to the Hub."""
        import httpx2

        try:
            reply = await self._follow(await self._http.get("api", timeout=ANSWER_TIMEOUT))
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

    def _token_refused(self, status: int, kind: str) -> JupyterServerError:
        title = self.server.title
        if not self.server.configured:
            where = "the token in its jpserver file"
            return JupyterServerError(
                f"{title} refused {where} (HTTP {status}). The user should set its current token "
                "(`jupyter server list` shows it) and restart this MCP server.",
                final=True,
                problem=f"refused {where}",
            )
        if kind == "jupyterhub":
            fix = (
                f"a new one comes from the Hub's Token page, {_hub_url(self.server.url)}token, "
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
            f"{title} refused {where} (HTTP {status}): {fix}. The user should set it "
            "(IPYTHON_MCP_JUPYTER_TOKEN, or token_env in the servers file) and restart this MCP server.",
            final=True,
            problem=f"refused {where}: {fix}",
        )

    def _stopped(self, hub_said: str) -> JupyterServerError:
        """JupyterHub: the user's server was stopped (from the Hub, or culled as idle)."""
        found = re.search(r"Restart the server at (\S+)", hub_said)
        spawn = found[1] if found else f"{_hub_url(self.server.url)}spawn/{_hub_user(self.server.url)}"
        what = "is a JupyterHub user server that is not running"
        return JupyterServerError(
            f"{self.server.title} {what} (stopped from the Hub, or culled as idle); its kernels ended "
            f"with it. The user can start it at {spawn}.",
            final=True,
            problem=f"{what}: the user can start it at {spawn}",
        )

    def _hub_itself(self) -> JupyterServerError:
        """JupyterHub's own URL, where a user's server was meant."""
        parts = urlsplit(self.server.url)
        prefix = parts.path.split("/hub/")[0].rstrip("/")
        user_url = f"{parts.scheme}://{parts.netloc}{prefix}/user/<name>/"
        return JupyterServerError(
            f"{self.server.title} is JupyterHub itself, not a user's server, whose kernels are at "
            f"{user_url}. The user should configure that URL (their server's, as JupyterLab shows it) "
            "and restart this MCP server.",
            final=True,
            problem=f"is JupyterHub itself: configure a user's server, {user_url}",
        )

    def _unlisted(self, status: int) -> JupyterServerError:
        return JupyterServerError(
            f"{self.server.title} is an Enterprise Gateway that does not list its kernels (HTTP "
            f"{status}: listing is off by default); the token is fine.",
            final=True,
            problem=(
                "does not list its kernels (an Enterprise Gateway; --EnterpriseGatewayApp.list_kernels=True "
                "enables it)"
            ),
            unlisted=True,
            advice="gateway_unlisted",
            server=self.server.name,
        )

    def _user_refused(self, user: str, why: str) -> JupyterServerError:
        if why == "not authorized":
            rule = f"{user!r} is in its --EnterpriseGatewayApp.unauthorized_users" + (
                " (root is, by default)" if user == "root" else ""
            )
        else:
            rule = f"its --EnterpriseGatewayApp.authorized_users does not name {user!r}"
        return JupyterServerError(
            f"{self.server.title} refused to start a kernel as user {user!r} (HTTP 403): {rule}. "
            "The user can set KERNEL_USERNAME in this MCP server's environment to a user the gateway "
            "accepts and restart this MCP server, or ask the gateway's admin to accept this user.",
            final=True,
            problem=f"refused to start kernels as user {user!r}",
        )

    def refusal(self, status: int, what: str, reason: str = "") -> JupyterServerError:
        """The error for an HTTP refusal whose cause the status tells."""
        title = self.server.title
        if status in (401, 403):
            return self._token_refused(status, "")
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
                f"{title} redirected a request (HTTP {status}), as a login page does: check its URL "
                "(JupyterHub serves each user under /user/<name>/) and token.",
                final=True,
                problem=f"redirected to a login page (HTTP {status}): check its URL and token",
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


def notebook_matches(kernels: list[ServerKernel], spec: str) -> list[ServerKernel]:
    """Kernels whose notebook is `spec`: its path, or its last part(s) (`analysis.ipynb`)."""
    spec = spec.strip().strip("/")
    exact = [k for k in kernels if k.path and k.path.strip("/") == spec]
    if exact:
        return exact
    return [k for k in kernels if k.path and k.path.strip("/").endswith("/" + spec)]

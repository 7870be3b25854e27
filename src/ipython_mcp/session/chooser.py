"""Which kernel a connect call means: a connection file (by its path, or a unique part of its
name), a notebook open on a Jupyter Server or a server kernel's id, or, when none is named, the
only kernel running. Every way of not telling which one is a KernelNotChosen (or a
ConnectionFileError, a JupyterServerError) that says what there is."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..discovery.files import kernel_name_of, resolve_connection_file
from ..discovery.server_kernels import (
    ServerKernel,
    ServerReport,
    kernels_by_id,
    list_server_kernels,
    notebook_matches,
)
from ..discovery.servers import JupyterServer
from ..errors import ConnectionFileError, JupyterServerError, KernelNotChosen
from ..settings import Settings
from .listing import Discovery, known_servers, served_kernels


@dataclass(frozen=True, slots=True)
class FileTarget:
    """A kernel by its connection file, with what its Jupyter Server says of it, if one does."""

    path: Path
    notebook: ServerKernel | None


Target = FileTarget | ServerKernel
"""A kernel to connect to: by connection file (ZMQ) or a server's kernel (websocket)."""


def identity_of(target: Target) -> tuple[str, ...]:
    """What makes two connections the same kernel's (as `KernelSession.identity`)."""
    if isinstance(target, ServerKernel):
        return ("server", target.server.url, target.kernel_id)
    return ("file", str(target.path))


class KernelChooser:
    """Chooses the kernel to connect to, among those `discover` finds."""

    def __init__(self, settings: Settings, discover: Callable[[], Awaitable[Discovery]]) -> None:
        self.settings = settings
        self._discover = discover

    async def choose(self, spec: str | None, server: str | None) -> Target:
        """The kernel to connect to: a connection file (with the notebook a local server says
        it serves), or a server kernel reached over the server's websocket."""
        runtime_dir = Path(self.settings.runtime_dir)
        if server is not None:
            report = await self._report_of(server, spec)
            return self._target(_pick(report, spec), runtime_dir)
        spec = spec or self.settings.connection_file
        if not spec:
            return await self._only_kernel()
        reports = await list_server_kernels(known_servers(self.settings))
        configured = [k for r in reports if r.server.configured for k in r.kernels]
        matches = server_kernel_matches(configured, spec) or await kernels_by_id(
            [r.server for r in reports if not r.listed], spec
        )
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise _ambiguous(spec, matches)
        try:
            path = resolve_connection_file(spec, runtime_dir)
        except ConnectionFileError as not_a_file:
            found = self._notebook_kernel(spec, reports)
            if found is None:
                raise ConnectionFileError(
                    f"{not_a_file}{_problems(reports)}",
                    advice=not_a_file.advice,
                    **not_a_file.facts,
                    unlisted=_unlisted(reports),
                ) from None
            return self._target(found, runtime_dir)
        return FileTarget(path, served_kernels(reports).get(kernel_name_of(path)))

    async def _only_kernel(self) -> Target:
        runtime_dir = self.settings.runtime_dir
        discovery = await self._discover()
        live = [k for k in discovery.listings if k.live]
        remote = discovery.server_kernels()
        if len(live) + len(remote) == 1:
            return remote[0] if remote else FileTarget(live[0].path, live[0].server_kernel)
        listings = discovery.listings
        if not live and not remote:
            stale = f" ({len(listings)} stale files there)" if listings else ""
            raise KernelNotChosen(
                f"No running kernel found in {runtime_dir}{stale}.{_problems(discovery.servers)}",
                advice="no_kernel_running",
                unlisted=_unlisted(discovery.servers),
            )
        names = [f"{k.name} (pid {k.pid})" if k.pid else k.name for k in live]
        names += [f"{k.path or k.kernel_id} on {k.server.name}" for k in remote]
        raise KernelNotChosen(
            f"{len(names)} kernels are running: {', '.join(names[:10])}.", advice="pass_one_of_them"
        )

    async def _report_of(self, name: str, spec: str | None = None) -> ServerReport:
        server = self.server_named(name)
        (report,) = await list_server_kernels([server])
        if not report.listed and spec:  # it answers for a kernel by its id all the same
            return dataclasses.replace(report, kernels=await kernels_by_id([server], spec))
        if report.problem:
            said = f"{server.title} {report.problem}."
            if not report.listed:
                raise JupyterServerError(said, advice="full_id_or_start", server=server.name)
            cause = report.error  # its advice, with the short form of what happened
            raise JupyterServerError(
                said, advice=cause.advice if cause else "", **(cause.facts if cause else {})
            )
        return report

    def server_named(self, name: str) -> JupyterServer:
        servers = known_servers(self.settings)
        wanted = name.strip()
        for server in servers:
            if wanted in (server.name, server.url, server.url.rstrip("/")):
                return server
        matches = [s for s in servers if wanted in s.url]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(f"{s.name} ({s.url})" for s in servers) or "none"
        raise JupyterServerError(
            f"No Jupyter Server is named {name!r} (known: {known}).", advice="where_servers_come_from"
        )

    def _target(self, kernel: ServerKernel, runtime_dir: Path) -> Target:
        """Over ZMQ when a local server left the kernel's connection file here, else its websocket."""
        path = runtime_dir / f"kernel-{kernel.kernel_id}.json"
        if kernel.server.configured or not path.is_file():
            return kernel
        return FileTarget(path.resolve(), kernel)

    def _notebook_kernel(self, spec: str, reports: list[ServerReport]) -> ServerKernel | None:
        """The kernel of an open notebook on a Jupyter Server, by the notebook's path or its id."""
        kernels = [k for r in reports for k in r.kernels]
        matches = server_kernel_matches(kernels, spec)
        if not matches:
            if not spec.endswith(".ipynb"):
                return None
            open_ones = sorted({k.path for k in kernels if k.path})
            listed = f" Open notebooks: {', '.join(open_ones[:10])}." if open_ones else ""
            raise KernelNotChosen(
                f"No running Jupyter Server here has {spec} open with a kernel "
                f"({len(reports)} server(s) found).{listed}{_problems(reports)}",
                advice="open_the_notebook",
                unlisted=_unlisted(reports),
            )
        if len(matches) > 1:
            raise _ambiguous(spec, matches)
        return matches[0]


def server_kernel_matches(kernels: list[ServerKernel], spec: str) -> list[ServerKernel]:
    """Server kernels named by `spec`: their notebook, or (the start of) their kernel id."""
    by_notebook = notebook_matches(kernels, spec)
    if by_notebook:
        return by_notebook
    spec = spec.strip()
    return [k for k in kernels if len(spec) >= 4 and k.kernel_id.startswith(spec)]


def _pick(report: ServerReport, spec: str | None) -> ServerKernel:
    kernels = report.kernels
    title = report.server.title
    if spec is None:
        if len(kernels) == 1:
            return kernels[0]
        what = f"{len(kernels)} kernels" if kernels else "no kernels"
        raise KernelNotChosen(
            f"{title} runs {what}.",
            advice="pick_one_of_them" if kernels else "start_one_there",
            server=report.server.name,
        )
    matches = server_kernel_matches(kernels, spec)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _ambiguous(spec, matches)
    if not report.listed:
        raise KernelNotChosen(
            f"{title} has no kernel with the id {spec!r}. It does not list its kernels.",
            advice="full_id_or_start",
            server=report.server.name,
        )
    listed = ", ".join(k.path or k.kernel_id for k in kernels[:10]) or "none"
    raise KernelNotChosen(
        f"{title} has no kernel or open notebook matching {spec!r} (its kernels: {listed}).",
        advice="list_them",
    )


def _ambiguous(spec: str, matches: list[ServerKernel]) -> KernelNotChosen:
    where = ", ".join(
        f"{k.path or 'no notebook'} ({k.kernel_id[:8]} on {k.server.name})" for k in matches[:10]
    )
    return KernelNotChosen(f"{len(matches)} kernels match {spec!r}: {where}.", advice="tell_them_apart")


def _problems(reports: list[ServerReport]) -> str:
    """` Jupyter Server http://… did not answer (ConnectTimeout).` for each server with a problem."""
    return "".join(f" {r.server.title} {r.problem}." for r in reports if r.problem)


def _unlisted(reports: list[ServerReport]) -> list[str]:
    """The names of the servers that do not list their kernels, which are reached by id."""
    return [r.server.name for r in reports if not r.listed]

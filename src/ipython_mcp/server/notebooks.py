"""save_notebook: the session's cells as a validated .ipynb on disk."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from ..errors import NotebookError
from ..kernels import processes
from ..kernels.local import LocalKernelSession
from ..kernels.session import KernelSession
from ..rendering.notebook import notebook


async def save(session: KernelSession, path: str, *, overwrite: bool) -> tuple[Path, int]:
    """Write the notebook; (where, how many cells)."""
    cells = session.runner.cells
    if not cells:
        raise NotebookError(
            f"The assistant has run no code in kernel {session.name} since connecting: there is "
            "nothing to save."
        )
    cwd = None
    if isinstance(session, LocalKernelSession) and session.process is not None:
        cwd = processes.working_dir(session.process)
    document = notebook(cells, session.kernel_info)
    target = await asyncio.to_thread(_write, path, cwd, document, overwrite)
    return target, len(cells)


def _write(path: str, cwd: str | None, document: dict[str, Any], overwrite: bool) -> Path:
    import nbformat

    target = Path(path).expanduser()
    if not target.is_absolute():
        target = Path(cwd or os.getcwd()) / target
    if target.suffix != ".ipynb":
        target = target.with_name(target.name + ".ipynb")

    nbformat.validate(nbformat.from_dict(document))
    if target.exists() and not overwrite:
        raise NotebookError(f"{target} exists. Pass overwrite=True to replace it, or choose another path.")
    if not target.parent.is_dir():
        raise NotebookError(
            f"The folder {target.parent} does not exist; choose a path in an existing folder."
        )
    try:
        target.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise NotebookError(f"{target} could not be written: {exc.strerror}.") from None
    return target

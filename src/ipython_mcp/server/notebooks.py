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
    target = await asyncio.to_thread(_write, path, cwd, f"{session.name}-assistant", document, overwrite)
    return target, len(cells)


def _write(path: str, cwd: str | None, name: str, document: dict[str, Any], overwrite: bool) -> Path:
    import nbformat

    if not path.strip():
        raise NotebookError("Give a file name for the notebook, e.g. 'analysis-assistant.ipynb'.")
    target = Path(path).expanduser()
    if not target.is_absolute():
        target = Path(cwd or os.getcwd()) / target
    if target.is_dir() or path.endswith(("/", os.sep)):
        target = target / f"{name}.ipynb"  # a folder: the notebook goes inside it
    target = Path(os.path.normpath(target))
    if target.suffix.lower() != ".ipynb":
        target = target.with_name(target.name + ".ipynb")
    if target.exists() and not overwrite:
        raise NotebookError(f"{target} exists. Pass overwrite=True to replace it, or choose another path.")
    if not target.parent.is_dir():
        raise NotebookError(
            f"The folder {target.parent} does not exist; choose a path in an existing folder."
        )
    notebook = nbformat.from_dict(document)
    _keep_valid_cells(notebook)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:  # whole or not at all: a reader never sees half a notebook
        temporary.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise NotebookError(f"{target} could not be written: {exc.strerror}.") from None
    return target


def _keep_valid_cells(notebook: Any) -> None:
    """Validate; a cell whose outputs nbformat refuses keeps its code and says why."""
    import nbformat

    try:
        nbformat.validate(notebook)
        return
    except nbformat.ValidationError:
        pass
    for cell in notebook.cells:
        try:
            nbformat.validate(nbformat.v4.new_notebook(cells=[cell]))
        except nbformat.ValidationError as exc:
            message = str(exc).splitlines()[0][:200]
            cell.outputs = [
                nbformat.v4.new_output("stream", name="stderr", text=f"[outputs left out: {message}]\n")
            ]
    nbformat.validate(notebook)

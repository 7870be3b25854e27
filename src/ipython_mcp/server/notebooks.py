"""The file save_notebook writes: the assistant's cells in a kernel as a validated .ipynb.

A notebook it writes carries a digest of its cells in its metadata, so it can tell later that a
file is one it saved and nobody changed since: only such a file is replaced by `overwrite`; any
other (the user's own notebook, or one they edited) only when the model says so explicitly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..discovery import processes
from ..errors import NotebookError
from ..rendering.notebook import notebook
from ..session.base import KernelSession
from ..session.local import LocalKernelSession

OWN_FILE_LIMIT = 256 << 20
"""Bytes of an existing file read to tell whether this server saved it."""


async def write_notebook(
    session: KernelSession, path: str, *, overwrite: bool, replace_other: bool = False
) -> tuple[Path, int]:
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
    target = await asyncio.to_thread(
        _write, path, cwd, f"{session.name}-assistant", document, overwrite, replace_other
    )
    return target, len(cells)


def _write(
    path: str, cwd: str | None, name: str, document: dict[str, Any], overwrite: bool, replace_other: bool
) -> Path:
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
    if target.exists() and not replace_other and not _saved_here(target):
        raise NotebookError(
            f"{target} exists and is not a notebook ipython-mcp saved (or it was edited since): it may "
            "be the user's own work, so it was left alone. Choose another path; replace it only if "
            "the user asks, with overwrite=True and replace_other_file=True."
        )
    if not target.parent.is_dir():
        raise NotebookError(
            f"The folder {target.parent} does not exist; choose a path in an existing folder."
        )
    notebook = nbformat.from_dict(document)
    _keep_valid_cells(notebook)
    notebook.metadata["ipython_mcp"] = {"cells_digest": _digest(notebook.cells)}
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:  # whole or not at all: a reader never sees half a notebook
        temporary.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise NotebookError(f"{target} could not be written: {exc.strerror}.") from None
    return target


def _saved_here(path: Path) -> bool:
    """Whether the file is a notebook this server saved, unchanged since."""
    try:
        with path.open("rb") as file:
            data = file.read(OWN_FILE_LIMIT + 1)
        notebook = json.loads(data) if len(data) <= OWN_FILE_LIMIT else None
        digest = notebook["metadata"]["ipython_mcp"]["cells_digest"]
        return isinstance(digest, str) and digest == _digest(notebook["cells"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _digest(cells: Any) -> str:
    text = json.dumps(cells, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


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
